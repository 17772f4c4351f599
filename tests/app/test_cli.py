"""The rbfopt command: list, run (outputs readable by meshio), export, and one
one-line error with non-zero exit per bad-input case, nothing half-written."""

from __future__ import annotations

import json
import os
from pathlib import Path

import meshio
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


@pytest.mark.parametrize(
    "fmt, cell", [("vtu", "vertex"), ("msh", "triangle"), ("xdmf", "triangle")]
)
def test_export_command(toy_run, tmp_path, fmt, cell, capsys):
    out = tmp_path / f"x.{fmt}"
    assert (
        main(["export", str(toy_run / "checkpoint.npz"), "--format", fmt, "--out", str(out)]) == 0
    )
    m = meshio.read(out)
    assert len(m.points) == 20 and len(m.cells_dict[cell]) > 0


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
        ("n=3", "bad problem options: n: need at least 9"),
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
    assert "not writable" in error_line(capsys)
    assert blocker.read_text() == "not a folder"
