"""Leave-one-out cost of the local interpolant: one small fit per left-out point.

Rippa's dense cost (:func:`~rbfopt.interp.loocv`) factors the whole ``(N + M)``
system, O(N^3). For large data sets the interpolant people use is local:
``scipy.interpolate.RBFInterpolator(..., neighbors=k)`` evaluates at ``x`` the fit to
the ``k`` data points nearest ``x``. Its leave-one-out error at a data point ``x_i``
is the error of the fit to the ``k`` points nearest ``x_i`` other than ``x_i``: one
``(k + M)`` system per point, O(N k^3) in all, and exactly the error that local
interpolant makes at a point it was not given.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._util import as_points, fmt_indices, is_tracer
from ..basis import PHS, RadialBasis
from ..polynomials import num_monomials
from ..stencils import find_neighbors
from ._system import (
    check_basis,
    check_centres,
    check_smoothing,
    check_values,
    design_rows,
    poly_frame,
    saddle_matrix,
)

__all__ = ["local_loocv", "loo_neighbours"]


def loo_neighbours(points: Any, neighbors: int, rows: Any = None) -> np.ndarray:
    """Indices ``(S, neighbors)`` of the points nearest each ``points[rows]``, itself
    excluded (host-side, :func:`~rbfopt.find_neighbors`; ``rows`` default: all points).

    Examples:
      >>> import numpy as np
      >>> from rbfopt.interp import loo_neighbours
      >>> loo_neighbours(np.array([[0.0], [1.0], [3.0]]), 1)
      array([[1],
             [0],
             [1]], dtype=int32)
    """
    x = np.asarray(points, dtype=np.float64)
    n = len(x)
    if not 1 <= neighbors <= n - 1:
        raise ValueError(f"neighbors: need 1 <= neighbors <= N - 1 = {n - 1}, got {neighbors}")
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    if rows.ndim != 1 or (rows.size and (rows.min() < 0 or rows.max() >= n)):
        raise ValueError(f"rows: expected 1-D indices in [0, {n}), got {rows!r}")
    # without duplicates (find_neighbors refuses them) the point itself, at distance
    # zero, comes first
    return find_neighbors(x, neighbors + 1, x[rows])[:, 1:]


def _gather(leaf: Any, adjl: jax.Array) -> Any:
    return leaf[adjl] if jnp.ndim(leaf) == 1 else leaf


@jax.jit
def _local_loocv(points, values2d, adjl, rows, basis, smoothing):
    X, F, xq = points[adjl], values2d[adjl], points[rows]
    eps = basis.eps if basis.eps is None else _gather(jnp.asarray(basis.eps), adjl)
    lam = _gather(jnp.asarray(smoothing), adjl)

    def one(X, F, xq, eps, lam):
        b = basis if eps is None else basis.replace(eps=eps)
        shift, scale = poly_frame(X)
        K = saddle_matrix(X, b, shift, scale, lam)
        M = K.shape[0] - X.shape[0]
        sol = jnp.linalg.solve(K, jnp.concatenate([F, jnp.zeros((M, F.shape[1]), F.dtype)]))
        return (design_rows(None, X, b, shift, scale, xq[None]) @ sol)[0]

    ax_eps = None if eps is None or jnp.ndim(eps) == 0 else 0
    ax_lam = None if jnp.ndim(lam) == 0 else 0
    pred = jax.vmap(one, in_axes=(0, 0, 0, ax_eps, ax_lam))(X, F, xq, eps, lam)
    return jnp.sum((values2d[rows] - pred) ** 2)


def local_loocv(
    points: jax.Array,
    values: jax.Array,
    basis: RadialBasis | None = None,
    smoothing: float | jax.Array = 0.0,
    *,
    neighbors: int = 64,
    rows: Any = None,
    adjl: Any = None,
) -> jax.Array:
    """Leave-one-out cost ``sum_{i in rows} (f_i - s_i(x_i))^2`` of the local interpolant.

    ``s_i`` is the (smoothed) fit with ``basis`` to the ``neighbors`` data points
    nearest ``x_i``, ``x_i`` itself left out: the value that
    ``scipy.interpolate.RBFInterpolator(X, f, neighbors=k, ...)`` built without
    ``x_i`` gives at ``x_i``. ``smoothing`` and a per-centre ``eps`` (shape (N,)) are
    gathered per neighbourhood. Cost O(S k^3) for ``S = len(rows)``; differentiable
    w.r.t. ``eps``, ``smoothing``, ``values`` and ``points`` in both modes (the
    neighbour lists ``adjl`` are fixed; compute them once with
    :func:`loo_neighbours` outside ``jax.jit``).

    Examples:
      The cost matches refitting scipy's local interpolant without each point:

      >>> import numpy as np, scipy.interpolate as si
      >>> import rbfopt as ro
      >>> x = np.random.default_rng(0).random((40, 2))
      >>> f = np.sin(3 * x[:, 0]) + x[:, 1]
      >>> c = ro.local_loocv(x, f, ro.Gaussian(eps=2.0, poly_deg=0), 1e-6, neighbors=10)
      >>> e = [f[i] - si.RBFInterpolator(np.delete(x, i, 0), np.delete(f, i), 10, 1e-6,
      ...      "gaussian", 2.0, 0)(x[i:i + 1])[0] for i in range(40)]
      >>> bool(np.isclose(c, np.sum(np.square(e)), rtol=1e-8))
      True
    """
    basis = check_basis(PHS(3, poly_deg=2) if basis is None else basis)
    if is_tracer(points):
        if adjl is None:
            raise ValueError("adjl: traced points need neighbour lists (loo_neighbours)")
        n = points.shape[0]
    else:
        x = check_centres(points, basis)
        n = len(x)
        need = num_monomials(x.shape[1], basis.poly_deg) if basis.poly_deg >= 0 else 1
        if neighbors < need:
            raise ValueError(
                f"neighbors: {neighbors} neighbours are fewer than the {need} monomials of "
                f"poly_deg={basis.poly_deg}; use more neighbours or a lower degree"
            )
        if adjl is None:
            adjl = loo_neighbours(x, neighbors, rows)
    basis = check_basis(basis, n)
    smoothing = check_smoothing(smoothing, n)
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
    adjl = jnp.asarray(adjl)
    if adjl.ndim != 2 or adjl.shape[0] != len(rows):
        raise ValueError(f"adjl: expected shape ({len(rows)}, k), got {adjl.shape}")
    if not is_tracer(values):
        values = check_values(values, n)
    if not is_tracer(adjl):
        own = np.flatnonzero(np.any(np.asarray(adjl) == rows[:, None], axis=1))
        if own.size:
            raise ValueError(f"adjl: rows {fmt_indices(own)} list their own point")
    v = jnp.asarray(values)
    return _local_loocv(
        as_points(points), v.reshape(n, -1), adjl, jnp.asarray(rows), basis, smoothing
    )
