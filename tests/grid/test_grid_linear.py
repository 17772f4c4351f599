"""Linear interpolation vs numpy.interp."""

from __future__ import annotations

import numpy as np

import rbfopt.grid as grid


def test_equals_numpy_interp_uniform_and_nonuniform():
    rng = np.random.default_rng(0)
    for x in (np.linspace(-1, 2, 15), np.sort(rng.uniform(-1, 2, 15))):
        f = rng.normal(size=15)
        xq = np.concatenate([rng.uniform(x[0], x[-1], 300), x])
        np.testing.assert_allclose(
            grid.linear_interp(x, f)(xq), np.interp(xq, x, f), rtol=1e-14, atol=1e-14
        )
        # Derivative: the slope of the containing piece.
        inner = rng.uniform(x[0], x[-1], 50)
        j = np.clip(np.searchsorted(x, inner, side="right") - 1, 0, 13)
        slope = (f[j + 1] - f[j]) / (x[j + 1] - x[j])
        np.testing.assert_allclose(grid.linear_interp(x, f)(inner, 1), slope, rtol=1e-12)


def test_clamp_equals_numpy_interp_outside():
    x = np.linspace(0, 1, 6)
    f = np.arange(6.0) ** 2
    xq = np.array([-0.5, 0.3, 1.7])
    np.testing.assert_allclose(
        grid.linear_interp(x, f, extrap=grid.ClampExtrap())(xq), np.interp(xq, x, f)
    )


def test_complex_and_float32():
    x = np.linspace(0, 1, 5, dtype=np.float32)
    f = (np.arange(5) + 1j * np.arange(5) ** 2).astype(np.complex64)
    out = grid.linear_interp(x, f)(np.float32(0.6))
    assert out.dtype == np.complex64
    np.testing.assert_allclose(
        out, np.interp(0.6, x, f.real) + 1j * np.interp(0.6, x, f.imag), rtol=1e-6
    )
