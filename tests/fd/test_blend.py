"""``blended_weights``: polynomial reproduction (analytic), continuity where plain
k-nearest weights jump (a rate: the change shrinks with the move), derivatives against
finite differences in both modes under jit, finite gradients at r = 0, bad arguments."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt as ro
from rbfopt.fd import blended_weights
from rbfopt.testing import check_rules

BASIS = ro.PHS(3, poly_deg=2)
K = 15


@pytest.fixture(scope="module")
def cloud():
    return np.random.default_rng(1).random((120, 2))


def test_reproduces_quadratics(cloud):
    # the Laplacian at the nodes: the module's doctest
    y = np.random.default_rng(2).random((30, 2)) * 0.6 + 0.2
    u = 1.0 + 2.0 * cloud[:, 0] - cloud[:, 1] + 3.0 * cloud[:, 0] ** 2 - cloud[:, 0] * cloud[:, 1]
    adjl = ro.find_neighbors(cloud, K, y)
    grad = blended_weights(ro.Gradient(), cloud, y, adjl, BASIS)
    ident = blended_weights(ro.Identity(), cloud, y, adjl, BASIS)
    ux = np.stack([2.0 + 6.0 * y[:, 0] - y[:, 1], -1.0 - y[:, 0]], axis=1)
    np.testing.assert_allclose(np.einsum("mkd,mk->md", np.asarray(grad), u[adjl]), ux, atol=1e-9)
    exact = 1.0 + 2.0 * y[:, 0] - y[:, 1] + 3.0 * y[:, 0] ** 2 - y[:, 0] * y[:, 1]
    np.testing.assert_allclose(np.sum(np.asarray(ident) * u[adjl], axis=1), exact, atol=1e-10)


def _row(x, i, k, fn):
    """Row i of the Laplacian weights as a dense vector over the nodes (fresh kNN)."""
    adjl = ro.find_neighbors(x, k)
    w = np.asarray(fn(ro.Laplacian(), jnp.asarray(x), None, adjl, BASIS))
    row = np.zeros(len(x))
    np.add.at(row, adjl[i], w[i])
    return row


def test_continuous_where_plain_stencils_jump(cloud):
    # node j, the k-th neighbour of node 0, moves radially across the (k+1)-th
    # neighbour's distance: plain k-nearest weights jump there, the blend does not
    i, k = 0, K - 1
    adjl = ro.find_neighbors(cloud, K + 1)
    d = np.linalg.norm(cloud[adjl[i]] - cloud[i], axis=1)
    j, swap = adjl[i, k - 1], d[k]
    unit = (cloud[j] - cloud[i]) / d[k - 1]

    def change(fn, kk, step):
        lo, hi = cloud.copy(), cloud.copy()
        lo[j] = cloud[i] + unit * (swap - step / 2)
        hi[j] = cloud[i] + unit * (swap + step / 2)
        return np.abs(_row(hi, i, kk, fn) - _row(lo, i, kk, fn)).max()

    plain = [change(ro.build_weights, k, s) for s in (1e-4, 1e-6)]
    blend = [change(blended_weights, K, s) for s in (1e-4, 1e-6)]
    assert plain[1] > 0.5 * plain[0] > 0  # a jump: it does not shrink with the step
    assert blend[1] < 0.02 * blend[0]  # continuous: ~100x smaller for a 100x smaller move
    assert blend[1] < 1e-3 * plain[1]


def test_derivatives_against_finite_differences(cloud):
    x = jnp.asarray(cloud[:30])
    adjl = ro.find_neighbors(cloud[:30], 10)
    probe = jnp.asarray(np.random.default_rng(3).standard_normal((30, 10)))

    def f(pts):
        return jnp.sum(probe * blended_weights(ro.Laplacian(), pts, None, adjl, BASIS))

    check_rules(f, x, rtol=1e-5, eps=1e-6, n_directions=1)


def test_finite_gradient_at_coincident_points(cloud):
    adjl = ro.find_neighbors(cloud, K, cloud[:5])  # evaluation points are nodes: r = 0

    def f(pts):
        return jnp.sum(blended_weights(ro.Laplacian(), pts, pts[:5], adjl, BASIS) ** 2)

    g = jax.jit(jax.grad(f))(jnp.asarray(cloud))
    assert np.all(np.isfinite(np.asarray(g)))


def test_bad_arguments(cloud):
    adjl = ro.find_neighbors(cloud, K)
    with pytest.raises(ValueError, match="sizes"):
        blended_weights(ro.Laplacian(), cloud, None, adjl, BASIS, sizes=K)
    with pytest.raises(ValueError, match="taper"):
        blended_weights(ro.Laplacian(), cloud, None, adjl, BASIS, taper=0.0)
    with pytest.raises(ValueError, match="monomials"):  # too few points for quadratics
        blended_weights(ro.Laplacian(), cloud, None, adjl[:, :6], BASIS, sizes=2)


def test_ranks_match_a_stable_argsort():
    from rbfopt.fd.blend import _ranks

    # one decimal: many ties, which a stable sort keeps in column order
    d = np.random.default_rng(3).random((500, 18)).round(1)
    order, rank = jax.jit(_ranks)(jnp.asarray(d))
    ref = np.argsort(d, axis=1, kind="stable")
    np.testing.assert_array_equal(np.asarray(order), ref)
    np.testing.assert_array_equal(np.asarray(rank), np.argsort(ref, axis=1))
