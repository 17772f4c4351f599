"""The four studies at tiny sizes, each against an independent reference:
numpy leave-one-out refits (shape_parameter), dense closed forms (field_inverse,
grid_assimilation), and constraint/decrease checks for poisson_nodes (its 2x
error reduction at ~1000 nodes is the slow test)."""

from __future__ import annotations

import numpy as np
import pytest

import rbfopt  # noqa: F401  (float64)
from rbfopt import optimize
from rbfopt.app.cli import load_module


def study(name):
    return load_module(name)[0]


def test_shape_parameter_loocv_matches_refit_scan():
    mod = study("shape_parameter")
    lam = 1e-8
    prob = mod.problem(n=40, kernel="gaussian", smoothing=str(lam), degree=-1, noise=0.0)
    res = optimize.run(prob, "adam", 150, lr=0.05, progress=False)
    t_opt = float(res.params["log_eps"])
    # independent brute force: explicit leave-one-out refits in numpy on a grid of log eps
    pts, f = mod.synthetic(40, 2, 0.0, 0)
    ts = np.linspace(*prob.tuning.t_range, 801)
    r2 = np.sum((pts[:, None] - pts[None]) ** 2, -1)
    costs = []
    for t in ts:
        A = np.exp(-np.exp(2 * t) * r2) + lam * np.eye(40)
        c = 0.0
        for i in range(40):
            m = np.arange(40) != i
            coef = np.linalg.solve(A[np.ix_(m, m)], f[m])
            c += (f[i] - A[i, m] @ coef) ** 2
        costs.append(c)
    t_scan = ts[int(np.argmin(costs))]
    assert abs(t_opt - t_scan) <= 2 * (ts[1] - ts[0])
    rep = prob.report(res.params)
    assert rep["held_out_rms"] < 0.05 and rep["scipy"]["degree"] == -1


def test_field_inverse_reaches_closed_form():
    prob = study("field_inverse").problem(n=80, sensors=20)
    res = optimize.run(prob, "lbfgs", 60, progress=False)
    rep = prob.report(res.params)
    assert {"misfit_rms_over_sigma", "rel_error_vs_truth"} <= set(res.history[-1])
    assert rep["J_optimized"] <= rep["J_closed_form"] * (1 + 1e-4)
    assert rep["rel_diff_to_closed_form"] < 1e-2
    # fitted to about the noise level (neither far above nor far below)
    assert 0.3 < rep["misfit_rms_optimized"] / rep["noise_sigma"] < 2.0


def test_grid_assimilation_reaches_least_squares():
    prob = study("grid_assimilation").problem(nx=6, ny=6, m=80)
    res = optimize.run(prob, "lbfgs", 100, progress=False)
    rep = prob.report(res.params)
    assert {"rms_residual", "rms_error_vs_truth"} <= set(res.history[-1])
    assert rep["rel_diff_to_closed_form"] < 1e-3
    assert abs(rep["J_optimized"] / rep["J_closed_form"] - 1) < 1e-6


def test_poisson_nodes_small_run_keeps_constraints():
    mod = study("poisson_nodes")
    prob = mod.problem(n=150, fine=1.0)
    # lr in units of the spacing (h = 0.14 at n = 150): steps of 2e-3, as at n = 1000
    res = optimize.run(prob, "adam", 6, lr=0.015, restencil_every=1, progress=False)
    h = res.history
    assert all(np.isfinite(r["loss"]) for r in h) and h[-1]["loss"] < h[0]["loss"]
    # the metrics come from the loss's own evaluation (no second solve per step)
    assert prob.metrics is None
    assert {"objective_rms", "rms_error", "min_spacing", "barrier"} <= set(h[-1])
    assert h[-1]["barrier"] >= 0 and 0 < h[-1]["min_spacing"] < 0.3
    mesh = prob.to_mesh(res.last_params)
    X, bnd = mesh.points[:, :2], mesh.point_data["boundary"] == 1
    x, y = X[:, 0], X[:, 1]
    # the six corners are nodes, unmoved
    corners = mod.CORNERS
    assert all(np.any(np.all(X == c, axis=1)) for c in corners)
    # boundary nodes on one of the L-shape's six edges, interior nodes inside
    on = (
        np.isclose(np.abs(x), 1)
        | np.isclose(y, 1)
        | np.isclose(y, -1) & (x <= 0)
        | np.isclose(x, 0) & (y <= 0)
        | np.isclose(y, 0) & (x >= 0)
    )
    assert np.all(on[bnd]) and not np.any(on[~bnd])
    xi, yi = x[~bnd], y[~bnd]
    assert np.all((np.abs(xi) < 1) & (np.abs(yi) < 1) & ~((xi > 0) & (yi < 0)))
    # and no two nodes on the same spot
    assert len(np.unique(X, axis=0)) == len(X)


@pytest.mark.slow
def test_poisson_nodes_default_halves_the_error():
    prob = study("poisson_nodes").problem()
    res = optimize.run(
        prob, "adam", 100, lr=0.037, schedule="cosine", restencil_every=1, progress=False
    )
    rep = prob.report(res.params)
    assert 950 <= rep["n_nodes"] <= 1050
    assert rep["error_reduction_factor"] >= 2.0
