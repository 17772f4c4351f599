"""The optax driver: convergence, projection, rejected steps, restencil without
recompiling, checkpoints and bit-for-bit resume (in-process and after SIGKILL).

Test hooks of :func:`rbfopt.optimize.run`: ``RBFOPT_KILL_AT_STEP=k`` makes the run
SIGKILL itself when it reaches step k; ``RBFOPT_STEP_SLEEP=s`` sleeps s seconds per
step.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt  # noqa: F401  (float64)
from rbfopt import optimize
from rbfopt.app import Problem

TOY = str(Path(__file__).parent / "_toy_problem.py")
TARGET = np.array([1.0, -2.0, 0.5])


def quadratic(**kw) -> Problem:
    return Problem(
        name="quad",
        init=lambda: {"x": jnp.zeros(3)},
        loss=lambda p: jnp.sum((p["x"] - TARGET) ** 2),
        metrics=lambda p: {"dist": jnp.linalg.norm(p["x"] - TARGET)},
        **kw,
    )


@pytest.mark.parametrize(
    "name, lr, steps", [("adam", 0.1, 200), ("sgd", 0.2, 60), ("lbfgs", None, 10)]
)
def test_optimizers_reach_minimum(name, lr, steps):
    res = optimize.run(quadratic(), name, steps, lr=lr, progress=False)
    np.testing.assert_allclose(res.params["x"], TARGET, atol=1e-3)
    assert res.stopped is None and res.steps_done == steps
    h = res.history
    assert len(h) == steps + 1 and h[0]["step"] == 0
    assert {"loss", "grad_norm", "step_time", "dist"} <= set(h[-1])
    assert h[-1]["loss"] < 1e-6 * h[0]["loss"]


def test_schedule_and_project():
    # the box constraint x <= 0.7 binds for the first and third coordinates
    prob = quadratic(project=lambda p: {"x": jnp.minimum(p["x"], 0.7)})
    res = optimize.run(prob, "adam", 300, lr=0.1, schedule="cosine", progress=False)
    np.testing.assert_allclose(res.params["x"], [0.7, -2.0, 0.5], atol=1e-3)
    assert all(float(x) <= 0.7 for x in res.params["x"])


def test_nonfinite_steps_rejected_and_lr_reduced():
    # log barrier: NaN beyond x = 2, minimum of (x-3)^2 - log(2-x) at x ~ 1.38
    prob = Problem(
        name="barrier",
        init=lambda: jnp.asarray(0.0),
        loss=lambda x: (x - 3.0) ** 2 - jnp.log(2.0 - x),
    )
    res = optimize.run(prob, "sgd", 100, lr=0.8, progress=False)
    assert res.stopped is None
    assert all(np.isfinite(h["loss"]) for h in res.history)
    assert min(h["lr_scale"] for h in res.history) < 1.0  # some steps were rejected
    x_star = (5.0 - np.sqrt(1.0 + 2.0)) / 2.0  # root of 2(x-3) + 1/(2-x) = 0 below 2
    assert abs(float(res.params) - x_star) < 1e-4


def test_repeated_failures_stop_with_best_params():
    # every step away from the start is NaN: the run stops, keeping the start
    prob = Problem(
        name="cliff",
        init=lambda: jnp.asarray(1.0),
        loss=lambda x: jnp.where(x < 1.0, jnp.nan, 0.0) + (x - 0.0) ** 2,
    )
    res = optimize.run(prob, "sgd", 50, lr=0.1, max_failures=4, progress=False)
    assert res.stopped is not None and "non-finite" in res.stopped
    assert float(res.params) == 1.0 and res.steps_done == 0


def test_initial_nonfinite_is_an_error():
    prob = Problem(name="bad", init=lambda: jnp.asarray(-1.0), loss=jnp.log)
    with pytest.raises(ValueError, match="initial loss"):
        optimize.run(prob, "adam", 3, progress=False)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown optimizer"):
        optimize.make_optimizer("newton")
    with pytest.raises(ValueError, match="learning rate"):
        optimize.make_optimizer("adam", -1.0)
    with pytest.raises(ValueError, match="unknown schedule"):
        optimize.make_optimizer("adam", 0.1, "zigzag")
    with pytest.raises(ValueError, match="steps"):
        optimize.run(quadratic(), "adam", -1, progress=False)
    with pytest.raises(TypeError, match="callable"):
        Problem(name="x", init=1, loss=jnp.sum)


@pytest.fixture(scope="module")
def toy():
    from rbfopt.app.cli import load_module

    mod, _ = load_module(TOY)
    return mod


def test_restencil_does_not_recompile(toy):
    traces = []
    prob = toy.problem()
    inner = prob.loss

    def counted(p, aux):
        traces.append(1)  # runs only when JAX traces the loss
        return inner(p, aux)

    prob.loss = counted
    calls = []
    restencil = prob.restencil
    prob.restencil = lambda p: calls.append(1) or restencil(p)
    res = optimize.run(prob, "adam", 12, lr=0.01, restencil_every=2, progress=False)
    assert res.steps_done == 12 and len(calls) == 1 + 6
    # evaluate, fused step, propose (value_fn), check: each traced once
    # 6 restencils, yet the loss was traced once per jitted function and no more
    assert len(traces) <= 4


def test_resume_rejects_other_problem(toy, tmp_path):
    optimize.run(quadratic(), "adam", 3, out_dir=str(tmp_path), progress=False)
    with pytest.raises(ValueError, match="belongs to problem 'quad'"):
        optimize.run(toy.problem(), "adam", 5, out_dir=str(tmp_path), resume=True, progress=False)


def test_sigkill_then_resume_matches_uninterrupted(toy, tmp_path):
    """A CLI run SIGKILLed at step 13 resumes from its step-10 checkpoint and ends
    with exactly the parameters of an uninterrupted run."""
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "rbfopt",
        "run",
        TOY,
        "--steps",
        "20",
        "--out",
        str(out),
        "--checkpoint-every",
        "5",
        "-q",
    ]
    # a shared persistent compilation cache lets the resumed process skip compiling
    # (the same executables, so bit-for-bit comparison is unaffected)
    env = dict(
        os.environ,
        RBFOPT_KILL_AT_STEP="13",
        JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax-cache"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    )
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == -signal.SIGKILL, p.stderr
    with open(out / "checkpoint.pkl", "rb") as f:
        assert pickle.load(f)["step"] == 10
    assert not (out / "summary.json").exists()
    assert not [f for f in os.listdir(out) if f.startswith(".tmp")]  # atomic writes
    env.pop("RBFOPT_KILL_AT_STEP")
    p = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    resumed = optimize.load_checkpoint(str(out))
    assert resumed["step"] == 20
    prob = toy.problem()
    full = optimize.run(prob, "adam", 20, lr=0.01, restencil_every=3, progress=False)
    np.testing.assert_array_equal(
        resumed["state"]["params"]["x"], np.asarray(full.last_params["x"])
    )
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in full.history]
