"""Per-axis query handling: extrapolation mapping, interval search, basis weights.

On interval ``j`` of an axis the interpolant is ``p_j(t) = Σ_k c_{jk} t^k`` with
``t = x - x_j`` (degree 1 or 3), so a query's weights on the coefficient row ``c_j``
are ``φ_k(t) = t^k`` and, for the ``d``-th derivative, ``φ_k^{(d)}(t) = k!/(k-d)! t^{k-d}``.
The same weights serve the forward map (gather ``c_j`` and contract) and the adjoint
(scatter ``ȳ φ`` into row ``j``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .extrap import ClampExtrap, FillExtrap, NoExtrap, WrapExtrap

__all__ = ["AxisQueries", "prepare_axis", "basis_weights", "is_uniform"]


def is_uniform(x) -> bool:
    """Whether a concrete grid is uniform to rounding (enables arithmetic search)."""
    import numpy as np

    xv = np.asarray(x, dtype=np.float64)
    if xv.shape[0] < 3:
        return True
    d = np.diff(xv)
    eps = np.finfo(np.asarray(x).dtype).eps
    return bool(np.max(np.abs(d - d.mean())) <= 64 * eps * np.max(np.abs(xv)))


class AxisQueries(NamedTuple):
    """Queries located on one axis: interval ``index``, offset ``t = x - x_j`` and masks.

    ``outside``: query outside the domain on a Fill/NoExtrap axis (linear part masked,
    offset added) — ``None`` when the rule never masks.  ``clamped``: query was clamped
    (derivatives along this axis vanish) — ``None`` unless ClampExtrap.
    """

    index: jax.Array
    t: jax.Array
    outside: jax.Array | None
    clamped: jax.Array | None


def _locate(knots, xq, uniform: bool):
    """Interval ``j ∈ [0, N-1]`` with ``x_j ≤ xq < x_{j+1}`` (end pieces extended) and
    ``t = xq - x_j``.  Uniform grids: ``j = ⌊(xq - x_0)/h⌋`` (no search)."""
    n_int = knots.shape[0] - 1
    if uniform:
        h = (knots[-1] - knots[0]) / n_int
        j = jnp.floor((xq - knots[0]) / h)
        j = jnp.clip(j, 0, n_int - 1).astype(jnp.int32)
        return j, xq - (knots[0] + j.astype(xq.dtype) * h)
    j = jnp.searchsorted(knots, xq, side="right", method="compare_all" if n_int < 64 else "scan")
    j = jnp.clip(j - 1, 0, n_int - 1).astype(jnp.int32)
    return j, xq - knots[j]


def prepare_axis(knots, xq, extrap, uniform: bool) -> AxisQueries:
    """Map ``xq`` by the axis' extrapolation rule and locate it on ``knots``."""
    lo, hi = knots[0], knots[-1]
    outside = clamped = None
    if isinstance(extrap, ClampExtrap):
        clamped = (xq < lo) | (xq > hi)
        xq = jnp.clip(xq, lo, hi)
    elif isinstance(extrap, WrapExtrap):
        xq = lo + jnp.mod(xq - lo, hi - lo)
    elif isinstance(extrap, (FillExtrap, NoExtrap)):
        outside = (xq < lo) | (xq > hi)
    j, t = _locate(knots, xq, uniform)
    return AxisQueries(j, t, outside, clamped)


def basis_weights(q: AxisQueries, degree: int, deriv: int):
    """Weights ``φ_k^{(deriv)}(t)``, shape (m, degree+1); zero where clamped and
    ``deriv > 0``."""
    t = q.t
    cols = []
    for k in range(degree + 1):
        if k < deriv:
            cols.append(jnp.zeros_like(t))
            continue
        c = 1.0
        for r in range(k - deriv + 1, k + 1):
            c *= r
        cols.append(c * t ** (k - deriv) if k > deriv else jnp.full_like(t, c))
    w = jnp.stack(cols, axis=-1)
    if deriv > 0 and q.clamped is not None:
        w = jnp.where(q.clamped[:, None], 0, w)
    return w
