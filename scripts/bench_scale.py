"""Benchmark: the default study's step at N = 1e4 .. 1e6, direct (SuperLU) vs Krylov.

Each case runs in a fresh process (its peak resident memory is its own): the default
study (``problems/poisson_nodes.py``, blended PHS3 + quadratic weights) is built at
about N nodes with ``solver="direct"`` or ``"krylov"`` (BiCGStab + an AMG V-cycle,
set up every ``amg_every`` restencils and carried over between), then ``--steps``
optimizer steps run with a restencil every step: value and gradient through the
weight build, the global solve and its adjoint, and the regrid. Printed per case:
the build, the first step (compilation included), the median later step, the
iterations of the forward and adjoint Krylov solves at the last layout, the loss at
the start (the same layout for both solvers), and the peak RSS. Then, per N, the
direct/Krylov step ratio and the relative difference of the starting losses.

    python scripts/bench_scale.py                            # 1e4, 1e5 both; 1e6 Krylov
    python scripts/bench_scale.py --sizes 10000 --solvers krylov --steps 3
    python scripts/bench_scale.py --sizes 100000 --blend-kind taper  # one-solve blend
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, resource, sys, time
import numpy as np
import rbfopt as ro
from rbfopt.app.catalog import load_module
n, steps, solver, blend = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
kind = sys.argv[5]
mod, _ = load_module("poisson_nodes")
t0 = time.perf_counter()
prob = mod.problem(n=n, solver=solver, blend=blend, blend_kind=kind)
t_build = time.perf_counter() - t0
res = ro.optimize.run(prob, "adam", steps, lr=0.01, restencil_every=1, progress=False)
st = [r["step_time"] for r in res.history[1:]]
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
its = [float("nan")] * 2
if solver == "krylov":
    stats = prob.solve_stats(res.last_params)
    its = [int(stats["solve_iterations"]), int(stats["adjoint_iterations"])]
print(json.dumps(dict(n=len(prob.init()["points"]), build=t_build, first=st[0],
                      step=float(np.median(st[1:])), its=its, loss0=res.history[0]["loss"],
                      rss=rss)))
"""


def run_case(n: int, solver: str, args: argparse.Namespace) -> dict | None:
    cmd = [
        sys.executable,
        "-c",
        CHILD,
        str(n),
        str(args.steps),
        solver,
        str(args.blend),
        args.blend_kind,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"N={n} {solver}: failed\n{proc.stderr[-2000:]}", flush=True)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="*", type=int, default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--solvers", nargs="*", default=["direct", "krylov"])
    ap.add_argument("--direct-max", type=int, default=100_000, help="largest N run direct")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--blend", type=int, default=2, help="stencil sizes blended (0: plain)")
    ap.add_argument("--blend-kind", default="sizes", choices=("sizes", "taper"))
    args = ap.parse_args()
    head = ("N", "solver", "build", "1st step", "step", "it fwd", "it adj", "loss0", "RSS")
    kind = f"blend={args.blend} ({args.blend_kind})"
    print(f"{kind}, steps={args.steps}, restencil every step; seconds, GB")
    print("{:>8} {:>7} {:>7} {:>9} {:>7} {:>6} {:>6} {:>18} {:>6}".format(*head), flush=True)
    for n in args.sizes:
        got = {}
        for solver in args.solvers:
            if solver == "direct" and n > args.direct_max:
                continue
            r = run_case(n, solver, args)
            if r is None:
                continue
            got[solver] = r
            print(
                f"{r['n']:>8} {solver:>7} {r['build']:7.2f} {r['first']:9.2f} {r['step']:7.3f} "
                f"{r['its'][0]:>6} {r['its'][1]:>6} {r['loss0']:18.12f} {r['rss'] / 1024:6.2f}",
                flush=True,
            )
        if len(got) == 2:
            d, k = got["direct"], got["krylov"]
            rel = abs(d["loss0"] - k["loss0"]) / abs(d["loss0"])
            ratio = d["step"] / k["step"]
            print(f"{'':>8} direct/krylov step {ratio:.2f}x, loss0 rel diff {rel:.1e}")


if __name__ == "__main__":
    main()
