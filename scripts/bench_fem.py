"""Finite-element speed: assembly against scikit-fem, and a mesh study's step against
the RBF-FD study's step at the same node count.

1. P2 stiffness + load on a structured mesh of the unit square (``--triangles``,
   default 10^5), timed the ways users call it: eagerly, inside their own ``jax.jit``,
   and value + gradient w.r.t. the vertices under ``jax.grad`` (jitted), beside
   scikit-fem's assembly of the same matrices (``BilinearForm`` / ``LinearForm``) in the
   same process. Ratios are rbfopt time / scikit-fem time.
2. The L-shape study at ``--nodes`` (default 10^4): one step's value and gradient
   (jitted, stencils / mesh fixed) for ``discretization="p2"`` and for the default
   RBF-FD family, and the restencil (re-triangulation vs neighbour search).

    python scripts/bench_fem.py [--triangles 100000] [--nodes 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import skfem
from skfem.helpers import dot, grad

import rbfopt as ro
from rbfopt.app.catalog import load_module


def best_of(fn, repeat: int) -> float:
    """The fastest of ``repeat`` calls (after one warm-up call), in seconds."""
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def square(m: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, 1.0, m + 1)
    x = np.stack(np.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    i, j = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    v = (i * (m + 1) + j).ravel()
    a, b, c, d = v, v + m + 1, v + m + 2, v + 1
    return x, np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])


def assembly(n_tri: int, repeat: int) -> None:
    x, cells = square(int(np.sqrt(n_tri / 2)))
    sp = ro.fem.space(cells, len(x), 2)
    xj = jnp.asarray(x)

    def src(p):
        return jnp.sin(3 * p[0]) * p[1]

    def assemble(pts):
        return ro.fem.stiffness(sp, pts).values, ro.fem.load(sp, pts, src)

    def scalar(pts):
        K, b = assemble(pts)
        return jnp.sum(K**2) + jnp.sum(b)

    user_jit = jax.jit(assemble)
    vg = jax.jit(jax.value_and_grad(scalar))
    mesh = skfem.MeshTri(x.T.copy(), cells.T.copy())
    basis = skfem.Basis(mesh, skfem.ElementTriP2())
    lap = skfem.BilinearForm(lambda u, v, w: dot(grad(u), grad(v)))
    rhs = skfem.LinearForm(lambda v, w: np.sin(3 * w.x[0]) * w.x[1] * v)
    t_sk = best_of(lambda: (lap.assemble(basis), rhs.assemble(basis)), repeat)
    rows = {
        "eager": best_of(lambda: assemble(xj), repeat),
        "user jit": best_of(lambda: user_jit(xj), repeat),
        "value + grad (jit)": best_of(lambda: vg(xj), repeat),
    }
    print(f"P2 assembly, {len(cells)} triangles, {sp.n_dofs} dofs (stiffness + load)")
    print(f"  scikit-fem (value only)          {t_sk * 1e3:9.1f} ms")
    for name, t in rows.items():
        print(f"  rbfopt {name:<25} {t * 1e3:9.1f} ms   {t / t_sk:6.2f}x scikit-fem")


def study_step(n: int, repeat: int) -> None:
    mod = load_module("poisson_nodes")[0]
    rows = {}
    for label, kw in (("P2 mesh study", dict(discretization="p2", movement="multiscale",
                                              margin=0.05, smooth_cells=6.0)),
                      ("RBF-FD family", {})):  # fmt: skip
        prob = ro.studies.node_layout(mod.DOMAIN, **mod.spec(), n=n, objective="exact", **kw)
        p = prob.init()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_re = best_of(lambda p=p, prob=prob: prob.restencil(p), 1)
        aux = prob.restencil(p)
        vg = jax.jit(jax.value_and_grad(prob.loss, has_aux=True))
        rows[label] = (best_of(lambda vg=vg, p=p, aux=aux: vg(p, aux), repeat), t_re)
    print(f"L-shape study step at {n} nodes (value + gradient, jitted; restencil on the host)")
    for label, (t, t_re) in rows.items():
        print(f"  {label:<16} step {t * 1e3:9.1f} ms   restencil {t_re * 1e3:8.1f} ms")
    (a, _), (b, _) = rows.values()
    print(f"  P2 step / RBF-FD step: {a / b:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--triangles", type=int, default=100_000)
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"backend: {jax.default_backend()}")
    assembly(args.triangles, args.repeat)
    study_step(args.nodes, args.repeat)


if __name__ == "__main__":
    main()
