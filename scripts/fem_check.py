"""Finite-element check of exported meshes: scikit-fem solves on a run's ``mesh.msh``.

For each ``rbfopt run`` folder, reads the run's problem (``summary.json``: its name and
options) for the PDE: ``spec(**options)`` of the problem module gives ``source``,
``bcs`` and ``exact``. scikit-fem then solves ``L u = source`` (the Laplacian) with
Lagrange P1 or P2 on

* ``initial.msh`` (the start's triangulation; for RBF-FD runs, the nodes of
  ``initial.vtu`` triangulated the same way as ``mesh.msh``),
* ``mesh.msh`` (what the run exports),

with Dirichlet data interpolated at the boundary dofs and Neumann / Robin data as
facet terms on the named groups, and prints the L2 and H1-seminorm errors against the
exact u (quadrature of order ``--intorder``, higher than any rule the optimizer used)
with the minimum angle and the factors. This is how a finite-element user sees a
layout: through code the project does not control.

    python scripts/fem_check.py runs/poisson_fem [runs/other ...] [--degree 2]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os

import jax
import jax.numpy as jnp
import meshio
import numpy as np
import skfem
from skfem.helpers import dot, grad

import rbfopt as ro
from rbfopt import mesh as export
from rbfopt.app.catalog import load_module
from rbfopt.mesh import quality as mesh_quality
from rbfopt.mesh import triangulate


def _at(fn, x):
    """A JAX function of one point at scikit-fem's (2, ...) point arrays."""
    flat = jnp.asarray(np.asarray(x).reshape(2, -1).T)
    return np.asarray(jax.vmap(fn)(flat)).reshape(np.shape(x)[1:])


def _data(bc, x, n):
    """A condition's data g at scikit-fem's points and normals."""
    pts = jnp.asarray(np.asarray(x).reshape(2, -1).T)
    nrm = jnp.asarray(np.asarray(n).reshape(2, -1).T)
    return np.asarray(ro.fd.data_values(bc, pts, nrm)).reshape(np.shape(x)[1:])


def fe_errors(path: str, spec: dict, degree: int = 2, intorder: int = 10) -> tuple[float, float]:
    """scikit-fem's L2 and H1-seminorm errors of the P``degree`` solution on ``path``."""
    m = skfem.MeshTri.load(path)
    element = skfem.ElementTriP2() if degree == 2 else skfem.ElementTriP1()
    basis = skfem.Basis(m, element)
    u, source, bcs = spec["exact"], spec["source"], spec["bcs"]
    K = skfem.BilinearForm(lambda a, v, w: dot(grad(a), grad(v))).assemble(basis)
    # L u = source with L the Laplacian: -Delta u = -source
    b = skfem.LinearForm(lambda v, w: -_at(source, w.x) * v).assemble(basis)
    fixed = []
    for name, bc in bcs.items():
        if name not in m.boundaries:
            continue
        if isinstance(bc, ro.Dirichlet):
            fixed.append(basis.get_dofs(m.boundaries[name]).all())
            continue
        fb = skfem.FacetBasis(m, element, facets=m.boundaries[name])
        g = skfem.LinearForm(lambda v, w, bc=bc: _data(bc, w.x, w.n) / bc.beta * v)
        b = b + g.assemble(fb)
        if bc.alpha:
            K = K + skfem.BilinearForm(lambda a, v, w, c=bc.alpha / bc.beta: c * a * v).assemble(fb)
    dofs = np.unique(np.concatenate(fixed))
    uh = skfem.solve(*skfem.condense(K, b, x=_at(u, basis.doflocs), D=dofs))
    fine = skfem.Basis(m, element, intorder=intorder)
    uh_q = fine.interpolate(uh)
    l2 = skfem.Functional(lambda w: (w["uh"] - _at(u, w.x)) ** 2)
    du = jax.grad(u)
    comps = [jax.jit(jax.vmap(lambda p, i=i: du(p)[i])) for i in range(2)]

    def h1(w):
        flat = jnp.asarray(np.asarray(w.x).reshape(2, -1).T)
        shape = np.shape(w.x)[1:]
        d = [np.asarray(c(flat)).reshape(shape) for c in comps]
        return (w["uh"].grad[0] - d[0]) ** 2 + (w["uh"].grad[1] - d[1]) ** 2

    e0 = float(np.sqrt(l2.assemble(fine, uh=uh_q)))
    e1 = float(np.sqrt(skfem.Functional(h1).assemble(fine, uh=uh_q)))
    return e0, e1


def run_spec(run: str) -> tuple[object, dict]:
    """The problem module and ``spec(**options)`` of a run folder."""
    with open(os.path.join(run, "summary.json")) as f:
        summary = json.load(f)
    mod, _ = load_module(summary["problem"])
    opts = summary.get("options") or {}
    keys = inspect.signature(mod.spec).parameters
    return mod, mod.spec(**{k: v for k, v in opts.items() if k in keys})


def initial_mesh(run: str, mod) -> str:
    """``initial.msh`` of the run, or the start's nodes triangulated like ``mesh.msh``."""
    path = os.path.join(run, "initial.msh")
    if os.path.exists(path):
        return path
    start = meshio.read(os.path.join(run, "initial.vtu"))
    m0 = triangulate(start.points[:, :2], mod.DOMAIN)
    return export.write(m0, os.path.join(run, "fem_initial.msh"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="rbfopt run folders")
    ap.add_argument("--degree", type=int, default=2, choices=(1, 2))
    ap.add_argument("--intorder", type=int, default=10)
    args = ap.parse_args()
    head = f"{'mesh':<44} {'vertices':>8} {'min angle':>9} {'L2 error':>10} {'H1 error':>10}"
    print(f"scikit-fem P{args.degree}\n{head}")
    for run in args.runs:
        mod, spec = run_spec(run)
        rows = []
        for label, path in (
            ("initial", initial_mesh(run, mod)),
            ("optimized", os.path.join(run, "mesh.msh")),
        ):
            msh = meshio.read(path)
            q = mesh_quality(msh)
            e0, e1 = fe_errors(path, spec, args.degree, args.intorder)
            rows.append((e0, e1))
            name = f"{run}: {label}"
            print(
                f"{name:<44} {len(msh.points):>8d} {q['min_angle']:>9.1f} {e0:>10.3e} {e1:>10.3e}"
            )
        (a0, a1), (b0, b1) = rows
        print(f"{run + ': factor':<44} {'':>8} {'':>9} {a0 / b0:>9.2f}x {a1 / b1:>9.2f}x")


if __name__ == "__main__":
    main()
