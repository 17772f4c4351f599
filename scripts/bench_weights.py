"""Benchmark: RBF-FD weight building, its gradient and operator apply vs peers.

Runs treverhines-rbf (``rbf.pde.fd.weight_matrix``) and scipy CSR matvec in the
same process as rbfopt and prints ratios (these machines are noisy; absolute
times drift, ratios much less). Default: 2-D, N = 100 000 random nodes, k = 30,
PHS3 with poly_deg 2, Laplacian.

    python scripts/bench_weights.py [--n 100000] [--k 30] [--repeat 3] [--big 1000000]
                                    [--devices 2] [--jax-first]

One column per way of calling the build (``ro.build_weights``, checks included):

* ``eager``: called on concrete arrays;
* ``user jit``: inside the caller's own ``jax.jit`` (the gradient: ``jax.jit(jax.grad)``,
  as in the optimization driver's step);
* ``grad``: inside ``jax.grad``, not jitted (the build: the forward pass of
  ``jax.vjp``).

treverhines-rbf is timed in alternation with all of them, so that a busy spell of the
machine weighs on both sides of every ratio. ``--devices n`` splits the build over n
CPU devices (``ro.set_host_device_count``: n cores); the default, 1, is one core, like
the peer. ``--jax-first`` starts JAX before importing rbfopt, so that rbfopt cannot put
its XLA:CPU options in ``XLA_FLAGS`` (only eager builds then get them).
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np


def timed(fn):
    t = time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - t, out


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=None)
    ap.add_argument("--big", type=int, default=0, help="also build at this N (memory test)")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--no-grad", action="store_true")
    ap.add_argument("--devices", type=int, default=1, help="CPU devices (cores) for the build")
    ap.add_argument("--jax-first", action="store_true", help="start JAX before importing rbfopt")
    args = ap.parse_args(argv)
    if args.jax_first:
        jnp.zeros(1).block_until_ready()

    import rbfopt as ro
    from rbfopt.fd import _backend

    if args.devices > 1:
        ro.set_host_device_count(args.devices)

    rng = np.random.default_rng(0)
    x = rng.random((args.n, 2))
    basis = ro.PHS(3, poly_deg=2)
    op = ro.Laplacian()
    print(
        f"backend={jax.default_backend()} devices={jax.local_device_count()} N={args.n} "
        f"k={args.k} basis={basis} op=Laplacian"
    )
    flags = os.environ.get("XLA_FLAGS", "")
    where = "per-jit, eager builds only" if _backend.jit_options() else "XLA_FLAGS"
    print(f"XLA_FLAGS={flags!r} (XLA:CPU options of the build: {where})")

    t = time.perf_counter()
    adjl = ro.find_neighbors(x, args.k)
    print(f"stencils (cKDTree)         {time.perf_counter() - t:8.3f} s")

    xj, aj = jnp.asarray(x), jnp.asarray(adjl)
    chunk = args.chunk or _backend.default_chunk(args.k, x.shape[1])
    print(f"chunk                      {chunk:8d} stencils")

    def weights(p):
        return ro.build_weights(op, p, None, aj, basis, chunk_size=chunk)

    def loss(p):
        # reverse-mode gradient of sum(W^2) w.r.t. all node positions
        return jnp.sum(weights(p) ** 2)

    jit_weights = jax.jit(weights)
    jit_grad = jax.jit(jax.grad(loss))
    grad = jax.grad(loss)
    builds = {
        "eager": lambda: weights(xj),
        "user jit": lambda: jit_weights(xj),
        "grad": lambda: jax.vjp(weights, xj)[0],
    }
    grads = {} if args.no_grad else {"user jit": lambda: jit_grad(xj), "grad": lambda: grad(xj)}

    peer = None
    if not args.no_peer:
        try:
            from rbf.pde.fd import weight_matrix
        except ImportError:
            print("treverhines-rbf not installed (pip install -e .[bench]); peer skipped")
        else:
            # warm-up on a small set: treverhines compiles its symbolic kernels once
            weight_matrix(x[:200], x[:200], args.k, [[2, 0], [0, 2]], phi="phs3", order=2)

            def peer():
                return weight_matrix(x, x, args.k, [[2, 0], [0, 2]], phi="phs3", order=2)

    calls = [("b " + m, f) for m, f in builds.items()] + [("g " + m, f) for m, f in grads.items()]
    # first calls: compile + run
    first = {}
    for name, fn in calls:
        first[name], out = timed(fn)
        assert np.all(np.isfinite(np.asarray(out)))
    w = np.asarray(builds["eager"]())

    # all of them in alternation with the peer, min of the rounds
    best = {name: np.inf for name in first}
    t_peer, Wp = np.inf, None
    for _ in range(args.repeat):
        if peer is not None:
            tp, Wp = timed(peer)
            t_peer = min(t_peer, tp)
        for name, fn in calls:
            best[name] = min(best[name], timed(fn)[0])

    modes = list(builds)

    def row(label, values):
        print(f"{label:<28}" + "".join(f"{v:>12}" for v in values))

    def cell(name, fmt):
        return fmt(name) if name in best else "-"

    print()
    row("", modes)
    row("build [s]", [f"{best['b ' + m]:.3f}" for m in modes])
    if peer is not None:
        row("speed-up vs treverhines", [f"{t_peer / best['b ' + m]:.1f}x" for m in modes])
    row("compile build [s]", [f"{first['b ' + m] - best['b ' + m]:.1f}" for m in modes])
    if grads:
        row("gradient [s]", [cell("g " + m, lambda n: f"{best[n]:.3f}") for m in modes])
        row(
            "gradient / build",
            [cell("g " + m, lambda n, m=m: f"{best[n] / best['b ' + m]:.2f}x") for m in modes],
        )
        row(
            "compile gradient [s]",
            [cell("g " + m, lambda n: f"{first[n] - best[n]:.1f}") for m in modes],
        )
    if peer is not None:
        L = ro.RBFOperator(jnp.asarray(w), aj, args.n)
        diff = abs(Wp.tocsr() - L.to_scipy()).max() / abs(Wp).max()
        print(f"treverhines weight_matrix  {t_peer:8.3f} s   max rel. diff {diff:.1e}")
    print()

    # apply vs scipy CSR matvec
    L = ro.RBFOperator(jnp.asarray(w), aj, args.n)
    csr = L.to_scipy()
    u = rng.random(args.n)
    uj = jnp.asarray(u)
    apply = jax.jit(lambda L, u: L(u))
    jax.block_until_ready(apply(L, uj))
    reps = max(args.repeat, 20)
    t_apply = min(timed(lambda: apply(L, uj))[0] for _ in range(reps))
    t_csr = min(timed(lambda: csr @ u)[0] for _ in range(reps))
    print(
        f"rbfopt apply               {t_apply * 1e3:8.3f} ms  scipy CSR matvec {t_csr * 1e3:.3f} ms"
        f"   ratio {t_apply / t_csr:.2f}"
    )
    np.testing.assert_allclose(np.asarray(apply(L, uj)), csr @ u, rtol=1e-10, atol=1e-8)
    print(f"peak RSS so far {peak_rss_gb():.2f} GB")

    if args.big:
        xb = rng.random((args.big, 2))
        ab = jnp.asarray(ro.find_neighbors(xb, args.k))
        t = time.perf_counter()
        wb = ro.build_weights(op, xb, None, ab, basis, chunk_size=chunk)
        wb = jax.block_until_ready(wb)
        print(
            f"N={args.big}: build {time.perf_counter() - t:.2f} s (incl. compile), "
            f"peak RSS {peak_rss_gb():.2f} GB, finite={bool(jnp.all(jnp.isfinite(wb)))}"
        )


if __name__ == "__main__":
    main()
