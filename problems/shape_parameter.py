"""Tune eps and smoothing of scattered data by leave-one-out cross-validation (Rippa).

The study is :func:`rbfopt.studies.shape_parameter`: the leave-one-out cost of the
smoothed interpolant (``(A + lam I) c + P d = f``, scipy's ``smoothing``) minimized
over ``log eps`` and ``log lam`` from the best point of a brute-force scan. The data are
``data`` (a CSV with a header, ``.npz`` or meshio file, read as ``rbfopt tune`` reads
it), or by default noisy samples (``noise``) of Franke's function at ``n`` Halton
points of the unit square (``dim=3``: a 3-D variant in the unit cube). The report
gives the tuned pair in scipy's conventions, the scan's best and, for the synthetic
data, the held-out RMS error against the noise-free function at 2000 other points.

``rbfopt tune DATA`` is the command for a user's data; this problem runs the same
study through the driver (``rbfopt run shape_parameter``), with its checkpoints and
history.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import qmc

import rbfopt as ro
from rbfopt.problem import Problem

DEFAULTS = {"steps": 40, "optimizer": "lbfgs", "lr": 1.0}


def franke(x: np.ndarray) -> np.ndarray:
    """Franke's test function on the unit square (``dim=3``: summed over the pairs of
    coordinates ``(x, y), (y, z)``)."""
    if x.shape[1] == 3:
        return franke(x[:, :2]) + franke(x[:, 1:])
    X, Y = 9 * x[:, 0], 9 * x[:, 1]
    return (
        0.75 * np.exp(-((X - 2) ** 2 + (Y - 2) ** 2) / 4)
        + 0.75 * np.exp(-((X + 1) ** 2) / 49 - (Y + 1) / 10)
        + 0.5 * np.exp(-((X - 7) ** 2 + (Y - 3) ** 2) / 4)
        - 0.2 * np.exp(-((X - 4) ** 2) - (Y - 7) ** 2)
    )


def synthetic(n: int, dim: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy Franke data at ``n`` scrambled Halton points."""
    x = qmc.Halton(d=dim, scramble=True, seed=seed).random(n)
    rng = np.random.default_rng(seed + 1)
    return x, franke(x) + noise * rng.standard_normal(n)


def problem(
    data: str = "",
    kernel: str = "gaussian",
    eps: str = "global",
    smoothing: str = "auto",
    degree: int = -2,
    method: str = "auto",
    n: int = 400,
    dim: int = 2,
    noise: float = 1e-3,
    seed: int = 0,
) -> Problem:
    """Build the study. ``data``: a file (default: synthetic Franke data of ``n``
    points in ``dim`` = 2 or 3 dimensions with Gaussian ``noise``); ``kernel``:
    gaussian | imq | mq | linear | cubic | quintic; ``eps``: global | per_point;
    ``smoothing``: auto or a number; ``degree``: polynomial degree (-2: scipy's
    default); ``method``: auto | dense | local."""
    if data:
        from rbfopt.app.data import read_data

        x, f, _ = read_data(data)
    else:
        if dim not in (2, 3):
            raise ValueError(f"dim: expected 2 or 3, got {dim}")
        if n < 10:
            raise ValueError(f"n: need at least 10 points, got {n}")
        x, f = synthetic(n, dim, noise, seed)
    lam = smoothing if smoothing == "auto" else _number("smoothing", smoothing)
    prob = ro.studies.shape_parameter(
        x,
        f,
        kernel=kernel,
        degree=None if degree == -2 else degree,
        eps=eps,
        smoothing=lam,
        method=method,
        seed=seed,
    )
    if not data:
        prob.report = _with_held_out(prob, dim, seed)
    prob.options.update(data=data, n=len(x), noise=noise, seed=seed)
    return prob


def _number(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}: expected 'auto' or a number, got {raw!r}") from None


def _with_held_out(prob: Problem, dim: int, seed: int):
    """The study's report plus the held-out error of scipy's fit with the tuned pair."""
    import scipy.interpolate as si

    base = prob.report
    xt = np.random.default_rng(seed + 2).random((2000, dim))
    tun = prob.tuning

    def report(p):
        rep = dict(base(p))
        sp = rep["scipy"]
        if np.ndim(sp["epsilon"]) == 0:
            fit = si.RBFInterpolator(tun.x, tun.f, **sp)
        else:  # scipy takes one epsilon: the project's interpolant for a per-point field
            basis = tun.spec.basis(np.asarray(sp["epsilon"]), tun.deg)
            fit = ro.Interpolator(tun.x, tun.f, basis, smoothing=sp["smoothing"])
        rep["held_out_rms"] = float(np.sqrt(np.mean((np.asarray(fit(xt)) - franke(xt)) ** 2)))
        return rep

    return report
