"""``blended_weights`` and ``tapered_weights``: polynomial reproduction (analytic),
continuity where plain k-nearest weights jump (a rate: the change shrinks with the
move), the taper's limits (plain weights of either size) and its penalized system
(against a dense NumPy solve), derivatives against finite differences in both modes
under jit, finite gradients at r = 0, bad arguments."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt as ro
from rbfopt.fd import blended_weights, tapered_weights
from rbfopt.fd.weights import tapered_build
from rbfopt.testing import check_rules

BASIS = ro.PHS(3, poly_deg=2)
K = 15


@pytest.fixture(scope="module")
def cloud():
    return np.random.default_rng(1).random((120, 2))


CONTINUOUS = [blended_weights, tapered_weights]


@pytest.mark.parametrize("fn", CONTINUOUS)
def test_reproduces_quadratics(cloud, fn):
    # the Laplacian at the nodes: the module's doctest
    y = np.random.default_rng(2).random((30, 2)) * 0.6 + 0.2
    u = 1.0 + 2.0 * cloud[:, 0] - cloud[:, 1] + 3.0 * cloud[:, 0] ** 2 - cloud[:, 0] * cloud[:, 1]
    adjl = ro.find_neighbors(cloud, K, y)
    grad = fn(ro.Gradient(), cloud, y, adjl, BASIS)
    ident = fn(ro.Identity(), cloud, y, adjl, BASIS)
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


@pytest.mark.parametrize("fn", CONTINUOUS)
def test_continuous_where_plain_stencils_jump(cloud, fn):
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
    blend = [change(fn, K, s) for s in (1e-4, 1e-6)]
    assert plain[1] > 0.5 * plain[0] > 0  # a jump: it does not shrink with the step
    assert blend[1] < 0.02 * blend[0]  # continuous: ~100x smaller for a 100x smaller move
    assert blend[1] < 1e-3 * plain[1]


@pytest.mark.parametrize("fn", CONTINUOUS)
def test_derivatives_against_finite_differences(cloud, fn):
    x = jnp.asarray(cloud[:30])
    adjl = ro.find_neighbors(cloud[:30], 10)
    probe = jnp.asarray(np.random.default_rng(3).standard_normal((30, 10)))

    def f(pts):
        return jnp.sum(probe * fn(ro.Laplacian(), pts, None, adjl, BASIS))

    check_rules(f, x, rtol=1e-5, eps=1e-6, n_directions=1)


@pytest.mark.parametrize("fn", CONTINUOUS)
def test_finite_gradient_at_coincident_points(cloud, fn):
    adjl = ro.find_neighbors(cloud, K, cloud[:5])  # evaluation points are nodes: r = 0

    def f(pts):
        return jnp.sum(fn(ro.Laplacian(), pts, pts[:5], adjl, BASIS) ** 2)

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


def test_taper_limits_are_the_plain_weights_of_either_size(cloud):
    # t = 1: the K - 1 points enter alike; t = 0: the last one drops out (round-off:
    # two factorizations of systems whose condition numbers reach ~1e6)
    x = jnp.asarray(cloud)
    adjl = ro.find_neighbors(cloud, K - 1)
    scale = np.abs(np.asarray(ro.build_weights(ro.Laplacian(), cloud, None, adjl, BASIS))).max()
    for t, m in ((1.0, K - 1), (0.0, K - 2)):
        w = tapered_build(ro.Laplacian(), x, None, jnp.asarray(adjl), BASIS, jnp.full(len(x), t))
        ref = ro.build_weights(ro.Laplacian(), cloud, None, adjl[:, :m], BASIS)
        np.testing.assert_allclose(np.asarray(w)[:, :m], ref, rtol=0, atol=1e-10 * scale)
        np.testing.assert_array_equal(np.asarray(w)[:, m:], 0.0)


def test_taper_solves_the_penalized_system(cloud):
    # [A + mu e e', P; P', 0] [w; l] = [f; g] for PHS3 (sign +1), mu = c (1 - t^2) / t^2,
    # c = 0.01 RMS(A), e the last point: dense NumPy solves of a few stencils
    k, rows, t = 12, [0, 7, 42], 0.4
    adjl = ro.find_neighbors(cloud, k)
    w = tapered_build(
        ro.Laplacian(), jnp.asarray(cloud), None, jnp.asarray(adjl), BASIS, jnp.full(len(cloud), t)
    )
    for i in rows:
        X = cloud[adjl[i]]
        A = np.linalg.norm(X[:, None] - X[None], axis=-1) ** 3
        A[-1, -1] += 0.01 * np.sqrt(np.mean(A * A)) * (1 - t * t) / (t * t)
        z = X - cloud[i]
        P = np.stack(
            [np.ones(k), z[:, 0], z[:, 1], z[:, 0] ** 2, z[:, 0] * z[:, 1], z[:, 1] ** 2], 1
        )
        f = 9.0 * np.linalg.norm(z, axis=1)  # Laplacian of r^3 in 2-D: 9 r
        g = np.array([0.0, 0.0, 0.0, 2.0, 0.0, 2.0])
        saddle = np.block([[A, P], [P.T, np.zeros((6, 6))]])
        ref = np.linalg.solve(saddle, np.concatenate([f, g]))[:k]
        np.testing.assert_allclose(np.asarray(w[i]), ref, rtol=1e-8, atol=1e-8 * np.abs(ref).max())


def test_tapered_bad_arguments(cloud):
    adjl = ro.find_neighbors(cloud, K)
    with pytest.raises(ValueError, match="K >= 3"):
        tapered_weights(ro.Laplacian(), cloud, None, adjl[:, :2], ro.PHS(3, poly_deg=-1))
    with pytest.raises(ValueError, match="taper"):
        tapered_weights(ro.Laplacian(), cloud, None, adjl, BASIS, taper=-1.0)
    with pytest.raises(ValueError, match="degenerate"):  # 6 stencil points on a line
        line = np.stack([np.linspace(0, 1, 40), np.zeros(40)], 1)
        tapered_weights(ro.Laplacian(), line, None, ro.find_neighbors(line, 8), BASIS)


def test_ranks_match_a_stable_argsort():
    from rbfopt.fd.blend import _ranks

    # one decimal: many ties, which a stable sort keeps in column order
    d = np.random.default_rng(3).random((500, 18)).round(1)
    order, rank = jax.jit(_ranks)(jnp.asarray(d))
    ref = np.argsort(d, axis=1, kind="stable")
    np.testing.assert_array_equal(np.asarray(order), ref)
    np.testing.assert_array_equal(np.asarray(rank), np.argsort(ref, axis=1))
