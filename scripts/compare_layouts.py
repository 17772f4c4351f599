"""Optimized layouts vs graded layouts a practitioner would pick, at equal node count.

For a finished run of a node-layout study (``rbfopt run NAME --out RUN``), builds the
same study on node sets from ``ro.nodes.generate`` with spacing functions graded
towards the solution's peak (h(x) = h0 (r + (1 - r) min(1, |x - c| / R)) for a few
ratios r and radii R, h0 chosen so that the count matches the run's) and prints the
true RMS error of each on the study's check points (random points no objective
sees) beside the run's generated start and optimized layout.

    python scripts/compare_layouts.py poisson_holes RUN
    python scripts/compare_layouts.py poisson_nodes RUN
    python scripts/compare_layouts.py poisson_box_hole RUN   # 3-D
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

import rbfopt as ro
from rbfopt.app.catalog import load_module

PEAKS = {
    "poisson_nodes": (-0.4, 0.4),
    "poisson_holes": (1.45, 0.3),
    "poisson_box_hole": (0.55, 0.55, 0.55),
}


def graded(c, h0: float, ratio: float, radius: float):
    c = np.asarray(c)

    def h(x):
        d = np.linalg.norm(x - c, axis=1)
        return h0 * (ratio + (1 - ratio) * np.minimum(1.0, d / radius))

    return h


def matched(domain, c, n: int, ratio: float, radius: float):
    """The graded spacing whose generated node count is within 2 % of ``n``."""
    lo, hi = 0.2 * ro.nodes.spacing_for(domain, n), 5 * ro.nodes.spacing_for(domain, n)
    for _ in range(30):
        h0 = np.sqrt(lo * hi)
        m = len(ro.nodes.generate(domain, graded(c, h0, ratio, radius), repel=0))
        if abs(m / n - 1) < 0.02:
            break
        lo, hi = (h0, hi) if m > n else (lo, h0)
    return graded(c, h0, ratio, radius)


def true_error(mod, options, spacing) -> tuple[int, float]:
    spec = mod.spec(options.get("width", 0.08))
    k = options.get("k") or None
    blend = options.get("blend", ro.studies.LayoutOptions().blend)
    prob = ro.studies.node_layout(
        mod.DOMAIN, **spec, spacing=spacing, k=k, blend=blend, objective="exact"
    )
    rep = prob.report(prob.init())
    return rep["n_nodes"], rep["true_rms_error_initial"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("problem", choices=sorted(PEAKS))
    ap.add_argument("run", help="the run's output folder (summary.json)")
    args = ap.parse_args()
    mod, _ = load_module(args.problem)
    s = json.load(open(os.path.join(args.run, "summary.json")))
    rep, n = s["report"], s["report"]["n_nodes"]
    print(f"{'layout':<34} {'nodes':>6} {'true RMS error':>15}")
    print(f"{'generated start (uniform)':<34} {n:>6d} {rep['true_rms_error_initial']:>15.4e}")
    best = np.inf
    for ratio in (0.3, 0.5, 0.7):
        for radius in (0.3, 0.6):
            h = matched(mod.DOMAIN, PEAKS[args.problem], n, ratio, radius)
            m, err = true_error(mod, s["options"], h)
            best = min(best, err)
            print(f"{f'graded r={ratio} R={radius}':<34} {m:>6d} {err:>15.4e}")
    opt = rep["true_rms_error_optimized"]
    print(f"{'optimized (' + args.run + ')':<34} {n:>6d} {opt:>15.4e}")
    print(f"optimized vs best graded: {best / opt:.2f}x lower error")


if __name__ == "__main__":
    main()
