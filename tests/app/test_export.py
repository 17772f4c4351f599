"""``rbfopt export`` from a run's stored mesh: tetrahedra in 3-D, the groups and node data
kept exactly, nothing of the run written over (the 2-D run through the CLI:
tests/app/test_cli.py)."""

from __future__ import annotations

import json

import meshio
import numpy as np
import pytest

from rbfopt import mesh as fe
from rbfopt.app.catalog import CLIError
from rbfopt.app.export import export_run, read_layout


def cube_run(folder) -> dict[str, np.ndarray]:
    """A run folder whose mesh.msh holds the 6 tetrahedra of the unit cube (Kuhn
    split), its 12 boundary triangles tagged "walls", and node data."""
    g = np.array([[i, j, k] for k in (0, 1) for j in (0, 1) for i in (0, 1)], float)
    tets = np.array(
        [[0, 1, 3, 7], [0, 1, 5, 7], [0, 2, 3, 7], [0, 2, 6, 7], [0, 4, 5, 7], [0, 4, 6, 7]]
    )
    faces = np.sort(np.concatenate([t[[[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]] for t in tets]))
    uniq, count = np.unique(faces, axis=0, return_counts=True)
    facets = uniq[count == 1]
    data = {"u_h": np.sin(g).sum(axis=1), "kind": np.array([2, 1, 1, 1, 1, 1, 1, 2])}
    m = meshio.Mesh(
        g,
        [("tetra", tets), ("triangle", facets)],
        point_data=data,
        cell_data={"gmsh:physical": [np.full(6, 2), np.full(len(facets), 1)]},
        field_data={"walls": np.array([1, 2]), "domain": np.array([2, 3])},
    )
    fe.write(m, str(folder / "mesh.msh"))
    (folder / "summary.json").write_text(json.dumps({"steps": 3, "files": ["mesh.msh"]}))
    return {"points": g, "tets": tets, "facets": facets, **data}


@pytest.mark.parametrize("fmt", ["msh", "vtu", "xdmf"])
def test_3d_run_exports_tetrahedra_and_groups(tmp_path, fmt):
    want = cube_run(tmp_path)
    stored = (tmp_path / "mesh.msh").read_bytes()
    path, _ = export_run(str(tmp_path), fmt)
    assert path == str(tmp_path / f"export.{fmt}")
    m = meshio.read(path)
    np.testing.assert_array_equal(m.points, want["points"])
    np.testing.assert_array_equal(m.cells_dict["tetra"], want["tets"])
    np.testing.assert_array_equal(m.cells_dict["triangle"], want["facets"])
    np.testing.assert_array_equal(np.ravel(m.point_data["u_h"]), want["u_h"])
    np.testing.assert_array_equal(np.ravel(m.point_data["kind"]), want["kind"])
    assert {"walls", "domain"} <= set(m.field_data)
    if fmt != "msh":  # the facets' group ids, where Gmsh tags do not exist
        groups = dict(zip([c.type for c in m.cells], m.cell_data["group"], strict=True))
        assert set(np.ravel(groups["triangle"])) == {0} and set(np.ravel(groups["tetra"])) == {1}
    assert (tmp_path / "mesh.msh").read_bytes() == stored


def test_read_layout_restores_integer_categories(tmp_path):
    want = cube_run(tmp_path)
    m = read_layout(str(tmp_path / "mesh.msh"))
    assert m.point_data["kind"].dtype == np.int32
    np.testing.assert_array_equal(m.point_data["kind"], want["kind"])
    assert m.point_data["u_h"].dtype == np.float64  # fields stay floats, exactly
    np.testing.assert_array_equal(m.point_data["u_h"], want["u_h"])


def test_refuses_the_run_files_and_a_missing_run(tmp_path):
    cube_run(tmp_path)
    with pytest.raises(CLIError, match="is a file of the run"):
        export_run(str(tmp_path), "msh", str(tmp_path / "mesh.msh"))
    with pytest.raises(CLIError, match="is a file of the run"):
        export_run(str(tmp_path), "vtu", str(tmp_path / "history.csv"))
    with pytest.raises(CLIError, match="no finished run here"):
        export_run(str(tmp_path / "elsewhere"), "vtu")
