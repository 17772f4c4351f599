"""Benchmark: node generation (ro.nodes.generate) vs treverhines-rbf in the same process.

On the L-shape [0, 2]^2 minus [1, 2]^2 (and with ``--dim 3`` in the unit cube), at about
equal node counts: our generator, ``rbf.pde.nodes.min_energy_nodes`` and
``rbf.pde.nodes.poisson_disc_nodes``. Every node set is measured by the same
``ro.nodes.quality`` (separation q, fill distance h, mesh ratio h/q, spacing CV of
nearest-neighbour distances), so the figures compare the node sets, not two metric
implementations. Times are wall-clock of one call; ours is called twice (the first
call compiles the domain queries) and the second is reported, with the first beside it.
Lower mesh ratio and CV are better.

    python scripts/bench_nodes.py                 # N ~ 10 000 on the L-shape
    python scripts/bench_nodes.py --n 100000      # time at N ~ 10^5
    python scripts/bench_nodes.py --dim 3 --n 5000
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import rbfopt as ro


def lshape():
    v = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]], float)
    smp = np.array([[i, (i + 1) % len(v)] for i in range(len(v))])
    return ro.geometry.Polygon(v), (v, smp)


def cube():
    v = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    tri = np.array([t for a, b, c, d in quads for t in ([a, b, c], [a, c, d])])
    return ro.geometry.Surface(v, tri), (v, tri)


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def row(name, pts, seconds, domain, extra=""):
    q = ro.nodes.quality(pts, domain)
    print(
        f"{name:<22} {len(pts):>8d} {seconds:>9.2f} {q['separation']:>10.4g} "
        f"{q['fill_distance']:>10.4g} {q['mesh_ratio']:>8.3f} {q['spacing_cv']:>8.3f}  {extra}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="target node count")
    ap.add_argument("--dim", type=int, choices=(2, 3), default=2)
    ap.add_argument("--no-peer", action="store_true", help="ours only")
    args = ap.parse_args()
    domain, (vert, smp) = lshape() if args.dim == 2 else cube()
    d = args.dim
    h = ro.nodes.spacing_for(domain, args.n)
    print(f"domain {'L-shape' if d == 2 else 'unit cube'}, target N {args.n}, spacing {h:.4g}")
    print(f"{'generator':<22} {'N':>8} {'time [s]':>9} {'q':>10} {'h':>10} {'h/q':>8} {'CV':>8}")
    rss0 = peak_rss_mb()
    first, t_first = timed(lambda: ro.nodes.generate(domain, h, seed=0))
    del first
    ours, t_ours = timed(lambda: ro.nodes.generate(domain, h, seed=1))
    rss1 = peak_rss_mb()
    row("rbfopt generate", ours.points, t_ours, domain, f"(first call {t_first:.2f} s)")
    print(f"peak RSS of the process: {rss0:.0f} MB before ours, {rss1:.0f} MB after")
    if args.no_peer:
        return
    from rbf.pde.nodes import min_energy_nodes, poisson_disc_nodes

    (pts, _, _), t = timed(lambda: min_energy_nodes(len(ours.points), (vert, smp)))
    row("treverhines min_energy", pts, t, domain)
    # poisson_disc_nodes takes the minimum distance: pick it to give about the same N
    r = 0.9 * h
    (pts, _, _), t = timed(lambda: poisson_disc_nodes(r, (vert, smp)))
    row("treverhines poisson", pts, t, domain, f"(radius {r:.4g})")


if __name__ == "__main__":
    main()
