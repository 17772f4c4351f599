"""Operator descriptions acting on analytic functions, against hand-derived derivatives.

f(x, y, z) = sin(a x) exp(b y) cos(c z) (the z factor only in 3-D)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt as ro

A, B, C = 1.3, 0.7, 2.1
P = np.array([0.4, -0.3, 0.8])


def f(x):
    out = jnp.sin(A * x[0]) * jnp.exp(B * x[1])
    return out * jnp.cos(C * x[2]) if x.shape[0] == 3 else out


def exact(beta, x):
    """d^beta f at x (beta: derivative orders per coordinate), by hand."""
    sx = [np.sin(A * x[0]), A * np.cos(A * x[0]), -(A**2) * np.sin(A * x[0])]
    sx.append(-(A**3) * np.cos(A * x[0]))
    ey = (B ** beta[1]) * np.exp(B * x[1])
    val = sx[beta[0]] * ey
    if len(x) == 3:
        cz = [np.cos(C * x[2]), -C * np.sin(C * x[2]), -(C**2) * np.cos(C * x[2])]
        val *= cz[beta[2]]
    return val


def e(d, *dims):
    b = [0] * d
    for i in dims:
        b[i] += 1
    return b


def run(op, d):
    return np.asarray(jax.jit(op(f))(jnp.asarray(P[:d])))


@pytest.mark.parametrize("d", [2, 3])
def test_scalar_operators(d):
    x = P[:d]
    np.testing.assert_allclose(run(ro.Identity(), d), exact(e(d), x), rtol=1e-14)
    for order in (1, 2, 3):
        np.testing.assert_allclose(
            run(ro.Partial(order, 0), d), exact(e(d, *[0] * order), x), rtol=1e-13
        )
    np.testing.assert_allclose(run(ro.Partial(2, 1), d), exact(e(d, 1, 1), x), rtol=1e-13)
    np.testing.assert_allclose(run(ro.MixedPartial(0, d - 1), d), exact(e(d, 0, d - 1), x))
    lap = sum(exact(e(d, i, i), x) for i in range(d))
    np.testing.assert_allclose(run(ro.Laplacian(), d), lap, rtol=1e-13)
    v = np.array([0.6, -0.8, 0.5])[:d]
    np.testing.assert_allclose(
        run(ro.Directional(v), d), sum(v[i] * exact(e(d, i), x) for i in range(d)), rtol=1e-13
    )


@pytest.mark.parametrize("d", [1, 2, 3])
def test_vector_operators(d):
    if d == 1:
        g = run(ro.Gradient(), 1)
        assert g.shape == (1,)
        return
    x = P[:d]
    g = run(ro.Gradient(), d)
    assert g.shape == (d,) and ro.Gradient().out_shape(d) == (d,)
    np.testing.assert_allclose(g, [exact(e(d, i), x) for i in range(d)], rtol=1e-13)
    h = run(ro.Hessian(), d)
    assert h.shape == (d, d) and ro.Hessian().out_shape(d) == (d, d)
    ref = [[exact(e(d, i, j), x) for j in range(d)] for i in range(d)]
    np.testing.assert_allclose(h, ref, rtol=1e-13)


def test_algebra():
    d = 2
    x = P[:d]
    dx, dy2 = exact(e(d, 0), x), exact(e(d, 1, 1), x)
    lap = exact(e(d, 0, 0), x) + dy2
    np.testing.assert_allclose(run(ro.Laplacian() + ro.Partial(1, 0), d), lap + dx)
    np.testing.assert_allclose(run(2.5 * ro.Partial(2, 1), d), 2.5 * dy2)
    np.testing.assert_allclose(run(ro.Partial(2, 1) * 2.5, d), 2.5 * dy2)
    np.testing.assert_allclose(run(-ro.Partial(1, 0), d), -dx)
    np.testing.assert_allclose(run(ro.Laplacian() - ro.Partial(2, 1), d), lap - dy2)
    s = ro.Laplacian() + 3.0 * ro.Partial(1, 0)
    assert s.order == 2 and s.out_shape(2) == ()
    assert (ro.Gradient() + ro.Gradient()).out_shape(2) == (2,)
    assert (ro.Custom(lambda g: g) + ro.Laplacian()).order is None


def test_custom_scalar_and_vector_valued():
    """Custom acts on scalar functions; vector-valued inputs (the monomial basis) are
    mapped over components."""
    biharm = ro.Custom(
        lambda g: lambda y: jnp.trace(jax.hessian(lambda z: jnp.trace(jax.hessian(g)(z)))(y))
    )
    x = jnp.asarray(P[:2])
    # biharmonic of f = (A^2 - B^2)^2 f in 2-D (f_xx = -A^2 f, f_yy = B^2 f)
    np.testing.assert_allclose(
        jax.jit(biharm(f))(x), (B**2 - A**2) ** 2 * exact([0, 0], P[:2]), rtol=1e-12
    )

    def vf(y):
        return jnp.stack([f(y), y[0] ** 3 * y[1]])

    got = jax.jit(biharm(vf))(x)
    assert got.shape == (2,)
    np.testing.assert_allclose(got[1], 0.0, atol=1e-12)  # biharmonic of x^3 y is 0
    lap_c = ro.Custom(lambda g: lambda y: jnp.trace(jax.hessian(g)(y)))
    got = jax.jit(lap_c(vf))(x)
    np.testing.assert_allclose(got[1], 6 * P[0] * P[1], rtol=1e-13)


def test_validate_and_order():
    assert ro.Partial(3, 1).order == 3 and ro.Identity().order == 0
    assert ro.MixedPartial(0, 1).order == 2 and ro.Laplacian().order == 2
    ro.Partial(1, 2).validate(3)
    with pytest.raises(ValueError, match="dim"):
        ro.Partial(1, 2).validate(2)
    with pytest.raises(ValueError, match="i:"):
        ro.MixedPartial(2, 0).validate(2)
    with pytest.raises(ValueError, match="v:"):
        ro.Directional(np.ones(2)).validate(3)
