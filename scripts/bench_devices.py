"""Benchmark: the node-layout study's step on 1 device and on N host devices.

Two fresh processes run the same study (``poisson_nodes``, 2-D, about ``--n``
nodes): one on one CPU device, one started with
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` and run with ``devices=N``
(node arrays split over the devices, :mod:`rbfopt.app.sharding`). Each takes
``--steps`` steps with a restencil every step (as ``bench_study``); printed: the first
step (compilation included), the median of the later steps, and the ratio of the
N-device step to the one-device step, and how far apart the final parameters are.

    python scripts/bench_devices.py                  # N ~ 1e4, 8 devices, Krylov solve
    python scripts/bench_devices.py --n 200 --devices 8 --steps 4 --solver direct

The study's global solve is ``--solver`` (``-O solver=``; default ``krylov``, the
path that runs on several devices: SuperLU is a host callback).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = """
import json, sys, time
import numpy as np
import rbfopt as ro
from rbfopt.app.catalog import load_module
n, steps, devices, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
mod, _ = load_module("poisson_nodes")
prob = mod.problem(n=n, solver=sys.argv[5])
res = ro.optimize.run(prob, "adam", steps, lr=0.01, restencil_every=1, progress=False,
                      devices=devices)
np.save(out, np.asarray(res.params["points"]))
st = [r["step_time"] for r in res.history[1:]]
print(json.dumps(dict(n=len(prob.init()["points"]), first=st[0],
                      step=float(np.median(st[1:])))))
"""


def _child(n: int, steps: int, devices: int, out: str, solver: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(steps), str(devices), out, solver],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode:  # XLA's aborts end in native stack frames: keep the messages
        lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("    @")]
        sys.exit(f"the {devices}-device run failed:\n" + "\n".join(lines[-6:]))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="about how many nodes")
    ap.add_argument("--devices", type=int, default=8, help="host devices of the split run")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--solver", default="krylov", help="the study's global solve")
    args = ap.parse_args()
    if args.steps < 3:
        ap.error("--steps: at least 3 (the first step compiles)")
    print(f"poisson_nodes, n ~ {args.n}, {args.steps} steps, restencil every step, {args.solver}")
    print("{:>8} {:>6} {:>13} {:>9}".format("devices", "N", "1st step [s]", "step [s]"))
    runs = {}
    with tempfile.TemporaryDirectory() as d:
        files = {k: os.path.join(d, f"{k}.npy") for k in (1, args.devices)}
        for k, f in files.items():  # a line per run as it ends: a failing run keeps the other
            r = runs[k] = _child(args.n, args.steps, k, f, args.solver)
            print(f"{k:>8} {r['n']:>6} {r['first']:>13.2f} {r['step']:>9.3f}", flush=True)
        p1, pn = (np.load(files[k]) for k in (1, args.devices))
    ratio = runs[args.devices]["step"] / runs[1]["step"]
    print(f"step ratio {args.devices} / 1 devices: {ratio:.2f}")
    print(f"max |params difference| / max |params|: {np.abs(pn - p1).max() / np.abs(p1).max():.1e}")


if __name__ == "__main__":
    main()
