"""Kernels: closed-form values and derivatives, the PHS Laplacian constant, r = 0."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt as ro

X0 = jnp.array([0.5, 0.5])
XI = jnp.array([0.3, 0.4])


@pytest.mark.parametrize(
    "basis, expected",
    [
        (ro.PHS(3), (0.003, 0.0015)),
        (ro.IMQ(1.0), (-0.36281179138322, -0.18140589569161)),
        (ro.Gaussian(1.0), (-0.72386993442877, -0.36193496721438)),
    ],
    ids=["PHS3", "IMQ", "Gaussian"],
)
def test_reference_gradient_of_phi_squared(basis, expected):
    g = jax.grad(lambda x: basis(x, XI) ** 2)(X0)
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-15)


def _closed_form(name, r, eps):
    return {
        "PHS1": r,
        "PHS3": r**3,
        "PHS5": r**5,
        "PHS7": r**7,
        "IMQ": 1.0 / np.sqrt(1.0 + (eps * r) ** 2),
        "Gaussian": np.exp(-((eps * r) ** 2)),
        "MQ": np.sqrt(1.0 + (eps * r) ** 2),
    }[name]


BASES = {
    "PHS1": ro.PHS(1, poly_deg=0),
    "PHS3": ro.PHS(3),
    "PHS5": ro.PHS(5),
    "PHS7": ro.PHS(7, poly_deg=3),
    "IMQ": ro.IMQ(1.7),
    "Gaussian": ro.Gaussian(1.7),
    "MQ": ro.MQ(1.7),
}


@pytest.mark.parametrize("name", list(BASES))
@pytest.mark.parametrize("d", [1, 2, 3])
def test_values_and_broadcasting(name, d, rng):
    basis = BASES[name]
    x = rng.normal(size=(5, d))
    xi = rng.normal(size=(4, d))
    got = basis(x[:, None, :], xi[None, :, :])
    assert got.shape == (5, 4)
    r = np.linalg.norm(x[:, None, :] - xi[None, :, :], axis=-1)
    np.testing.assert_allclose(got, _closed_form(name, r, 1.7), rtol=1e-13)


@pytest.mark.parametrize("n", [3, 5, 7])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_phs_laplacian_constant_in_every_dimension(n, d, rng):
    """Laplacian of r^n is n (n + d - 2) r^(n-2) in d dimensions (not the 3-D constant)."""
    basis = ro.PHS(n)
    xi = jnp.asarray(rng.normal(size=d))
    x = jnp.asarray(rng.normal(size=(4, d)))
    r = np.linalg.norm(np.asarray(x - xi), axis=-1)
    expected = n * (n + d - 2) * r ** (n - 2)
    lap_ad = jax.jit(jax.vmap(lambda y: jnp.trace(jax.hessian(lambda z: basis(z, xi))(y))))(x)
    np.testing.assert_allclose(lap_ad, expected, rtol=1e-12)
    lap_op = jax.jit(jax.vmap(ro.Laplacian()(lambda z: basis(z, xi))))(x)
    np.testing.assert_allclose(lap_op, expected, rtol=1e-12)


@pytest.mark.parametrize("name", [n for n in BASES if n != "PHS1"])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_laplacian_closed_form_matches_differentiation(name, d, rng):
    """``Laplacian.of_radial`` (2 d phi' + 4 s phi'', used by weight builds) against the
    trace of JAX's Hessian of the kernel, away from and at r = 0; PHS also against
    n (n + d - 2) r^(n-2); composite operators combine the closed forms."""
    basis = BASES[name]
    xi = jnp.asarray(rng.normal(size=d))
    x = jnp.concatenate([jnp.asarray(rng.normal(size=(5, d))), xi[None]])  # last: r = 0
    s = jnp.sum((x - xi) ** 2, axis=-1)

    def phi(s):
        return basis.radial(s, basis.eps)

    closed = jax.jit(lambda s: ro.Laplacian().of_radial(phi, s, d))(s)
    lap_ad = jax.vmap(lambda y: jnp.trace(jax.hessian(lambda z: basis(z, xi))(y)))(x)
    np.testing.assert_allclose(closed, lap_ad, rtol=1e-12, atol=1e-12)
    if name.startswith("PHS"):
        n = basis.order
        r = np.sqrt(np.asarray(s))
        np.testing.assert_allclose(closed, n * (n + d - 2) * r ** (n - 2), rtol=1e-12)
    combo = 3.0 * ro.Laplacian() - ro.Identity()
    np.testing.assert_allclose(combo.of_radial(phi, s, d), 3.0 * closed - phi(s), rtol=1e-13)
    assert (ro.Laplacian() + ro.Partial(1, 0)).of_radial(phi, s, d) is None
    # no NaN in the derivative of the closed form w.r.t. the point, also at r = 0
    g = jax.vmap(jax.grad(lambda y: ro.Laplacian().of_radial(phi, jnp.sum((y - xi) ** 2), d)))(x)
    assert np.all(np.isfinite(g))


@pytest.mark.parametrize("name", list(BASES))
def test_derivatives_finite_at_r0(name):
    basis = BASES[name]
    x = jnp.array([0.2, -0.4, 0.3])
    f = lambda y, z: basis(y, z)  # noqa: E731
    g_x = jax.grad(f, 0)(x, x)
    g_xi = jax.grad(f, 1)(x, x)
    h = jax.hessian(f, 0)(x, x)
    for a in (g_x, g_xi, h):
        assert np.all(np.isfinite(a))
    np.testing.assert_array_equal(g_x, 0.0)  # every kernel is even in x - xi
    e = 1.7
    expected_h = {
        "PHS1": None,  # not twice differentiable at 0: only finiteness is promised
        "PHS3": 0.0,
        "PHS5": 0.0,
        "PHS7": 0.0,
        "IMQ": -(e**2),
        "Gaussian": -2 * e**2,
        "MQ": e**2,
    }[name]
    if expected_h is not None:
        np.testing.assert_allclose(h, expected_h * np.eye(3), atol=1e-13)
    if basis.eps is not None:
        de = jax.grad(lambda ee: basis.replace(eps=ee)(x, x))(1.7)
        assert np.isfinite(de) and de == 0.0


@pytest.mark.parametrize("name", ["IMQ", "Gaussian", "MQ"])
def test_eps_derivative_closed_form(name, rng):
    x, xi = rng.normal(size=2), rng.normal(size=2)
    r = np.linalg.norm(x - xi)
    cls = {"IMQ": ro.IMQ, "Gaussian": ro.Gaussian, "MQ": ro.MQ}[name]
    got = jax.grad(lambda e: cls(e)(x, xi))(0.8)
    h = 1e-6
    fd = (_closed_form(name, r, 0.8 + h) - _closed_form(name, r, 0.8 - h)) / (2 * h)
    np.testing.assert_allclose(got, fd, rtol=1e-8)


def test_basis_is_a_pytree_with_eps_leaf():
    b = ro.IMQ(eps=jnp.array([1.0, 2.0]), poly_deg=3)
    leaves, tdef = jax.tree_util.tree_flatten(b)
    assert len(leaves) == 1
    b2 = jax.tree_util.tree_unflatten(tdef, [jnp.array([3.0, 4.0])])
    assert isinstance(b2, ro.IMQ) and b2.poly_deg == 3
    np.testing.assert_array_equal(b2.eps, [3.0, 4.0])
    assert jax.tree_util.tree_leaves(ro.PHS(5)) == []
    assert ro.PHS(5, poly_deg=3).replace(poly_deg=1).poly_deg == 1


def test_vmap_over_eps_batch(rng):
    x, xi = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    eps = jnp.array([0.5, 1.0, 2.0])
    got = jax.vmap(lambda e: ro.Gaussian(e)(x, xi))(eps)
    r = np.linalg.norm(x - xi, axis=-1)
    np.testing.assert_allclose(got, np.exp(-((np.asarray(eps)[:, None] * r) ** 2)), rtol=1e-13)


def test_definiteness_flags():
    assert ro.PHS(3, poly_deg=1).definite and not ro.PHS(3, poly_deg=0).definite
    assert ro.PHS(5, poly_deg=2).definite and not ro.PHS(5, poly_deg=1).definite
    assert ro.PHS(7, poly_deg=3).definite and not ro.PHS(7, poly_deg=2).definite
    assert ro.IMQ(poly_deg=-1).definite and ro.Gaussian(poly_deg=-1).definite
    assert ro.MQ(poly_deg=0).definite and not ro.MQ(poly_deg=-1).definite
