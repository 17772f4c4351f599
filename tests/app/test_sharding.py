"""The driver's step with node arrays split over devices (``run(..., devices=)``).

Each comparison runs in a fresh interpreter started with forced host devices
(``--xla_force_host_platform_device_count``: JAX reads it once, at start) and
compares the parameters of a sharded run with those of a one-device run of the same
process. The two fast processes run side by side (compiling dominates them). Four or
eight devices, never two: batched host solves have hung with two forced host devices
in JAX 0.10.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt  # noqa: F401  (float64)
from rbfopt import optimize
from rbfopt.app import Problem, sharding

TOY = str(Path(__file__).parent / "_toy_problem.py")
TIMEOUT = 600

PRELUDE = textwrap.dedent(
    """
    import json, sys, tempfile
    import numpy as np
    import rbfopt as ro
    from rbfopt.app.cli import load_module

    toy = load_module(sys.argv[1])[0]
    out = {}

    def run(prob, steps, devices, **kw):
        # restencil every step, as the studies do
        kw = {"lr": 0.01, "restencil_every": 1, "progress": False, **kw}
        return ro.optimize.run(prob, "adam", steps, devices=devices, **kw)

    def diff(a, b):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, (a.shape, b.shape)
        return float(np.abs(a - b).max() / np.abs(b).max())
    """
)

# 8 devices: toy nodes (21 moving of 25) split 8 ways, so padded; its checkpoint
# resumed on 4 devices (padded too) ends where the one-device run does
UNEVEN = PRELUDE + textwrap.dedent(
    """
    import jax
    assert jax.device_count() == 8
    one = run(toy.problem(n=25), 4, None)
    d = tempfile.mkdtemp()
    eight = run(toy.problem(n=25), 2, 8, out_dir=d, checkpoint_every=2)
    out["eight_history"] = diff([h["loss"] for h in eight.history],
                                [h["loss"] for h in one.history[:3]])
    out["meta_devices"] = ro.optimize.load_checkpoint(d).meta["devices"]
    resumed = run(toy.problem(n=25), 4, 4, out_dir=d, resume=True)
    out["shape"] = list(resumed.params["x"].shape)
    out["resumed"] = diff(resumed.params["x"], one.params["x"])
    out["resumed_mu"] = diff(resumed.state.opt_state[0].mu["x"], one.state.opt_state[0].mu["x"])
    print(json.dumps(out))
    """
)

# 4 devices: 32 moving of 36 nodes, split evenly; the node arrays of the state are
# split along the node axis, scalars replicated
EVEN = PRELUDE + textwrap.dedent(
    """
    import jax
    assert jax.device_count() == 4
    one = run(toy.problem(n=36), 4, None)
    four = run(toy.problem(n=36), 4, 4)
    out["four"] = diff(four.params["x"], one.params["x"])
    out["spec"] = list(four.state.params["x"].sharding.spec)
    out["aux_spec"] = list(four.state.aux.sharding.spec)
    out["scalar_spec"] = list(four.state.value.sharding.spec)
    print(json.dumps(out))
    """
)

# node_layout: the default sparse solve (SuperLU in a pure_callback) on split nodes
LAYOUT = PRELUDE + textwrap.dedent(
    """
    import jax, jax.numpy as jnp
    assert jax.device_count() == 4
    sq = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]])
    u = lambda x: jnp.sin(x[0]) * jnp.exp(x[1])

    def study():
        return ro.studies.node_layout(
            sq, source=lambda x: 0.0, bcs={"outer": ro.studies.Dirichlet(u)}, n=200,
            objective="exact", exact=u)

    one = run(study(), 2, None, lr=0.02, restencil_every=1)
    four = run(study(), 2, 4, lr=0.02, restencil_every=1)
    out["layout"] = diff(four.params["points"], one.params["points"])
    out["n"] = int(one.params["points"].shape[0])
    print(json.dumps(out))
    """
)


def _start(script: str, n_devices: int) -> subprocess.Popen:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n_devices}")
    return subprocess.Popen(
        [sys.executable, "-c", script, TOY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _result(proc: subprocess.Popen) -> dict:
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        pytest.fail(f"timed out after {TIMEOUT} s:\n{stderr[-3000:]}")
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fast_runs():
    procs = {"uneven": _start(UNEVEN, 8), "even": _start(EVEN, 4)}
    return {name: _result(p) for name, p in procs.items()}


def test_uneven_node_count_is_padded_and_matches_one_device(fast_runs):
    r = fast_runs["uneven"]
    assert r["shape"] == [21, 2]  # the padding never reaches the result
    assert r["eight_history"] < 1e-12 and r["resumed"] < 1e-12


def test_checkpoint_of_a_sharded_run_resumes_on_other_devices(fast_runs):
    r = fast_runs["uneven"]
    assert r["meta_devices"] == 8
    assert r["resumed"] < 1e-12 and r["resumed_mu"] < 1e-10


def test_even_split_matches_one_device(fast_runs):
    r = fast_runs["even"]
    assert r["four"] < 1e-12
    assert r["spec"] == r["aux_spec"] == ["nodes"]
    assert r["scalar_spec"] == []


@pytest.mark.slow
def test_node_layout_study_sharded_matches_one_device():
    # about 70 s: each of the study's jitted functions compiles in ~15 s on 2 cores.
    # (tests/app/test_sharded_study.py runs a direct solve of 1600 rows on 8 devices,
    # where pure_callback used to deadlock.)
    r = _result(_start(LAYOUT, 4))
    assert r["n"] > 150
    assert r["layout"] < 1e-10


def quad() -> Problem:
    return Problem("quad", lambda: jnp.zeros(3), lambda x: jnp.sum((x - 1.0) ** 2))


@pytest.mark.parametrize("bad", [0, -2, 2.0, True, "4"])
def test_bad_devices_are_refused(bad):
    with pytest.raises(ValueError, match=r"devices: the device count \(or None, or a 1-D jax"):
        optimize.run(quad(), "sgd", 1, devices=bad, progress=False)


def test_more_devices_than_jax_has():
    n = jax.device_count() + 1
    with pytest.raises(ValueError, match=f"devices: asked for {n} devices.*--devices"):
        sharding.device_mesh(n)


def test_mesh_argument():
    from jax.sharding import Mesh

    devs = np.asarray(jax.devices()[:1])
    assert sharding.device_mesh(Mesh(devs, ("nodes",))) is None  # one device
    with pytest.raises(ValueError, match="devices: expected a 1-D mesh"):
        sharding.device_mesh(Mesh(devs.reshape(1, 1), ("a", "b")))
    assert sharding.device_mesh(None) is None and sharding.device_mesh(1) is None


def test_one_device_mesh_runs_unchanged():
    res = optimize.run(quad(), "sgd", 2, lr=0.25, devices=1, progress=False)
    np.testing.assert_allclose(res.params, [0.75, 0.75, 0.75])


def test_cli_devices_refused(tmp_path, capsys):
    from rbfopt.app.cli import main

    out = str(tmp_path / "run")
    assert main(["run", TOY, "--steps", "1", "--out", out, "-q", "--devices", "0"]) == 2
    assert "--devices: expected an integer >= 1, got 0" in capsys.readouterr().err
    # JAX runs already (one device here): the count cannot change any more
    n = jax.device_count() + 1
    assert main(["run", TOY, "--steps", "1", "--out", out, "-q", "--devices", str(n)]) == 2
    assert f"devices: asked for {n} devices" in capsys.readouterr().err
