"""Benchmark: global Interpolator vs scipy RBFInterpolator, and linsolve on a large
Poisson system. Timings after compilation (block_until_ready), best of R runs.

  python scripts/bench_interp.py [--n-poisson 100000]
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from scipy.interpolate import RBFInterpolator

import rbfopt  # noqa: F401  (float64)
from rbfopt.basis import PHS
from rbfopt.fd.boundary import assemble
from rbfopt.interp import Interpolator
from rbfopt.operators import Laplacian
from rbfopt.sparse import StencilMatrix, clear_cache, linsolve
from rbfopt.stencils import find_neighbors


def best(fn, reps=3):
    out = fn()  # compile / warm up
    jax.block_until_ready(out)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        ts.append(time.perf_counter() - t0)
    return min(ts)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_interp(n=2000, nq=10000, reps=3):
    rng = np.random.default_rng(0)
    x = rng.random((n, 2))
    f = np.sin(4 * x[:, 0]) * np.cos(3 * x[:, 1])
    q = rng.random((nq, 2))
    xj, fj, qj = jnp.asarray(x), jnp.asarray(f), jnp.asarray(q)
    basis = PHS(3, poly_deg=2)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_sp = best(lambda: RBFInterpolator(x, f, kernel="cubic", degree=2)(q), reps)
        ref = RBFInterpolator(x, f, kernel="cubic", degree=2)(q)

    def ours():
        return Interpolator(xj, fj, basis)(qj)

    t_ours = best(ours, reps)
    rel = float(np.max(np.abs(np.asarray(ours()) - ref)) / np.max(np.abs(ref)))

    fwd = jax.jit(lambda v: jnp.sum(Interpolator(xj, v, basis)(qj) ** 2))
    grad = jax.jit(jax.value_and_grad(lambda v: jnp.sum(Interpolator(xj, v, basis)(qj) ** 2)))
    t_fwd = best(lambda: fwd(fj), reps)
    t_grad = best(lambda: grad(fj), reps)
    gradp = jax.jit(jax.value_and_grad(lambda p: jnp.sum(Interpolator(p, fj, basis)(qj) ** 2)))
    t_gradp = best(lambda: gradp(xj), reps)

    print(
        f"Interpolator, N={n} centres, {nq} queries, 2-D, PHS3 poly_deg 2 (scipy 'cubic', degree 2)"
    )
    print(f"  scipy RBFInterpolator build+eval : {t_sp * 1e3:8.1f} ms")
    print(
        f"  rbfopt Interpolator build+eval   : {t_ours * 1e3:8.1f} ms"
        f"   ratio ours/scipy = {t_ours / t_sp:.2f}"
    )
    print(f"  max rel. difference to scipy     : {rel:.1e}")
    print(f"  forward (jit, loss)              : {t_fwd * 1e3:8.1f} ms")
    print(
        f"  value_and_grad w.r.t. values     : {t_grad * 1e3:8.1f} ms"
        f"   ratio grad/fwd = {t_grad / t_fwd:.2f}"
    )
    print(
        f"  value_and_grad w.r.t. centres    : {t_gradp * 1e3:8.1f} ms"
        f"   ratio grad/fwd = {t_gradp / t_fwd:.2f}"
    )


def disk_nodes(n, seed=0):
    from scipy.stats import qmc

    h = np.sqrt(np.pi / n)
    nb = int(round(2 * np.pi / h))
    t = 2 * np.pi * np.arange(nb) / nb
    bnd = np.stack([np.cos(t), np.sin(t)], 1)
    hal = qmc.Halton(d=2, scramble=True, seed=seed)
    inner = np.zeros((0, 2))
    while len(inner) < n - nb:
        c = 2 * hal.random(2 * n) - 1
        inner = np.concatenate([inner, c[np.linalg.norm(c, axis=1) < 1 - 0.5 * h]])
    return np.concatenate([bnd, inner[: n - nb]]), nb


def bench_linsolve(n=100_000, reps=3):
    p, nb = disk_nodes(n)
    adjl = find_neighbors(p, 12)
    t0 = time.perf_counter()
    A = assemble(p, Laplacian(), interior=np.arange(nb, n), dirichlet=np.arange(nb), adjl=adjl)
    jax.block_until_ready(A.values)
    t_asm = time.perf_counter() - t0
    u = jnp.sin(2 * p[:, 0] + 1) * jnp.cos(3 * p[:, 1])
    b = jnp.concatenate([u[:nb], -13.0 * u[nb:]])
    vals, adj = A.values, A.adjl

    solve = jax.jit(lambda v, r: jnp.sum(linsolve(StencilMatrix(v, adj), r) ** 2))
    vg = jax.jit(
        jax.value_and_grad(lambda v, r: jnp.sum(linsolve(StencilMatrix(v, adj), r) ** 2), (0, 1))
    )

    def cold(fn):
        # clear the factor cache before each run: every timing includes one factorization
        def run():
            clear_cache()
            return fn(vals, b)

        return run

    rss0 = peak_rss_mb()
    t_solve = best(cold(solve), reps)
    t_grad = best(cold(vg), reps)
    t_warm = best(lambda: solve(vals, b), reps)
    err = float(jnp.max(jnp.abs(linsolve(A, b) - u)))
    print(
        f"\nlinsolve, Poisson on the disk, N={n} nodes, k=12, PHS3 poly_deg 2"
        f" (assembly {t_asm:.1f} s incl. compile)"
    )
    print(
        f"  solve (factor + solve)           : {t_solve * 1e3:8.1f} ms"
        f"   (max error vs exact {err:.1e})"
    )
    print(
        f"  value_and_grad (A.values, b)     : {t_grad * 1e3:8.1f} ms"
        f"   ratio grad/solve = {t_grad / t_solve:.2f}"
    )
    print(f"  solve with cached factors        : {t_warm * 1e3:8.1f} ms")
    print(f"  peak RSS: {peak_rss_mb():.0f} MB (before the solves: {rss0:.0f} MB)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-poisson", type=int, default=100_000, help="0 skips the linsolve part")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    print(f"jax {jax.__version__} on {jax.default_backend()}")
    bench_interp(reps=a.reps)
    if a.n_poisson:
        bench_linsolve(a.n_poisson, reps=a.reps)
