"""``nested_weights``: each member equals its own ``build_weights`` (a separate QR,
projection and Cholesky per size), reproduces quadratics (analytic), derivatives
against finite differences in both modes under jit, the study's shared builds
against separate ones, bad sizes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt as ro
from rbfopt.testing import check_rules

BASIS = ro.PHS(3, poly_deg=2)
SIZES = (16, 12, 20)


@pytest.fixture(scope="module")
def cloud():
    return np.random.default_rng(4).random((150, 2))


@pytest.mark.parametrize(
    "op, basis",
    [
        (ro.Laplacian(), BASIS),
        (ro.Gradient(), BASIS),
        (ro.Identity(), BASIS),
        (ro.Laplacian(), ro.PHS(5, poly_deg=1)),  # not definite: each size on its own
    ],
)
def test_members_equal_their_own_builds(cloud, op, basis):
    y = np.random.default_rng(5).random((40, 2)) * 0.8 + 0.1
    adjl = ro.find_neighbors(cloud, max(SIZES) + 2, y)
    ws = ro.fd.nested_weights(op, cloud, y, adjl, basis, SIZES)
    for k, w in zip(SIZES, ws, strict=True):
        one = np.asarray(ro.build_weights(op, cloud, y, adjl[:, :k], basis))
        assert w.shape == one.shape
        np.testing.assert_allclose(w, one, rtol=0, atol=1e-8 * np.abs(one).max())


def test_members_reproduce_quadratics(cloud):
    y = np.random.default_rng(6).random((30, 2)) * 0.6 + 0.2
    u = 1.0 + 2.0 * cloud[:, 0] - cloud[:, 1] + 3.0 * cloud[:, 0] ** 2 - cloud[:, 0] * cloud[:, 1]
    adjl = ro.find_neighbors(cloud, max(SIZES), y)
    for w in ro.fd.nested_weights(ro.Laplacian(), cloud, y, adjl, BASIS, SIZES):
        lap = np.sum(np.asarray(w) * u[adjl[:, : w.shape[1]]], axis=1)
        np.testing.assert_allclose(lap, 6.0, atol=1e-8)


def test_derivatives_against_finite_differences(cloud):
    x = jnp.asarray(cloud[:40])
    adjl = ro.find_neighbors(cloud[:40], 20)
    rng = np.random.default_rng(7)
    probes = [jnp.asarray(rng.standard_normal((40, k))) for k in SIZES]

    def f(pts):
        ws = ro.fd.nested_weights(ro.Laplacian(), pts, None, adjl, BASIS, SIZES)
        return sum(jnp.sum(p * w) for p, w in zip(probes, ws, strict=True))

    check_rules(f, x, rtol=1e-5, eps=1e-6, n_directions=1)


def test_finite_gradient_at_coincident_points(cloud):
    adjl = ro.find_neighbors(cloud, 20, cloud[:5])  # evaluation points are nodes: r = 0

    def f(pts):
        ws = ro.fd.nested_weights(ro.Laplacian(), pts, pts[:5], adjl, BASIS, SIZES)
        return sum(jnp.sum(w**2) for w in ws)

    g = jax.jit(jax.grad(f))(jnp.asarray(cloud))
    assert np.all(np.isfinite(np.asarray(g)))


@pytest.mark.parametrize(
    "sizes, match",
    [
        ((), r"sizes: expected a non-empty"),
        ("12", r"sizes: expected a non-empty"),
        ((12, 12), r"sizes: repeated .* \[1\]"),
        ((12, 6), r"sizes\[1\]: 6 is outside 7\.\.20"),
        ((12, 21), r"sizes\[1\]: 21 is outside"),
        ((12, 1.5), r"sizes\[1\]: expected an int"),
    ],
)
def test_bad_sizes(cloud, sizes, match):
    adjl = ro.find_neighbors(cloud, 20)
    with pytest.raises(ValueError, match=match):
        ro.fd.nested_weights(ro.Laplacian(), cloud, None, adjl, BASIS, sizes)
