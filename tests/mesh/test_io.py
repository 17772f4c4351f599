"""meshio export: node clouds (VTU) and triangulated meshes (msh, xdmf) read back."""

from __future__ import annotations

import os

import meshio
import numpy as np
import pytest
from scipy.spatial import cKDTree

from rbfopt import mesh as export


def lshape_inside(c):
    return ~((c[:, 0] > 0) & (c[:, 1] < 0))


@pytest.fixture(scope="module")
def lshape_points():
    g = np.linspace(-1, 1, 15)
    X, Y = np.meshgrid(g, g)
    p = np.stack([X.ravel(), Y.ravel()], 1)
    p = p[~((p[:, 0] > 1e-9) & (p[:, 1] < -1e-9))]  # keep the re-entrant edges
    rng = np.random.default_rng(0)
    on_edge = (np.abs(p).max(1) > 0.99) | ((np.abs(p[:, 0]) < 1e-9) & (p[:, 1] <= 0))
    on_edge |= (np.abs(p[:, 1]) < 1e-9) & (p[:, 0] >= 0)
    return p + rng.uniform(-0.01, 0.01, p.shape) * ~on_edge[:, None]  # jitter inside only


def test_node_cloud_vtu(tmp_path, lshape_points):
    p = lshape_points
    flags = (np.abs(p).max(1) > 0.99).astype(int)
    m = export.node_cloud(p, {"u": p[:, 0] ** 2}, boundary=flags)
    path = export.write(m, str(tmp_path / "nodes.vtu"))
    r = meshio.read(path)
    assert r.points.shape == (len(p), 3)
    assert r.cells[0].type == "vertex" and len(r.cells[0].data) == len(p)
    np.testing.assert_allclose(r.point_data["u"], p[:, 0] ** 2)
    np.testing.assert_array_equal(r.point_data["boundary"], flags)
    d, _ = cKDTree(p).query(p, k=2)
    np.testing.assert_allclose(r.point_data["spacing"], d[:, 1])


@pytest.mark.parametrize("fmt", ["msh", "xdmf"])
def test_triangulated_mesh_drops_outside_triangles(tmp_path, lshape_points, fmt):
    p = lshape_points
    full = export.delaunay(p)
    cut = export.delaunay(p, lshape_inside, point_data={"u": p[:, 1]})
    tri = cut.cells[0].data
    cent = p[tri].mean(1)
    assert np.all(lshape_inside(cent))
    assert len(tri) < len(full.cells[0].data)
    # triangles tile the L-shape: total area 3
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    area = 0.5 * np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    assert abs(area.sum() - 3.0) < 1e-9
    path = export.write(cut, str(tmp_path / f"mesh.{fmt}"))
    r = meshio.read(path)
    assert r.points.shape == (len(p), 3)
    assert r.cells[0].type == "triangle" and len(r.cells[0].data) == len(tri)
    np.testing.assert_allclose(r.point_data["u"], p[:, 1])
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="unknown export format"):
        export.write(export.node_cloud(np.eye(2)), str(tmp_path / "a.stl"))
    with pytest.raises(ValueError, match="2-D points"):
        export.delaunay(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="non-finite"):
        export.node_cloud(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="expected 3 values"):
        export.node_cloud(np.eye(3), {"u": np.ones(2)})
    with pytest.raises(ValueError, match="no triangle"):
        export.write(export.node_cloud(np.eye(3)), str(tmp_path / "a.msh"))
