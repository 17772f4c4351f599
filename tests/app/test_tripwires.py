"""What a new user tripped over (issue 25), each fixed: errors from a problem module
reported as what they are, the problem file's folder importable, out_dir created before
any work, one driver default whatever the route with every setting in summary.json."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import jax.numpy as jnp
import pytest

import rbfopt as ro
from rbfopt.app import catalog
from rbfopt.app.cli import main


def write(path, text: str) -> str:
    path.write_text(textwrap.dedent(text))
    return str(path)


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("rbfopt: error: ")
    return err


# a study that compiles in a blink: the driver's routes are what these tests check
QUAD = """
    import jax.numpy as jnp
    import rbfopt as ro
    {extra}

    def problem(scale: float = 1.0):
        {body}
        return ro.Problem("quad", lambda: jnp.zeros(2),
                          lambda x: jnp.sum((x - scale) ** 2))
"""


def quad_file(tmp_path, name="quad.py", extra="", body="pass") -> str:
    return write(tmp_path / name, QUAD.format(extra=extra, body=body))


# --------------------------------------------------------------------------- 1. errors
def test_error_inside_problem_is_reported_as_itself(tmp_path, capsys):
    body = 'raise KeyError("no such material: steel")'
    study = quad_file(tmp_path, body=body)
    out = tmp_path / "o"
    assert main(["run", study, "--out", str(out), "-q"]) == 2  # no -O given
    err = error_line(capsys)
    assert "bad problem options" not in err
    assert "quad.py: problem() raised KeyError: 'no such material: steel' (line 7)" in err
    assert not out.exists()


def test_error_at_import_names_the_line(tmp_path, capsys):
    study = quad_file(tmp_path, extra="import no_such_module_anywhere")
    assert main(["run", study, "--out", str(tmp_path / "o"), "-q"]) == 2
    err = error_line(capsys)
    assert "failed to import: ModuleNotFoundError" in err and "(line 4)" in err


def test_only_a_real_option_mismatch_is_bad_options(tmp_path):
    mod, path = catalog.load_module(quad_file(tmp_path))
    with pytest.raises(catalog.CLIError, match="bad problem options: .*'colour'"):
        catalog.build_problem(mod, {"colour": "red"}, path)
    assert catalog.build_problem(mod, {"scale": 2.0}, path).name == "quad"


# --------------------------------------------------------------------------- 2. imports
def test_problem_file_imports_a_module_beside_it(tmp_path, capsys):
    helper = "h3_helper_beside_study"
    write(tmp_path / f"{helper}.py", "TARGET = 3.0\ndef scale():\n    return 0.5\n")
    extra = f"from {helper} import TARGET"
    body = f"import {helper}; scale = TARGET * {helper}.scale()"  # imported while it builds
    study = quad_file(tmp_path, "beside.py", extra=extra, body=body)
    path_before = list(sys.path)
    try:
        out = tmp_path / "run"
        assert main(["run", study, "--steps", "3", "--lr", "0.25", "--optimizer", "sgd",
                     "--out", str(out), "-q"]) == 0  # fmt: skip
        summary = json.loads((out / "summary.json").read_text())
        # converges towards TARGET * 0.5 = 1.5: x = 1.5 (1 - 0.5^k) per coordinate
        assert summary["final"]["loss"] == pytest.approx(2 * (1.5 * 0.5**3) ** 2)
    finally:
        sys.modules.pop(helper, None)
    assert sys.path == path_before  # the folder was importable only meanwhile


# --------------------------------------------------------------------------- 3. out_dir
def quad_problem(calls: list) -> ro.Problem:
    def init():
        calls.append("init")
        return jnp.zeros(2)

    return ro.Problem("quad", init, lambda x: jnp.sum((x - 1.0) ** 2))


def test_run_creates_out_dir_with_parents(tmp_path):
    out = tmp_path / "out" / "api"
    ro.optimize.run(quad_problem([]), "sgd", 2, lr=0.25, out_dir=str(out), progress=False)
    assert (out / "checkpoint.npz").is_file()


def test_uncreatable_out_dir_refused_before_any_work(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    calls: list = []
    with pytest.raises(ValueError, match=r"out_dir: cannot create .*a_file/run.*Not a directory"):
        ro.optimize.run(quad_problem(calls), "sgd", 2, out_dir=str(blocker / "run"))
    assert calls == []  # refused before init(), not at the first checkpoint


def test_cli_refuses_uncreatable_out_before_building(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    study = quad_file(tmp_path, body='raise RuntimeError("built")')  # a build would say so
    assert main(["run", study, "--out", str(blocker / "out" / "api"), "-q"]) == 2
    err = error_line(capsys)
    assert "--out: cannot create or write into the folder" in err and "Not a directory" in err
    assert blocker.read_text() == "x"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anyway")
def test_read_only_out_dir_refused(tmp_path):
    ro_dir = tmp_path / "ro"
    ro_dir.mkdir(mode=0o500)
    with pytest.raises(ValueError, match="out_dir: cannot create or write"):
        ro.optimize.run(quad_problem([]), "sgd", 2, out_dir=str(ro_dir / "run"))


# --------------------------------------------------------------------------- 4. defaults
STENCILED = """
    import jax.numpy as jnp
    import numpy as np
    import rbfopt as ro

    {defaults}
    CALLS = []

    def problem():
        def restencil(x):
            CALLS.append(1)
            return jnp.zeros(1)

        return ro.Problem("stenciled", lambda: jnp.zeros(2),
                          lambda x, aux: jnp.sum((x - 1.0) ** 2) + aux[0], restencil=restencil)
"""


def stenciled(tmp_path, defaults: str = "") -> str:
    return write(tmp_path / "stenciled.py", STENCILED.format(defaults=defaults))


def test_python_route_restencils_at_the_driver_default():
    calls = []
    prob = ro.Problem(
        "s",
        lambda: jnp.zeros(2),
        lambda x, aux: jnp.sum((x - 1.0) ** 2) + aux[0],
        restencil=lambda x: calls.append(1) or jnp.zeros(1),
    )
    res = ro.optimize.run(prob, "sgd", 4, lr=0.1, progress=False)
    assert ro.optimize.DEFAULTS["restencil_every"] == 1
    assert len(calls) == 1 + 4  # the start, then every step
    assert res.settings["restencil_every"] == 1


@pytest.mark.parametrize(
    "defaults, flags, every",
    [
        ('DEFAULTS = {"steps": 3, "lr": 0.1}', [], 1),  # the guide's DEFAULTS: no cadence
        ("", ["--steps", "3"], 1),  # no DEFAULTS at all
        ('DEFAULTS = {"steps": 3, "restencil_every": 2}', [], 2),  # the file's own
        ('DEFAULTS = {"steps": 3, "restencil_every": 2}', ["--restencil-every", "3"], 3),
    ],
)
def test_cli_route_uses_the_same_default(tmp_path, defaults, flags, every):
    study = stenciled(tmp_path, defaults)
    out = tmp_path / "run"
    assert main(["run", study, "--out", str(out), "-q", *flags]) == 0
    driver = json.loads((out / "summary.json").read_text())["driver"]
    assert driver["restencil_every"] == every


def test_summary_records_every_driver_setting(tmp_path):
    study = stenciled(tmp_path, 'DEFAULTS = {"steps": 2, "optimizer": "sgd"}')
    out = tmp_path / "run"
    argv = ["run", study, "--out", str(out), "-q", "--seed", "7", "--checkpoint-every", "5"]
    assert main(argv) == 0
    driver = json.loads((out / "summary.json").read_text())["driver"]
    assert set(ro.optimize.DEFAULTS) | {"devices"} <= set(driver)
    assert driver == {
        "optimizer": "sgd",
        "steps": 2,
        "lr": ro.optimize.OPTIMIZERS["sgd"],  # the optimizer's own, as used
        "schedule": "constant",
        "seed": 7,
        "restencil_every": 1,
        "checkpoint_every": 5,
        "max_failures": 8,
        "devices": 1,
    }


def test_unknown_defaults_key_refused(tmp_path, capsys):
    study = stenciled(tmp_path, 'DEFAULTS = {"steps": 2, "restencil": 5}')
    assert main(["run", study, "--out", str(tmp_path / "o"), "-q"]) == 2
    assert "DEFAULTS of the problem: unknown setting(s) restencil" in error_line(capsys)
    assert not (tmp_path / "o").exists()
