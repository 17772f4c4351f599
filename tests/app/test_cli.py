"""The rbfopt command: list, run (outputs readable by meshio), export, and one
one-line error with non-zero exit per bad-input case, nothing half-written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import meshio
import numpy as np
import pytest

from rbfopt.app.cli import main

TOY = str(Path(__file__).parent / "_toy_problem.py")
PROBLEMS = ("poisson_nodes", "shape_parameter", "field_inverse", "grid_assimilation")


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("rbfopt: error: ")
    return err


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in PROBLEMS:
        line = next(ln for ln in out.splitlines() if ln.startswith(name))
        assert len(line.split(None, 1)[1]) > 20  # a one-line description
    assert "(default)" in next(ln for ln in out.splitlines() if ln.startswith("poisson_nodes"))


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "out"
    assert main(["run", TOY, "--steps", "6", "--out", str(out), "-q", "-O", "n=20"]) == 0
    return out


def test_run_by_path_writes_outputs(toy_run):
    names = set(os.listdir(toy_run))
    want = {
        "history.csv",
        "summary.json",
        "convergence.png",
        "nodes.png",
        "fields.png",
        "initial.vtu",
        "optimized.vtu",
        "mesh.msh",
        "checkpoint.npz",
    }
    assert want <= names and not [n for n in names if n.startswith(".")]
    s = json.loads((toy_run / "summary.json").read_text())
    assert s["problem"] == "toy" and s["steps"] == 6 and s["options"]["n"] == 20
    assert len((toy_run / "history.csv").read_text().splitlines()) == 1 + 7
    for f in ("initial.vtu", "optimized.vtu"):
        m = meshio.read(toy_run / f)
        assert len(m.points) == 20 and len(m.cells_dict["vertex"]) == 20
        assert {"g", "spacing", "boundary"} <= set(m.point_data)
    mesh = meshio.read(toy_run / "mesh.msh")
    assert len(mesh.points) == 20 and len(mesh.cells_dict["triangle"]) >= 20
    for f in ("convergence.png", "nodes.png"):
        assert (toy_run / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _bytes(folder) -> dict[str, bytes]:
    return {f: (folder / f).read_bytes() for f in os.listdir(folder)}


@pytest.mark.parametrize("fmt", ["vtu", "msh", "xdmf"])
def test_export_command(toy_run, fmt, capsys):
    """From the run's stored files, into export.<fmt>: triangles as cells, the node data
    as point data (compared with the run's own node cloud), no run file changed."""
    before = _bytes(toy_run)
    assert main(["export", str(toy_run), "--format", fmt]) == 0
    out = toy_run / f"export.{fmt}"
    assert f"wrote {out}" in capsys.readouterr().out
    m = meshio.read(out)
    tri = m.cells_dict["triangle"]
    assert len(m.points) == 20 and len(tri) >= 20 and tri.max() < 20
    cloud = meshio.read(toy_run / "optimized.vtu")  # the nodes as the run wrote them
    np.testing.assert_array_equal(m.points, cloud.points)
    for name in ("g", "boundary", "spacing"):
        np.testing.assert_array_equal(np.ravel(m.point_data[name]), cloud.point_data[name])
    after = _bytes(toy_run)
    assert {f: after[f] for f in before} == before  # nothing written over
    for f in set(after) - set(before):
        assert f.startswith("export."), f
        (toy_run / f).unlink()


def test_export_to_a_file_of_the_run_refused(toy_run, tmp_path, capsys):
    before = _bytes(toy_run)
    for target in ("optimized.vtu", "mesh.msh", "summary.json"):
        fmt = {"vtu": "vtu", "msh": "msh"}.get(target.rsplit(".", 1)[1], "vtu")
        argv = ["export", str(toy_run), "--format", fmt, "--out", str(toy_run / target)]
        assert main(argv) == 2
        assert "is a file of the run" in error_line(capsys)
    assert _bytes(toy_run) == before
    assert main(["export", str(tmp_path), "--format", "msh"]) == 2  # no finished run there
    assert "no finished run here" in error_line(capsys)


def test_unknown_problem(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", "no_such_study", "--out", str(out)]) == 2
    err = error_line(capsys)
    assert "unknown problem 'no_such_study'" in err
    assert all(name in err for name in PROBLEMS)
    assert not out.exists()


@pytest.mark.parametrize(
    "opt, msg",
    [
        ("n=abc", "bad value for option n"),
        ("colour=red", "unknown option 'colour'"),
        ("n=3", "_toy_problem.py: problem() raised ValueError: n: need at least 9 nodes, got 3"),
    ],
)
def test_bad_option_values(tmp_path, capsys, opt, msg):
    out = tmp_path / "o"
    assert main(["run", TOY, "--out", str(out), "-O", opt]) == 2
    assert msg in error_line(capsys)
    assert not out.exists()


def test_bad_optimizer(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", TOY, "--out", str(out), "--optimizer", "newton"]) == 2
    assert "unknown optimizer 'newton'" in error_line(capsys)
    assert not out.exists()


def test_resume_from_other_problem(toy_run, capsys):
    before = {f: os.path.getmtime(toy_run / f) for f in os.listdir(toy_run)}
    assert (
        main(
            [
                "run",
                "grid_assimilation",
                "--out",
                str(toy_run),
                "--resume",
                "-q",
                "-O",
                "nx=4",
                "-O",
                "ny=4",
                "-O",
                "m=20",
            ]
        )
        == 2
    )
    assert "checkpoint of problem 'toy'" in error_line(capsys)
    assert {f: os.path.getmtime(toy_run / f) for f in os.listdir(toy_run)} == before


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main(["run", TOY, "--out", str(blocker / "sub"), "-q"]) == 2
    err = error_line(capsys)
    assert "--out: cannot create or write into the folder" in err and "Not a directory" in err
    assert blocker.read_text() == "not a folder"
