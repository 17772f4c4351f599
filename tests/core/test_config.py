"""Process-wide settings (rbfopt._config): float64, XLA flags, the compilation cache.

The XLA:CPU options of the weight build reach every compilation: importing rbfopt puts
them in XLA_FLAGS before JAX starts, so a build inside the user's own jax.jit (or
jax.grad, or the driver's step) is compiled with them too. Checked functionally, in
fresh interpreters: the flags are in XLA_FLAGS, and the compiled HLO of a user-jitted
build has no YNNPACK fusion (which XLA:CPU forms by default for the build's reductions,
as the control without the flags shows). The compilation cache: a second process
compiling the same function finds it in the cache folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from rbfopt import _config

needs_flags = pytest.mark.skipif(
    _config.jaxlib_version() < _config.MIN_JAXLIB, reason="jaxlib without the XLA:CPU flags"
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


def _run(code: str, xla_flags: str | None = None, args: tuple = (), **extra: str) -> str:
    """stdout of ``code`` in a fresh Python with none of rbfopt's settings in the
    environment but ``xla_flags`` and ``extra``; ``args`` are its ``sys.argv[1:]``."""
    skip = ("XLA_FLAGS", "RBFOPT_XLA_FLAGS", "RBFOPT_COMPILATION_CACHE", "XDG_CACHE_HOME")
    env = {k: v for k, v in os.environ.items() if k not in skip}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    env.update(extra)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@needs_flags
def test_user_jit_build_is_compiled_with_the_options():
    out = _run(
        textwrap.dedent(
            """
        import os
        import rbfopt as ro
        from rbfopt import _config
        flags = os.environ["XLA_FLAGS"].split()
        print("flags:", flags)
        assert "--xla_cpu_experimental_ynn_fusion_type=" in flags
        assert "--xla_cpu_prefer_vector_width=512" in flags
        assert _config.jit_options() == {}  # eager builds need no options of their own
        """
        )
        + USER_JIT_BUILD
    )
    assert "ynn fusions: 0" in out, out


@needs_flags
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
        from rbfopt import _config
        assert "ynn" not in os.environ.get("XLA_FLAGS", "")
        assert _config.jit_options() == _config.CPU_OPTIONS, _config.jit_options()
        """
        )
        + USER_JIT_BUILD
    )
    assert "ynn fusions: 0" not in out and "ynn fusions:" in out, out


@needs_flags
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


@needs_flags
def test_install_xla_flags(monkeypatch):
    # In-process, as if JAX had not started: appended once, never twice, a user's
    # own setting of a flag (any value) kept.
    monkeypatch.setattr(_config, "backends_started", lambda: False)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.delenv("RBFOPT_XLA_FLAGS", raising=False)
    assert _config.install_xla_flags()
    first = os.environ["XLA_FLAGS"]
    assert first.split() == [
        "--xla_cpu_experimental_ynn_fusion_type=",
        "--xla_cpu_prefer_vector_width=512",
    ]
    assert not _config.install_xla_flags()
    assert os.environ["XLA_FLAGS"] == first
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=default")
    assert _config.install_xla_flags()
    assert os.environ["XLA_FLAGS"].split() == [
        "--xla_cpu_experimental_ynn_fusion_type=default",
        "--xla_cpu_prefer_vector_width=512",
    ]
    # once JAX has started, XLA_FLAGS are left alone
    monkeypatch.setattr(_config, "backends_started", lambda: True)
    monkeypatch.setenv("XLA_FLAGS", "")
    assert not _config.install_xla_flags()
    assert os.environ["XLA_FLAGS"] == ""


@needs_flags
def test_xla_flags_opt_out(monkeypatch):
    monkeypatch.setattr(_config, "backends_started", lambda: False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/nonexistent/never")
    monkeypatch.setenv("RBFOPT_XLA_FLAGS", "0")
    assert not _config.install_xla_flags()
    assert os.environ["XLA_FLAGS"] == "--xla_dump_to=/nonexistent/never"
    assert _config.jit_options() == {}


def test_float64_on_import():
    out = _run(
        """
        import jax, jax.numpy as jnp
        import rbfopt
        print(jax.config.jax_enable_x64, jnp.ones(1).dtype)
        """
    )
    assert out.split() == ["True", "float64"], out


COMPILE_TWICE = """
import os, sys
import jax, jax.numpy as jnp
from rbfopt._config import enable_compilation_cache
hits = []
jax.monitoring.register_event_listener(
    lambda event, **kw: hits.append(event) if event.endswith("/cache_hits") else None
)
where = enable_compilation_cache(*sys.argv[1:])
print("cache:", where)
f = jax.jit(lambda x: jnp.sin(x) * jnp.cos(2.0 * x) + x ** 3)
f(jnp.linspace(0.0, 1.0, 7)).block_until_ready()
if where is not None:
    print("entries:", len(os.listdir(where)))
print("hits:", len(hits))
"""


def _compile(args: list[str], **env: str) -> str:
    return _run(COMPILE_TWICE, args=tuple(args), **env)


def test_compilation_cache_stores_and_reuses(tmp_path):
    folder = tmp_path / "nested" / "cache"
    first = _compile([str(folder)])
    assert f"cache: {folder}" in first
    files = sorted(p.name for p in folder.iterdir())
    assert any(name.startswith("jit__lambda") for name in files), files
    assert "hits: 0" in first
    # A second process compiles the same program: it is loaded, no new entry.
    second = _compile([str(folder)])
    assert "hits: 0" not in second and "hits:" in second, second
    assert sorted(p.name for p in folder.iterdir()) == files, second


def test_compilation_cache_default_folder_and_opt_out(tmp_path):
    out = _compile([], XDG_CACHE_HOME=str(tmp_path))
    assert f"cache: {tmp_path / 'rbfopt' / 'jax'}" in out
    assert any((tmp_path / "rbfopt" / "jax").iterdir())
    off = tmp_path / "off"
    out = _compile([str(off)], RBFOPT_COMPILATION_CACHE="0")
    assert "cache: None" in out and "hits: 0" in out
    assert not off.exists()


def test_compilation_cache_uncreatable_folder_warns(tmp_path, monkeypatch):
    monkeypatch.delenv("RBFOPT_COMPILATION_CACHE")  # the suite's own opt-out (conftest)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.warns(UserWarning, match="compilation cache off"):
        assert _config.enable_compilation_cache(str(blocker / "cache")) is None
