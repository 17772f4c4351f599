"""``rbfopt nodes DOMAIN_FILE --spacing H``: a node set from a boundary file, and its errors."""

from __future__ import annotations

import meshio
import numpy as np
import pytest
from scipy.spatial import cKDTree

from rbfopt.app.cli import main


@pytest.fixture(scope="module")
def square_file(tmp_path_factory):
    """The unit square's boundary as four line cells, named by Gmsh-style cell sets."""
    v = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    lines = np.array([[0, 1], [1, 2], [2, 3], [3, 0]])
    path = tmp_path_factory.mktemp("domain") / "square.vtu"
    meshio.write(path, meshio.Mesh(v, [("line", lines)]))
    return str(path)


def test_nodes_writes_a_node_set_with_kinds_groups_and_normals(square_file, tmp_path, capsys):
    out = tmp_path / "nodes.vtu"
    assert main(["nodes", square_file, "--spacing", "0.1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mesh ratio" in printed and str(out) in printed
    m = meshio.read(out)
    p = m.points[:, :2]
    kind = np.asarray(m.point_data["kind"]).ravel()
    normals = np.asarray(m.point_data["normals"])[:, :2]
    assert np.all((p >= -1e-12) & (p <= 1 + 1e-12))
    # the four corners are fixed nodes
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    d, _ = cKDTree(p).query(corners)
    assert np.all(d < 1e-12) and np.sum(kind == 2) >= 4
    # boundary nodes lie on the boundary with unit normals; interior ones have none
    on_edge = np.min(np.minimum(p, 1 - p), axis=1) < 1e-9
    assert np.all(on_edge[kind > 0]) and not np.any(on_edge[kind == 0])
    assert np.allclose(np.linalg.norm(normals[kind == 1], axis=1), 1.0)
    assert np.allclose(normals[kind == 0], 0.0)
    # no two nodes closer than half the target spacing
    dmin = cKDTree(p).query(p, k=2)[0][:, 1].min()
    assert dmin >= 0.05


@pytest.mark.parametrize(
    "argv_tail, needle",
    [
        (["--spacing", "-1"], "spacing"),
        (["--spacing", "0.1", "--out", "nodes.msh"], "--out"),
    ],
)
def test_nodes_bad_input_exits_2_naming_the_cause(square_file, tmp_path, capsys, argv_tail, needle):
    argv = ["nodes", square_file, *argv_tail]
    if "--out" in argv:
        argv[-1] = str(tmp_path / argv[-1])
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_nodes_missing_file_exits_2(tmp_path, capsys):
    assert main(["nodes", str(tmp_path / "nope.msh"), "--spacing", "0.1"]) == 2
    assert "nope.msh" in capsys.readouterr().err
