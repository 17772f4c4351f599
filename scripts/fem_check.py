"""Finite-element check of exported meshes: a P2 solve on a run's ``mesh.msh`` with scikit-fem.

Reads ``mesh.msh`` of one or more ``rbfopt run`` folders of ``poisson_nodes`` (the
L-shape, u = peak + corner singularity), solves ``-Delta u = f`` with P2 elements and
Dirichlet data ``u`` on every boundary group (found by name), and prints the L2 error
against the exact u with the mesh's minimum angle, beside the starting mesh's (the
nodes of ``initial.vtu`` triangulated the same way). This is how a finite-element user
sees a layout optimized for RBF-FD.

    python scripts/fem_check.py runs/poisson_nodes [runs/other ...]
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import meshio
import numpy as np
import skfem
from skfem.helpers import dot, grad

from rbfopt import mesh as export
from rbfopt.app.catalog import load_module
from rbfopt.mesh import quality as mesh_quality
from rbfopt.mesh import triangulate as fe_mesh


def p2_error(mesh_path: str, u, f) -> float:
    m = skfem.MeshTri.load(mesh_path)
    basis = skfem.Basis(m, skfem.ElementTriP2())
    lap = skfem.BilinearForm(lambda a, v, w: dot(grad(a), grad(v))).assemble(basis)

    def at(fn, x):  # a JAX function of one point at skfem's (2, ...) point arrays
        flat = jnp.asarray(np.asarray(x).reshape(2, -1).T)
        return np.asarray(jax.vmap(fn)(flat)).reshape(np.shape(x)[1:])

    b = skfem.LinearForm(lambda v, w: at(f, w.x) * v).assemble(basis)
    dofs = np.unique(np.concatenate([basis.get_dofs(m.boundaries[g]).all() for g in m.boundaries]))
    uh = skfem.solve(*skfem.condense(lap, b, x=at(u, basis.doflocs), D=dofs))
    err = skfem.Functional(lambda w: (w["uh"] - at(u, w.x)) ** 2)
    return float(np.sqrt(err.assemble(basis, uh=basis.interpolate(uh))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders of poisson_nodes")
    args = ap.parse_args()
    mod, _ = load_module("poisson_nodes")
    u = mod.exact_fn()

    def f(x):  # -Delta u
        return -jnp.trace(jax.hessian(u)(x))

    print(f"{'mesh':<40} {'nodes':>6} {'min angle':>9} {'P2 L2 error':>12}")
    for run in args.runs:
        start = meshio.read(os.path.join(run, "initial.vtu"))
        m0 = fe_mesh(start.points[:, :2], mod.DOMAIN)
        path0 = export.write(m0, os.path.join(run, "fem_initial.msh"))
        for label, path in (("initial", path0), ("optimized", os.path.join(run, "mesh.msh"))):
            q = mesh_quality(meshio.read(path))
            n = len(meshio.read(path).points)
            err = p2_error(path, u, f)
            print(f"{run + ': ' + label:<40} {n:>6d} {q['min_angle']:>9.1f} {err:>12.4e}")


if __name__ == "__main__":
    main()
