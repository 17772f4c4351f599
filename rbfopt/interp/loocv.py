"""Rippa's leave-one-out cost of global interpolation, differentiable in ``eps``."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._util import as_points, is_tracer
from ..basis import PHS, RadialBasis
from ._system import (
    check_basis,
    check_centres,
    check_smoothing,
    check_values,
    lu_factor,
    poly_frame,
    saddle_matrix,
    solve_with,
)

__all__ = ["loocv"]

# ----------------------------------------------------------------------------- LOOCV


@jax.jit
def _loocv(points, values2d, basis, smoothing):
    n = points.shape[0]
    shift, scale = poly_frame(points)
    K = saddle_matrix(points, basis, shift, scale, smoothing)
    M = K.shape[0] - n
    rhs = jnp.concatenate([values2d, jnp.zeros((M, values2d.shape[1]), values2d.dtype)])
    # one solve with [I_{:, :N} | f]: the first N columns give (M^-1)_ii, the rest c
    X = solve_with(
        K, lu_factor(K), jnp.concatenate([jnp.eye(n + M, n, dtype=K.dtype), rhs], axis=1)
    )
    dinv = jnp.diagonal(X[:n, :n])
    c = X[:n, n:]
    return jnp.sum((c / dinv[:, None]) ** 2)


def loocv(
    points: jax.Array,
    values: jax.Array,
    basis: RadialBasis | None = None,
    smoothing: float | jax.Array = 0.0,
) -> jax.Array:
    """Rippa's leave-one-out cost ``sum_i (c_i / (M^-1)_ii)^2`` (summed over columns).

    ``c_i / (M^-1)_ii`` is exactly ``f_i - s^(i)(x_i)``, the error at ``x_i`` of the
    interpolant fitted without ``x_i`` (polynomial augmentation included), so one
    factorization replaces N refits. This holds for any nonsingular ``M``: for the
    smoothed fit (``smoothing`` ``lam`` on the kernel block's diagonal, as in
    :class:`~rbfopt.interp.Interpolator`) and for one ``eps`` per centre. Differentiable
    w.r.t. ``basis.eps``, ``smoothing``, ``values`` and ``points`` in forward and
    reverse mode (``d M^-1 = -M^-1 dM M^-1`` comes from the same factors). Cost
    O((N + M)^3): for moderate N (:func:`~rbfopt.interp.local_loocv` for large N).

    Examples:
      One gradient step on the Gaussian's ``eps``:

      >>> import jax, numpy as np
      >>> import rbfopt as ro
      >>> x = np.random.default_rng(1).random((20, 2))
      >>> f = np.sin(3 * x[:, 0]) * x[:, 1]
      >>> cost = lambda e: ro.loocv(x, f, ro.Gaussian(eps=e, poly_deg=-1))
      >>> c0, g = jax.value_and_grad(cost)(2.0)
      >>> bool(cost(2.0 - 1e-3 * g) < c0)
      True
    """
    basis = PHS(3, poly_deg=2) if basis is None else basis
    if not is_tracer(points):
        n = len(check_centres(points, check_basis(basis)))
    else:
        n = points.shape[0]
    basis = check_basis(basis, n)
    smoothing = check_smoothing(smoothing, n)
    if not is_tracer(values):
        values = check_values(values, n)
    v = jnp.asarray(values)
    return _loocv(as_points(points), v.reshape(n, -1), basis, smoothing)
