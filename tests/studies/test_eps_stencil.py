"""ro.studies.node_layout(..., eps="per_stencil"): ln ε per stencil optimized with the
nodes: the loss's derivatives in ln ε, the bounds, the report's common-ε comparison and
the argument checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt as ro
from rbfopt.studies import _report

SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1]]
N = 120


def u_exact(x):
    return jnp.sin(2 * x[0]) * jnp.exp(x[1]) + x[0] * x[1]


def lap_u(x):
    return jnp.trace(jax.hessian(u_exact)(x))


@pytest.fixture(scope="module")
def square():
    return ro.geometry.Polygon(SQUARE)


def study(square, basis=None, **kw):
    # one member, no held-out family, 600 check points: a small study's compiles
    kw = {"discretizations": [12], "held_out": False, "eps": "per_stencil",
          "max_eval_points": 600, **kw}  # fmt: skip
    basis = ro.IMQ(eps=4.0) if basis is None else basis
    return ro.studies.node_layout(
        square, source=lap_u, bcs={"outer": ro.Dirichlet(u_exact)}, n=N, objective="exact",
        exact=u_exact, basis=basis, **kw,
    )  # fmt: skip


@pytest.fixture(scope="module")
def prob(square):
    return study(square)


@pytest.fixture(scope="module")
def run(prob):
    return ro.optimize.run(prob, "adam", 6, lr=0.05, progress=False)


def test_params_start_at_the_basis_eps(prob):
    p = prob.init()
    st = prob.loss.__self__
    assert p["log_eps"].shape == (len(st.start),) == p["points"].shape[:1]
    np.testing.assert_allclose(p["log_eps"], np.log(4.0))
    lo, hi = st.log_eps_range
    np.testing.assert_allclose(np.exp([lo, hi]) * st.h, [0.2, 3.0])
    # at one common ε the weights are the fixed basis's, and each row takes its own ε
    x, adjl = st.nodes(p), prob.restencil(p).adjl
    rows = st.rows.interior[:3]

    def weights(basis):
        return np.asarray(st.builders[0](ro.Laplacian(), x, x[rows], adjl[rows], basis))

    fixed = weights(st.basis)
    np.testing.assert_allclose(weights(st.basis_of(0, st.eps(p))), fixed, rtol=1e-13)
    got = weights(st.basis_of(0, st.eps(p).at[rows[1]].set(8.0)))
    assert np.flatnonzero(np.any(got != fixed, axis=1)).tolist() == [1]


@pytest.fixture(scope="module")
def spread(prob):
    """Parameters with ε varying from stencil to stencil, and their stencils."""
    p = prob.init()
    rng = np.random.default_rng(0)
    log_eps = p["log_eps"] + rng.uniform(-0.3, 0.3, p["log_eps"].shape)
    p = prob.project({"points": p["points"], "log_eps": log_eps})
    return p, prob.restencil(p)


# The loss carries ~1e-11 of rounding from the local solves (smooth kernels near the
# flat limit): finite-difference steps of 1e-3 in ln ε and 1e-4 jointly with the
# positions (units of h) agree to ~1e-8; a step of 1e-6 only to ~1e-5.


def test_gradient_wrt_log_eps_matches_finite_differences(prob, spread):
    # forward and reverse mode under jit
    p, aux = spread

    def f(log_eps):
        return prob.loss({"points": p["points"], "log_eps": log_eps}, aux)[0]

    errs = ro.testing.check_rules(f, p["log_eps"], rtol=1e-6, eps=1e-3)
    assert set(errs) == {"fwd", "rev"}


# slow (~16 s): the positions' rules are checked in test_family.py; here jointly with ln ε
@pytest.mark.slow
def test_gradient_wrt_positions_and_log_eps_matches_finite_differences(prob, spread):
    p, aux = spread

    def f(points, log_eps):
        return prob.loss({"points": points, "log_eps": log_eps}, aux)[0]

    ro.testing.check_rules(f, p["points"], p["log_eps"], rtol=1e-6, eps=1e-4)


def test_few_steps_lower_the_loss_within_bounds(prob, run):
    losses = [h["loss"] for h in run.history]
    assert min(losses[1:]) < losses[0]
    lo, hi = prob.loss.__self__.log_eps_range
    le = np.asarray(run.last_params["log_eps"])
    assert np.all((le >= lo - 1e-12) & (le <= hi + 1e-12))
    assert np.ptp(le) > 0  # the stencils' ε moved apart


def test_project_clips_log_eps(prob):
    p = prob.init()
    lo, hi = prob.loss.__self__.log_eps_range
    far = p["log_eps"] + jnp.where(jnp.arange(len(p["log_eps"])) % 2 == 0, 10.0, -10.0)
    q = prob.project({**p, "log_eps": far})
    assert set(np.unique(np.asarray(q["log_eps"]))) == {lo, hi}
    np.testing.assert_allclose(q["points"], prob.project(p)["points"])


def test_report_compares_with_the_best_common_eps(prob, run, monkeypatch):
    monkeypatch.setattr(_report, "COMMON_EPS_SCAN", 5)  # the shipped 17 cost 10 s here
    rep = prob.report(run.params)
    scan = rep["common_eps_scan"]
    assert len(scan["eps"]) == _report.COMMON_EPS_SCAN
    h = prob.loss.__self__.h
    np.testing.assert_allclose([scan["eps"][0] * h, scan["eps"][-1] * h], [0.2, 3.0])
    best = int(np.argmin(scan["objective_rms"]))
    assert rep["best_common_eps"] == scan["eps"][best]
    assert rep["error_best_common_eps"] == min(scan["objective_rms"])
    assert rep["error_per_stencil"] == rep["objective_rms_optimized"]
    assert rep["per_stencil_gain"] == pytest.approx(
        rep["error_best_common_eps"] / rep["error_per_stencil"]
    )
    assert 0.2 <= rep["eps_h_optimized"]["min"] <= rep["eps_h_optimized"]["max"] <= 3.0
    assert np.isfinite(rep["true_rms_error_best_common_eps"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"basis": ro.PHS(3, poly_deg=2)}, r"eps: 'per_stencil' needs a basis with a shape"),
        ({"basis": None}, r"eps: 'per_stencil' needs a basis .* PHS"),
        ({"eps": "global"}, r"eps: expected None or 'per_stencil', got 'global'"),
        ({"eps": 2.0}, r"eps: expected None or 'per_stencil'"),
        ({"discretization": "p1"}, r"eps: 'per_stencil' .* finite-element"),
        ({"basis": ro.IMQ(eps=0.5)}, r"eps: 'per_stencil' keeps eps \* h in \[0.2, 3\]"),
        ({"basis": ro.IMQ(eps=np.full(3, 4.0))}, r"eps: .* must be one number"),
        ({"eps_h_min": 2.0, "eps_h_max": 1.0}, r"eps_h_min, eps_h_max"),
    ],
)
def test_bad_input(square, kwargs, match):
    basis = kwargs.pop("basis", ro.IMQ(eps=4.0))
    with pytest.raises(ValueError, match=match):
        ro.studies.node_layout(
            square, source=lap_u, bcs={"outer": ro.Dirichlet(u_exact)}, n=N,
            objective="exact", exact=u_exact, basis=basis, **{"eps": "per_stencil", **kwargs},
        )  # fmt: skip
