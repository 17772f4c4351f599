"""Bad input: each a ValueError naming the argument (and the offending indices)."""

from __future__ import annotations

import meshio
import numpy as np
import pytest
from geometry_refs import cube

import rbfopt  # noqa: F401
from rbfopt.geometry import Polygon, Surface, from_mesh

SQ = [[0, 0], [1, 0], [1, 1], [0, 1]]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"outer": [0, 1, 2]}, r"outer: expected shape \(n, 2\)"),
        ({"outer": [[0, 0, 0], [1, 0, 0], [0, 1, 0]]}, r"outer: expected shape \(n, 2\)"),
        ({"outer": [[0, 0], [1, np.nan], [0, 1]]}, r"outer: NaN or inf in rows \[1\]"),
        ({"outer": [[0, 0], [1, 0]]}, "outer: need at least 3"),
        ({"outer": [[0, 0], [1, 0], [1, 0], [1, 1]]}, r"outer: zero-length edges \[1\]"),
        (
            {"outer": [[0, 0], [2, 0], [1, 1], [2, 2], [0, 2], [1, 1]]},
            r"repeated vertices.*\[2, 5\]",
        ),
        ({"outer": [[0, 0], [1, 1], [2, 2]]}, "outer: zero area"),
        ({"outer": [[0, 0], [2, 2], [2, 0], [0, 1]]}, r"outer: self-intersecting.*\(0, 2\)"),
        (
            {"outer": SQ, "holes": [[[2, 2], [3, 2], [3, 3]]]},
            "holes\\[0\\]: hole is not inside outer",
        ),
        (
            {"outer": SQ, "holes": [[[0.5, 0.5], [1.5, 0.5], [0.5, 0.7]]]},
            r"outer and holes\[0\]: self-intersecting",
        ),
        (
            {
                "outer": SQ,
                "holes": [
                    [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]],
                    [[0.4, 0.2], [0.6, 0.2], [0.5, 0.3]],
                ],
            },
            r"holes\[1\]: hole is inside holes\[0\]",
        ),
        (
            {"outer": SQ, "groups": {"x": [1, 4, -1]}},
            r"groups\['x'\]: edge indices out of range.*\[4, -1\]",
        ),
        (
            {"outer": SQ, "groups": {"x": [1], "y": [1, 2]}},
            r"groups\['y'\]: edges already in another group: \[1\]",
        ),
        ({"outer": SQ, "groups": {"x": [0.5]}}, r"groups\['x'\]: edge indices must be integers"),
    ],
)
def test_polygon_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Polygon(**kwargs)


def test_unknown_group_name_and_query_shape():
    p = Polygon(SQ, groups={"a": [0]})
    with pytest.raises(ValueError, match="name: unknown group 'b'"):
        p.group_id("b")
    with pytest.raises(ValueError, match=r"x: expected shape \(m, 2\)"):
        p.sdf(np.zeros((3, 3)))


def test_surface_bad_input():
    v, f = cube(1.0, 1)
    with pytest.raises(ValueError, match=r"triangles: surface is not watertight.*edges"):
        Surface(v, f[1:])
    with pytest.raises(ValueError, match=r"triangles: vertex indices out of range.*\[0\]"):
        Surface(v, np.r_[[[0, 1, 99]], f])
    bad = v.copy()
    bad[3, 0] = np.inf
    with pytest.raises(ValueError, match=r"vertices: NaN or inf in rows \[3\]"):
        Surface(bad, f)
    flat = v.copy()
    flat[:, 2] = 0.0  # every triangle of the top and bottom faces collapses
    with pytest.raises(ValueError, match="triangles: degenerate"):
        Surface(flat, f)
    with pytest.raises(ValueError, match=r"groups\['t'\]: triangle indices out of range"):
        Surface(v, f, groups={"t": [12]})
    with pytest.raises(ValueError, match=r"triangles: expected shape"):
        Surface(v, f[:, :2])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # meshio's STL size probe overflows
def test_from_mesh_bad_input(tmp_path):
    pts = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    with pytest.raises(ValueError, match="mesh: no boundary cells"):
        from_mesh(meshio.Mesh(pts, [("vertex", [[0], [1]])]))
    open_loop = meshio.Mesh(pts, [("line", [[0, 1], [1, 2], [2, 3]])])
    with pytest.raises(ValueError, match=r"mesh: boundary is not closed: points \[0, 3\]"):
        from_mesh(open_loop)
    v, f = cube(1.0, 1)
    path = tmp_path / "open.stl"
    meshio.write(path, meshio.Mesh(v, [("triangle", f[:-1])]), binary=False)
    with pytest.raises(ValueError, match="mesh: surface is not watertight"):
        from_mesh(path)
    with pytest.raises(ValueError, match="mesh: no such file"):
        from_mesh(tmp_path / "missing.msh")
    with pytest.raises(ValueError, match="mesh: expected a path or a meshio.Mesh"):
        from_mesh(42)
