"""Benchmark: the node-layout study's step at growing N (time and peak memory).

Each case runs in a fresh process (so its peak resident memory is its own): the study
is built (nodes generated, fine set, stencils), then ``--steps`` optimizer steps run
(value and gradient through the weight build, the sparse solve and the regrid, plus
the restencil each step). Printed: N, the build time, the first step (compilation
included), the median of the later steps, the time of a step spent in the sparse
solve's host callbacks (SuperLU factorization and triangular solves, and the near
solves' GMRES; callbacks that XLA runs concurrently add up), and the process's peak
RSS.

    python scripts/bench_study.py                       # 2-D N ~ 1e3, 1e4, 1e5; 3-D 1e4
    python scripts/bench_study.py --cases 2:1000 3:3000 --blend 0
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
from rbfopt.sparse import solve as sparse_solve
dim, n, steps, blend = (int(v) for v in sys.argv[1:5])
import threading
host, local = [0.0], threading.local()
def timed(inner):
    def call(*args, **kw):
        local.depth = getattr(local, "depth", 0) + 1
        t = time.perf_counter()
        try:
            return inner(*args, **kw)
        finally:
            local.depth -= 1
            if not local.depth:  # a near solve's fallback is inside it: counted once
                host[0] += time.perf_counter() - t
    return call
for name in ("_host_solve", "_host_near_solve"):
    setattr(sparse_solve, name, timed(getattr(sparse_solve, name)))
mod, _ = load_module("poisson_nodes" if dim == 2 else "poisson_box_hole")
t0 = time.perf_counter()
prob = mod.problem(n=n, blend=blend)
t_build = time.perf_counter() - t0
host[0] = 0.0
res = ro.optimize.run(prob, "adam", steps, lr=0.01, restencil_every=1, progress=False)
st = [r["step_time"] for r in res.history[1:]]
print(json.dumps(dict(n=len(prob.init()["points"]), build=t_build, first=st[0],
                      step=float(np.median(st[1:])), solve=host[0] / steps,
                      rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="*", default=["2:1000", "2:10000", "2:100000", "3:10000"])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--blend", type=int, default=2, help="stencil sizes blended (0: plain)")
    args = ap.parse_args()
    head = ("dim", "N", "build [s]", "1st step [s]", "step [s]", "solve [s]", "peak RSS")
    print(f"blend={args.blend}")
    print("{:>3} {:>8} {:>10} {:>13} {:>9} {:>9} {:>10}".format(*head))
    for case in args.cases:
        dim, n = (int(v) for v in case.split(":"))
        out = (
            subprocess.run(
                [sys.executable, "-c", CHILD, str(dim), str(n), str(args.steps), str(args.blend)],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        r = json.loads(out)
        print(f"{dim:>3} {r['n']:>8d} {r['build']:>10.2f} {r['first']:>13.2f} "
              f"{r['step']:>9.3f} {r['solve']:>9.3f} {r['rss'] / 1024:>7.2f} GB")  # fmt: skip


if __name__ == "__main__":
    main()
