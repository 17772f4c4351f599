"""Backend tuning of the weight build: XLA:CPU options, chunk sizes, device split.

Private: the measurements behind every choice here are in ``docs/performance.md``
(each with the command that reproduces it); the code keeps one sentence of why.

XLA:CPU options. The batch-last (k, k, B) blocks of the local solves run faster with
XLA's own loops than with YNNPACK fusions (jaxlib >= 0.8.1 hands reductions to them),
and with 512-bit vectors where the CPU has them. These are XLA ``DebugOptions``: a
``jax.jit(..., compiler_options=...)`` of the build would apply them only when the
build is the top-level computation, not inside a caller's ``jit``, ``grad`` or the
optimization driver's step, and JAX (0.10) has no process-wide compiler-options setting
(``jax._src.compiler.get_compile_options`` takes them per ``jit`` only). XLA reads them
from ``XLA_FLAGS`` when JAX's backend starts, so importing :mod:`rbfopt` appends them
there (:func:`install_xla_flags`) and every compilation of the process gets them,
however the build is called. A flag the user
already set in ``XLA_FLAGS`` keeps the user's value (e.g.
``--xla_cpu_prefer_vector_width=256``). When JAX had started before :mod:`rbfopt` was
imported, XLA has read ``XLA_FLAGS`` already: eager builds then pass the options to
their own ``jit`` (:func:`jit_options`), and builds inside a caller's ``jit`` run
without them.
"""

from __future__ import annotations

import os
import re
from typing import Any

import jax
import numpy as np

from .._compat import backends_started, jaxlib_version

#: The XLA:CPU options of the build (XLA DebugOptions, also valid ``XLA_FLAGS``).
CPU_OPTIONS: dict[str, Any] = {
    "xla_cpu_experimental_ynn_fusion_type": "",
    "xla_cpu_prefer_vector_width": 512,
}

#: Oldest jaxlib whose XLA knows every flag of :data:`CPU_OPTIONS` (0.8.0 lacks the YNN
#: one); XLA aborts the process on an unknown flag in ``XLA_FLAGS``.
MIN_JAXLIB = (0, 8, 1)

#: Builds with at least this many stencils use the loop variants that run faster but
#: compile slower (``_saddle.factor``'s ``large``).
LARGE_BUILD = 16384

#: Elements of one chunk's (k, k, chunk) kernel block the default CPU chunk aims at, by
#: dimension (3-D stencils carry more per-stencil work besides the block).
CPU_CHUNK_ELEMENTS = {1: 180_000, 2: 180_000, 3: 110_000}


def _flag_set(flags: str, name: str) -> bool:
    return re.search(r"(^|\s)--" + re.escape(name) + r"(=|\s|$)", flags) is not None


def install_xla_flags() -> bool:
    """Append :data:`CPU_OPTIONS` to ``XLA_FLAGS`` (those the user has not set).

    Only before JAX's backend starts (XLA reads ``XLA_FLAGS`` once, then) and with a
    jaxlib that knows the flags. Returns whether ``XLA_FLAGS`` was changed.
    """
    if jaxlib_version() < MIN_JAXLIB or backends_started():
        return False
    flags = os.environ.get("XLA_FLAGS", "")
    add = [f"--{k}={v}" for k, v in CPU_OPTIONS.items() if not _flag_set(flags, k)]
    if not add:
        return False
    os.environ["XLA_FLAGS"] = " ".join([flags.strip(), *add]).strip()
    return True


#: ``XLA_FLAGS`` as JAX's backend will read it (or has read it), captured at import.
_FLAGS_AT_IMPORT = os.environ.get("XLA_FLAGS", "") if backends_started() else None
install_xla_flags()


def jit_options() -> dict[str, Any]:
    """The :data:`CPU_OPTIONS` an eager build must pass to its own ``jit``.

    None when ``XLA_FLAGS`` carried them (or the user's own values) as the backend
    started; all of them when the backend had started before rbfopt's import without.
    """
    if not on_cpu() or jaxlib_version() < MIN_JAXLIB:
        return {}
    flags = os.environ.get("XLA_FLAGS", "") if _FLAGS_AT_IMPORT is None else _FLAGS_AT_IMPORT
    return {k: v for k, v in CPU_OPTIONS.items() if not _flag_set(flags, k)}


def on_cpu() -> bool:
    """Whether JAX computes on CPU (the XLA:CPU options and CPU chunks apply)."""
    return jax.default_backend() == "cpu"


def default_chunk(k: int, d: int) -> int:
    """Stencils per chunk when ``chunk_size`` is not given.

    On GPUs wide batches are what fill the device (65 536). On CPU, the (k, k, chunk)
    blocks of the local solves stay near the size of a core's L2 cache, and the chunk
    is a multiple of 8 but never a power of two (such chunks make the rows of the
    batch-last blocks alias in the caches).
    """
    if not on_cpu():
        return 65536
    target = CPU_CHUNK_ELEMENTS.get(d, CPU_CHUNK_ELEMENTS[3])
    chunk = min(1000, max(8, 8 * round(target / (8 * k * k))))
    if chunk & (chunk - 1) == 0:
        chunk += 8
    return chunk


def is_large(n_eval: int) -> bool:
    """Whether a build of ``n_eval`` stencils takes the large-build loop variants.

    Only on CPU: on GPU they gain nothing and cost compile time.
    """
    return n_eval >= LARGE_BUILD and on_cpu()


def shard_devices() -> list | None:
    """The CPU devices to split a build over, or None (one device).

    Only when the user asked for several (:func:`set_host_device_count`): one device is
    the default and what the tests run on.
    """
    devs = jax.local_devices()
    if len(devs) > 1 and devs[0].platform == "cpu":
        return devs
    return None


#: The axes of the weight build's own mesh over the local CPU devices.
STENCIL_AXES = ("stencils",)


def _mesh_of(x: Any) -> Any:
    """The (abstract) mesh ``x``'s type carries, or None: a traced argument of a ``jit``
    whose inputs are sharded on a mesh carries it, as does an array placed on one."""
    sharding = getattr(jax.typeof(x), "sharding", None)
    mesh = getattr(sharding, "mesh", None)
    if mesh is None or mesh.empty:
        return None
    return mesh.abstract_mesh


def split_mesh(*arrays: Any) -> tuple[Any, tuple[str, ...]] | None:
    """The mesh a build of ``arrays`` splits its stencil chunks over, and its axes.

    Inside a computation that already runs on a mesh (a ``jax.set_mesh`` context, or
    arguments sharded on one, as in the optimization driver's step with ``devices=``)
    the build splits over that mesh, along all its axes: XLA allows one mesh per
    program (a second one is refused, "mesh should be the same across the entire
    program", once the program holds a host callback). Arrays on several meshes, or a
    mesh with other than ``Auto`` axes: no split. Otherwise the local CPU devices
    (:func:`shard_devices`) on a mesh of their own, axis ``"stencils"``; None for one.
    """
    from jax.sharding import AxisType, Mesh

    meshes = {m for a in arrays if a is not None and (m := _mesh_of(a)) is not None}
    context = jax.sharding.get_abstract_mesh()
    if not context.empty:
        meshes.add(context)
    if meshes:
        if len(meshes) > 1:
            return None
        (mesh,) = meshes
        if mesh.size < 2 or any(t != AxisType.Auto for t in mesh.axis_types):
            return None
        return mesh, tuple(mesh.axis_names)
    devices = shard_devices()
    if devices is None:
        return None
    return Mesh(np.array(devices), STENCIL_AXES), STENCIL_AXES


def chunk_split(n_chunks: int, split: tuple[Any, tuple[str, ...]] | None) -> tuple[int, Any]:
    """The chunk count and the split (:func:`split_mesh`) of a build of ``n_chunks``.

    On the build's own mesh (axes :data:`STENCIL_AXES`) it splits from two chunks per
    device, else it runs on one. Inputs already split over a mesh (the driver's) split
    every build: there an unsplit chunk loop runs whole on every device. A split pads
    the chunks, of unchanged size (the arithmetic of one device), to an even split.

    Examples:
      >>> from types import SimpleNamespace
      >>> mesh = SimpleNamespace(size=8)
      >>> chunk_split(3, (mesh, STENCIL_AXES))
      (3, None)
      >>> chunk_split(3, (mesh, ("nodes",)))[0], chunk_split(17, (mesh, STENCIL_AXES))[0]
      (8, 24)
    """
    if split is None:
        return n_chunks, None
    size = split[0].size
    if split[1] == STENCIL_AXES and n_chunks < 2 * size:
        return n_chunks, None
    return -(-n_chunks // size) * size, split


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
    the build splits over that mesh instead (:func:`split_mesh`). Speed-ups:
    ``docs/performance.md``.

    Raises:
      ValueError: if ``n`` is not a positive integer.
      RuntimeError: if JAX's CPU backend is already initialized with another count.

    Examples:
      >>> import rbfopt as ro
      >>> import jax
      >>> ro.set_host_device_count(jax.local_device_count("cpu"))  # no-op once started
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: must be a positive integer, got {n!r}")
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
    os.environ["XLA_FLAGS"] = " ".join([*flags.split(), f"{flag}={int(n)}"])
