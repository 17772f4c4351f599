"""``rbfopt run`` keeps compiled programs in a user cache folder (on by default, off
with RBFOPT_COMPILATION_CACHE=0 or --no-compile-cache), and a run that loads them
gives the same history as the run that compiled them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from rbfopt.app.records import read_history_csv

STUDY = textwrap.dedent(
    """
    import jax.numpy as jnp
    import rbfopt as ro

    DEFAULTS = {"steps": 3, "optimizer": "adam", "lr": 0.1}

    def problem():
        return ro.Problem("quad", lambda: jnp.zeros(3),
                          lambda x: jnp.sum(jnp.sin(x - 1.0) ** 2))
    """
)


def run(tmp_path, out: str, *flags: str, env: dict | None = None) -> None:
    study = tmp_path / "quad.py"
    study.write_text(STUDY)
    environ = {k: v for k, v in os.environ.items() if k != "RBFOPT_COMPILATION_CACHE"}
    environ.update(XDG_CACHE_HOME=str(tmp_path / "cache"), **(env or {}))
    argv = [sys.executable, "-m", "rbfopt", "run", str(study), "--out", out, "-q", *flags]
    subprocess.run(argv, env=environ, check=True, capture_output=True, cwd=tmp_path)


def test_cache_on_by_default_and_results_unchanged(tmp_path):
    folder = tmp_path / "cache" / "rbfopt" / "jax"
    run(tmp_path, "a")
    stored = os.listdir(folder)
    assert stored  # the programs of the first run
    run(tmp_path, "b")  # loads them
    first = read_history_csv(str(tmp_path / "a" / "history.csv"))
    second = read_history_csv(str(tmp_path / "b" / "history.csv"))
    assert [h["loss"] for h in first] == [h["loss"] for h in second]


def test_cache_opt_out(tmp_path):
    run(tmp_path, "a", env={"RBFOPT_COMPILATION_CACHE": "0"})
    run(tmp_path, "b", "--no-compile-cache")
    assert not (tmp_path / "cache" / "rbfopt").exists()
    assert (tmp_path / "b" / "summary.json").is_file()
