"""A node-layout study whose loss builds weights and solves the global system directly,
run with node arrays split over 8 host devices (``run(..., devices=8)``).

Two limits of JAX 0.10.2 used to stop such a study (see :mod:`rbfopt.app.sharding`):
the weight build split its stencil chunks over a mesh of its own, which the driver's
mesh refused once the program held a host callback, and the SuperLU solve's callback
deadlocked against an all-reduce of the same program from about 1000 nodes. Here a
build of 1600 stencils in chunks of 64 (25 chunks: more than 2 per device) feeds
``linsolve``'s default (SuperLU) solve, and the parameters of the 8-device run must
equal those of the one-device run of the same process to round-off. Each limit made
this script fail: the mesh clash at once; with the build fixed, the callback's
deadlock (XLA aborts after 40 s) at 1600 nodes, not yet at 1024.

A fresh interpreter with forced host devices, as in ``tests/app/test_sharding.py``
(eight devices, never two).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

TIMEOUT = 600

SCRIPT = textwrap.dedent(
    """
    import json
    import jax, jax.numpy as jnp, numpy as np
    import rbfopt as ro
    from rbfopt.app import Problem

    assert jax.device_count() == 8
    g = 40  # 1600 nodes: a jittered grid of the unit square
    t = np.linspace(0.0, 1.0, g)
    X0 = np.stack(np.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    edge = np.any((X0 == 0.0) | (X0 == 1.0), axis=1)
    X0[~edge] += np.random.default_rng(0).uniform(-0.2, 0.2, (int((~edge).sum()), 2)) / g
    inner = np.flatnonzero(~edge)
    adjl = jnp.asarray(ro.find_neighbors(X0, 12))
    u = lambda X: jnp.sin(2 * X[:, 0]) * jnp.exp(X[:, 1])  # Laplacian: -3 u
    basis = ro.PHS(3, poly_deg=2)

    def loss(p):
        X = jnp.asarray(X0).at[inner].set(p["x"])
        w = ro.build_weights(ro.Laplacian(), X, None, adjl, basis, chunk_size=64)
        row = jnp.where(jnp.arange(12) == 0, 1.0, 0.0)  # Dirichlet rows: u itself
        w = jnp.where(jnp.asarray(edge)[:, None], row, w)
        b = jnp.where(jnp.asarray(edge), u(X), -3.0 * u(X))
        sol = ro.linsolve(ro.StencilMatrix(w, adjl), b)  # auto: SuperLU on the CPU
        return jnp.log(jnp.mean((sol - u(X)) ** 2))

    def problem():
        return Problem("grid", lambda: {"x": jnp.asarray(X0[inner])}, loss)

    def run(devices):
        res = ro.optimize.run(problem(), "adam", 2, lr=2e-4, progress=False, devices=devices)
        return np.asarray(res.state.params["x"]), [h["loss"] for h in res.history]

    x1, h1 = run(None)
    x8, h8 = run(8)
    # the mesh a build splits over: that of its sharded inputs, else one of its own
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from rbfopt.fd import _backend

    mesh = Mesh(np.asarray(jax.devices()), ("nodes",))
    axes = []
    probe = lambda a: axes.append(list(_backend.split_mesh(a, None)[1])) or a
    jax.jit(probe)(jax.device_put(jnp.zeros((16, 2)), NamedSharding(mesh, P("nodes"))))
    jax.jit(probe)(jnp.ones((16, 2)))
    out = {
        "axes": axes,
        "moved": float(np.abs(x1 - X0[inner]).max() * g),  # in spacings
        "params": float(np.abs(x8 - x1).max() / np.abs(x1).max()),
        "history": float(np.max(np.abs(np.subtract(h8, h1)))),
        "n_history": len(h1),
    }
    print(json.dumps(out))
    """
)


def test_study_with_build_and_direct_solve_on_8_devices_matches_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired as e:  # its stderr comes as bytes, text=True or not
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else e.stderr or ""
        pytest.fail(f"timed out after {TIMEOUT} s:\n{err[-3000:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["axes"] == [["nodes"], ["stencils"]]
    assert r["n_history"] >= 2
    assert r["moved"] > 1e-3  # the nodes did move (Adam: 2 steps of 2e-4 = 0.016 spacing)
    assert r["params"] < 1e-12
    assert r["history"] < 1e-10
