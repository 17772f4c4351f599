"""Finite-element check of exported meshes: scikit-fem solves on a run's ``mesh.msh``.

For each ``rbfopt run`` folder, reads the run's problem (``summary.json``: its name and
options) for the PDE: ``spec(**options)`` of the problem module gives ``source``,
``bcs`` and ``exact``. scikit-fem then solves ``L u = source`` (the Laplacian) with
Lagrange P1 or P2 on triangles, P1 on tetrahedra (3-D runs), on

* ``initial.msh`` (the start's triangulation; for RBF-FD runs, the nodes of
  ``initial.vtu`` triangulated the same way as ``mesh.msh``),
* ``mesh.msh`` (what the run exports),

with Dirichlet data interpolated at the boundary dofs and Neumann / Robin data as
facet terms on the named groups, and prints the L2 and H1-seminorm errors against the
exact u (quadrature of order ``--intorder``, higher than any rule the optimizer used)
with the minimum angle (dihedral for tetrahedra), the count of inverted cells and the
factors. This is how a finite-element user sees a
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
from rbfopt.mesh.tagged import _signed_measure


def _flat(x):
    """scikit-fem's (d, ...) point arrays as (m, d)."""
    return jnp.asarray(np.asarray(x).reshape(np.shape(x)[0], -1).T)


def _at(fn, x):
    """A JAX function of one point at scikit-fem's (d, ...) point arrays."""
    return np.asarray(jax.vmap(fn)(_flat(x))).reshape(np.shape(x)[1:])


def _data(bc, x, n):
    """A condition's data g at scikit-fem's points and normals."""
    return np.asarray(ro.fd.data_values(bc, _flat(x), _flat(n))).reshape(np.shape(x)[1:])


def _mesh_and_element(path: str, degree: int):
    """scikit-fem's mesh of ``path`` (triangles or tetrahedra) and its Lagrange element."""
    if "tetra" in meshio.read(path).cells_dict:
        if degree != 1:
            raise SystemExit("fem_check: tetrahedral meshes are checked with --degree 1")
        return skfem.MeshTet.load(path), skfem.ElementTetP1()
    element = skfem.ElementTriP2() if degree == 2 else skfem.ElementTriP1()
    return skfem.MeshTri.load(path), element


def fe_errors(path: str, spec: dict, degree: int = 2, intorder: int = 10) -> tuple[float, float]:
    """scikit-fem's L2 and H1-seminorm errors of the P``degree`` solution on ``path``."""
    m, element = _mesh_and_element(path, degree)
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
    if isinstance(m, skfem.MeshTet):
        intorder = min(intorder, 8)  # scikit-fem's highest rule on tetrahedra
    fine = skfem.Basis(m, element, intorder=intorder)
    uh_q = fine.interpolate(uh)
    l2 = skfem.Functional(lambda w: (w["uh"] - _at(u, w.x)) ** 2)
    du = jax.grad(u)
    comps = [jax.jit(jax.vmap(lambda p, i=i: du(p)[i])) for i in range(m.dim())]

    def h1(w):
        shape = np.shape(w.x)[1:]
        d = [np.asarray(c(_flat(w.x))).reshape(shape) for c in comps]
        return sum((w["uh"].grad[i] - d[i]) ** 2 for i in range(len(comps)))

    e0 = float(np.sqrt(l2.assemble(fine, uh=uh_q)))
    e1 = float(np.sqrt(skfem.Functional(h1).assemble(fine, uh=uh_q)))
    return e0, e1


def inverted(msh: meshio.Mesh) -> int:
    """The count of cells with non-positive measure (orientation as written)."""
    kind = "tetra" if "tetra" in msh.cells_dict else "triangle"
    x = np.asarray(msh.points, float)[:, : 3 if kind == "tetra" else 2][msh.cells_dict[kind]]
    return int(np.sum(_signed_measure(x) <= 0))


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
    m0 = triangulate(start.points[:, : mod.DOMAIN.dim], mod.DOMAIN)
    return export.write(m0, os.path.join(run, "fem_initial.msh"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="rbfopt run folders")
    ap.add_argument("--degree", type=int, default=2, choices=(1, 2))
    ap.add_argument("--intorder", type=int, default=10)
    args = ap.parse_args()
    head = (f"{'mesh':<44} {'vertices':>8} {'min angle':>9} {'inverted':>8} {'L2 error':>10} "
            f"{'H1 error':>10}")  # fmt: skip
    print(f"scikit-fem P{args.degree} (min angle: dihedral for tetrahedra)\n{head}")
    for run in args.runs:
        mod, spec = run_spec(run)
        rows = []
        for label, path in (
            ("initial", initial_mesh(run, mod)),
            ("optimized", os.path.join(run, "mesh.msh")),
        ):
            msh = meshio.read(path)
            q = mesh_quality(msh)
            angle = q.get("min_angle", q.get("min_dihedral"))
            e0, e1 = fe_errors(path, spec, args.degree, args.intorder)
            rows.append((e0, e1))
            name = f"{run}: {label}"
            print(f"{name:<44} {len(msh.points):>8d} {angle:>9.1f} {inverted(msh):>8d} "
                  f"{e0:>10.3e} {e1:>10.3e}")  # fmt: skip
        (a0, a1), (b0, b1) = rows
        print(f"{run + ': factor':<44} {'':>8} {'':>9} {'':>8} {a0 / b0:>9.2f}x {a1 / b1:>9.2f}x")


if __name__ == "__main__":
    main()
