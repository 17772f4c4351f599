"""Benchmark: RBF-FD weight building, its gradient and operator apply vs peers.

Runs treverhines-rbf (``rbf.pde.fd.weight_matrix``) and scipy CSR matvec in the
same process as rbfopt and prints ratios (these machines are noisy; absolute
times drift, ratios much less). Default: 2-D, N = 100 000 random nodes, k = 30,
PHS3 with poly_deg 2, Laplacian.

    python scripts/bench_weights.py [--n 100000] [--k 30] [--repeat 3] [--big 1000000]
                                    [--devices 2]

``--devices n`` splits the build over n CPU devices (``ro.set_host_device_count``:
n cores); the default, 1, is one core, like the peer.
"""

from __future__ import annotations

import argparse
import functools
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

import rbfopt as ro
from rbfopt.fd.weights import COMPILER_OPTIONS, _build, _on_cpu


def best_of(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return min(times), out


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
    args = ap.parse_args(argv)
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

    t = time.perf_counter()
    adjl = ro.find_neighbors(x, args.k)
    print(f"stencils (cKDTree)         {time.perf_counter() - t:8.3f} s")

    xj, aj = jnp.asarray(x), jnp.asarray(adjl)
    chunk = args.chunk or ro.weights._default_chunk(args.k, x.shape[1])
    print(f"chunk                      {chunk:8d} stencils")

    def build():
        return _build(op, xj, xj, aj, basis, chunk, "implicit")[0]

    t = time.perf_counter()
    w = jax.block_until_ready(build())
    t_compile = time.perf_counter() - t
    if args.no_grad:
        t_build, w = best_of(build, args.repeat)
        t_compile -= t_build
        print(f"rbfopt build (compiled)    {t_build:8.3f} s   compile ~{t_compile:.1f} s")
    else:
        # reverse-mode gradient of sum(W^2) w.r.t. all node positions
        options = COMPILER_OPTIONS if _on_cpu() else None

        @functools.partial(jax.jit, compiler_options=options)
        def grad_fn(p):
            def loss(p):
                return jnp.sum(_build(op, p, p, aj, basis, chunk, "implicit")[0] ** 2)

            return jax.grad(loss)(p)

        t = time.perf_counter()
        g = jax.block_until_ready(grad_fn(xj))
        t_gcompile = time.perf_counter() - t
        # build and gradient timed in alternation, so that a busy spell of the machine
        # weighs on both sides of their ratio
        t_build = t_grad = np.inf
        for _ in range(args.repeat):
            tb, w = best_of(build, 1)
            tg, g = best_of(lambda: grad_fn(xj), 1)
            t_build, t_grad = min(t_build, tb), min(t_grad, tg)
        t_compile -= t_build
        print(f"rbfopt build (compiled)    {t_build:8.3f} s   compile ~{t_compile:.1f} s")
        print(
            f"rbfopt grad sum(W^2) wrt X {t_grad:8.3f} s   = {t_grad / t_build:.2f} x build"
            f"   (compile ~{t_gcompile - t_grad:.1f} s)"
        )
        assert np.all(np.isfinite(np.asarray(g)))

    # apply vs scipy CSR matvec
    L = ro.RBFOperator(w[..., 0], aj, args.n)
    csr = L.to_scipy()
    u = rng.random(args.n)
    uj = jnp.asarray(u)
    apply = jax.jit(lambda L, u: L(u))
    jax.block_until_ready(apply(L, uj))
    t_apply, y = best_of(lambda: apply(L, uj), max(args.repeat, 20))
    t_csr, y2 = best_of(lambda: csr @ u, max(args.repeat, 20))
    print(
        f"rbfopt apply               {t_apply * 1e3:8.3f} ms  scipy CSR matvec {t_csr * 1e3:.3f} ms"
        f"   ratio {t_apply / t_csr:.2f}"
    )
    np.testing.assert_allclose(np.asarray(y), y2, rtol=1e-10, atol=1e-8)

    if not args.no_peer:
        try:
            from rbf.pde.fd import weight_matrix
        except ImportError:
            print("treverhines-rbf not installed (pip install -e .[bench]); peer skipped")
        else:
            # warm-up on a small set: treverhines compiles its symbolic kernels once
            weight_matrix(x[:200], x[:200], args.k, [[2, 0], [0, 2]], phi="phs3", order=2)
            # peer and build timed in alternation (as build and gradient above), so a
            # busy spell of the machine weighs on both sides of the speed-up
            t_peer = np.inf
            for _ in range(max(1, min(args.repeat, 2))):
                tp, Wp = best_of(
                    lambda: weight_matrix(x, x, args.k, [[2, 0], [0, 2]], phi="phs3", order=2),
                    1,
                )
                tb, _ = best_of(build, 1)
                t_peer, t_build = min(t_peer, tp), min(t_build, tb)
            diff = abs(Wp.tocsr() - csr).max() / abs(Wp).max()
            print(f"treverhines weight_matrix  {t_peer:8.3f} s   max rel. diff {diff:.1e}")
            print(
                f"SPEEDUP build vs treverhines: {t_peer / t_build:.1f}x   "
                f"(build best of all runs {t_build:.3f} s)"
            )
    print(f"peak RSS so far {peak_rss_gb():.2f} GB")

    if args.big:
        xb = rng.random((args.big, 2))
        ab = jnp.asarray(ro.find_neighbors(xb, args.k))
        xbj = jnp.asarray(xb)
        t = time.perf_counter()
        wb = jax.block_until_ready(_build(op, xbj, xbj, ab, basis, chunk, "implicit")[0])
        print(
            f"N={args.big}: build {time.perf_counter() - t:.2f} s (incl. compile), "
            f"peak RSS {peak_rss_gb():.2f} GB, finite={bool(jnp.all(jnp.isfinite(wb)))}"
        )


if __name__ == "__main__":
    main()
