"""The XLA:CPU options of the weight build reach every compilation (rbfopt.fd._backend).

Importing rbfopt puts them in XLA_FLAGS before JAX starts, so a build inside the user's
own jax.jit (or jax.grad, or the driver's step) is compiled with them too. Checked
functionally, in fresh interpreters: the flags are in XLA_FLAGS, and the compiled HLO of
a user-jitted build has no YNNPACK fusion (which XLA:CPU forms by default for the
build's reductions, as the control without the flags shows).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from rbfopt.fd import _backend

pytestmark = pytest.mark.skipif(
    _backend.jaxlib_version() < _backend.MIN_JAXLIB, reason="jaxlib without the XLA:CPU flags"
)

USER_JIT_BUILD = """
import jax, jax.numpy as jnp, numpy as np
x = np.random.default_rng(0).random((60, 2))
adjl = jnp.asarray(ro.find_neighbors(x, 12))

@jax.jit
def build(p):
    return ro.build_weights(ro.Laplacian(), p, None, adjl, ro.PHS(3, poly_deg=2))

hlo = build.lower(jnp.asarray(x)).compile().as_text()
print("ynn fusions:", hlo.count("__ynn_fusion"))
"""


def _run(code: str, xla_flags: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_user_jit_build_is_compiled_with_the_options():
    out = _run(
        textwrap.dedent(
            """
        import os
        import rbfopt as ro
        from rbfopt.fd import _backend
        flags = os.environ["XLA_FLAGS"].split()
        print("flags:", flags)
        assert "--xla_cpu_experimental_ynn_fusion_type=" in flags
        assert "--xla_cpu_prefer_vector_width=512" in flags
        assert _backend.jit_options() == {}  # eager builds need no options of their own
        """
        )
        + USER_JIT_BUILD
    )
    assert "ynn fusions: 0" in out, out


def test_without_the_flags_the_build_has_ynn_fusions():
    # The control: JAX started before rbfopt's import, so XLA_FLAGS were read without
    # the options; the user's jit then compiles the build with YNNPACK fusions, and
    # eager builds fall back to passing the options to their own jit.
    out = _run(
        textwrap.dedent(
            """
        import jax, jax.numpy as jnp
        jnp.zeros(1).block_until_ready()
        import os
        import rbfopt as ro
        from rbfopt.fd import _backend
        assert "ynn" not in os.environ.get("XLA_FLAGS", "")
        assert _backend.jit_options() == _backend.CPU_OPTIONS, _backend.jit_options()
        """
        )
        + USER_JIT_BUILD
    )
    assert "ynn fusions: 0" not in out and "ynn fusions:" in out, out


def test_a_users_own_flag_values_are_kept():
    out = _run(
        """
        import os
        import rbfopt as ro
        ro.set_host_device_count(2)
        print(os.environ["XLA_FLAGS"])
        """,
        xla_flags="--xla_cpu_prefer_vector_width=256 --xla_dump_to=/nonexistent/never",
    )
    flags = out.split()
    assert "--xla_cpu_prefer_vector_width=256" in flags
    assert "--xla_cpu_prefer_vector_width=512" not in flags
    assert "--xla_cpu_experimental_ynn_fusion_type=" in flags
    assert "--xla_dump_to=/nonexistent/never" in flags
    assert "--xla_force_host_platform_device_count=2" in flags


def test_install_xla_flags(monkeypatch):
    # In-process, as if JAX had not started: appended once, never twice, a user's
    # own setting of a flag (any value) kept.
    monkeypatch.setattr(_backend, "backends_started", lambda: False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert _backend.install_xla_flags()
    first = os.environ["XLA_FLAGS"]
    assert first.split() == [
        "--xla_cpu_experimental_ynn_fusion_type=",
        "--xla_cpu_prefer_vector_width=512",
    ]
    assert not _backend.install_xla_flags()
    assert os.environ["XLA_FLAGS"] == first
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=default")
    assert _backend.install_xla_flags()
    assert os.environ["XLA_FLAGS"].split() == [
        "--xla_cpu_experimental_ynn_fusion_type=default",
        "--xla_cpu_prefer_vector_width=512",
    ]
    # once JAX has started, XLA_FLAGS are left alone
    monkeypatch.setattr(_backend, "backends_started", lambda: True)
    monkeypatch.setenv("XLA_FLAGS", "")
    assert not _backend.install_xla_flags()
    assert os.environ["XLA_FLAGS"] == ""
