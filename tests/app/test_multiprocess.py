"""One study as two processes (JAX's multi-controller runtime) against one process.

Two processes run on this machine, each with four forced host devices (never two:
batched host solves have hung with two forced host devices in JAX 0.10). Each runs
``rbfopt run --coordinator localhost:PORT --num-processes 2 --process-id I`` (the
CLI joins the run through :func:`rbfopt.app.distributed.initialize`) for two steps,
then resumes that checkpoint with ``ro.optimize.run`` on an explicit mesh over
:func:`jax.devices` to step four. 36 nodes: the 32 moving ones split evenly over
the 8 devices, the 36 stencil rows are padded to 40; stencils are recomputed every
step from the gathered nodes. The one-process reference runs in this process, on
one device, meanwhile. The children have a timeout, so a hang fails instead of
blocking.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import rbfopt as ro
from rbfopt.app.cli import load_module, main
from rbfopt.app.distributed import initialize
from rbfopt.app.records import read_history_csv

TOY = str(Path(__file__).parent / "_toy_problem.py")
TIMEOUT = 300
FIRST, STEPS = 2, 4  # the CLI's steps, then the resumed run's

# argv = TOY, port, process id, out folder
CHILD = textwrap.dedent(
    f"""
    import json, sys
    from rbfopt.app.cli import load_module, main
    toy_path, port, pid, out = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    rc = main(["run", toy_path, "-O", "n=36", "--steps", "{FIRST}", "--restencil-every", "1",
               "--checkpoint-every", "{FIRST}", "--out", out, "-q",
               "--coordinator", f"localhost:{{port}}", "--num-processes", "2",
               "--process-id", pid])
    assert rc == 0, rc
    import jax, numpy as np
    from jax.sharding import Mesh
    import rbfopt as ro
    from rbfopt.app import sharding

    # the CLI's outputs as process 0 left them (the resumed run rewrites the checkpoint)
    facts = {{"devices": jax.device_count(), "local": jax.local_device_count(),
              "cli_meta": ro.optimize.load_checkpoint(out).meta}}
    refused = []
    for devices in (1, jax.local_device_count()):  # process 0's devices only
        try:
            sharding.device_mesh(devices)
        except ValueError as e:
            refused.append(str(e))
    whole = []
    toy = load_module(toy_path)[0]
    res = ro.optimize.run(
        toy.problem(n=36), "adam", {STEPS}, lr=0.01, restencil_every=1, progress=False,
        devices=Mesh(np.asarray(jax.devices()), ("nodes",)), out_dir=out, resume=True,
        callback=lambda st, row: whole.append(
            [st.params["x"].is_fully_addressable, list(st.params["x"].shape)]))
    facts.update(
        refused=refused, whole=whole,
        x=np.asarray(res.params["x"]).tolist(),
        last=np.asarray(res.last_params["x"]).tolist(),
        mu=np.asarray(res.state.opt_state[0].mu["x"]).tolist(),
        history=[h["loss"] for h in res.history],
        meta=ro.optimize.load_checkpoint(out).meta,
    )
    print(json.dumps(facts))
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _start(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    return subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _finish(procs: list[subprocess.Popen]) -> list[str]:
    outs = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            stdout, stderr = p.communicate()
            pytest.fail(f"timed out after {TIMEOUT} s:\n{stderr[-3000:]}")
        assert p.returncode == 0, stderr[-3000:]
        outs.append(stdout)
    return outs


def _diff(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max() / np.abs(b).max())


def _reference(n: int, steps: int):
    toy = load_module(TOY)[0]
    return ro.optimize.run(
        toy.problem(n=n), "adam", steps, lr=0.01, restencil_every=1, progress=False
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("run"))
    port = str(_free_port())
    procs = [_start(["-c", CHILD, TOY, port, str(i), out]) for i in (0, 1)]
    ref = _reference(36, STEPS)  # while the children compile
    stdout = _finish(procs)
    return {
        "ref": ref,
        "out": out,
        "stdout": stdout,
        "facts": [json.loads(o.strip().splitlines()[-1]) for o in stdout],
    }


def _losses(history):
    return [h["loss"] for h in history]


def test_cli_two_processes_match_one(runs):
    ref, out = runs["ref"], runs["out"]
    hist = read_history_csv(os.path.join(out, "history.csv"))  # the CLI's, by process 0
    assert _diff(_losses(hist), _losses(ref.history[: FIRST + 1])) < 1e-12
    summary = json.loads(Path(out, "summary.json").read_text())
    assert summary["driver"]["devices"] == 8 and summary["driver"]["processes"] == 2
    for f in runs["facts"]:
        assert f["cli_meta"]["devices"] == 8 and f["cli_meta"]["processes"] == 2


def test_cli_only_process_zero_reports(runs):
    first, second = runs["stdout"]
    assert f"{FIRST} steps" in first and "outputs in" in first
    assert "outputs in" not in second


def test_api_resumes_two_processes_and_matches_one(runs):
    ref = runs["ref"]
    ck = ro.optimize.load_checkpoint(runs["out"])
    assert ck.step == STEPS
    assert _diff(ck.arrays[".params['x']"], ref.last_params["x"]) < 1e-12
    assert _diff(ck.arrays[".best_params['x']"], ref.params["x"]) < 1e-12
    assert _diff(_losses(ck.history), _losses(ref.history)) < 1e-12
    for f in runs["facts"]:  # both processes hold the whole result
        assert (f["devices"], f["local"]) == (8, 4)
        assert _diff(f["x"], ref.params["x"]) < 1e-12  # the best
        assert _diff(f["last"], ref.last_params["x"]) < 1e-12
        assert _diff(f["mu"], ref.state.opt_state[0].mu["x"]) < 1e-10
        assert _diff(f["history"], _losses(ref.history)) < 1e-12
        assert f["meta"]["devices"] == 8 and f["meta"]["processes"] == 2
        # the callback's state is gathered: whole, unpadded, in every process
        assert f["whole"] == [[True, [32, 2]]] * (STEPS - FIRST)
    assert runs["facts"][0]["x"] == runs["facts"][1]["x"]  # the same gathered values


def test_mesh_must_hold_every_process(runs):
    for f in runs["facts"]:
        assert len(f["refused"]) == 2
        assert all("needs devices of every process" in e for e in f["refused"])


# --------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    "args, message",
    [
        (("localhost", 2, 0), "coordinator_address: expected 'HOST:PORT'"),
        ((":80", 2, 0), "coordinator_address: expected 'HOST:PORT'"),
        (("localhost:http", 2, 0), "coordinator_address: port must be in 1..65535"),
        (("localhost:70000", 2, 0), "coordinator_address: port must be in"),
        (("localhost:1234", 0, 0), "num_processes: expected an integer >= 1"),
        (("localhost:1234", 2.0, 0), "num_processes: expected an integer"),
        (("localhost:1234", 2, -1), r"process_id: expected an integer in 0\.\.1, got -1"),
        (("localhost:1234", 2, True), "process_id: expected an integer"),
        (("localhost:1234", 2, 0, 0), "local_device_count: expected an integer >= 1"),
    ],
)
def test_initialize_refuses_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        initialize(*args)


def test_initialize_after_jax_started():
    jax.devices()  # JAX runs in this process
    with pytest.raises(RuntimeError, match="JAX has started already"):
        initialize("localhost:1234", 2, 0)
    assert not jax.distributed.is_initialized()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--coordinator", "h:1"], "go together; missing --num-processes, --process-id"),
        (["--num-processes", "2", "--process-id", "0"], "missing --coordinator"),
        (["--coordinator", "h", "--num-processes", "2", "--process-id", "0"],
         "--coordinator: expected 'HOST:PORT'"),
        (["--coordinator", "h:1", "--num-processes", "0", "--process-id", "0"],
         "--num-processes: expected an integer >= 1, got 0"),
        (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"],
         r"--process-id: expected an integer in 0\.\.1, got 2"),
        (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "0", "--devices", "3"],
         "--devices 3 does not split over 2 processes"),
        (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "0"],
         "cannot join the run of 2 processes: initialize: JAX has started already"),
    ],
)  # fmt: skip
def test_cli_refuses_bad_process_flags(tmp_path, capsys, flags, message):
    jax.devices()  # started: the last case fails before any runtime starts
    out = tmp_path / "run"
    assert main(["run", TOY, "--steps", "1", "--out", str(out), "-q", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rbfopt: error: ")
    assert re.search(message, err), err
    assert not out.exists()  # refused before anything is written
