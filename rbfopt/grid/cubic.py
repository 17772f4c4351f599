"""Cubic spline coefficients along one grid axis.

Data ``f`` (shape (n, K)) ↦ per-interval power-basis coefficients ``c`` (shape
(N, 4, K)) so that on interval ``j`` with ``t = x - x_j ∈ [0, h_j]``::

    p_j(t) = c_{j0} + c_{j1} t + c_{j2} t² + c_{j3} t³
    c_{j0} = f_j,  c_{j1} = s_j,
    c_{j2} = (3 δ_j - 2 s_j - s_{j+1}) / h_j,  c_{j3} = (s_j + s_{j+1} - 2 δ_j) / h_j²

(the Hermite cubic with end values ``f_j, f_{j+1}`` and slopes ``s_j, s_{j+1}``;
``δ_j = (f_{j+1} - f_j)/h_j``).  The slopes solve ``A s = B f + b`` where ``A``
(tridiagonal or cyclic, grid-only) and ``B`` (banded, grid-only) come from the C²
conditions and the boundary conditions (:mod:`rbfopt.grid.bc`), and ``b`` collects
prescribed ``Deriv1``/``Deriv2`` values.  So ``c = C f + c_b`` is affine in ``f``; with
``homogeneous=True`` the ``b`` part is dropped, giving the linear part ``C`` whose
transpose ``Cᵀ = G_fᵀ + Bᵀ A⁻ᵀ G_sᵀ`` the adjoint applies (``G`` the Hermite-to-power
map above).  Written in jnp ops plus :mod:`rbfopt.grid.tridiag` solves, JAX transposes
it exactly.
"""

from __future__ import annotations

import jax.numpy as jnp

from .bc import CubicFit, Deriv1, Deriv2, Natural, NotAKnot, Periodic
from .tridiag import CyclicTridiagonal, Tridiagonal

__all__ = ["cubic_knots", "cubic_coefs", "period_of"]


def period_of(x, bc: Periodic):
    """Period of a periodic axis: ``x_{n-1} - x_0`` (inclusive) or, exclusive,
    ``bc.period`` or ``x_{n-1} - x_0 + h_0``."""
    if bc.endpoint == "inclusive":
        return x[-1] - x[0]
    if bc.period is not None:
        return jnp.asarray(bc.period, x.dtype)
    return x[-1] - x[0] + (x[1] - x[0])


def cubic_knots(x, bc):
    """Knot vector ``x_0 < … < x_N`` of the N spline pieces (exclusive periodic grids get
    ``x_0 + P`` appended)."""
    start = bc[0]
    if isinstance(start, Periodic) and start.endpoint == "exclusive":
        return jnp.concatenate([x, (x[0] + period_of(x, start))[None]])
    return x


def _lagrange_slope(xs, at):
    """Weights ``w_k = L_k'(at)`` of the Lagrange basis on the 4 nodes ``xs``:
    ``p'(at) = Σ w_k f_k`` for the cubic ``p`` through ``(xs_k, f_k)``."""
    w = []
    for k in range(4):
        others = [xs[j] for j in range(4) if j != k]
        denom = (xs[k] - others[0]) * (xs[k] - others[1]) * (xs[k] - others[2])
        num = sum((at - others[(j + 1) % 3]) * (at - others[(j + 2) % 3]) for j in range(3))
        w.append(num / denom)
    return jnp.stack(w)


def _value(v, k, dtype):
    # Deriv values: a scalar, or one per column (e.g. of the batch shape, flattened).
    v = jnp.asarray(v, dtype)
    return v.reshape(k) if v.size == k else jnp.broadcast_to(v, (k,))


def _start_row(bc, x, h, f, delta, homogeneous):
    """(diag, upper, rhs) of row 0."""
    k = f.shape[1]
    if isinstance(bc, (Deriv1, CubicFit)):
        if isinstance(bc, CubicFit):
            rhs = _lagrange_slope(x[:4], x[0]) @ f[:4]
        else:
            rhs = jnp.zeros((k,), f.dtype) if homogeneous else _value(bc.value, k, f.dtype)
        return jnp.ones_like(h[0]), jnp.zeros_like(h[0]), rhs
    if isinstance(bc, (Deriv2, Natural)):
        rhs = 3 * (f[1] - f[0])
        if isinstance(bc, Deriv2) and not homogeneous:
            rhs = rhs - 0.5 * h[0] ** 2 * _value(bc.value, k, rhs.dtype)
        return 2 * h[0], h[0], rhs
    if isinstance(bc, NotAKnot):
        d = x[2] - x[0]
        rhs = ((h[0] + 2 * d) * h[1] * delta[0] + h[0] ** 2 * delta[1]) / d
        return h[1], d, rhs
    raise ValueError(f"bc: unsupported boundary condition {bc!r}")


def _end_row(bc, x, h, f, delta, homogeneous):
    """(lower, diag, rhs) of row n-1 (mirror image of :func:`_start_row`)."""
    k = f.shape[1]
    if isinstance(bc, (Deriv1, CubicFit)):
        if isinstance(bc, CubicFit):
            rhs = _lagrange_slope(x[-4:], x[-1]) @ f[-4:]
        else:
            rhs = jnp.zeros((k,), f.dtype) if homogeneous else _value(bc.value, k, f.dtype)
        return jnp.zeros_like(h[-1]), jnp.ones_like(h[-1]), rhs
    if isinstance(bc, (Deriv2, Natural)):
        rhs = 3 * (f[-1] - f[-2])
        if isinstance(bc, Deriv2) and not homogeneous:
            rhs = rhs + 0.5 * h[-1] ** 2 * _value(bc.value, k, rhs.dtype)
        return h[-1], 2 * h[-1], rhs
    if isinstance(bc, NotAKnot):
        d = x[-1] - x[-3]
        rhs = (h[-1] ** 2 * delta[-2] + (2 * d + h[-1]) * h[-2] * delta[-1]) / d
        return d, h[-2], rhs
    raise ValueError(f"bc: unsupported boundary condition {bc!r}")


def _hermite_to_power(g, s, s_next, h, delta):
    hh = h[:, None]
    c2 = (3 * delta - 2 * s - s_next) / hh
    c3 = (s + s_next - 2 * delta) / hh**2
    return jnp.stack([g, s, c2, c3], axis=1)


def cubic_coefs(x, f, bc, homogeneous: bool = False):
    """Power-basis coefficients (N, 4, K) of the cubic spline through ``(x, f)``.

    ``f`` has shape (n, K); ``bc`` is a ``(start, end)`` pair.  Affine in ``f``; the
    linear part alone with ``homogeneous=True``.
    """
    start, end = bc
    if isinstance(start, Periodic):
        # inclusive: f_{n-1} is the repeat of f_0 and is not used.
        g = f[:-1] if start.endpoint == "inclusive" else f
        h = jnp.diff(cubic_knots(x, bc))
        g_next = jnp.roll(g, -1, axis=0)
        delta = (g_next - g) / h[:, None]
        h_prev = jnp.roll(h, 1)
        rhs = 3 * (h[:, None] * jnp.roll(delta, 1, axis=0) + h_prev[:, None] * delta)
        s = CyclicTridiagonal(h, 2 * (h_prev + h), h_prev).solve(rhs)
        return _hermite_to_power(g, s, jnp.roll(s, -1, axis=0), h, delta)

    h = jnp.diff(x)
    delta = jnp.diff(f, axis=0) / h[:, None]
    d0, u0, r0 = _start_row(start, x, h, f, delta, homogeneous)
    ln, dn, rn = _end_row(end, x, h, f, delta, homogeneous)
    one = lambda a: jnp.reshape(a, (1,))  # noqa: E731
    lower = jnp.concatenate([jnp.zeros_like(h[:1]), h[1:], one(ln)])
    diag = jnp.concatenate([one(d0), 2 * (h[:-1] + h[1:]), one(dn)])
    upper = jnp.concatenate([one(u0), h[:-1], jnp.zeros_like(h[:1])])
    interior = 3 * (h[1:, None] * delta[:-1] + h[:-1, None] * delta[1:])
    rhs = jnp.concatenate([r0[None], interior, rn[None]], axis=0)
    s = Tridiagonal(lower, diag, upper).solve(rhs)
    return _hermite_to_power(f[:-1], s[:-1], s[1:], h, delta)
