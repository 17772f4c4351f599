"""Problem discovery and run folders: the shipped studies, ``$RBFOPT_PROBLEMS``,
third-party studies through the ``rbfopt.problems`` entry-point group (a real
``.dist-info`` on ``sys.path``), default runs outside ``results/``, and the wheel
carrying the studies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

from rbfopt.app import catalog
from rbfopt.app.cli import main

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.stem for p in (ROOT / "problems").glob("*.py") if not p.stem.startswith("_"))

FAKE_STUDIES = '''\
"""Third-party studies registered through entry points."""

from _toy_problem import problem as _toy


def heat(n: int = 12, seed: int = 0):
    """Heat: a third-party study found through an entry point."""
    return _toy(n=n, seed=seed)


heat.DEFAULTS = {"steps": 2, "restencil_every": 1}
'''

FAKE_MODULE = '''\
"""Cool: a whole module registered as a study."""

from _toy_problem import problem  # noqa: F401
'''


@pytest.fixture
def fake_dist(tmp_path, monkeypatch):
    """A distribution ``fake-studies`` declaring four entry points, on ``sys.path``."""
    site = tmp_path / "site"
    pkg = site / "fake_studies"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "heat.py").write_text(FAKE_STUDIES)
    (pkg / "cool.py").write_text(FAKE_MODULE)
    info = site / "fake_studies-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-studies\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            f"""\
            [{catalog.ENTRY_POINT_GROUP}]
            heat = fake_studies.heat:heat
            cool = fake_studies.cool
            broken = fake_studies.missing:problem
            poisson_nodes = fake_studies.cool
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_shipped_studies_are_found():
    found = catalog.studies()
    assert set(SHIPPED) <= set(found)
    for name in SHIPPED:
        assert found[name].origin == "shipped"
        assert Path(found[name].path).samefile(ROOT / "problems" / f"{name}.py")
    assert catalog.DEFAULT_PROBLEM in SHIPPED


def test_entry_points_register_studies(fake_dist, capsys):
    found = catalog.studies()
    assert found["heat"].origin == "entry point (fake-studies)"
    assert found["cool"].path == str(fake_dist / "site" / "fake_studies" / "cool.py")
    assert found["broken"].path is None
    # a shipped study keeps its name against an entry point of the same name
    assert found["poisson_nodes"].origin == "shipped"

    assert main(["list"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()}
    assert "Heat: a third-party study found through an entry point." in lines["heat"]
    assert "[entry point (fake-studies)]" in lines["heat"]
    assert "Cool: a whole module registered as a study." in lines["cool"]
    assert "(module not found)" in lines["broken"]
    assert set(SHIPPED) <= set(lines)

    mod, path = catalog.load_module("heat")
    assert mod.problem.__name__ == "heat" and mod.DEFAULTS["steps"] == 2
    assert path.endswith("heat.py")
    mod, _ = catalog.load_module("cool")
    assert mod.__name__ == "fake_studies.cool" and callable(mod.problem)
    with pytest.raises(catalog.CLIError, match="entry point broken = 'fake_studies.missing:"):
        catalog.load_module("broken")


def test_environment_folders_come_first(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "poisson_nodes.py").write_text('"""My own poisson_nodes."""\n')
    (mine / "extra.py").write_text('"""Extra."""\n')
    monkeypatch.setenv("RBFOPT_PROBLEMS", str(mine))
    found = catalog.studies()
    assert found["poisson_nodes"].origin == "$RBFOPT_PROBLEMS"
    assert found["extra"].path == str(mine / "extra.py")
    assert catalog.problem_dirs()[0] == str(mine)


def test_local_problems_folder_comes_last(tmp_path, monkeypatch):
    (tmp_path / "problems").mkdir()
    (tmp_path / "problems" / "local_study.py").write_text('"""Local."""\n')
    (tmp_path / "problems" / "shape_parameter.py").write_text('"""Shadowed."""\n')
    monkeypatch.chdir(tmp_path)
    found = catalog.studies()
    assert found["local_study"].origin == "./problems"
    assert found["shape_parameter"].origin == "shipped"


def test_unknown_problem_lists_every_source(fake_dist):
    with pytest.raises(catalog.CLIError, match="unknown problem 'nope'") as err:
        catalog.load_module("nope")
    for name in [*SHIPPED, "heat", "cool"]:
        assert name in str(err.value)


def test_default_out_is_a_user_folder():
    out = catalog.default_out("poisson_nodes")
    assert out == os.path.join("runs", "poisson_nodes")
    assert Path(out).parts[0] != "results"


def test_run_without_out_writes_under_runs(fake_dist):
    """An entry-point study run without --out lands in ./runs/<name>/; nothing goes
    into a results/ folder."""
    assert main(["run", "heat", "-q"]) == 0
    summary = json.loads((fake_dist / "runs" / "heat" / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["options"]["n"] == 12
    assert not (fake_dist / "results").exists()


# ------------------------------------------------------------------------ the wheel
def _build_wheel(dest: Path) -> Path:
    """``pip wheel`` of a copy of the source (the build writes build/ and *.egg-info
    next to the sources; the checkout stays clean)."""
    src = dest / "src"
    src.mkdir()
    for f in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / f, src / f)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for d in ("rbfopt", "problems"):
        shutil.copytree(ROOT / d, src / d, ignore=ignore)
    cmd = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(dest)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        if "No matching distribution found for setuptools" in proc.stderr:
            pytest.skip("no package index to fetch the build backend from")
        raise AssertionError(proc.stderr[-3000:])
    (wheel,) = dest.glob("rbfopt_fd-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


def test_wheel_ships_the_studies(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for study in SHIPPED:
        assert f"rbfopt_problems/{study}.py" in names
    assert "rbfopt_problems/__init__.py" in names
    assert "rbfopt/app/catalog.py" in names
    # every package of the source tree is in the wheel
    for init in ROOT.joinpath("rbfopt").rglob("__init__.py"):
        assert init.relative_to(ROOT).as_posix() in names
    assert not [n for n in names if n.startswith(("tests/", "results/", "problems/"))]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "rbfopt = rbfopt.app.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_installed_wheel_lists_and_runs_from_any_folder(wheel, tmp_path):
    """The wheel installed (not editable) into a fresh venv: ``rbfopt list`` and
    ``rbfopt run`` from an empty folder. Dependencies come from this environment
    (a .pth line: its packages, not its editable rbfopt finder)."""
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    py = env / "bin" / "python"
    purelib = subprocess.check_output(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip()
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(purelib, "zz_deps.pth").write_text("\n".join(deps) + "\n")
    subprocess.run(
        [py, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True, timeout=600
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in ("RBFOPT_PROBLEMS", "PYTHONPATH")}
    rbfopt = str(env / "bin" / "rbfopt")
    out = subprocess.run(
        [rbfopt, "list"], cwd=work, env=clean, capture_output=True, text=True, check=True
    ).stdout
    for study in SHIPPED:
        assert any(ln.startswith(study) for ln in out.splitlines()), out
    where = subprocess.run(
        [
            py,
            "-c",
            "import rbfopt, rbfopt_problems; print(rbfopt.__file__, rbfopt_problems.__file__)",
        ],
        cwd=work,
        env=clean,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(ROOT) not in where and purelib in where
    proc = subprocess.run(
        [rbfopt, "run", "shape_parameter", "--steps", "2", "-q", "-O", "n=30"],
        cwd=work,
        env=clean,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((work / "runs" / "shape_parameter" / "summary.json").read_text())
    assert summary["steps"] == 2
    assert sorted(os.listdir(work)) == ["runs"]
