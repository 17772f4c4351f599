"""Poisson on the unit disk with RBF-FD: -Lap u = f, u = g on the circle.

Scattered nodes (equispaced on the circle, a Halton set inside), interior rows of
the RBF-FD Laplacian, Dirichlet identity rows, one sparse SuperLU solve
(:func:`rbfopt.linsolve`). Manufactured solution
``u = sin(2x + 1) cos(3y)`` (so ``f = 13 u``). Prints the max and RMS errors and
the observed order in ``h ~ N^(-1/2)`` for PHS3 + poly_deg 2 and PHS5 + poly_deg 3,
N from 1 000 to 40 000, then the gradient of the RMS error w.r.t. the node
positions (reverse mode through weights and solve).

Run:  python examples/poisson_disk.py [--quick]
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import qmc

import rbfopt  # noqa: F401  (enables float64)
from rbfopt.basis import PHS, RadialBasis
from rbfopt.fd.boundary import assemble
from rbfopt.operators import Laplacian
from rbfopt.sparse import linsolve
from rbfopt.stencils import autoselect_k, find_neighbors


def exact(p: jax.Array) -> jax.Array:
    return jnp.sin(2 * p[:, 0] + 1) * jnp.cos(3 * p[:, 1])


def source(p: jax.Array) -> jax.Array:
    """f = -Lap u = 13 u for the manufactured solution."""
    return 13.0 * exact(p)


def disk_nodes(n: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """About ``n`` nodes: ``n_b`` equispaced on the circle first, then Halton points
    inside (kept half a spacing away from the circle). Returns (points, n_b)."""
    h = np.sqrt(np.pi / n)
    n_b = int(round(2 * np.pi / h))
    t = 2 * np.pi * np.arange(n_b) / n_b
    bnd = np.stack([np.cos(t), np.sin(t)], axis=1)
    n_int = n - n_b
    halton = qmc.Halton(d=2, scramble=True, seed=seed)
    inner = np.zeros((0, 2))
    while len(inner) < n_int:
        c = 2 * halton.random(2 * n_int) - 1
        inner = np.concatenate([inner, c[np.linalg.norm(c, axis=1) < 1 - 0.5 * h]])
    return np.concatenate([bnd, inner[:n_int]]), n_b


def rms_error(points: jax.Array, n_b: int, adjl: np.ndarray, basis: RadialBasis) -> jax.Array:
    """RMS error of the RBF-FD solution at the nodes (differentiable w.r.t. points)."""
    n = points.shape[0]
    A = assemble(
        points,
        Laplacian(),
        interior=np.arange(n_b, n),
        dirichlet=np.arange(n_b),
        basis=basis,
        adjl=adjl,
    )
    u_ex = exact(points)
    rhs = jnp.concatenate([u_ex[:n_b], -source(points)[n_b:]])
    u = linsolve(A, rhs)
    return jnp.sqrt(jnp.mean((u - u_ex) ** 2))


def solve_errors(n: int, basis: RadialBasis, k: int | None = None, seed: int = 0):
    p, n_b = disk_nodes(n, seed)
    k = autoselect_k(2, basis.poly_deg) if k is None else k
    adjl = find_neighbors(p, k)
    A = assemble(
        p, Laplacian(), interior=np.arange(n_b, n), dirichlet=np.arange(n_b), basis=basis, adjl=adjl
    )
    u_ex = exact(jnp.asarray(p))
    rhs = jnp.concatenate([u_ex[:n_b], -source(jnp.asarray(p))[n_b:]])
    u = linsolve(A, rhs)
    e = np.asarray(u - u_ex)
    return float(np.max(np.abs(e))), float(np.sqrt(np.mean(e**2)))


def observed_orders(ns, errs) -> list[float]:
    """Order p in err ~ h^p with h ~ N^(-1/2), between successive N."""
    return [
        float(-2 * np.log(errs[i + 1] / errs[i]) / np.log(ns[i + 1] / ns[i]))
        for i in range(len(ns) - 1)
    ]


def main(quick: bool = False) -> None:
    ns = [1000, 2500, 5000, 10000] if quick else [1000, 2500, 5000, 10000, 20000, 40000]
    for basis in (PHS(3, poly_deg=2), PHS(5, poly_deg=3)):
        k = autoselect_k(2, basis.poly_deg)
        print(f"\n{basis!r}, k = {k}")
        hdr = ("N", "max err", "rms err", "order(max)", "order(rms)")
        print(f"{hdr[0]:>7} " + " ".join(f"{c:>10}" for c in hdr[1:]) + f" {'s':>6}")
        maxes, rmss = [], []
        for i, n in enumerate(ns):
            t0 = time.perf_counter()
            emax, erms = solve_errors(n, basis, k)
            dt = time.perf_counter() - t0
            maxes.append(emax)
            rmss.append(erms)
            om = observed_orders(ns[: i + 1], maxes)[-1] if i else float("nan")
            orr = observed_orders(ns[: i + 1], rmss)[-1] if i else float("nan")
            print(f"{n:7d} {emax:10.3e} {erms:10.3e} {om:10.2f} {orr:10.2f} {dt:6.1f}")
        lsq = np.polyfit(np.log(np.sqrt(1.0 / np.array(ns))), np.log(rmss), 1)[0]
        print(f"least-squares order (rms): {lsq:.2f}")

    p, n_b = disk_nodes(1000)
    basis = PHS(3, poly_deg=2)
    adjl = find_neighbors(p, autoselect_k(2, 2))
    t0 = time.perf_counter()
    err, g = jax.value_and_grad(rms_error)(jnp.asarray(p), n_b, adjl, basis)
    print(
        f"\nN=1000 PHS3/2: rms error {float(err):.3e}; |d err / d points| = "
        f"{float(jnp.linalg.norm(g)):.3e} (reverse mode through weights + SuperLU, "
        f"{time.perf_counter() - t0:.2f} s)"
    )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
