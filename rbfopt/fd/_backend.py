"""Backend tuning of the weight build: chunk sizes, large-build variants, device split.

Private: the measurements behind every choice here are in ``docs/performance.md``
(each with the command that reproduces it); the code keeps one sentence of why. The
XLA:CPU options and the host device count are process-wide settings, in
:mod:`rbfopt._config` (re-exported here).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from .._config import (  # noqa: F401  (re-exported: the build's XLA settings)
    CPU_OPTIONS,
    MIN_JAXLIB,
    jit_options,
    set_host_device_count,
)

#: Builds with at least this many stencils use the loop variants that run faster but
#: compile slower (``_saddle.factor``'s ``large``).
LARGE_BUILD = 16384

#: Elements of one chunk's (k, k, chunk) kernel block the default CPU chunk aims at, by
#: dimension (3-D stencils carry more per-stencil work besides the block).
CPU_CHUNK_ELEMENTS = {1: 180_000, 2: 180_000, 3: 110_000}


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
