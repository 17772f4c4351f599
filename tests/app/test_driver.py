"""The optax driver: convergence, projection, rejected steps, restencil without
recompiling, the loss forms (scalar or (value, metrics), separate metrics, key),
the step callback, and bit-for-bit resume (in-process and after SIGKILL).

The SIGKILL test kills the CLI from a ``run(callback=...)`` hook installed by the
test-only launcher ``_kill_at.py``: production code reads no test hooks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt  # noqa: F401  (float64)
from rbfopt import optimize
from rbfopt.problem import Problem

TOY = str(Path(__file__).parent / "_toy_problem.py")
KILL_AT = str(Path(__file__).parent / "_kill_at.py")
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
    # 6 restencils and both kinds of step (with and without one), yet the loss was
    # traced once: the first value, every candidate's and the fused step's share one
    # jitted evaluation (adam's update never calls the loss)
    assert len(traces) == 1


def test_resume_rejects_other_problem(toy, tmp_path):
    optimize.run(quadratic(), "adam", 3, out_dir=str(tmp_path), progress=False)
    with pytest.raises(ValueError, match="checkpoint of problem 'quad'"):
        optimize.run(toy.problem(), "adam", 5, out_dir=str(tmp_path), resume=True, progress=False)


def test_sigkill_then_resume_matches_uninterrupted(toy, tmp_path):
    """A CLI run SIGKILLed after step 13 (from a callback) resumes from its step-10
    checkpoint and ends with exactly the loop state of an uninterrupted run."""
    out = tmp_path / "run"
    args = ["run", TOY, "--steps", "20", "--out", str(out), "--checkpoint-every", "5", "-q"]
    # a shared persistent compilation cache lets the resumed process skip compiling
    # (the same executables, so bit-for-bit comparison is unaffected)
    env = dict(
        os.environ,
        JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax-cache"),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    )
    cmd = [sys.executable, KILL_AT, "13", *args]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert optimize.load_checkpoint(str(out)).step == 10
    assert not (out / "summary.json").exists()
    assert not [f for f in os.listdir(out) if f.startswith(".tmp")]  # atomic writes
    cmd = [sys.executable, "-m", "rbfopt", *args, "--resume"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    resumed = optimize.load_checkpoint(str(out))
    assert resumed.step == 20
    full = optimize.run(toy.problem(), "adam", 20, lr=0.01, restencil_every=3, progress=False)
    flat = jax.tree_util.tree_flatten_with_path(full.state)[0]
    assert len(flat) == len(resumed.arrays)
    for path, leaf in flat:  # every array of the loop state, bit for bit
        np.testing.assert_array_equal(resumed.arrays[jax.tree_util.keystr(path)], leaf)
    assert _no_times(resumed.history) == _no_times(full.history)


def _no_times(history):
    return [{k: v for k, v in row.items() if k != "step_time"} for row in history]


# slow (~19 s): test_sigkill_then_resume_matches_uninterrupted resumes a killed run
@pytest.mark.slow
def test_in_process_resume_matches_uninterrupted(toy, tmp_path):
    kw = dict(lr=0.01, restencil_every=3, checkpoint_every=4, progress=False)
    full = optimize.run(toy.problem(), "adam", 10, **kw)
    optimize.run(toy.problem(), "adam", 6, out_dir=str(tmp_path), **kw)
    res = optimize.run(toy.problem(), "adam", 10, out_dir=str(tmp_path), resume=True, **kw)
    assert res.steps_done == 10
    for a, b in zip(jax.tree.leaves(res.state), jax.tree.leaves(full.state), strict=True):
        np.testing.assert_array_equal(a, b)
    assert _no_times(res.history) == _no_times(full.history)


def test_callback_sees_every_accepted_step():
    seen = []
    res = optimize.run(
        quadratic(), "sgd", 5, lr=0.1, progress=False, callback=lambda s, r: seen.append((s, r))
    )
    assert [int(s.step) for s, _ in seen] == [1, 2, 3, 4, 5]
    assert [r for _, r in seen] == res.history[1:]
    np.testing.assert_array_equal(seen[-1][0].params["x"], res.last_params["x"])


def test_loss_forms_agree():
    """Scalar loss + separate metrics (the old form), (value, metrics), and both merged:
    the same iterates and the same logged metrics."""

    def dist(p):
        return {"dist": jnp.linalg.norm(p["x"] - TARGET)}

    def loss(p):
        return jnp.sum((p["x"] - TARGET) ** 2)

    forms = [
        dict(loss=loss, metrics=dist),
        dict(loss=lambda p: (loss(p), dist(p))),
        dict(loss=lambda p: (loss(p), {}), metrics=dist),
    ]
    runs = [
        optimize.run(Problem("q", lambda: {"x": jnp.zeros(3)}, **f), "adam", 5, progress=False)
        for f in forms
    ]
    for r in runs[1:]:
        assert _no_times(r.history) == _no_times(runs[0].history)
    assert "dist" in runs[0].history[-1]
    bad = Problem("q", lambda: jnp.zeros(2), lambda x: (jnp.sum(x), {}, 1))
    with pytest.raises(TypeError, match=r"\(value, metrics\)"):
        optimize.run(bad, "adam", 1, progress=False)


def test_key_reaches_the_loss():
    """A loss with a ``key`` parameter gets a fresh key each step, from ``seed``."""

    def noisy(p, key):
        noise = jax.random.normal(key, (3,))
        return jnp.sum((p["x"] - TARGET) ** 2) + jnp.dot(noise, p["x"]), {"n0": noise[0]}

    prob = Problem("noisy", lambda: {"x": jnp.zeros(3)}, noisy)
    a, b, c = (optimize.run(prob, "sgd", 4, lr=0.1, seed=s, progress=False) for s in (0, 0, 1))
    n0 = [h["n0"] for h in a.history]
    assert len(set(n0)) == len(n0)  # a new key every step
    assert n0 == [h["n0"] for h in b.history]  # reproducible from the seed
    assert n0 != [h["n0"] for h in c.history]  # and depends on it
