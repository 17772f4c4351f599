"""solver_mesh: tagged Delaunay meshes, checked by scikit-fem solves and geometry."""

from __future__ import annotations

import warnings

import meshio
import numpy as np
import pytest

import rbfopt as ro
from rbfopt import mesh as export
from rbfopt.mesh import quality as mesh_quality
from rbfopt.mesh import triangulate as solver_mesh

skfem = pytest.importorskip("skfem")
from skfem.helpers import dot, grad  # noqa: E402

GROUPS = {"left": [3], "bottom": [0]}  # edge 3 joins (0, 1) and (0, 0); the rest "outer"


@pytest.fixture(scope="module")
def square():
    return ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]], groups=GROUPS)


@pytest.fixture(scope="module")
def meshes(square):
    """The unit square's tagged meshes at two spacings, by spacing."""
    return {h: solver_mesh(ro.nodes.generate(square, h), square) for h in (0.2, 0.1)}


def _cube():
    v = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float)
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    tri = [[q[0], q[1], q[2]] for q in quads] + [[q[0], q[2], q[3]] for q in quads]
    return ro.geometry.Surface(v, np.array(tri), groups={"x0": [0, 6]})  # quad 0: x = 0


def _exact(x, y):
    return np.sin(np.pi * x) * np.sin(np.pi * y) + x**2


def _source(x, y):  # -laplacian of _exact
    return 2 * np.pi**2 * np.sin(np.pi * x) * np.sin(np.pi * y) - 2


def _facet_midpoints(m, name):
    return m.p[:, m.facets[:, m.boundaries[name]]].mean(axis=1).T


def _load_tri(mesh, tmp_path):
    return skfem.MeshTri.load(export.write(mesh, str(tmp_path / "mesh.msh")))


def test_msh_boundaries_by_name(tmp_path, meshes):
    for mesh in meshes.values():
        m = _load_tri(mesh, tmp_path)
        assert set(m.boundaries) == {"left", "bottom", "outer"}
        assert np.allclose(_facet_midpoints(m, "left")[:, 0], 0, atol=1e-12)
        assert np.allclose(_facet_midpoints(m, "bottom")[:, 1], 0, atol=1e-12)
        out = _facet_midpoints(m, "outer")
        assert np.all(np.isclose(out, 1, atol=1e-12).any(axis=1))
        # the three groups are the whole boundary: total length 4
        total = sum(_length(m, name) for name in m.boundaries)
        assert abs(total - 4) < 1e-12 and abs(_length(m, "left") - 1) < 1e-12
        assert np.array_equal(
            np.sort(np.concatenate(list(m.boundaries.values()))), np.sort(m.boundary_facets())
        )


def _length(m, name):
    f = m.facets[:, m.boundaries[name]]
    return np.linalg.norm(m.p[:, f[1]] - m.p[:, f[0]], axis=0).sum()


def _p2_error(m, neumann: bool) -> float:
    """L2 error of a P2 solve of -lap u = f, Dirichlet u = exact on all groups (or on
    bottom + outer, with the exact flux on left when ``neumann``)."""
    basis = skfem.Basis(m, skfem.ElementTriP2())
    lap = skfem.BilinearForm(lambda u, v, w: dot(grad(u), grad(v)))
    b = skfem.LinearForm(lambda v, w: _source(*w.x) * v).assemble(basis)
    dirichlet = ["bottom", "outer"] if neumann else ["left", "bottom", "outer"]
    if neumann:  # outward normal (-1, 0) on x = 0: du/dn = -pi sin(pi y)
        fb = skfem.FacetBasis(m, basis.elem, facets=m.boundaries["left"])
        b += skfem.LinearForm(lambda v, w: -np.pi * np.sin(np.pi * w.x[1]) * v).assemble(fb)
    D = np.unique(np.concatenate([basis.get_dofs(m.boundaries[n]).all() for n in dirichlet]))
    x = _exact(*basis.doflocs)  # nodal interpolation: exact Dirichlet values
    u = skfem.solve(*skfem.condense(lap.assemble(basis), b, x=x, D=D))
    err = skfem.Functional(lambda w: (w["uh"] - _exact(*w.x)) ** 2)
    return float(np.sqrt(err.assemble(basis, uh=basis.interpolate(u))))


@pytest.mark.parametrize("neumann", [False, True])
def test_p2_poisson_converges(tmp_path, meshes, neumann):
    err = {h: _p2_error(_load_tri(mesh, tmp_path), neumann) for h, mesh in meshes.items()}
    rate = np.log(err[0.2] / err[0.1]) / np.log(2)
    assert err[0.1] < 5e-4 and rate > 2.5, (err, rate)


@pytest.mark.parametrize("fmt", ["vtu", "xdmf"])
def test_vtu_xdmf_keep_groups(tmp_path, square, meshes, fmt):
    mesh = meshes[0.2]
    r = meshio.read(export.write(mesh, str(tmp_path / f"mesh.{fmt}")))
    np.testing.assert_array_equal(r.cells_dict["triangle"], mesh.cells_dict["triangle"])
    lines = r.cells_dict["line"]
    np.testing.assert_array_equal(lines, mesh.cells_dict["line"])
    group = r.cell_data_dict["group"]["line"]
    assert np.all(r.cell_data_dict["group"]["triangle"] == len(square.group_names))
    # names from field_data: tag = group id + 1
    names = {int(tag) - 1: name for name, (tag, _) in r.field_data.items()}
    mid = r.points[lines].mean(axis=1)[:, :2]
    for g, want in (("left", mid[:, 0] < 1e-12), ("bottom", mid[:, 1] < 1e-12)):
        assert np.array_equal([names[i] == g for i in group], want)
    assert names[len(square.group_names)] == "domain"


def test_old_msh_behaviour_without_tags(tmp_path):
    p = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], float)
    r = meshio.read(export.write(export.delaunay(p), str(tmp_path / "t.msh")))
    assert np.all(r.cell_data_dict["gmsh:physical"]["triangle"] == 1) and not r.field_data


@pytest.fixture(scope="module")
def cube_mesh():
    dom = _cube()
    return dom, solver_mesh(ro.nodes.generate(dom, 0.25), dom)


def test_tetra_mesh_of_cube(tmp_path, cube_mesh):
    dom, mesh = cube_mesh
    x = mesh.points[mesh.cells_dict["tetra"]]
    vol = np.linalg.det(x[:, 1:] - x[:, :1]) / 6
    assert np.all(vol > 0) and abs(vol.sum() - 1) < 1e-9
    facets = mesh.cells_dict["triangle"]
    on = np.isclose(mesh.points[facets], 0, atol=1e-12) | np.isclose(
        mesh.points[facets], 1, atol=1e-12
    )
    face = on.all(axis=1)  # (facets, 3): the coordinates all three vertices share
    assert np.all(face.any(axis=1))
    # outward orientation: the facet normal points away from the cube's centre
    f = mesh.points[facets]
    n = np.cross(f[:, 1] - f[:, 0], f[:, 2] - f[:, 0])
    assert np.all(np.sum(n * (f.mean(axis=1) - 0.5), axis=1) > 0)
    x0 = (mesh.points[facets][:, :, 0] < 1e-12).all(axis=1)
    group = mesh.cell_data_dict["group"]["triangle"]
    assert np.array_equal(group == dom.group_id("x0"), x0)
    m = skfem.MeshTet.load(export.write(mesh, str(tmp_path / "cube.msh")))
    assert set(m.boundaries) == {"x0", "outer"}
    assert np.allclose(_facet_midpoints(m, "x0")[:, 0], 0, atol=1e-12)
    assert len(m.boundaries["x0"]) + len(m.boundaries["outer"]) == len(m.boundary_facets())
    q = mesh_quality(mesh)
    assert q["cells"] == len(vol) and 0 < q["min_radius_ratio"] <= q["mean_radius_ratio"] <= 1


def _mesh(points, cell):
    return meshio.Mesh(np.asarray(points, float), [(cell, [list(range(len(points)))])])


def test_mesh_quality_by_hand():
    q = mesh_quality(_mesh([[0, 0], [1, 0], [0.5, np.sqrt(3) / 2]], "triangle"))
    assert q["min_angle"] == pytest.approx(60) and q["min_radius_ratio"] == pytest.approx(1)
    # right isosceles, legs 1: r = (a + b - c) / 2 = (2 - sqrt 2) / 2, R = c / 2
    q = mesh_quality(_mesh([[0, 0], [1, 0], [0, 1]], "triangle"))
    r, big_r = (2 - np.sqrt(2)) / 2, np.sqrt(2) / 2
    assert q["min_angle"] == pytest.approx(45)
    assert q["mean_radius_ratio"] == pytest.approx(2 * r / big_r)  # 2 sqrt 2 - 2
    tet = [[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]
    q = mesh_quality(_mesh(tet, "tetra"))
    assert q["min_radius_ratio"] == pytest.approx(1) and q["mean_radius_ratio"] == pytest.approx(1)
    assert q["min_dihedral"] == pytest.approx(np.degrees(np.arccos(1 / 3)))
    # the corner tetrahedron: r = 1 / (3 + sqrt 3), R = sqrt(3) / 2, dihedral 54.7 deg
    q = mesh_quality(_mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], "tetra"))
    assert q["min_radius_ratio"] == pytest.approx(3 / (3 + np.sqrt(3)) / (np.sqrt(3) / 2))
    assert q["min_dihedral"] == pytest.approx(np.degrees(np.arccos(1 / np.sqrt(3))))


def test_bad_input(square):
    with pytest.raises(ValueError, match="points: expected shape"):
        solver_mesh(np.zeros((5, 3)), square)
    with pytest.raises(ValueError, match="points: expected shape"):
        solver_mesh(np.zeros(5), square)
    with pytest.raises(ValueError, match="points: need at least 3"):
        solver_mesh([[0.1, 0.1], [0.5, 0.5]], square)
    with pytest.raises(ValueError, match="domain: no triangle"):
        solver_mesh([[2, 2], [3, 2], [2, 3]], square)
    with pytest.raises(ValueError, match="points: Delaunay failed"):
        solver_mesh([[0, 0], [0.5, 0.5], [1, 1]], square)
    with pytest.raises(ValueError, match="min_quality"):
        solver_mesh([[0, 0], [1, 0], [0, 1]], square, min_quality=-1)
    with pytest.raises(ValueError, match="kind: expected shape"):
        solver_mesh([[0, 0], [1, 0], [0, 1]], square, kind=[1, 1])
    with pytest.raises(ValueError, match="mesh: no triangle or tetra"):
        mesh_quality(meshio.Mesh(np.eye(2), [("line", [[0, 1]])]))


def test_hole_warning(square):
    p = [[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]]
    with pytest.warns(RuntimeWarning, match="hole"):  # the corners flagged as interior
        solver_mesh(p, square, kind=[0, 1, 1, 1, 0])


def test_nonconvex_domain_with_hole():
    hole = [[0.3, 0.3], [0.6, 0.3], [0.6, 0.6], [0.3, 0.6]]
    dom = ro.geometry.Polygon([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]], holes=[hole])
    mesh = solver_mesh(ro.nodes.generate(dom, 0.1), dom)
    x = mesh.points[mesh.cells_dict["triangle"]][:, :, :2]
    assert abs(np.linalg.det(x[:, 1:] - x[:, :1]).sum() / 2 - dom.measure) < 1e-12
    mid = mesh.points[mesh.cells_dict["line"]].mean(axis=1)[:, :2]
    in_hole = np.all((mid > 0.3 - 1e-12) & (mid < 0.6 + 1e-12), axis=1)
    assert np.array_equal(mesh.cell_data_dict["group"]["line"] == dom.group_id("hole0"), in_hole)


def test_curved_hole_3d_leaves_no_hole(monkeypatch):
    # box minus a ball (a 332-triangle surface): next to the curved surface a valid
    # tetrahedron through an interior node can have its centroid just outside
    from rbfopt.app.catalog import load_module
    from rbfopt.mesh import tagged as module

    dom = load_module("poisson_box_hole")[0].DOMAIN
    ns = ro.nodes.generate(dom, ro.nodes.spacing_for(dom, 3000))

    def mesh_of():
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            return solver_mesh(ns, dom)

    mesh = mesh_of()
    facets = mesh.cells_dict["triangle"]
    assert np.all(ns.kind[facets] != 0)  # every boundary facet is on the boundary
    x = mesh.points[mesh.cells_dict["tetra"]]
    assert abs(np.linalg.det(x[:, 1:] - x[:, :1]).sum() / 6 / dom.measure - 1) < 0.01
    monkeypatch.setattr(module, "INTERIOR_SLACK", 0.0)  # centroids only: holes
    monkeypatch.setattr(module, "_edges_inside", lambda p, cells, *a: np.zeros(len(cells), bool))
    with pytest.raises(RuntimeWarning, match="hole"):
        mesh_of()
