"""Optimized layouts vs graded layouts a practitioner would pick, judged by another code.

For a finished run of a node-layout study (``rbfopt run NAME --out RUN``), runs a random
search of graded spacing functions at the run's node count: each refines towards the
solution's peak and towards a second spot (the re-entrant corner of the L-shape, the
round hole of ``poisson_holes``),

    h(x) = h0 min_c (r_c + (1 - r_c) min(1, |x - c| / R_c)),

four parameters (strength ``r_c`` in [0.3, 1] and radius ``R_c`` in [0.1, 0.8] per
spot) drawn at random, ``h0`` set so that ``ro.nodes.generate`` gives the run's count
within 2 %. Every layout (the run's start, its optimized layout, each graded one) is
judged by ``scripts/judge.py``: treverhines-rbf, plain k-nearest stencils, PHS3 +
quadratics, scipy's sparse LU, RMS error on random held-out points. Printed: the factor
start error / layout error at each k, their geometric mean over k = 16, 20, 24, 30, and
the optimized layout's geometric mean against the best graded one's.

    python scripts/compare_layouts.py RUN [--search 30] [--points 60000]
"""

from __future__ import annotations

import argparse
import os
import sys

import meshio
import numpy as np

import rbfopt as ro

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import judge  # noqa: E402

#: The spots graded layouts refine towards: the solution's peak, then a second spot.
SPOTS = {
    "poisson_nodes": ((-0.4, 0.4), (0.0, 0.0)),
    "poisson_holes": ((1.45, 0.3), (1.3, 0.6)),
}


def graded(spots, h0: float, params):
    c = [np.asarray(s) for s in spots]

    def h(x):
        g = [r + (1 - r) * np.minimum(1.0, np.linalg.norm(x - ci, axis=1) / rad)
             for ci, (r, rad) in zip(c, params, strict=True)]  # fmt: skip
        return h0 * np.minimum(*g)

    return h


def matched(domain, spots, n: int, params, seed: int):
    """Nodes of the graded spacing whose count is within 2 % of ``n`` (or None)."""
    lo, hi = 0.2 * ro.nodes.spacing_for(domain, n), 5 * ro.nodes.spacing_for(domain, n)
    for _ in range(30):
        h0 = np.sqrt(lo * hi)
        nodes = ro.nodes.generate(domain, graded(spots, h0, params), seed=seed)
        if abs(len(nodes) / n - 1) < 0.02:
            return nodes.points
        lo, hi = (h0, hi) if len(nodes) > n else (lo, h0)
    return None


def row(label: str, r: dict, which: str) -> str:
    """One layout's errors; its factors against the start unless it is the start."""
    errs = " ".join(f"{e:.2e}" for e in r[which])
    if which == "start":
        return f"{label:<26} {errs}"
    factors = " ".join(f"{f:>6.2f}" for f in r["factor"])
    never = "yes" if r["worst"] >= 1.0 else "no"
    return f"{label:<26} {errs}  {factors}  {r['geomean']:>6.2f}  {never}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="the run's output folder (summary.json, initial/optimized.vtu)")
    ap.add_argument("--search", type=int, default=30, help="graded spacing functions drawn")
    ap.add_argument("--points", type=int, default=60_000, help="held-out points")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    mod, s = judge.problem_of(args.run)
    name, domain = s["problem"], mod.DOMAIN
    spec = mod.spec(s.get("options", {}).get("width", 0.08))
    start, opt = (meshio.read(os.path.join(args.run, f)).points[:, : domain.dim]
                  for f in ("initial.vtu", "optimized.vtu"))  # fmt: skip
    n = len(start)
    ks = judge.KS
    print(f"{name}: {n} nodes; errors at k = {ks}, factors vs the start, geometric mean over"
          f" k = {judge.SCORED}, never worse at those k")  # fmt: skip
    ref = judge.judge_pair(domain, spec, start, opt, ks, args.points)
    print(row("start (generated)", ref, "start"))
    print(row("optimized (run)", ref, "optimized"))
    rng = np.random.default_rng(args.seed)
    best, never = None, 0
    for i in range(args.search):
        params = [(rng.uniform(0.3, 1.0), rng.uniform(0.1, 0.8)) for _ in SPOTS[name]]
        pts = matched(domain, SPOTS[name], n, params, seed=i)
        if pts is None:
            continue
        r = judge.judge_pair(domain, spec, start, pts, ks, args.points, ref["start"])
        never += r["worst"] >= 1.0
        label = "graded " + " ".join(f"{a:.2f}/{b:.2f}" for a, b in params)
        print(row(label, r, "optimized"), flush=True)
        if best is None or r["geomean"] > best["geomean"]:
            best = r
    if best is not None:
        print(f"best graded: geometric mean {best['geomean']:.2f} (never worse: {never} of "
              f"{args.search}); optimized {ref['geomean']:.2f}: "
              f"{ref['geomean'] / best['geomean']:.2f}x the best graded")  # fmt: skip


if __name__ == "__main__":
    main()
