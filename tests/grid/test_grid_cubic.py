"""Cubic splines vs scipy.interpolate.CubicSpline, and what each BC must reproduce."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

import rbfopt.grid as grid

RTOL = 1e-10


def _nonuniform(rng, n, lo=0.0, hi=3.0):
    h = rng.uniform(0.2, 1.8, n - 1)  # spacing ratios up to 9
    return lo + (hi - lo) * np.concatenate([[0.0], np.cumsum(h) / h.sum()])


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


CASES = {
    "natural": (grid.Natural(), "natural"),
    "clamped": ((grid.Deriv1(0.4), grid.Deriv1(-1.1)), ((1, 0.4), (1, -1.1))),
    "not-a-knot": (grid.NotAKnot(), "not-a-knot"),
    "second": ((grid.Deriv2(0.3), grid.Deriv2(2.0)), ((2, 0.3), (2, 2.0))),
    "mixed": ((grid.NotAKnot(), grid.Deriv1(0.5)), ("not-a-knot", (1, 0.5))),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_scipy(name):
    """Values and derivatives 1..3 on a random non-uniform and a uniform grid."""
    ours_bc, scipy_bc = CASES[name]
    rng = np.random.default_rng(0)
    for x in (_nonuniform(rng, 14), np.linspace(0.0, 3.0, 14)):
        f = np.sin(2 * x) + rng.normal(scale=0.1, size=x.shape)
        xq = np.concatenate([rng.uniform(x[0], x[-1], 200), x])  # incl. the knots
        itp = grid.cubic_interp(x, f, bc=ours_bc)
        ref = CubicSpline(x, f, bc_type=scipy_bc)
        for d in range(4):
            assert _rel(itp(xq, d), ref(xq, d)) < RTOL, (d, _rel(itp(xq, d), ref(xq, d)))


def test_periodic_matches_scipy_on_nonuniform_grids():
    """Inclusive periodic spline = scipy 'periodic' on random NON-uniform grids (the
    suspected weak spot of the reference package), all derivatives, several grids."""
    rng = np.random.default_rng(7)
    for n in (4, 5, 9, 23):
        x = _nonuniform(rng, n, 0.0, 2 * np.pi)
        f = np.cos(x) + rng.normal(scale=0.3, size=n)
        f[-1] = f[0]
        xq = np.concatenate([rng.uniform(x[0], x[-1], 100), x])
        itp = grid.cubic_interp(x, f, bc=grid.Periodic())
        ref = CubicSpline(x, f, bc_type="periodic")
        for d in range(4):
            # The third derivative jumps at the seam: at x_{n-1} scipy wraps to the first
            # piece, we keep the last (closed end pieces); the seam is left out for d = 3.
            q = xq[:-1] if d == 3 else xq
            assert _rel(itp(q, d), ref(q, d)) < RTOL, (n, d)


def test_periodic_exclusive_equals_inclusive_and_is_smooth_across_the_seam():
    rng = np.random.default_rng(3)
    x = _nonuniform(rng, 10, 0.0, 1.0)
    f = rng.normal(size=10)
    f[-1] = f[0]
    inc = grid.cubic_interp(x, f, bc=grid.Periodic("inclusive"))
    exc = grid.cubic_interp(x[:-1], f[:-1], bc=grid.Periodic("exclusive", period=1.0))
    xq = rng.uniform(0, 1, 50)
    for d in range(4):
        np.testing.assert_allclose(exc(xq, d), inc(xq, d), rtol=1e-12, atol=1e-12)
    # C² across the seam: values and derivatives 0..2 agree at x_0 and x_0 + P.
    for d in range(3):
        a, b = inc(np.array([0.0, 1.0]), d)
        assert abs(a - b) < 1e-12 * max(1.0, abs(a))


def test_cubicfit_and_notaknot_reproduce_cubics():
    """CubicFit (default) and NotAKnot are exact for cubic polynomials, any grid."""
    rng = np.random.default_rng(1)
    x = _nonuniform(rng, 11, -1.0, 2.0)
    c = [0.3, -1.2, 0.7, 0.45]
    p = np.polynomial.Polynomial(c)
    xq = rng.uniform(-1.0, 2.0, 60)
    for bc in (grid.CubicFit(), grid.NotAKnot(), (grid.CubicFit(), grid.NotAKnot())):
        itp = grid.cubic_interp(x, p(x), bc=bc)
        for d in range(4):
            np.testing.assert_allclose(itp(xq, d), p.deriv(d)(xq), rtol=1e-11, atol=1e-11)


def test_each_bc_holds_at_the_ends():
    rng = np.random.default_rng(2)
    x = _nonuniform(rng, 9)
    f = rng.normal(size=9)
    ends = np.array([x[0], x[-1]])
    itp = grid.cubic_interp(x, f, bc=(grid.Deriv1(1.5), grid.Deriv1(-0.5)))
    np.testing.assert_allclose(itp(ends, 1), [1.5, -0.5], rtol=1e-12)
    itp = grid.cubic_interp(x, f, bc=(grid.Deriv2(2.5), grid.Deriv2(-3.0)))
    np.testing.assert_allclose(itp(ends, 2), [2.5, -3.0], rtol=1e-12)
    itp = grid.cubic_interp(x, f, bc=grid.Natural())
    np.testing.assert_allclose(itp(ends, 2), [0.0, 0.0], atol=1e-12)
    # Not-a-knot: third derivative continuous at x_1 and x_{n-2}.
    itp = grid.cubic_interp(x, f, bc=grid.NotAKnot())
    for k in (1, -2):
        e = 1e-9 * (x[-1] - x[0])
        lo, hi = itp(np.array([x[k] - e, x[k] + e]), 3)
        assert abs(lo - hi) < 1e-8 * max(1.0, abs(lo))
    # CubicFit: end slope = slope of the cubic through the 4 end points.
    itp = grid.cubic_interp(x, f)
    for idx in (slice(0, 4), slice(-4, None)):
        p = np.polynomial.Polynomial.fit(x[idx], f[idx], 3)
        at = x[idx][0] if idx.start == 0 else x[idx][-1]
        np.testing.assert_allclose(itp(np.array([at]), 1), [p.deriv()(at)], rtol=1e-9)
    # Interpolation at the knots, every BC.
    for bc in (grid.CubicFit(), grid.NotAKnot(), grid.Natural(), grid.Deriv1(0.2)):
        np.testing.assert_allclose(grid.cubic_interp(x, f, bc=bc)(x), f, rtol=1e-13, atol=1e-13)


def test_deriv1_natural_reproduce_what_they_should():
    """Clamped with the true end slopes is exact for cubics; Natural is exact for lines."""
    x = np.linspace(0, 1, 7)
    p = np.polynomial.Polynomial([1.0, -2.0, 0.5, 3.0])
    xq = np.linspace(0, 1, 33)
    itp = grid.cubic_interp(x, p(x), bc=(grid.Deriv1(p.deriv()(0.0)), grid.Deriv1(p.deriv()(1.0))))
    np.testing.assert_allclose(itp(xq), p(xq), rtol=1e-12)
    itp = grid.cubic_interp(x, 2 * x - 1, bc=grid.Natural())
    np.testing.assert_allclose(itp(xq), 2 * xq - 1, atol=1e-13)
    p2 = np.polynomial.Polynomial([0.0, 1.0, 2.0])
    itp = grid.cubic_interp(x, p2(x), bc=grid.Deriv2(4.0))
    np.testing.assert_allclose(itp(xq), p2(xq), atol=1e-12)


def test_float32_grid_and_complex_values():
    x = np.linspace(0, 1, 12, dtype=np.float32)
    f = np.sin(3 * x).astype(np.float32)
    y = grid.cubic_interp(x, f)(np.float32(0.37))
    assert y.dtype == np.float32
    assert abs(float(y) - np.sin(3 * 0.37)) < 1e-4
    xc = np.linspace(0, 1, 12)
    fc = np.exp(2j * xc)
    xq = np.linspace(0, 1, 17)
    yc = grid.cubic_interp(xc, fc, bc=grid.NotAKnot())(xq)
    ref = CubicSpline(xc, fc.real)(xq) + 1j * CubicSpline(xc, fc.imag)(xq)
    assert _rel(yc, ref) < RTOL


def test_batch_axes_and_per_column_bc_values():
    x = np.linspace(0, 2, 10)
    f = np.stack([np.sin(x), np.cos(x), x**2], axis=-1)  # (10, 3)
    v = np.array([1.0, 0.0, 0.0])
    itp = grid.cubic_interp(x, f, bc=(grid.Deriv1(v), grid.Natural()))
    xq = np.linspace(0, 2, 13).reshape(13, 1)
    out = itp(xq)
    assert out.shape == (13, 1, 3)
    for k in range(3):
        ref = CubicSpline(x, f[:, k], bc_type=((1, v[k]), (2, 0.0)))(xq)
        assert _rel(out[..., k], ref) < RTOL
