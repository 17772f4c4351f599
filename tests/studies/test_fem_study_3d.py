"""Finite-element mesh studies in 3-D (P1 tetrahedra): the loss's derivatives against
finite differences, an inverted tetrahedron rejected (inf, never NaN), a short run whose
exported mesh scikit-fem solves with a lower error and no inverted cell, bad arguments."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import meshio
import numpy as np
import pytest
import skfem
from skfem.helpers import dot, grad

import rbfopt as ro
from rbfopt.app.outputs import publish
from rbfopt.testing import check_rules


def _cube_surface() -> meshio.Mesh:
    """The unit cube's 12 outward triangles; the face z = 0 is group ``bottom``."""
    box = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
    quads = [[0, 2, 6, 4], [1, 5, 7, 3], [0, 4, 5, 1], [2, 3, 7, 6], [0, 1, 3, 2], [4, 6, 7, 5]]
    tri = np.array([t for a, b, c, d in quads for t in ([a, b, c], [a, c, d])])
    sets = {"bottom": [np.arange(2)], "rest": [np.arange(2, 12)]}
    return meshio.Mesh(box, [("triangle", tri)], cell_sets=sets)


CUBE = ro.geometry.from_mesh(_cube_surface())


def _peak(x):
    return jnp.exp(-jnp.sum((x - 0.4) ** 2) / (2 * 0.15**2)) + x[0] * x[2]


def _study(n=150, **kw):
    flux = lambda x, nrm: jnp.dot(jax.grad(_peak)(x), nrm)  # noqa: E731
    kw = {"discretization": "p1", "objective": "exact", **kw}
    return ro.studies.node_layout(
        CUBE, source=lambda x: jnp.trace(jax.hessian(_peak)(x)), exact=_peak, n=n,
        bcs={"bottom": ro.Neumann(flux), "rest": ro.Dirichlet(_peak)}, **kw,
    )  # fmt: skip


@pytest.fixture(scope="module")
def small():
    return _study(n=80)


def test_loss_derivatives_against_finite_differences(small):
    p = small.init()
    rng = np.random.default_rng(0)
    p = small.project({"points": p["points"] + 0.1 * rng.standard_normal(p["points"].shape)})
    aux = small.restencil(p)

    def f(points):
        return small.loss({"points": points}, aux)[0]

    check_rules(f, p["points"], rtol=1e-5, eps=1e-6, n_directions=2)


@pytest.mark.parametrize("how", ["inverted", "flat"])
def test_an_inverted_or_flat_tetrahedron_is_rejected(small, how):
    p = small.init()
    aux = small.restencil(p)
    x = np.asarray(p["points"])
    kind = np.asarray(small.to_mesh(p).point_data["kind"])
    cells = np.asarray(aux.space.cells)[np.asarray(aux.space.active) > 0]
    cell = next(c for c in cells if (kind[c] == 0).any())
    v = next(i for i in cell if kind[i] == 0)
    a, b, c = (x[i] for i in cell if i != v)
    nrm = np.cross(b - a, c - a)
    # reflect the vertex across the plane of the opposite face (the cell turns inside
    # out), or put it on that plane (zero volume): inf, never NaN, no error from the solve
    times = 2.0 if how == "inverted" else 1.0
    bad = x[v] - times * ((x[v] - a) @ nrm) / (nrm @ nrm) * nrm
    value, _ = jax.jit(small.loss)({"points": jnp.asarray(x).at[v].set(bad)}, aux)
    assert np.isposinf(float(value))


def _skfem_h1(path):
    m = skfem.MeshTet.load(path)
    basis = skfem.Basis(m, skfem.ElementTetP1(), intorder=4)

    def at(fn, x):
        flat = jnp.asarray(np.asarray(x).reshape(3, -1).T)
        return np.asarray(jax.vmap(fn)(flat)).reshape(np.shape(x)[1:])

    src = lambda x: jnp.trace(jax.hessian(_peak)(x))  # noqa: E731
    K = skfem.BilinearForm(lambda a, v, w: dot(grad(a), grad(v))).assemble(basis)
    b = skfem.LinearForm(lambda v, w: -at(src, w.x) * v).assemble(basis)
    fb = skfem.FacetBasis(m, skfem.ElementTetP1(), facets=m.boundaries["bottom"], intorder=4)

    def flux(v, w):
        pts = jnp.asarray(np.asarray(w.x).reshape(3, -1).T)
        g = np.asarray(jax.vmap(jax.grad(_peak))(pts)).T.reshape(np.shape(w.x))
        return sum(g[i] * w.n[i] for i in range(3)) * v

    b = b + skfem.LinearForm(flux).assemble(fb)
    D = basis.get_dofs(m.boundaries["rest"]).all()
    uh = skfem.solve(*skfem.condense(K, b, x=at(_peak, basis.doflocs), D=D))
    du = jax.vmap(jax.grad(_peak))

    def h1(v):
        g = np.asarray(du(jnp.asarray(np.asarray(v.x).reshape(3, -1).T))).T.reshape(v.x.shape)
        return sum((v["uh"].grad[i] - g[i]) ** 2 for i in range(3))

    return float(np.sqrt(skfem.Functional(h1).assemble(basis, uh=basis.interpolate(uh))))


def test_short_run_lowers_the_error_scikit_fem_sees(tmp_path):
    prob = _study(n=150, movement="multiscale")
    out = str(tmp_path / "run")
    res = ro.optimize.run(prob, "adam", 12, lr=0.03, out_dir=out, progress=False)
    publish(prob, res, out, {"problem": "cube_fem"})
    for name in ("mesh.msh", "initial.msh", "mesh_quality.png"):
        assert os.path.exists(os.path.join(out, name)), name
    written = meshio.read(os.path.join(out, "mesh.msh"))
    x = written.points[written.cells_dict["tetra"]]
    assert np.all(np.linalg.det(np.swapaxes(x[:, 1:] - x[:, :1], 1, 2)) > 0)  # none inverted
    e0, e1 = (_skfem_h1(os.path.join(out, f)) for f in ("initial.msh", "mesh.msh"))
    assert e1 < 0.9 * e0, (e0, e1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="P1 tetrahedra"):
        _study(n=80, discretization="p2")
    with pytest.raises(ValueError, match="energy"):
        _study(n=80, objective="energy")
