"""from_mesh: Gmsh physical groups, STL/OBJ/VTU files, cell sets, .geo without gmsh."""

from __future__ import annotations

import sys

import meshio
import numpy as np
import pytest
from geometry_refs import cube, icosphere

import rbfopt  # noqa: F401
from rbfopt.geometry import Polygon, Surface, from_mesh

L_OUTER = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]], float)
L_HOLE = np.array([[0.2, 0.2], [0.2, 0.6], [0.6, 0.6], [0.6, 0.2]])
L_GROUPS = {"bottom": [0], "right": [1, 3], "top": [2, 4], "left": [5], "cut": [6, 7, 8, 9]}


def _l_mesh():
    """The L-shape with a hole as Gmsh line cells, one block (curve) per physical group
    as Gmsh writes them: edges shuffled, some reversed, z = 0."""
    pts2 = np.concatenate([L_OUTER, L_HOLE])
    n = len(L_OUTER)
    edges = [(i, (i + 1) % n) for i in range(n)] + [(n + i, n + (i + 1) % 4) for i in range(4)]
    edges = np.array(edges)
    rng = np.random.default_rng(3)
    blocks, phys, dim_tags = [], [], np.zeros((len(pts2), 2), dtype=int)
    for tag, idx in enumerate(L_GROUPS.values(), start=1):
        c = edges[rng.permutation(idx)]
        flip = rng.uniform(size=len(c)) < 0.5
        c[flip] = c[flip][:, ::-1]
        blocks.append(("line", c))
        phys.append(np.full(len(c), tag))
        dim_tags[edges[idx, 0]] = [1, tag]  # a curve owns the first points of its edges
    return meshio.Mesh(
        np.c_[pts2, np.zeros(len(pts2))],
        blocks,
        cell_data={"gmsh:physical": phys, "gmsh:geometrical": phys},
        field_data={name: np.array([t, 1]) for t, name in enumerate(L_GROUPS, start=1)},
        point_data={"gmsh:dim_tags": dim_tags},
    )


def test_gmsh_physical_groups_round_trip(tmp_path):
    path = tmp_path / "l_shape.msh"
    meshio.write(path, _l_mesh(), file_format="gmsh", binary=False)
    dom = from_mesh(path)
    ref = Polygon(L_OUTER, [L_HOLE], groups=L_GROUPS)
    assert isinstance(dom, Polygon)
    assert dom.group_names == ref.group_names == tuple(L_GROUPS)
    assert dom.measure == pytest.approx(ref.measure, rel=1e-14)
    assert dom.measure == pytest.approx(3.0 - 0.16, rel=1e-14)
    np.testing.assert_array_equal(dom.bounds, ref.bounds)
    x = np.random.default_rng(0).uniform(-0.5, 2.5, (300, 2))
    np.testing.assert_allclose(np.asarray(dom.sdf(x)), np.asarray(ref.sdf(x)), atol=1e-15)
    mids = 0.5 * (ref._elem[:, 0] + ref._elem[:, 1]) + 0.01 * np.asarray(ref._arrays["nrm"])
    g1 = [dom.group_names[i] for i in np.asarray(dom.closest(mids)[2])]
    g2 = [ref.group_names[i] for i in np.asarray(ref.closest(mids)[2])]
    assert g1 == g2
    assert sorted(map(tuple, dom.features)) == sorted(map(tuple, ref.features))


def test_cell_sets_name_groups():
    pts = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    m = meshio.Mesh(
        pts,
        [("line", [[0, 1], [1, 2], [2, 3], [3, 0]])],
        cell_sets={"wall": [np.array([0, 2])]},
    )
    dom = from_mesh(m)
    assert dom.group_names == ("wall", "outer")
    g = np.asarray(dom.closest(np.array([[0.5, -0.1], [1.1, 0.5], [0.5, 1.1]]))[2])
    assert [dom.group_names[i] for i in g] == ["wall", "outer", "wall"]


def test_area_mesh_outline_with_one_named_curve():
    # Gmsh saves only physical curves: here the bottom edge of a triangulated square
    g = np.linspace(0, 1, 3)
    X, Y = np.meshgrid(g, g, indexing="ij")
    pts = np.c_[X.ravel(), Y.ravel(), np.zeros(9)]
    i = np.array([0, 1, 3, 4])
    tri = np.concatenate([np.c_[i, i + 3, i + 4], np.c_[i, i + 4, i + 1]])
    m = meshio.Mesh(
        pts,
        [("triangle", tri), ("line", [[0, 3], [6, 3]])],
        cell_data={"gmsh:physical": [np.zeros(8, int), np.array([7, 7])]},
        field_data={"inlet": np.array([7, 1]), "fluid": np.array([1, 2])},
    )
    dom = from_mesh(m)
    assert dom.measure == pytest.approx(1.0) and len(dom.elements) == 8
    assert dom.group_names == ("inlet", "outer")
    g = np.asarray(dom.closest(np.array([[-0.1, 0.5], [0.2, -0.1], [0.8, -0.1]]))[2])
    assert [dom.group_names[k] for k in g] == ["outer", "inlet", "inlet"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # meshio's STL size probe overflows
def test_stl_cube_with_spherical_hole_volume(tmp_path):
    v1, f1 = cube(1.0, 3)
    r = 0.6
    v2, f2 = icosphere(3, r, centre=(0.05, -0.1, 0.0))
    pts = np.concatenate([v1, v2])
    tri = np.concatenate([f1, f2[:, ::-1] + len(v1)])  # the sphere faces into the hole
    path = tmp_path / "holed_cube.stl"
    meshio.write(path, meshio.Mesh(pts, [("triangle", tri)]), binary=False)
    dom = from_mesh(path)
    assert isinstance(dom, Surface)
    exact = 8.0 - 4 / 3 * np.pi * r**3
    assert dom.measure == pytest.approx(exact, rel=0.01)
    assert dom.group_names == ("outer", "hole0")
    x = np.array([[0.05, -0.1, 0.0], [0.9, 0.9, 0.9], [2.0, 0.0, 0.0]])
    np.testing.assert_array_equal(np.asarray(dom.contains(x)), [False, True, False])


def test_obj_and_vtu(tmp_path):
    v, f = cube(0.5, 1)
    path = tmp_path / "cube.obj"
    meshio.write(path, meshio.Mesh(v, [("triangle", f)]))
    assert from_mesh(path).measure == pytest.approx(1.0)
    # a triangulated square (area cells only): the boundary is their outline
    g = np.linspace(0, 1, 4)
    X, Y = np.meshgrid(g, g, indexing="ij")
    pts = np.c_[X.ravel(), Y.ravel()]
    i = (np.arange(3)[:, None] * 4 + np.arange(3)[None, :]).ravel()
    tri = np.concatenate([np.c_[i, i + 4, i + 5], np.c_[i, i + 5, i + 1]])
    path = tmp_path / "square.vtu"
    meshio.write(path, meshio.Mesh(pts, [("triangle", tri)]))
    dom = from_mesh(path)
    assert isinstance(dom, Polygon) and dom.measure == pytest.approx(1.0)
    assert len(dom.elements) == 12 and len(dom.features) == 4


def test_geo_without_gmsh_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "d.geo"
    path.write_text("Point(1) = {0, 0, 0};\n")
    monkeypatch.setitem(sys.modules, "gmsh", None)
    with pytest.raises(ImportError, match="gmsh"):
        from_mesh(path)


GEO = """lc = 0.1;
Point(1) = {0, 0, 0, lc}; Point(2) = {1, 0, 0, lc}; Point(3) = {1, 1, 0, lc};
Point(4) = {0, 1, 0, lc}; Point(5) = {0.3, 0.3, 0, lc}; Point(6) = {0.6, 0.3, 0, lc};
Point(7) = {0.6, 0.6, 0, lc}; Point(8) = {0.3, 0.6, 0, lc};
Line(1) = {1, 2}; Line(2) = {2, 3}; Line(3) = {3, 4}; Line(4) = {4, 1};
Line(5) = {5, 6}; Line(6) = {6, 7}; Line(7) = {7, 8}; Line(8) = {8, 5};
Curve Loop(1) = {1, 2, 3, 4}; Curve Loop(2) = {5, 6, 7, 8};
Plane Surface(1) = {1, 2};
Physical Curve("wall") = {1, 2, 3, 4};
Physical Curve("cut") = {5, 6, 7, 8};
Physical Surface("fluid") = {1};
"""


def test_geo_through_gmsh(tmp_path):
    pytest.importorskip("gmsh")
    path = tmp_path / "square.geo"
    path.write_text(GEO)
    dom = from_mesh(path)
    assert isinstance(dom, Polygon) and dom.group_names == ("wall", "cut")
    assert dom.measure == pytest.approx(1 - 0.09, rel=1e-12)
