"""Checkpoints are arrays + JSON only: a round trip restores the loop state exactly,
and crafted or foreign files (a pickle renamed, an object array, a wrong format
version, another problem's header, arrays that do not fit) are refused with a clear
error and execute nothing."""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt  # noqa: F401  (float64)
from rbfopt.app import driver as optimize
from rbfopt.app.cli import main
from rbfopt.problem import Problem

TOY = str(Path(__file__).parent / "_toy_problem.py")
TARGET = np.array([1.0, -2.0, 0.5])


def quadratic(name: str = "quad") -> Problem:
    return Problem(name, lambda: {"x": jnp.zeros(3)}, lambda p: jnp.sum((p["x"] - TARGET) ** 2))


class Payload:
    """Unpickling it creates the folder ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.fixture
def run_dir(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    optimize.run(quadratic(), "adam", 3, out_dir=str(out), progress=False)
    return out


def members(path: Path) -> tuple[dict, dict]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {n: z[n] for n in z.files}
    return json.loads(arrays.pop("header").tobytes()), arrays


def rewrite(path: Path, header: dict, arrays: dict, **extra) -> None:
    buf = io.BytesIO()
    raw = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(buf, header=raw, **arrays, **extra)  # object arrays here are pickled
    path.write_bytes(buf.getvalue())


def test_round_trip_restores_the_state(run_dir):
    res = optimize.run(quadratic(), "adam", 3, progress=False)
    ck = optimize.load_checkpoint(str(run_dir))
    assert (ck.problem, ck.optimizer, ck.step, ck.options) == ("quad", "adam", 3, {})
    assert [h["loss"] for h in ck.history] == [h["loss"] for h in res.history]
    assert os.path.basename(ck.path) == "checkpoint.npz"
    restored = ck.restore(jax.tree.map(np.zeros_like, res.state))
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(res.state), strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    best = ck.restore({"x": jnp.zeros(3)}, prefix=".best_params")
    np.testing.assert_array_equal(best["x"], res.params["x"])


def test_pickle_renamed_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(pickle.dumps({"format": "rbfopt-checkpoint", "x": Payload(marker)}))
    with pytest.raises(ValueError, match="it is a pickle"):
        optimize.load_checkpoint(str(path))
    assert not marker.exists()


def test_object_array_is_refused_and_not_executed(run_dir, tmp_path):
    marker = tmp_path / "ran"
    path = run_dir / "checkpoint.npz"
    header, arrays = members(path)
    arrays["a0"] = np.array([Payload(marker)], dtype=object)
    rewrite(path, header, arrays)
    with pytest.raises(ValueError, match="only unpickling could read"):
        optimize.load_checkpoint(str(run_dir))
    assert not marker.exists()


def test_old_pickle_checkpoint_is_refused(tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "checkpoint.pkl").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ValueError, match=r"checkpoint\.pkl, a pickle checkpoint"):
        optimize.load_checkpoint(str(tmp_path))
    assert not marker.exists()


@pytest.mark.parametrize(
    "change, msg",
    [
        (dict(version=1), "format version 1; this rbfopt reads version 2"),
        (dict(format="something-else"), "header names format 'something-else'"),
        (dict(history="rows"), "header field 'history'"),
        (dict(leaves=[]), "arrays do not match the header"),
    ],
)
def test_bad_header_is_refused(run_dir, change, msg):
    path = run_dir / "checkpoint.npz"
    header, arrays = members(path)
    rewrite(path, header | change, arrays)
    with pytest.raises(ValueError, match=msg):
        optimize.load_checkpoint(str(path))


def test_not_an_archive_and_mismatched_arrays(run_dir):
    path = run_dir / "checkpoint.npz"
    header, arrays = members(path)
    arrays["a0"] = arrays["a0"].astype(np.float32)
    rewrite(path, header, arrays)
    with pytest.raises(ValueError, match="does not match the header"):
        optimize.load_checkpoint(str(path))
    path.write_bytes(b"just text, not a checkpoint")
    with pytest.raises(ValueError, match="not an .npz archive"):
        optimize.load_checkpoint(str(path))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        optimize.load_checkpoint(str(run_dir / "nothing.npz"))


def test_resume_refuses_another_problem_and_structure(run_dir):
    with pytest.raises(ValueError, match="checkpoint of problem 'quad'"):
        optimize.run(quadratic("other"), "adam", 5, out_dir=str(run_dir), resume=True)
    with pytest.raises(ValueError, match="written by optimizer 'adam', not 'sgd'"):
        optimize.run(quadratic(), "sgd", 5, out_dir=str(run_dir), resume=True)
    # same name, another parameter structure: refused against the rebuilt template
    wider = Problem("quad", lambda: {"x": jnp.zeros(4)}, lambda p: jnp.sum(p["x"] ** 2))
    with pytest.raises(ValueError, match=r"\.params\['x'\] is float64\[3\].*float64\[4\]"):
        optimize.run(wider, "adam", 5, out_dir=str(run_dir), resume=True, progress=False)
    renamed = Problem("quad", lambda: {"y": jnp.zeros(3)}, lambda p: jnp.sum(p["y"] ** 2))
    with pytest.raises(ValueError, match="does not fit problem 'quad'"):
        optimize.run(renamed, "adam", 5, out_dir=str(run_dir), resume=True, progress=False)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "out"
    assert main(["run", TOY, "--steps", "2", "--out", str(out), "-q", "-O", "n=12"]) == 0
    return out


def test_export_refuses_crafted_checkpoints(toy_run, tmp_path, capsys):
    header, arrays = members(toy_run / "checkpoint.npz")
    cases = {
        "pickle": None,
        "version": (header | {"version": 99}, arrays),
        "problem": (header | {"problem": "grid_assimilation"}, arrays),
        "path": (header | {"problem": "../evil", "meta": {}}, arrays),
        "options": (header | {"options": header["options"] | {"n": 13}}, arrays),
    }
    for case, content in cases.items():
        bad = tmp_path / case / "checkpoint.npz"
        bad.parent.mkdir()
        if content is None:
            bad.write_bytes(pickle.dumps(Payload(tmp_path / "ran")))
        else:
            rewrite(bad, *content)
        assert main(["export", str(bad), "--out", str(tmp_path / "x.vtu")]) == 2, case
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("rbfopt: error: "), err
        assert "checkpoint" in err, err
    assert not (tmp_path / "ran").exists() and not (tmp_path / "x.vtu").exists()


def test_cli_resume_refuses_crafted_checkpoint(toy_run, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "checkpoint.npz").write_bytes(pickle.dumps(Payload(tmp_path / "ran")))
    assert main(["run", TOY, "--out", str(out), "--resume", "-q"]) == 2
    assert "cannot resume: checkpoint:" in capsys.readouterr().err
    assert not (tmp_path / "ran").exists() and os.listdir(out) == ["checkpoint.npz"]
