"""RBF-FD stencil weights: batched local saddle-point solves and their derivative rules.

For evaluation point ``c`` with stencil points ``x_1..x_k`` the weights ``w`` of a
linear operator ``L`` solve::

    [Phi P] [w]   [L phi(c - x_j)]       Phi_ij = phi(x_i - x_j)
    [P'  0] [l] = [L p_m(c)      ]       P_jm   = p_m((x_j - c) / h)

with monomials ``p_m`` in local coordinates (centre ``c``, radius ``h``: better
conditioning, same span, same weights). Operator actions come from JAX
differentiation of the kernel and monomials (:mod:`rbfopt.operators`).

Derivative rules. The local solve is wrapped in ``jax.lax.custom_linear_solve``: the
factorization of each stencil (Householder QR of ``P``, Cholesky of the projected
kernel block, see :mod:`rbfopt.fd._saddle`) is computed once from the primal values;
the forward-mode tangent ``dw = K^-1 (db - dK w)`` and the reverse-mode cotangent
``bbar = K^-1 wbar`` (``K`` symmetric) are further solves with the same factors.
No tape of the elimination is kept, and since the rules are linear solves JAX nests
them for higher orders (``jax.hessian``, Hessian-vector products). Derivatives of
``K`` and ``b`` w.r.t. positions and ``eps`` are ordinary AD of the kernel
formulas, NaN-free at ``r = 0`` (:mod:`rbfopt.basis`).

Checks. With concrete inputs, :func:`build_weights` validates shapes, finiteness,
stencil indices, ``k`` against the number of monomials, ``eps`` and the kernel
order, and raises ``ValueError`` for degenerate stencils (non-unisolvent points,
coincident points) with their row indices. Under ``jax.jit`` no Python check can
run: a degenerate stencil then yields NaN weights in its row (rows whose factorization
quality is below :data:`DEGENERATE_TOL` are masked; never an error deep inside a
solver, never finite garbage); validate once outside jit with :func:`check_inputs` or by
calling :func:`build_weights` eagerly on the same stencils.

Speed. The local systems are assembled in :mod:`rbfopt.fd._local`; chunk sizes, the
device split and the XLA:CPU options of the build are chosen in
:mod:`rbfopt.fd._backend`. Importing :mod:`rbfopt` before JAX starts its backend puts
those options in ``XLA_FLAGS``, so builds run at full speed however they are called
(eagerly, inside a ``jax.jit``, ``jax.grad`` or the optimization driver's step);
figures in ``docs/performance.md``.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._util import check_int, fmt_indices, is_tracer, pad_rows
from ..basis import PHS, RadialBasis
from ..operators import Operator
from ..polynomials import num_monomials
from ..stencils import check_points, check_stencils
from . import _backend
from ._backend import set_host_device_count
from ._local import _local_weights_t, _rhs, local_weights

__all__ = [
    "build_weights",
    "check_inputs",
    "local_weights",
    "DEGENERATE_TOL",
    "set_host_device_count",
]

#: Stencils whose factorization quality falls below this are reported as degenerate.
DEGENERATE_TOL = 1e-11


def _jit_build(fn):
    # The XLA:CPU options normally reach every compilation through XLA_FLAGS
    # (_backend); when JAX had started before rbfopt's import, eager large builds pass
    # them to their own jit (JAX takes options only on a top-level jit, so a caller's
    # jit that inlines the build compiles it with the caller's options).
    static = ("op", "chunk_size", "local_solve", "large", "sizes")
    plain = jax.jit(fn, static_argnames=static)
    fast = {}

    @functools.wraps(fn)
    def call(
        op,
        data,
        eval_points,
        adjl,
        basis,
        chunk_size,
        local_solve,
        large=None,
        last=None,
        sizes=None,
    ):
        args = (op, data, eval_points, adjl, basis, chunk_size, local_solve, large, last, sizes)
        if not is_tracer(data, eval_points, adjl, basis) and _backend.is_large(np.shape(adjl)[0]):
            options = _backend.jit_options()
            if options:
                key = tuple(sorted(options.items()))
                if key not in fast:
                    fast[key] = jax.jit(fn, static_argnames=static, compiler_options=options)
                return fast[key](*args)
        return plain(*args)

    call.__wrapped__ = fn
    return call


@_jit_build
def _build(
    op, data, eval_points, adjl, basis, chunk_size, local_solve, large=None, last=None, sizes=None
):
    n_eval = adjl.shape[0]
    if large is None:
        large = _backend.is_large(n_eval)
    eps = basis.eps
    if eps is not None:
        eps = jnp.broadcast_to(jnp.asarray(eps, data.dtype), (n_eval,))
    n_chunks = -(-n_eval // chunk_size)
    if n_chunks <= 1:
        return _mask_degenerate(
            *local_weights(op, data[adjl], eval_points, basis, eps, local_solve, last, sizes)
        )
    n_chunks, split = _backend.chunk_split(
        n_chunks, _backend.split_mesh(data, eval_points, adjl, eps)
    )

    # Rematerialized in reverse mode: the backward pass recomputes one chunk's kernel
    # blocks and factors instead of storing them for all chunks (less memory, and less
    # memory traffic makes it faster too).
    @jax.checkpoint
    def body(args):
        Xc, cc, ec, lc, rhs = jax.tree_util.tree_map(_materialized, args)
        out = _local_weights_t(op, Xc, cc, basis, ec, local_solve, large, rhs, lc, sizes)
        return jax.tree_util.tree_map(_materialized_cotangent, out)

    def run(data, eval_points, adjl, eps, last):
        # the stencils of one device: gather, right-hand sides and the chunk loop
        X = data[adjl]  # (n, k, d)
        h, f, g = _rhs(op, X, eval_points, basis, eps)

        def chunked(a):
            return a.reshape((-1, chunk_size) + a.shape[1:])

        xs = (
            jnp.moveaxis(chunked(X), 1, -1),  # (chunks, k, d, chunk): see _local_weights_t
            chunked(eval_points),
            None if eps is None else chunked(eps),
            None if last is None else chunked(last),
            (chunked(h), jnp.moveaxis(chunked(f), 1, -1), jnp.moveaxis(chunked(g), 1, -1)),
        )
        return lax.map(body, xs)

    n_pad = n_chunks * chunk_size
    args = tuple(None if a is None else pad_rows(a, n_pad) for a in (eval_points, adjl, eps, last))
    if split is None:
        w, q = run(data, *args)
    else:
        from jax.sharding import PartitionSpec

        mesh, axes = split
        spec = PartitionSpec(axes)
        # Each device gathers its own stencils from a copy of the nodes; in reverse mode
        # the nodes' cotangents of the devices are summed (shard_map transposes an
        # unsplit input to a psum).
        w, q = jax.shard_map(
            run,
            mesh=mesh,
            in_specs=(PartitionSpec(), spec, spec, spec, spec),
            out_specs=(spec, spec),
            check_vma=False,
        )(data, *args)
    w = w.reshape((n_chunks * chunk_size,) + w.shape[2:])[:n_eval]
    q = q.reshape(-1)[:n_eval]
    return _mask_degenerate(w, q)


def _materialized(a: jax.Array) -> jax.Array:
    """``a``, passed through a reduction (``a + 0``) so that XLA:CPU writes it to a buffer.

    The chunk loop and its transpose read each chunk's inputs by a dynamic slice at the
    loop index, which XLA:CPU fuses into every consumer as scalar code; a reduction is
    not fused into its consumers, so only this copy runs as scalar code
    (``lax.optimization_barrier`` is removed before fusion on CPU).
    """
    return jnp.sum(jnp.stack([a, jnp.zeros_like(a)]), axis=0)


def _materialized_cotangent(a: jax.Array) -> jax.Array:
    """``a``, as row 0 of a broadcast: in reverse mode its cotangent passes a reduction.

    The transposed chunk loop reads the cotangents of each chunk's outputs by a dynamic
    slice too (see :func:`_materialized`); the transpose of a broadcast is a sum, so
    that read lands in one small reduction. The primal is unchanged (XLA folds it).
    """
    return jnp.broadcast_to(a, (2,) + a.shape)[0]


def _mask_degenerate(w, q):
    # A non-unisolvent stencil does not always produce non-finite numbers (a
    # rank-deficient P gives an R with a round-off-sized pivot, and finite garbage
    # weights); make the documented behaviour under jit hold: NaN rows.
    ok = q > DEGENERATE_TOL
    return jnp.where(ok.reshape((-1,) + (1,) * (w.ndim - 1)), w, jnp.nan), q


def check_inputs(
    op: Operator,
    data: Any,
    eval_points: Any,
    adjl: Any,
    basis: RadialBasis,
) -> None:
    """Validate concrete inputs of :func:`build_weights`; raise ValueError naming the cause.

    Examples:
      >>> import numpy as np, rbfopt as ro
      >>> from rbfopt.fd.weights import check_inputs
      >>> x = np.random.default_rng(0).random((40, 2))
      >>> check_inputs(ro.Laplacian(), x, x, ro.find_neighbors(x, 12), ro.PHS(3))
      >>> check_inputs(ro.Laplacian(), x, x, ro.find_neighbors(x, 3), ro.PHS(3))
      ... # doctest: +IGNORE_EXCEPTION_DETAIL
      Traceback (most recent call last):
      ValueError: adjl: k = 3 is too small
    """
    if not isinstance(op, Operator):
        raise ValueError(f"op: expected an operator description (e.g. ro.Laplacian()), got {op!r}")
    if not isinstance(basis, RadialBasis):
        raise ValueError(f"basis: expected a basis such as ro.PHS(3), got {basis!r}")
    x = check_points(data, "data")
    n, d = x.shape
    y = check_points(eval_points, "eval_points", d)
    op.validate(d)
    m = num_monomials(d, basis.poly_deg)
    check_stencils(adjl, n, len(y), min_k=max(m, 1))
    if isinstance(basis, PHS) and op.order is not None and op.order >= basis.order:
        raise ValueError(
            f"basis: PHS order {basis.order} is not {op.order} times differentiable at r = 0; "
            f"use PHS order > {op.order}"
        )
    if basis.eps is not None and not is_tracer(basis.eps):
        e = np.asarray(basis.eps)
        if e.ndim == 1 and e.shape[0] != len(y):
            raise ValueError(
                f"eps: per-stencil shape parameters must have shape ({len(y)},), got {e.shape}"
            )
        if e.ndim > 1:
            raise ValueError(f"eps: must be a scalar or shape ({len(y)},), got {e.shape}")
        bad = np.flatnonzero(~(np.isfinite(e.ravel()) & (e.ravel() > 0)))
        if bad.size:
            raise ValueError(
                f"eps: shape parameter must be finite and > 0 at indices {fmt_indices(bad)}"
            )


def build_weights(
    op: Operator,
    data: jax.Array,
    eval_points: jax.Array | None,
    adjl: jax.Array,
    basis: RadialBasis,
    *,
    chunk_size: int | None = None,
    local_solve: str = "implicit",
    solver: str | None = None,
) -> jax.Array:
    """RBF-FD weights of ``op`` for every stencil.

    Args:
      op: operator description (``ro.Laplacian()``, ``ro.Partial(1, 0)``, ...).
      data: (N, d) node positions.
      eval_points: (N_eval, d) evaluation points, or ``None`` for ``data``.
      adjl: (N_eval, k) int stencil indices into ``data`` (``ro.find_neighbors``).
      basis: kernel and polynomial degree; ``basis.eps`` scalar or shape (N_eval,).
      chunk_size: stencils per batched solve (memory stays O(chunk_size k^2)); by
        default about 180 000 / k^2 on CPU (cache-sized blocks), 65 536 on GPU.
      local_solve: how each stencil's local system is solved: ``"implicit"``
        (default: custom rules reusing the factorization), ``"traced"`` (AD traces
        through the elimination; a reference for tests) or ``"dense"`` (LU of the full
        system; used automatically when the kernel's projected matrix is not
        guaranteed definite, e.g. PHS(5) with poly_deg < 2).
      solver: the former name of ``local_solve`` (deprecated 2026-12; "solver" now
        names only the global solve of :func:`rbfopt.linsolve` and the studies).

    Returns:
      (N_eval, k) weights, or (N_eval, k, n_out) for vector operators (Gradient:
      n_out = d; Hessian: n_out = d*d, row-major). Differentiable w.r.t. ``data``,
      ``eval_points`` and ``basis.eps`` in forward and reverse mode, under jit/vmap.

    Examples:
      >>> import numpy as np, rbfopt as ro
      >>> x = np.random.default_rng(0).random((200, 2))
      >>> adjl = ro.find_neighbors(x, 12)
      >>> w = ro.build_weights(ro.Laplacian(), x, None, adjl, ro.PHS(3, poly_deg=2))
      >>> w.shape
      (200, 12)
      >>> u = x[:, 0] ** 2 + x[:, 1] ** 2  # Laplacian 4, reproduced exactly (degree 2)
      >>> bool(np.allclose(np.sum(np.asarray(w) * u[adjl], axis=1), 4.0))
      True
    """
    if solver is not None:
        warnings.warn(
            "build_weights(solver=...) is deprecated since 2026-12: use local_solve=...",
            DeprecationWarning,
            stacklevel=2,
        )
        local_solve = solver
    return tapered_build(op, data, eval_points, adjl, basis, None, chunk_size, local_solve)


def tapered_build(
    op: Operator,
    data: jax.Array,
    eval_points: jax.Array | None,
    adjl: jax.Array,
    basis: RadialBasis,
    last: jax.Array | None,
    chunk_size: int | None = None,
    local_solve: str = "implicit",
    sizes: tuple[int, ...] | None = None,
) -> Any:
    """:func:`build_weights` with the last point of every stencil tapered by ``last``
    ((N_eval,) in [0, 1], or None: plain weights); see :func:`~rbfopt.fd._local.taper_last`.
    ``sizes`` (checked by :func:`rbfopt.fd.nested_weights`, ``last`` None): a list of
    the weights on the first ``k_s`` columns of ``adjl`` for each ``k_s``.
    """
    if eval_points is None:
        eval_points = data
    concrete = not is_tracer(data, eval_points, adjl, basis)
    if concrete:
        check_inputs(op, data, eval_points, adjl, basis)
        same = eval_points is data  # one array in, one array to the build (as under jit)
        data = jnp.asarray(np.asarray(data, dtype=np.float64).reshape(len(data), -1))
        eval_points = (
            data
            if same
            else jnp.asarray(
                np.asarray(eval_points, dtype=np.float64).reshape(len(eval_points), -1)
            )
        )
    adjl = jnp.asarray(adjl, dtype=jnp.int32)
    chunk_size = check_int("chunk_size", chunk_size, 1, what="stencils per chunk", allow_none=True)
    k, d = adjl.shape[1], data.shape[1]
    chunk = int(_backend.default_chunk(k, d) if chunk_size is None else chunk_size)
    w, q = _build(op, data, eval_points, adjl, basis, chunk, local_solve, last=last, sizes=sizes)
    if concrete:
        bad = np.flatnonzero(
            ~(np.asarray(q) > DEGENERATE_TOL)
            | ~np.all(np.isfinite(np.asarray(w)).reshape(len(q), -1), axis=1)
        )
        if bad.size:
            raise ValueError(
                f"adjl: degenerate stencils at evaluation points {fmt_indices(bad)}: their points "
                f"are not unisolvent for poly_deg={basis.poly_deg} (e.g. collinear, or on a "
                "conic) or contain coincident points, or the local system is numerically "
                "singular (smooth kernels near the flat limit: eps times the stencil radius "
                "too small); use a larger k, a lower poly_deg, a larger eps, or fix the nodes"
            )
    scalar = not op.out_shape(data.shape[1])
    if sizes is not None:
        w = w.reshape(w.shape[:2] + (len(sizes), -1))
        return [w[:, :m, s, 0] if scalar else w[:, :m, s] for s, m in enumerate(sizes)]
    return w[..., 0] if scalar else w
