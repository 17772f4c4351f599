"""ro.studies.shape_parameter: the tuned optimum against a brute-force scan in numpy,
per-point eps, the local cost, derivatives and bad input."""

import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt as ro
from rbfopt.testing import check_rules

RNG = np.random.default_rng(11)
X = RNG.random((90, 2))
F = np.tanh(2 * X[:, 0] - X[:, 1]) + 1e-3 * RNG.standard_normal(90)


def rippa_numpy(x, f, eps, lam, deg=0):
    """Rippa's cost from an explicit inverse of the Gaussian saddle matrix (numpy)."""
    n = len(x)
    A = np.exp(-(eps**2) * np.sum((x[:, None] - x[None]) ** 2, -1)) + lam * np.eye(n)
    P = np.ones((n, 1)) if deg == 0 else np.hstack([np.ones((n, 1)), x])
    m = P.shape[1]
    Minv = np.linalg.inv(np.block([[A, P], [P.T, np.zeros((m, m))]]))
    c = Minv[:n, :n] @ f
    return float(np.mean((c / np.diag(Minv)[:n]) ** 2))


@pytest.fixture(scope="module")
def tuned():
    prob = ro.studies.shape_parameter(X, F, kernel="gaussian")
    return prob, ro.studies.tune(prob)


def test_fixed_smoothing_optimum_matches_a_fine_scan():
    lam = 1e-6
    prob = ro.studies.shape_parameter(X, F, kernel="gaussian", smoothing=lam)
    p = ro.studies.tune(prob)
    t = np.linspace(*prob.tuning.t_range, 801)
    scan = np.array([rippa_numpy(X, F, np.exp(ti), lam) for ti in t])
    i = int(np.argmin(scan))
    assert 0 < i < len(t) - 1, "the scan's minimum must be interior"
    assert abs(float(p["log_eps"]) - t[i]) <= 2 * (t[1] - t[0])
    cost = rippa_numpy(X, F, float(np.exp(p["log_eps"])), lam)
    assert cost <= scan[i] * (1 + 1e-6)


def test_both_parameters_reach_the_fine_scans_minimum(tuned):
    prob, p = tuned
    rep = prob.report(p)
    eps, lam = rep["scipy"]["epsilon"], rep["scipy"]["smoothing"]
    # the tuned point's cost by the independent formula equals the study's
    np.testing.assert_allclose(rippa_numpy(X, F, eps, lam), rep["loocv_rms"] ** 2, rtol=1e-6)
    # a fine scan (4x the study's resolution) around the coarse scan's best finds nothing lower
    t0, s0 = np.log(rep["scan"]["best"])
    ts = t0 + np.linspace(-0.5, 0.5, 21)
    ss = s0 + np.linspace(-2.0, 2.0, 21)
    fine = min(rippa_numpy(X, F, np.exp(a), np.exp(b)) for a in ts for b in ss)
    assert rep["loocv_rms"] ** 2 <= fine * (1 + 1e-4)
    assert rep["loocv_rms"] <= rep["loocv_rms_start"]
    assert rep["scipy"] == {"kernel": "gaussian", "epsilon": eps, "smoothing": lam, "degree": 0}


def test_study_loss_derivatives_global_and_per_point(tuned):
    prob, p = tuned
    # off the optimum (where the gradient is ~0) and better conditioned (lam 20x larger),
    # so that finite differences are not rounding noise
    off = {"log_eps": p["log_eps"] + 0.3, "log_smoothing": p["log_smoothing"] + 3.0}
    check_rules(lambda q: prob.loss(q)[0], off, rtol=1e-6)
    start = (float(np.exp(off["log_eps"])), float(np.exp(off["log_smoothing"])))
    field = ro.studies.shape_parameter(X, F, eps="per_point", start=start)
    q0 = field.init()
    assert q0["log_eps"].shape == (16,)
    wiggle = {**q0, "log_eps": q0["log_eps"] + 0.1 * jnp.sin(jnp.arange(16.0))}
    check_rules(lambda q: field.loss(q)[0], wiggle, rtol=1e-6)


def test_per_point_starts_at_the_global_optimum_and_only_improves(tuned):
    prob, p = tuned
    start = (float(np.exp(p["log_eps"])), float(np.exp(p["log_smoothing"])))
    field = ro.studies.shape_parameter(X, F, eps="per_point", start=start)
    q = ro.studies.tune(field, maxiter=30)
    rep = field.report(q)
    np.testing.assert_allclose(rep["loocv_rms_start"], prob.report(p)["loocv_rms"], rtol=1e-9)
    assert field.loss(q)[0] <= field.loss(field.init())[0]
    eps = np.asarray(rep["scipy"]["epsilon"])
    assert eps.shape == (90,) and np.all(eps > 0)
    assert field.to_mesh(q).point_data["eps"].shape == (90,)


def test_local_method_cost_is_the_local_loocv():
    x = RNG.random((300, 2))
    f = np.sin(4 * x[:, 0]) + 1e-3 * RNG.standard_normal(300)
    prob = ro.studies.shape_parameter(x, f, kernel="imq", method="local", neighbors=16, sample=60)
    p = prob.init()
    tun = prob.tuning
    ref = ro.local_loocv(
        x,
        f,
        ro.IMQ(eps=float(jnp.exp(p["log_eps"])), poly_deg=0),
        float(jnp.exp(p["log_smoothing"])),
        rows=tun.rows,
        neighbors=16,
    )
    np.testing.assert_allclose(np.exp(prob.loss(p)[0]) * 60, ref, rtol=1e-10)
    assert prob.report(p)["scipy"]["neighbors"] == 16


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(kernel="bessel"), "kernel: expected one of"),
        (dict(eps="per_stencil"), "eps: expected 'global' or 'per_point'"),
        (dict(smoothing=-1.0), "smoothing: expected 'auto' or a number >= 0"),
        (dict(smoothing="some"), "smoothing: expected 'auto'"),
        (dict(kernel="mq", degree=-1), "degree: the mq kernel needs degree >= 0"),
        (dict(kernel="cubic", smoothing=0.0), "nothing to tune"),
        (dict(kernel="cubic", eps="per_point"), "no shape parameter"),
        (dict(method="fast"), "method: expected"),
        (dict(method="local", neighbors=200), "too few"),
    ],
)
def test_bad_options_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        ro.studies.shape_parameter(X, F, **kw)


def test_bad_data_is_named():
    with pytest.raises(ValueError, match=r"values: non-finite \(NaN/inf\) values at indices \[3\]"):
        ro.studies.shape_parameter(X, np.where(np.arange(90) == 3, np.nan, F))
    with pytest.raises(ValueError, match="duplicate centres at index pairs"):
        ro.studies.shape_parameter(np.vstack([X, X[:1]]), np.r_[F, 0.0])
    with pytest.raises(ValueError, match="fewer than the 3 monomials"):
        ro.studies.shape_parameter(X[:2], F[:2], degree=1)
