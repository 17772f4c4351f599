"""Benchmark: a family's weights from one nested build against one build per size.

``ro.fd.nested_weights`` against ``ro.build_weights`` on ``adjl[:, :k]`` for each k,
value and reverse-mode gradient (w.r.t. the nodes) of a sum of squares of every
member's weights, each under ``jax.jit``, timed in alternation in one process (min of
``--reps``); prints the largest difference between the two and the ratio.

    python scripts/bench_nested.py                      # 3000 nodes, 6000 eval points
    python scripts/bench_nested.py --n 10000 --m 20000 --sizes 16,12,20,24,30
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import rbfopt as ro


def timed(f, *args, reps: int) -> float:
    jax.block_until_ready(f(*args))
    best = np.inf
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3000, help="nodes")
    ap.add_argument("--m", type=int, default=6000, help="evaluation points (Identity rows)")
    ap.add_argument("--sizes", default="16,12,20,24,30")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.random((args.n, 2)))
    y = jnp.asarray(rng.random((args.m, 2)) * 0.9 + 0.05)
    basis, width = ro.PHS(3, poly_deg=2), max(sizes)
    cases = {
        "Laplacian at the nodes": (ro.Laplacian(), x, ro.find_neighbors(np.asarray(x), width)),
        "Identity at the points": (
            ro.Identity(),
            y,
            ro.find_neighbors(np.asarray(x), width, np.asarray(y)),
        ),
    }
    print(f"sizes {sizes}; value and gradient, min of {args.reps} [s]")
    print(f"{'rows':>24} {'nested':>8} {'separate':>9} {'ratio':>6} {'max rel diff':>13}")
    for name, (op, pts, adjl) in cases.items():
        adjl = jnp.asarray(adjl)

        def nested(x, op=op, pts=pts, adjl=adjl):
            return ro.fd.nested_weights(op, x, pts, adjl, basis, sizes)

        def separate(x, op=op, pts=pts, adjl=adjl):
            return [ro.build_weights(op, x, pts, adjl[:, :k], basis) for k in sizes]

        diff = max(
            float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
            for a, b in zip(nested(x), separate(x), strict=True)
        )
        t = {}
        for label, fn in (("nested", nested), ("separate", separate)):
            loss = jax.jit(jax.value_and_grad(lambda x, fn=fn: sum(jnp.sum(w**2) for w in fn(x))))
            t[label] = timed(loss, x, reps=args.reps)
        ratio = t["separate"] / t["nested"]
        print(f"{name:>24} {t['nested']:8.3f} {t['separate']:9.3f} {ratio:6.2f} {diff:13.1e}")


if __name__ == "__main__":
    main()
