"""Smoothed interpolation, per-centre eps and the leave-one-out costs, against scipy,
literal refits and finite differences."""

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.interpolate as si

import rbfopt as ro
from rbfopt.interp import loo_neighbours
from rbfopt.testing import check_rules

RNG = np.random.default_rng(7)
X = RNG.random((45, 2))
F = np.sin(3 * X[:, 0]) * np.cos(2 * X[:, 1]) + 1e-3 * RNG.standard_normal(45)
Q = RNG.random((9, 2))

CASES = [  # our basis, scipy's kernel and epsilon
    (ro.Gaussian(eps=2.5, poly_deg=0), "gaussian", 2.5),
    (ro.IMQ(eps=2.0, poly_deg=1), "inverse_multiquadric", 2.0),
    (ro.MQ(eps=1.5, poly_deg=0), "multiquadric", 1.5),
    (ro.PHS(3, poly_deg=1), "cubic", 1.0),
]


@pytest.mark.parametrize("basis,kernel,eps", CASES, ids=[c[1] for c in CASES])
def test_smoothed_fit_equals_scipy(basis, kernel, eps):
    lam = 1e-3
    ours = ro.Interpolator(X, F, basis, smoothing=lam)(Q)
    ref = si.RBFInterpolator(
        X, F, kernel=kernel, epsilon=eps, smoothing=lam, degree=basis.poly_deg
    )(Q)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    per_point = np.full(len(X), lam)
    np.testing.assert_allclose(
        ro.Interpolator(X, F, basis, smoothing=per_point)(Q), ours, rtol=1e-12, atol=1e-13
    )


def scipy_refit_cost(rows, **kw) -> float:
    """Sum of squared errors at ``X[rows]`` of scipy fits made without that point."""
    errs = [F[i] - si.RBFInterpolator(np.delete(X, i, 0), np.delete(F, i), **kw)(X[i : i + 1])[0]
            for i in rows]  # fmt: skip
    return float(np.sum(np.square(errs)))


@pytest.mark.parametrize("basis,kernel,eps", CASES[:3], ids=[c[1] for c in CASES[:3]])
def test_rippa_with_smoothing_equals_scipy_refits(basis, kernel, eps):
    lam = 1e-4
    ref = scipy_refit_cost(range(len(X)), kernel=kernel, epsilon=eps, smoothing=lam,
                           degree=basis.poly_deg)  # fmt: skip
    np.testing.assert_allclose(ro.loocv(X, F, basis, lam), ref, rtol=1e-8)


def test_rippa_with_eps_per_centre_equals_refits():
    eps = np.linspace(1.5, 4.0, len(X))
    lam = 1e-5
    refit = []
    for i in range(len(X)):
        keep = np.arange(len(X)) != i
        s = ro.Interpolator(X[keep], F[keep], ro.Gaussian(eps=eps[keep], poly_deg=0), lam)
        refit.append(F[i] - s(X[i]))
    # the kernel of centre j is exp(-(eps_j r)^2): check one column by hand
    s = ro.Interpolator(X, F, ro.Gaussian(eps=eps, poly_deg=-1))
    col = np.exp(-((eps[4] * np.linalg.norm(Q - X[4], axis=1)) ** 2))
    basis_only = ro.Interpolator.tree_unflatten(
        (False, None), (s.points, jnp.eye(len(X))[:, 4:5], s.pcoef, s.shift, s.scale, s.basis)
    )
    np.testing.assert_allclose(basis_only(Q), col, rtol=1e-12)
    cost = ro.loocv(X, F, ro.Gaussian(eps=eps, poly_deg=0), lam)
    np.testing.assert_allclose(cost, np.sum(np.square(refit)), rtol=1e-8)


def test_local_loocv_equals_scipy_local_refits():
    k, lam = 12, 1e-5
    rows = np.arange(0, len(X), 3)
    ref = scipy_refit_cost(rows, neighbors=k, kernel="inverse_multiquadric", epsilon=2.0,
                           smoothing=lam, degree=1)  # fmt: skip
    cost = ro.local_loocv(X, F, ro.IMQ(eps=2.0, poly_deg=1), lam, neighbors=k, rows=rows)
    np.testing.assert_allclose(cost, ref, rtol=1e-8)


def test_loo_neighbours_exclude_the_point_itself():
    adjl = loo_neighbours(X, 6)
    assert adjl.shape == (len(X), 6)
    assert not np.any(adjl == np.arange(len(X))[:, None])
    d = np.linalg.norm(X[:, None] - X[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    np.testing.assert_array_equal(np.sort(adjl, 1), np.sort(np.argsort(d, 1)[:, :6], 1))


def test_gradients_in_log_eps_and_log_smoothing():
    adjl = loo_neighbours(X, 10, np.arange(0, 45, 2))
    rows = np.arange(0, 45, 2)

    def dense(t, s):
        return jnp.log(ro.loocv(X, F, ro.Gaussian(eps=jnp.exp(t), poly_deg=0), jnp.exp(s)))

    def local(t, s):
        return jnp.log(
            ro.local_loocv(
                X, F, ro.IMQ(eps=jnp.exp(t), poly_deg=1), jnp.exp(s), rows=rows, adjl=adjl
            )
        )

    args = (jnp.asarray(np.log(2.0)), jnp.asarray(np.log(1e-4)))
    check_rules(dense, *args, rtol=1e-6)
    check_rules(local, *args, rtol=1e-6)
    # one eps per centre: through the per-point study's loss (tests/studies)


def test_bad_smoothing_and_eps_are_named():
    with pytest.raises(ValueError, match="smoothing: must be finite and >= 0 at indices"):
        ro.loocv(X, F, ro.IMQ(eps=1.0), np.r_[np.ones(44), -1.0])
    with pytest.raises(ValueError, match=r"smoothing: expected a scalar or shape \(45,\)"):
        ro.Interpolator(X, F, ro.IMQ(eps=1.0), np.ones(3))
    with pytest.raises(ValueError, match=r"eps must be a scalar or one value per centre"):
        ro.Interpolator(X, F, ro.IMQ(eps=np.ones(44)))
    with pytest.raises(ValueError, match="neighbors: 2 neighbours are fewer than the 3"):
        ro.local_loocv(X, F, ro.IMQ(eps=1.0, poly_deg=1), neighbors=2)
    with pytest.raises(ValueError, match="neighbors: need 1 <= neighbors"):
        loo_neighbours(X, 45)
