"""Benchmark: the global solve, direct (SuperLU on the host) vs Krylov + AMG (JAX).

2-D RBF-FD Poisson systems on the unit disk (PHS3 + quadratics, k = 12, Dirichlet
rows; ``examples/poisson_disk.py``), all sizes in one process. Printed per N: the AMG
setup (host, once per stencil set), the jitted solve and the value + gradient of
``sum(sin(u))`` w.r.t. the matrix values (what an optimizer step does; the direct
factor cache is cleared before each run, as new values would miss it), BiCGStab
iterations of the forward and the adjoint solve, the relative difference of the two
solutions, and the ratios direct / krylov.

    python scripts/bench_linsolve.py            # N ~ 1e4, 1e5
    python scripts/bench_linsolve.py --big      # also 1e6
    python scripts/bench_linsolve.py --sizes 1000000 --krylov-only   # iterations at 1e6
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import rbfopt  # noqa: F401  (float64)
from rbfopt.basis import PHS
from rbfopt.fd.boundary import assemble
from rbfopt.operators import Laplacian
from rbfopt.sparse import StencilMatrix, amg, clear_cache, krylov, linsolve
from rbfopt.stencils import autoselect_k, find_neighbors

_spec = importlib.util.spec_from_file_location(
    "poisson_disk", Path(__file__).resolve().parents[1] / "examples" / "poisson_disk.py"
)
pd = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pd)


def system(n: int) -> tuple[StencilMatrix, jax.Array]:
    p, n_b = pd.disk_nodes(n)
    adjl = find_neighbors(p, autoselect_k(2, 2))
    A = assemble(
        p,
        Laplacian(),
        interior=np.arange(n_b, n),
        dirichlet=np.arange(n_b),
        basis=PHS(3, poly_deg=2),
        adjl=adjl,
    )
    u = pd.exact(jnp.asarray(p))
    return A, jnp.concatenate([u[:n_b], -pd.source(jnp.asarray(p))[n_b:]])


def best(fn, repeat: int, before=lambda: None) -> float:
    times = []
    for _ in range(repeat):
        before()
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def case(n: int, args: argparse.Namespace) -> None:
    A, b = system(n)
    adjl = A.adjl
    t0 = time.perf_counter()
    M = amg(A)
    t_setup = time.perf_counter() - t0

    def solver(method):
        # adjl and M are arguments, not closures: closed-over arrays become
        # compile-time constants, which XLA then tries to fold (minutes at N = 1e6)
        kw = {"tol": args.tol} if method == "krylov" else {}

        def solve(v, r, M):
            return linsolve(StencilMatrix(v, M[0]), r, method, precond=M[1], **kw)

        def loss(v, r, M):
            return jnp.sum(jnp.sin(solve(v, r, M)))

        return jax.jit(solve), jax.jit(jax.value_and_grad(loss))

    times, xs = {}, {}
    nan = (float("nan"), float("nan"))
    for method in ("krylov",) if args.krylov_only else ("direct", "krylov"):
        solve, vg = solver(method)
        P = (adjl, M if method == "krylov" else None)
        xs[method] = np.asarray(solve(A.values, b, P))  # compile + warm up
        jax.block_until_ready(vg(A.values, b, P))
        times[method] = (
            best(lambda s=solve, P=P: s(A.values, b, P), args.repeat, clear_cache),
            best(lambda g=vg, P=P: g(A.values, b, P), args.repeat, clear_cache),
        )
    it_f = int(krylov(A, b, tol=args.tol, precond=M).iterations)
    it_a = int(krylov(A, jnp.cos(b), tol=args.tol, precond=M, transpose=True).iterations)
    xd = xs.get("direct", np.full(n, np.nan))
    diff = np.linalg.norm(xs["krylov"] - xd) / np.linalg.norm(xd)
    (sd, gd), (sk, gk) = times.get("direct", nan), times["krylov"]
    print(
        f"{n:>8d} {t_setup:>7.2f} {sd:>8.3f} {sk:>8.3f} {gd:>8.3f} {gk:>8.3f} "
        f"{it_f:>6d} {it_a:>6d} {diff:>9.1e} {sd / sk:>9.2f} {gd / gk:>8.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--big", action="store_true", help="also N ~ 1e6")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--krylov-only", action="store_true", help="skip SuperLU (large N)")
    args = ap.parse_args()
    sizes = args.sizes or ([10_000, 100_000] + ([1_000_000] if args.big else []))
    head = (
        "N",
        "setup",
        "solve D",
        "solve K",
        "grad D",
        "grad K",
        "it fwd",
        "it adj",
        "rel diff",
        "solve D/K",
        "grad D/K",
    )
    print("{:>8} {:>7} {:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>9} {:>9} {:>8}".format(*head))
    for n in sizes:
        case(n, args)


if __name__ == "__main__":
    main()
