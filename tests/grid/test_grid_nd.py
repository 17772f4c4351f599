"""N-D tensor-product interpolants equal the 1-D spline applied axis by axis;
extrapolation rules."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

import rbfopt.grid as grid

RNG = np.random.default_rng(5)


def test_2d_equals_axis_by_axis_with_mixed_partials():
    x = np.sort(np.concatenate([[0.0, 1.0], RNG.uniform(0, 1, 6)]))
    y = np.linspace(-1, 1, 7)
    f = RNG.normal(size=(8, 7))
    xq, yq = RNG.uniform(0, 1, 5), RNG.uniform(-1, 1, 5)
    itp = grid.cubic_interp((x, y), f, bc=(grid.NotAKnot(), grid.Natural()))
    for d in [(0, 0), (1, 0), (0, 2), (1, 1), (3, 2)]:
        ref = [
            CubicSpline(y, CubicSpline(x, f, axis=0)(a, d[0]), bc_type="natural")(b, d[1])
            for a, b in zip(xq, yq, strict=True)
        ]
        np.testing.assert_allclose(itp((xq, yq), d), ref, rtol=1e-10, atol=1e-10)
    # (m, d) array form of the queries.
    np.testing.assert_allclose(itp(np.stack([xq, yq], -1)), itp((xq, yq)), rtol=1e-15)


def test_3d_with_batch_and_linear():
    xs = (np.linspace(0, 1, 5), np.linspace(0, 2, 6), np.sort(RNG.uniform(0, 1, 5)))
    f = RNG.normal(size=(5, 6, 5, 2))
    q = tuple(RNG.uniform(g[0], g[-1], 4) for g in xs)
    itp = grid.cubic_interp(xs, f)
    out = itp(q)
    assert out.shape == (4, 2)
    for i in range(4):
        a = CubicSpline(xs[0], f, axis=0, bc_type="not-a-knot")  # placeholder replaced below
        del a
        s0 = grid.cubic_interp(xs[0], f)(np.array([q[0][i]]))[0]  # (6, 5, 2)
        s1 = grid.cubic_interp(xs[1], s0)(np.array([q[1][i]]))[0]
        s2 = grid.cubic_interp(xs[2], s1)(np.array([q[2][i]]))[0]
        np.testing.assert_allclose(out[i], s2, rtol=1e-12, atol=1e-12)
    lin = grid.linear_interp(xs[:2], f[:, :, 0, 0])
    qq = (q[0], q[1])
    ref = [
        np.interp(b, xs[1], [np.interp(a, xs[0], f[:, j, 0, 0]) for j in range(6)])
        for a, b in zip(*qq, strict=True)
    ]
    np.testing.assert_allclose(lin(qq), ref, rtol=1e-13)


def test_extrapolation_rules():
    x = np.linspace(0, 1, 6)
    f = x**3 - x
    q = np.array([-0.5, 1.25])
    p = np.polynomial.Polynomial([0, -1, 0, 1])
    ext = grid.cubic_interp(x, f, extrap=grid.ExtendExtrap())  # CubicFit: exact cubic
    np.testing.assert_allclose(ext(q), p(q), rtol=1e-12)
    np.testing.assert_allclose(ext(q, 1), p.deriv()(q), rtol=1e-12)
    cl = grid.cubic_interp(x, f, extrap=grid.ClampExtrap())
    np.testing.assert_allclose(cl(q), [f[0], f[-1]], atol=1e-14)
    np.testing.assert_allclose(cl(q, 1), [0.0, 0.0])
    fi = grid.cubic_interp(x, f, extrap=grid.FillExtrap(7.0))
    np.testing.assert_allclose(fi(q), [7.0, 7.0])
    np.testing.assert_allclose(fi(q, 1), [0.0, 0.0])
    wr = grid.cubic_interp(x, f, extrap=grid.WrapExtrap())
    np.testing.assert_allclose(wr(q), p(np.array([0.5, 0.25])), rtol=1e-12)
    # Per-axis rules in 2-D: clamp on axis 0, fill on axis 1.
    itp = grid.linear_interp(
        (x, x), np.add.outer(x, x), extrap=(grid.ClampExtrap(), grid.FillExtrap(-1.0))
    )
    np.testing.assert_allclose(itp((np.array([2.0, 2.0]), np.array([0.5, 3.0]))), [1.5, -1.0])
