"""RBF-FD weights of several stencil sizes on the same neighbours, from one local solve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from ..basis import RadialBasis
from ..operators import Operator
from ..polynomials import num_monomials
from .weights import tapered_build

__all__ = ["nested_weights"]


def nested_weights(
    op: Operator,
    data: jax.Array,
    eval_points: jax.Array | None,
    adjl: jax.Array,
    basis: RadialBasis,
    sizes: Sequence[int],
    *,
    chunk_size: int | None = None,
    local_solve: str = "implicit",
) -> list[jax.Array]:
    """The weights of ``op`` on the first ``k`` neighbours of every stencil, for each
    ``k`` of ``sizes``: ``[build_weights(op, data, eval_points, adjl[:, :k], basis) for
    k in sizes]``, up to round-off, at about the cost of the widest alone.

    The members' local systems are nested (leading blocks of the widest one's), and
    one factorization serves them all (:mod:`rbfopt.fd._nested`: the QR of the
    smallest member's monomial block, a null-space basis whose columns are nested, one
    Cholesky); each member then costs one pair of small triangular solves. The
    derivative rules are :func:`~rbfopt.build_weights`' (one implicit solve per
    member), in forward and reverse mode. Kernels without a definite projection, or
    ``local_solve`` other than ``"implicit"``, solve each size on its own.

    Args:
      op, data, eval_points, basis, chunk_size, local_solve: as for
        :func:`~rbfopt.build_weights`.
      adjl: (N_eval, K) stencils sorted by distance from their evaluation point
        (``ro.find_neighbors``), K >= max(sizes); the columns past max(sizes) are unused.
      sizes: distinct stencil sizes, each more than the basis' number of monomials
        (for one shared factorization) and at most K; any order.

    Returns:
      A list aligned with ``sizes``: (N_eval, k) weights, (N_eval, k, n_out) for vector
      operators. Under ``jax.jit`` a degenerate stencil of any member gives NaN rows in
      every member; eagerly it raises ValueError, as :func:`~rbfopt.build_weights` does.

    Examples:
      >>> import numpy as np, rbfopt as ro
      >>> x = np.random.default_rng(0).random((300, 2))
      >>> adjl = ro.find_neighbors(x, 20)
      >>> basis = ro.PHS(3, poly_deg=2)
      >>> w12, w20 = ro.fd.nested_weights(ro.Laplacian(), x, None, adjl, basis, [12, 20])
      >>> w12.shape, w20.shape
      ((300, 12), (300, 20))
      >>> one = ro.build_weights(ro.Laplacian(), x, None, adjl[:, :12], basis)
      >>> bool(np.allclose(w12, one, rtol=1e-8, atol=1e-8 * np.abs(one).max()))
      True
    """
    sizes = _check_sizes(sizes, np.shape(adjl), num_monomials(np.shape(data)[-1], basis.poly_deg))
    adjl = adjl[:, : max(sizes)]
    return tapered_build(op, data, eval_points, adjl, basis, None, chunk_size, local_solve, sizes)


def _check_sizes(sizes: Any, adjl_shape: tuple, monomials: int) -> tuple[int, ...]:
    """``sizes`` as a tuple of ints, or ValueError naming the offending entries."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or not sizes:
        raise ValueError(f"sizes: expected a non-empty sequence of stencil sizes, got {sizes!r}")
    if len(adjl_shape) != 2:
        raise ValueError(f"adjl: expected shape (N_eval, K), got {adjl_shape}")
    out = []
    for i, k in enumerate(sizes):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise ValueError(f"sizes[{i}]: expected an int, got {k!r}")
        if not monomials < k <= adjl_shape[1]:
            raise ValueError(
                f"sizes[{i}]: {k} is outside {monomials + 1}..{adjl_shape[1]} (more points "
                f"than the basis' {monomials} monomials, at most adjl's columns)"
            )
        out.append(int(k))
    dup = [i for i, k in enumerate(out) if out.index(k) != i]
    if dup:
        raise ValueError(f"sizes: repeated stencil sizes at indices {dup}")
    return tuple(out)
