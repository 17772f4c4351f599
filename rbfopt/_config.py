"""Process-wide settings of rbfopt, in one place, and how to opt out of each.

Importing :mod:`rbfopt` applies the first two; the others run only when called.

* **float64** (``jax_enable_x64``): on at import. RBF-FD local systems are too
  ill-conditioned for float32, and derivative checks need it. Opt out after the
  import with ``jax.config.update("jax_enable_x64", False)``, at the price of
  inaccurate weights.
* **XLA:CPU options** (:data:`CPU_OPTIONS`): appended at import to ``XLA_FLAGS``, which
  XLA reads once when JAX's backend starts, so every compilation of the process gets
  them, inside a user's ``jit``/``grad`` too (a ``jit(..., compiler_options=)`` would
  reach only top-level builds, and JAX has no process-wide compiler-options setting).
  The batch-last local solves of the weight build run faster with XLA's own loops than
  with YNNPACK fusions, and with 512-bit vectors where the CPU has them. A flag already
  in ``XLA_FLAGS`` keeps the user's value (e.g. ``--xla_cpu_prefer_vector_width=256``);
  ``RBFOPT_XLA_FLAGS=0`` in the environment leaves ``XLA_FLAGS`` untouched. When JAX
  had started before the import, eager builds pass the options to their own ``jit``
  (:func:`jit_options`) and builds inside a caller's ``jit`` run without them.
* **Host device count** (:func:`set_host_device_count`, also ``ro.set_host_device_count``):
  only when called; one CPU device is the default.
* **Persistent compilation cache** (:func:`enable_compilation_cache`): only when
  called; the command line (``rbfopt run``) calls it, so a second run of a study
  loads its compiled programs instead of compiling them again. The folder is
  ``$XDG_CACHE_HOME/rbfopt/jax`` (else ``~/.cache/rbfopt/jax``); opt out with
  ``RBFOPT_COMPILATION_CACHE=0``; delete the folder to clear it.

Measurements behind these choices: ``docs/performance.md``.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import jax

from ._compat import backends_started, jaxlib_version
from ._util import check_int

__all__ = [
    "CPU_OPTIONS",
    "MIN_JAXLIB",
    "default_cache_dir",
    "enable_compilation_cache",
    "install_xla_flags",
    "jit_options",
    "set_host_device_count",
]

#: The XLA:CPU options of the weight build (XLA DebugOptions, also valid ``XLA_FLAGS``).
CPU_OPTIONS: dict[str, Any] = {
    "xla_cpu_experimental_ynn_fusion_type": "",
    "xla_cpu_prefer_vector_width": 512,
}

#: Oldest jaxlib whose XLA knows every flag of :data:`CPU_OPTIONS` (0.8.0 lacks the YNN
#: one); XLA aborts the process on an unknown flag in ``XLA_FLAGS``.
MIN_JAXLIB = (0, 8, 1)

_OFF = ("0", "false", "no", "off")


def _opted_out(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in _OFF


def _flag_set(flags: str, name: str) -> bool:
    return re.search(r"(^|\s)--" + re.escape(name) + r"(=|\s|$)", flags) is not None


def install_xla_flags() -> bool:
    """Append :data:`CPU_OPTIONS` to ``XLA_FLAGS`` (those the user has not set).

    Only before JAX's backend starts (XLA reads ``XLA_FLAGS`` once, then), with a
    jaxlib that knows the flags, and unless ``RBFOPT_XLA_FLAGS=0``. Returns whether
    ``XLA_FLAGS`` was changed.

    Examples:
      >>> from rbfopt._config import install_xla_flags
      >>> install_xla_flags()  # the backend has started: XLA_FLAGS are left alone
      False
    """
    if _opted_out("RBFOPT_XLA_FLAGS") or jaxlib_version() < MIN_JAXLIB or backends_started():
        return False
    flags = os.environ.get("XLA_FLAGS", "")
    add = [f"--{k}={v}" for k, v in CPU_OPTIONS.items() if not _flag_set(flags, k)]
    if not add:
        return False
    os.environ["XLA_FLAGS"] = " ".join([flags.strip(), *add]).strip()
    return True


def jit_options() -> dict[str, Any]:
    """The :data:`CPU_OPTIONS` an eager weight build must pass to its own ``jit``.

    None when ``XLA_FLAGS`` carried them (or the user's own values) as the backend
    started, or with ``RBFOPT_XLA_FLAGS=0``; all of them when the backend had started
    before rbfopt's import without them.

    Examples:
      >>> from rbfopt._config import CPU_OPTIONS, jit_options
      >>> set(jit_options()) <= set(CPU_OPTIONS)
      True
    """
    if _opted_out("RBFOPT_XLA_FLAGS") or jaxlib_version() < MIN_JAXLIB:
        return {}
    if jax.default_backend() != "cpu":
        return {}
    flags = os.environ.get("XLA_FLAGS", "") if _FLAGS_AT_IMPORT is None else _FLAGS_AT_IMPORT
    return {k: v for k, v in CPU_OPTIONS.items() if not _flag_set(flags, k)}


def set_host_device_count(n: int) -> None:
    """Expose ``n`` CPU devices to JAX, so the weight build runs on ``n`` cores.

    One XLA:CPU device runs the many small operations of a build one after another
    (only large loops are split over cores); with ``n`` host devices
    :func:`~rbfopt.build_weights` splits its stencil chunks over them
    (``jax.shard_map``). Must be called before JAX initializes its backends (before the
    first array is created); it sets ``--xla_force_host_platform_device_count`` in
    ``XLA_FLAGS`` (like ``numpyro.set_host_device_count``). Has no effect on GPU runs.
    Operator application on weights split over devices is slower than on one device.
    Inside a computation already on a mesh (``rbfopt.optimize.run(..., devices=)``)
    the build splits over that mesh instead. Speed-ups: ``docs/performance.md``.

    Raises:
      ValueError: if ``n`` is not a positive integer.
      RuntimeError: if JAX's CPU backend is already initialized with another count.

    Examples:
      >>> import rbfopt as ro
      >>> import jax
      >>> ro.set_host_device_count(jax.local_device_count("cpu"))  # no-op once started
    """
    n = check_int("n", n, 1, what="number of host devices")
    if backends_started():
        have = jax.local_device_count("cpu")
        if have != n:
            raise RuntimeError(
                f"set_host_device_count({n}): JAX is already initialized with {have} CPU "
                "device(s); call it before any JAX computation"
            )
        return
    flag = "--xla_force_host_platform_device_count"
    flags = re.sub(flag + r"=\S+", "", os.environ.get("XLA_FLAGS", ""))
    os.environ["XLA_FLAGS"] = " ".join([*flags.split(), f"{flag}={n}"])


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/rbfopt/jax``, else ``~/.cache/rbfopt/jax``.

    Examples:
      >>> default_cache_dir().parts[-2:]
      ('rbfopt', 'jax')
    """
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    root = Path(base) if base else Path.home() / ".cache"
    return root / "rbfopt" / "jax"


def enable_compilation_cache(path: str | None = None) -> str | None:
    """Switch on JAX's persistent compilation cache in ``path`` (default
    :func:`default_cache_dir`); returns the folder used, or None when off.

    Every compilation of the process is stored (no minimum compile time or entry size:
    a study compiles many programs of a fraction of a second each) and loaded by the
    next process that compiles the same program with the same JAX. Off, returning
    None, when the environment says ``RBFOPT_COMPILATION_CACHE=0`` (whatever ``path``),
    or with a warning when the folder cannot be created.

    Examples:
      >>> import os, tempfile
      >>> from rbfopt._config import enable_compilation_cache
      >>> os.environ["RBFOPT_COMPILATION_CACHE"] = "0"
      >>> print(enable_compilation_cache(tempfile.mkdtemp()))
      None
      >>> del os.environ["RBFOPT_COMPILATION_CACHE"]
    """
    if _opted_out("RBFOPT_COMPILATION_CACHE"):
        return None
    folder = Path(path).expanduser() if path is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        warnings.warn(
            f"compilation cache off: cannot create {str(folder)!r} ({e}); "
            "set RBFOPT_COMPILATION_CACHE=0 to silence this",
            stacklevel=2,
        )
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return str(folder)


jax.config.update("jax_enable_x64", True)

#: ``XLA_FLAGS`` as JAX's backend has read it, captured at import; None when the backend
#: had not started then (it will read ``XLA_FLAGS`` as it is when it starts).
_FLAGS_AT_IMPORT = os.environ.get("XLA_FLAGS", "") if backends_started() else None
install_xla_flags()
