"""Corners of Gmsh geometry: CAD curves keep their smoothness, corners only where curves
meet at an angle above ``feature_angle``; reading Gmsh files prints nothing."""

from __future__ import annotations

import meshio
import numpy as np
import pytest

import rbfopt  # noqa: F401
from rbfopt.geometry import Polygon, Surface, from_mesh

RECT = [(0, 0), (3, 0), (3, 1), (0, 1)]
_BOX = """Point(1) = {0, 0, 0, lc}; Point(2) = {3, 0, 0, lc}; Point(3) = {3, 1, 0, lc};
Point(4) = {0, 1, 0, lc};
Line(1) = {1, 2}; Line(2) = {2, 3}; Line(3) = {3, 4}; Line(4) = {4, 1};
"""
# a channel (0,3)x(0,1) with an elliptical obstacle of four Ellipse arcs, meshed coarsely:
# near the ellipse's ends a chord turns by ~20 degrees
ELLIPSE = (
    "lc = 0.1;\n"
    + _BOX
    + """Point(5) = {1, 0.5, 0, lc}; Point(6) = {1.3, 0.5, 0, lc}; Point(7) = {1, 0.7, 0, lc};
Point(8) = {0.7, 0.5, 0, lc}; Point(9) = {1, 0.3, 0, lc};
Ellipse(5) = {6, 5, 6, 7}; Ellipse(6) = {7, 5, 6, 8}; Ellipse(7) = {8, 5, 6, 9};
Ellipse(8) = {9, 5, 6, 6};
Curve Loop(1) = {1, 2, 3, 4}; Curve Loop(2) = {5, 6, 7, 8};
Plane Surface(1) = {1, 2};
Physical Curve("inlet") = {4}; Physical Curve("walls") = {1, 3};
Physical Curve("outlet") = {2}; Physical Curve("obstacle") = {5, 6, 7, 8};
Physical Surface("fluid") = {1};
"""
)
# the same obstacle as one closed OpenCASCADE curve (its seam is a CAD point)
OCC_DISK = """SetFactory("OpenCASCADE");
Rectangle(1) = {0, 0, 0, 3, 1};
Disk(2) = {1, 0.5, 0, 0.3, 0.2};
BooleanDifference(3) = { Surface{1}; Delete; }{ Surface{2}; Delete; };
Mesh.MeshSizeMax = 0.1;
"""
_T = np.linspace(0, 2 * np.pi, 17)[:-1]
# one closed Catmull-Rom spline through 16 points of the ellipse
SPLINE = (
    "lc = 0.1;\n"
    + _BOX
    + "".join(
        f"Point({10 + i}) = {{{1 + 0.3 * np.cos(a):.15g}, {0.5 + 0.2 * np.sin(a):.15g}, 0, lc}};\n"
        for i, a in enumerate(_T)
    )
    + "Spline(5) = {"
    + ", ".join(str(10 + i) for i in range(16))
    + ", 10};\n"
    + "Curve Loop(1) = {1, 2, 3, 4}; Curve Loop(2) = {5};\nPlane Surface(1) = {1, 2};\n"
)
# a lens of two circle arcs (centres (0, -+0.3), through (+-0.5, 0)): the tips turn by
# 2 atan(0.3 / 0.5) = 61.93 degrees; a triangular hole of three lines
LENS = """lc = 0.1;
Point(1) = {0.5, 0, 0, lc}; Point(2) = {-0.5, 0, 0, lc};
Point(3) = {0, -0.3, 0, lc}; Point(4) = {0, 0.3, 0, lc};
Circle(1) = {1, 3, 2}; Circle(2) = {2, 4, 1};
Point(5) = {-0.1, -0.05, 0, lc}; Point(6) = {0.1, -0.05, 0, lc}; Point(7) = {0, 0.1, 0, lc};
Line(3) = {5, 6}; Line(4) = {6, 7}; Line(5) = {7, 5};
Curve Loop(1) = {1, 2}; Curve Loop(2) = {3, 4, 5};
Plane Surface(1) = {1, 2};
"""
LENS_TURN = np.degrees(2 * np.arctan(0.3 / 0.5))


def _geo(tmp_path, text, name="d.geo"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _same_points(a, b):
    a = sorted(map(tuple, np.round(np.asarray(a, float), 9)))
    b = sorted(map(tuple, np.round(np.asarray(b, float), 9)))
    return a == b


def _plain_corners(dom):
    """Features of the same vertices as a plain polygon (the turning-angle rule alone)."""
    loops = [dom.vertices[a:b] for a, b in dom.loops]
    return len(Polygon._from_loops(loops, [None] * len(dom.vertices), "x").features)


@pytest.mark.parametrize("text", [ELLIPSE, OCC_DISK, SPLINE], ids=["ellipse", "occ", "spline"])
def test_smooth_obstacle_has_only_the_channel_corners(tmp_path, text):
    pytest.importorskip("gmsh")
    dom = from_mesh(_geo(tmp_path, text))
    assert dom.measure == pytest.approx(3 - np.pi * 0.3 * 0.2, rel=2e-2)
    assert _same_points(dom.features, RECT)
    # the discretization is coarse enough that the plain rule would add corners
    assert _plain_corners(dom) > 4


def test_curves_meeting_at_an_angle_keep_their_corners(tmp_path):
    pytest.importorskip("gmsh")
    box = _geo(tmp_path, "lc = 0.05;\n" + _BOX + "Curve Loop(1) = {1, 2, 3, 4};\n")
    dom = from_mesh(box)
    assert len(dom.elements) > 40 and _same_points(dom.features, RECT)
    lens = _geo(tmp_path, LENS, "lens.geo")
    tips, hole = [(0.5, 0), (-0.5, 0)], [(-0.1, -0.05), (0.1, -0.05), (0, 0.1)]
    assert _same_points(from_mesh(lens).features, tips + hole)
    # the tips turn by the arcs' exact tangent angle, not by the chords' (~10 deg more)
    below = from_mesh(lens, feature_angle=LENS_TURN - 0.5)
    above = from_mesh(lens, feature_angle=LENS_TURN + 0.5)
    assert _same_points(below.features, tips + hole) and _same_points(above.features, hole)


def test_gmsh_written_msh_keeps_curves_smooth(tmp_path):
    gmsh = pytest.importorskip("gmsh")
    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.open(str(_geo(tmp_path, ELLIPSE.replace("lc = 0.1", "lc = 0.05"))))
        gmsh.model.mesh.generate(1)
        gmsh.write(str(tmp_path / "channel.msh"))
    finally:
        gmsh.finalize()
    dom = from_mesh(tmp_path / "channel.msh")
    assert dom.group_names == ("inlet", "walls", "outlet", "obstacle")
    assert _same_points(dom.features, RECT) and _plain_corners(dom) > 4


def _circle_mesh(n, entities):
    t = 2 * np.pi * np.arange(n) / n
    pts = np.c_[np.cos(t), np.sin(t), np.zeros(n)]
    cells = [("line", np.c_[np.arange(n), (np.arange(n) + 1) % n])]
    if not entities:
        return meshio.Mesh(pts, cells)
    # as Gmsh writes one closed curve (tag 1) whose CAD point (tag 1) is vertex 0
    dim_tags = np.c_[np.ones(n, int), np.ones(n, int)]
    dim_tags[0, 0] = 0
    return meshio.Mesh(
        pts,
        cells,
        cell_data={"gmsh:physical": [np.full(n, 1)], "gmsh:geometrical": [np.full(n, 1)]},
        field_data={"wall": np.array([1, 1])},
        point_data={"gmsh:dim_tags": dim_tags},
    )


def test_circle_msh_has_no_corner(tmp_path):
    path = tmp_path / "circle.msh"
    meshio.write(path, _circle_mesh(200, False), file_format="gmsh", binary=False)
    assert len(from_mesh(path).features) == 0
    # 24 chords turn by 15 degrees each: one Gmsh curve is still smooth
    meshio.write(path, _circle_mesh(24, True), file_format="gmsh", binary=False)
    dom = from_mesh(path)
    assert dom.group_names == ("wall",) and len(dom.features) == 0
    assert len(from_mesh(path, feature_angle=16.0).features) == 0
    # without Gmsh's entity data the chords' turn is all there is to go by
    assert len(from_mesh(_circle_mesh(24, False)).features) == 24


def test_entity_data_without_cad_points_is_not_trusted():
    # a file tagging a whole square as one "curve" but marking no CAD point keeps corners
    m = _circle_mesh(4, True)
    m.point_data["gmsh:dim_tags"][:, 0] = 1
    assert len(from_mesh(m).features) == 4


def test_reading_gmsh_files_prints_nothing(tmp_path, capfd):
    path = tmp_path / "circle.msh"
    meshio.write(path, _circle_mesh(50, True), file_format="gmsh", binary=False)
    capfd.readouterr()
    from_mesh(path)
    assert capfd.readouterr().out == ""
    pytest.importorskip("gmsh")
    from_mesh(_geo(tmp_path, ELLIPSE))
    assert capfd.readouterr().out == ""


def test_a_gmsh_session_of_the_caller_survives(tmp_path):
    gmsh = pytest.importorskip("gmsh")
    gmsh.initialize(readConfigFiles=False, interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("mine")
        gmsh.model.geo.addPoint(0, 0, 0)
        gmsh.option.setNumber("Mesh.SaveAll", 1)
        from_mesh(_geo(tmp_path, ELLIPSE))
        assert gmsh.isInitialized() and gmsh.model.getCurrent() == "mine"
        assert gmsh.option.getNumber("Mesh.SaveAll") == 1
    finally:
        gmsh.finalize()


def test_bad_files_and_angles_are_value_errors(tmp_path):
    bad = tmp_path / "bad.msh"
    bad.write_text("not a mesh\n")
    with pytest.raises(ValueError, match="mesh: could not read"):
        from_mesh(bad)
    with pytest.raises(ValueError, match="mesh: unknown file type"):
        from_mesh(_geo(tmp_path, "x", "d.xyz123"))
    for angle in (-1.0, 181.0, float("nan"), "10", True):
        with pytest.raises(ValueError, match="feature_angle"):
            from_mesh(_circle_mesh(8, False), feature_angle=angle)
        with pytest.raises(ValueError, match="feature_angle"):
            Polygon(RECT, feature_angle=angle)


def test_curves_no_physical_group_names_keep_the_default_group(tmp_path):
    # Gmsh writes only the elements of physical groups: the other boundary curves (and
    # surfaces in 3-D) must still close the boundary
    pytest.importorskip("gmsh")
    part = "lc = 0.1;\n" + _BOX + "Curve Loop(1) = {1, 2, 3, 4};\nPlane Surface(1) = {1};\n"
    dom = from_mesh(_geo(tmp_path, part + 'Physical Curve("inlet") = {4};\n'))
    assert dom.group_names == ("inlet", "outer") and dom.measure == pytest.approx(3.0)
    assert _same_points(dom.features, RECT)
    g = np.asarray(dom.closest(np.array([[-0.1, 0.5], [1.5, -0.1]]))[2])
    assert [dom.group_names[i] for i in g] == ["inlet", "outer"]
    box = 'SetFactory("OpenCASCADE");\nBox(1) = {0, 0, 0, 1, 2, 1};\nMesh.MeshSizeMax = 0.5;\n'
    dom = from_mesh(_geo(tmp_path, box + 'Physical Surface("bottom") = {5};\n', "box.geo"))
    assert dom.group_names == ("bottom", "outer") and dom.measure == pytest.approx(2.0)
    corners = [(x, y, z) for x in (0, 1) for y in (0, 2) for z in (0, 1)]
    assert set(corners) <= set(map(tuple, np.round(dom.features, 12)))


def test_coarse_sphere_hole_has_no_corner(tmp_path):
    # in 3-D an edge inside one CAD surface is never sharp, however coarse the triangles
    pytest.importorskip("gmsh")
    geo = """SetFactory("OpenCASCADE");
Box(1) = {0, 0, 0, 1, 1, 1};
Sphere(2) = {0.5, 0.5, 0.5, 0.25};
BooleanDifference(3) = { Volume{1}; Delete; }{ Volume{2}; Delete; };
Mesh.MeshSizeMax = 0.15;
"""
    dom = from_mesh(_geo(tmp_path, geo))
    assert dom.measure == pytest.approx(1 - 4 / 3 * np.pi * 0.25**3, rel=0.02)
    near_sphere = np.linalg.norm(dom.features - 0.5, axis=1) < 0.3
    assert not near_sphere.any()
    corners = [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)]
    assert set(corners) <= set(map(tuple, np.round(dom.features, 12)))
    plain = Surface(dom.vertices, dom.elements).features  # the normals' rule alone
    assert (np.linalg.norm(plain - 0.5, axis=1) < 0.3).any()
