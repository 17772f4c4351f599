"""Building weights on several CPU devices (ro.set_host_device_count)."""

import os
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import pytest

import rbfopt as ro

SCRIPT = textwrap.dedent(
    """
    import rbfopt as ro
    ro.set_host_device_count(2)
    import jax, jax.numpy as jnp, numpy as np
    from rbfopt.fd import _backend, weights as W

    assert jax.local_device_count() == 2
    x = jnp.asarray(np.random.default_rng(3).random((600, 2)))
    adjl = jnp.asarray(ro.find_neighbors(np.asarray(x), 12))
    basis, op = ro.PHS(3, poly_deg=2), ro.Laplacian()

    def loss(p):
        return jnp.sum(W._build(op, p, p, adjl, basis, 16, "implicit")[0] ** 2)

    # per-stencil shape parameters: their cotangents stay split, the nodes' are summed
    eps = jnp.asarray(np.random.default_rng(4).uniform(2.0, 4.0, 600))

    def loss_eps(p, e):
        w = W._build(ro.Partial(1, 0), p, p, adjl, ro.IMQ(e, poly_deg=1), 16, "implicit")[0]
        return jnp.sum(w ** 2)

    def run():
        w = W._build(op, x, x, adjl, basis, 16, "implicit")[0]
        ge = jax.jit(jax.grad(loss_eps, argnums=(0, 1)))(x, eps)
        return [np.asarray(a) for a in (w, jax.jit(jax.grad(loss))(x), *ge)]

    two = run()                         # split over the two devices
    _backend.shard_devices = lambda: None  # one device, same process
    W._build = W._jit_build(W._build.__wrapped__)
    one = run()
    for a2, a1, tol in zip(two, one, (1e-12, 1e-10, 1e-10, 1e-10)):
        assert np.abs(a2 - a1).max() <= tol * np.abs(a1).max(), np.abs(a2 - a1).max()
    print("OK")
    """
)


def test_sharded_build_matches_one_device():
    # A fresh interpreter: the device count is fixed when JAX starts.
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("OK")


def test_set_host_device_count_bad_n():
    with pytest.raises(ValueError, match=r"n: number of host devices must be an integer >= 1"):
        ro.set_host_device_count(0)


def test_set_host_device_count_after_start_raises_and_leaves_env():
    jnp.zeros(1).block_until_ready()  # JAX is running with one CPU device here
    before = os.environ.get("XLA_FLAGS")
    with pytest.raises(RuntimeError, match="already initialized"):
        ro.set_host_device_count(3)
    assert os.environ.get("XLA_FLAGS") == before
