"""Judge `rbfopt tune` by scipy: held-out error of RBFInterpolator with the tuned
(epsilon, smoothing, degree) against the best pair of a scan of that held-out error.

Data the project never tunes on elsewhere: noisy samples (noise 1e-3) of smooth
functions at random points in the unit square / cube; the held-out error is the RMS
against the noise-free function at 4000 other random points.

    python scripts/compare_tune.py                 # 2-D and 3-D, gaussian and imq, N=1500
    python scripts/compare_tune.py --large         # 20 000 points, local (neighbors=64)
    python scripts/compare_tune.py --per-point     # per_point vs global (our interpolant)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.interpolate as si

import rbfopt as ro


def f2(x):
    return np.tanh(3 * (x[:, 0] + x[:, 1] - 1)) + 0.3 * np.sin(5 * x[:, 0]) * x[:, 1]


def f3(x):
    r2 = np.sum((x - [0.4, 0.5, 0.6]) ** 2, axis=1)
    return np.exp(-4 * r2) + x[:, 0] * x[:, 1] * x[:, 2] - 0.5 * np.cos(3 * x[:, 2])


def two_scales(x):
    # a slow wave everywhere, a fast ripple switched on smoothly in the right half
    ripple = np.sin(25 * x[:, 0]) * np.sin(20 * x[:, 1]) / (1 + np.exp(-(x[:, 0] - 0.5) / 0.03))
    return np.sin(2 * x[:, 1]) + 0.5 * ripple


def data(fun, n, d, seed, noise=1e-3):
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))
    y = fun(x) + noise * rng.standard_normal(n)
    xt = rng.random((4000, d))
    return x, y, xt, fun(xt)


def rms(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def scipy_error(x, y, xt, ft, kernel, eps, lam, deg, neighbors=None):
    try:
        s = si.RBFInterpolator(
            x, y, neighbors=neighbors, smoothing=lam, kernel=kernel, epsilon=eps, degree=deg
        )
        e = rms(s(xt), ft)
    except (np.linalg.LinAlgError, ValueError):
        return np.inf
    return e if np.isfinite(e) else np.inf


def held_out_scan(x, y, xt, ft, kernel, deg, eps_grid, lam_grid, neighbors=None):
    return np.array(
        [
            [scipy_error(x, y, xt, ft, kernel, e, lam, deg, neighbors) for lam in lam_grid]
            for e in eps_grid
        ]
    )


def judge(name, fun, n, d, kernel, seed, neighbors=None, method="auto"):
    x, y, xt, ft = data(fun, n, d, seed)
    t0 = time.perf_counter()
    prob = ro.studies.shape_parameter(x, y, kernel=kernel, method=method)
    p = ro.studies.tune(prob)
    rep = prob.report(p)
    dt = time.perf_counter() - t0
    sp = rep["scipy"]
    mine = scipy_error(
        x,
        y,
        xt,
        ft,
        sp["kernel"],
        sp["epsilon"],
        sp["smoothing"],
        sp["degree"],
        sp.get("neighbors"),
    )
    tun = prob.tuning
    eps_grid = np.exp(np.linspace(*tun.t_range, 21))
    lam_grid = np.exp(np.linspace(*tun.s_range, 12))
    scan = held_out_scan(
        x, y, xt, ft, sp["kernel"], sp["degree"], eps_grid, lam_grid, sp.get("neighbors")
    )
    i, j = np.unravel_index(np.argmin(scan), scan.shape)
    print(
        f"{name:>10} {kernel:>9} N={n:<6} tune {dt:6.1f} s  eps {sp['epsilon']:9.3g} "
        f"lam {sp['smoothing']:9.2e}  held-out {mine:.3e}  best scan {scan[i, j]:.3e} "
        f"(eps {eps_grid[i]:.3g}, lam {lam_grid[j]:.1e})  ratio {mine / scan[i, j]:.3f}",
        flush=True,
    )
    return mine / scan[i, j]


def per_point(name, fun, n, d, kernel, seed):
    x, y, xt, ft = data(fun, n, d, seed)
    g = ro.studies.shape_parameter(x, y, kernel=kernel)
    pg = ro.studies.tune(g)
    tun = g.tuning
    eg, lg = float(tun.eps_of(pg)), float(tun.lam_of(pg))
    t0 = time.perf_counter()
    pp = ro.studies.shape_parameter(x, y, kernel=kernel, eps="per_point", start=(eg, lg))
    q = ro.studies.tune(pp)
    dt = time.perf_counter() - t0
    t = pp.tuning
    b = t.spec.basis
    eglob = rms(ro.Interpolator(x, y, b(eg, tun.deg), smoothing=lg)(xt), ft)
    ep = np.asarray(t.eps_of(q))
    eper = rms(ro.Interpolator(x, y, b(ep, t.deg), smoothing=float(t.lam_of(q)))(xt), ft)
    print(
        f"{name:>10} {kernel:>9} N={n:<6} per_point {dt:5.1f} s  eps {ep.min():.3g}..{ep.max():.3g}"
        f"  held-out global {eglob:.3e}  per_point {eper:.3e}  ratio {eper / eglob:.3f}",
        flush=True,
    )
    return eper / eglob


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--large", action="store_true")
    ap.add_argument("--per-point", action="store_true")
    ap.add_argument("--n", type=int, default=1500)
    a = ap.parse_args()
    if a.large:
        judge("2-D large", f2, 20000, 2, "gaussian", 3, method="local")
        judge("2-D large", f2, 20000, 2, "imq", 4, method="local")
    elif a.per_point:
        for k in ("gaussian", "imq"):
            per_point("2-D", f2, a.n, 2, k, 0)
            per_point("3-D", f3, a.n, 3, k, 1)
            per_point("two-scale", two_scales, a.n, 2, k, 2)
    else:
        for k in ("gaussian", "imq"):
            judge("2-D", f2, a.n, 2, k, 0)
            judge("3-D", f3, a.n, 3, k, 1)


if __name__ == "__main__":
    main()
