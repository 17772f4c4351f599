"""Node arrays split over devices: the driver's step under SPMD partitioning.

:func:`device_mesh` turns the driver's ``devices`` argument into a 1-D
:class:`jax.sharding.Mesh` with the axis ``"nodes"`` (:data:`AXIS`). A leaf of the
parameters or the stencils whose leading axis has at least as many rows as there are
devices is a *node array*: it is split along that axis (``P("nodes")``); every other
array is replicated. ``jax.jit`` then partitions the step over the devices (XLA's
SPMD partitioner follows the inputs' shardings), and the results equal those of one
device to round-off (sums are taken in another order).

Uneven counts. JAX 0.10 splits an axis only into equal shards (``device_put`` of 25
rows over 8 devices raises), so node arrays are padded with zero rows to a multiple
of the device count (:func:`pad_nodes`) and :class:`NodeLayout` wraps the problem's
callables so that they never see the padding: the objective and the projection take
the rows ``[:n]`` (:func:`unpad`), whose gradient is zero in the padded rows. An
optax update of a coordinate with zero gradient and zero optimizer state is zero for
every optimizer of :data:`rbfopt.app.driver.OPTIMIZERS` (Adam, SGD, L-BFGS, ...), and
zeros add nothing to the norms and inner products they take, so the padded rows stay
zero and the real ones follow the unpadded run. (An optimizer that adds noise would
draw it for the padded shape: not covered.)

Inside the sharded step the weight build splits its stencil chunks over the mesh its
traced inputs carry (the driver's ``"nodes"``), not a mesh of its own, and the SuperLU
solve calls back through a primitive of its own (:mod:`rbfopt.sparse.solve`): JAX
refuses or deadlocks on the alternatives (``docs/performance.md``, "The application").

Several processes (:mod:`rbfopt.app.distributed`). After
:func:`jax.distributed.initialize` the mesh spans the devices of every process
(``devices=None`` then means all of :func:`jax.devices`) and a node array is a
*global* array of which each process holds its devices' rows. Every process holds
the same full host data (the problem's ``init``, its stencils, a checkpoint), so
:func:`shard_nodes` builds the global arrays from it
(:func:`jax.make_array_from_callback`: each process keeps its own rows), and
:func:`gather` brings a global array back whole into every process
(:func:`jax.experimental.multihost_utils.process_allgather`) before it goes to numpy.

Examples:
  >>> import jax.numpy as jnp
  >>> mesh = device_mesh(None)          # one device: no sharding
  >>> mesh is None
  True
  >>> padded = pad_nodes({"x": jnp.ones((5, 2)), "c": jnp.ones(2)}, [5], 4)
  >>> padded["x"].shape, padded["c"].shape
  ((8, 2), (2,))
  >>> unpad(padded, {"x": jnp.ones((5, 2)), "c": jnp.ones(2)})["x"].shape
  (5, 2)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from .._util import check_int

__all__ = [
    "AXIS",
    "device_mesh",
    "node_counts",
    "pad_nodes",
    "unpad",
    "shard_nodes",
    "gather",
    "spans_processes",
    "NodeLayout",
]

#: The name of the mesh axis node arrays are split along.
AXIS = "nodes"
_DEVICES = "the device count (or None, or a 1-D jax.sharding.Mesh)"

DevicesArg = None | int | Mesh


def _multi_process() -> bool:
    # no backend start in a plain single-process run
    return jax.distributed.is_initialized() and jax.process_count() > 1


def spans_processes(mesh: Mesh | None) -> bool:
    """Whether ``mesh`` holds devices of more than one process (multi-controller).

    Examples:
      >>> spans_processes(None), spans_processes(Mesh(np.asarray(jax.devices()[:1]), (AXIS,)))
      (False, False)
    """
    return mesh is not None and len({d.process_index for d in mesh.devices.flat}) > 1


def device_mesh(devices: DevicesArg) -> Mesh | None:
    """The 1-D device mesh for ``devices``, or None for one device (no sharding).

    ``None`` or ``1``: None. An int ``n``: the first ``n`` of :func:`jax.devices`
    with the axis :data:`AXIS`. A :class:`~jax.sharding.Mesh`: itself, if 1-D (its
    axis name is kept; None if it holds one device). In a run of several processes
    (:mod:`rbfopt.app.distributed`) ``None`` is a mesh of all of :func:`jax.devices`,
    and a mesh must hold devices of every process.

    Raises:
      ValueError: naming ``devices``: not a positive int or a 1-D mesh, more devices
        asked than JAX has (on CPU, start Python with
        ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` or use
        ``rbfopt run --devices N``), or a mesh that leaves out a process.

    Examples:
      >>> device_mesh(1) is None
      True
      >>> device_mesh(10**6)  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ValueError: devices: asked for 1000000 devices, JAX has ...
    """
    multi = _multi_process()
    if devices is None:
        if not multi:
            return None
        devices = Mesh(np.asarray(jax.devices()), (AXIS,))
    if isinstance(devices, Mesh):
        if len(devices.axis_names) != 1:
            raise ValueError(f"devices: expected a 1-D mesh, got axes {tuple(devices.axis_names)}")
        mesh = devices
    elif check_int("devices", devices, 1, what=_DEVICES) == 1 and not multi:
        return None
    else:
        mesh = Mesh(np.asarray(_first_devices(int(devices))), (AXIS,))
    if multi:
        _check_processes(mesh)
    return None if mesh.size == 1 else mesh


def _first_devices(n: int) -> list[Any]:
    have = jax.devices()
    if n > len(have):
        hint = ""
        if have[0].platform == "cpu":
            hint = (
                f"; on CPU, `rbfopt run --devices {n}` forces host devices, or start "
                f"Python with XLA_FLAGS=--xla_force_host_platform_device_count={n} "
                "(or call rbfopt.set_host_device_count before JAX starts)"
            )
        raise ValueError(
            f"devices: asked for {n} devices, JAX has {len(have)} ({have[0].platform}){hint}"
        )
    return have[:n]


def _check_processes(mesh: Mesh) -> None:
    have = {d.process_index for d in mesh.devices.flat}
    if len(have) < jax.process_count():
        raise ValueError(
            f"devices: a run of {jax.process_count()} processes needs devices of every "
            f"process; the mesh holds devices of process(es) {sorted(have)} only "
            "(devices=None: all of jax.devices())"
        )


def _rows(x: Any) -> int | None:
    shape = np.shape(x)
    return int(shape[0]) if len(shape) else None


def node_counts(tree: Any, n_devices: int) -> frozenset[int]:
    """The leading dimensions of ``tree``'s leaves that count as node axes: those with
    at least ``n_devices`` rows (shorter arrays are replicated).

    Examples:
      >>> sorted(node_counts({"x": np.ones((25, 2)), "adjl": np.ones((29, 8)),
      ...                     "c": np.ones(3)}, 4))
      [25, 29]
    """
    rows = (_rows(x) for x in jax.tree_util.tree_leaves(tree))
    return frozenset(r for r in rows if r is not None and r >= n_devices)


def _padded(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def pad_nodes(tree: Any, n_nodes: Iterable[int], multiple: int) -> Any:
    """``tree`` with its node arrays (leading dimension in ``n_nodes``) padded with zero
    rows to a multiple of ``multiple``; other leaves unchanged. Undo with :func:`unpad`.

    Example: see the module docstring.
    """
    counts = frozenset(n_nodes)

    def pad(x: Any) -> Any:
        n = _rows(x)
        if n is None or n not in counts or n % multiple == 0:
            return x
        return jnp.pad(jnp.asarray(x), [(0, _padded(n, multiple) - n)] + [(0, 0)] * (x.ndim - 1))

    return jax.tree_util.tree_map(pad, tree)


def unpad(tree: Any, like: Any) -> Any:
    """``tree``'s leaves cut to the shapes of ``like``'s (same structure): the padded
    rows of :func:`pad_nodes` go, along whichever axes are longer (optimizer states
    stack parameter-shaped arrays, e.g. L-BFGS's memory).

    Example: see the module docstring.
    """

    def cut(x: Any, t: Any) -> Any:
        want = tuple(np.shape(t))
        if tuple(np.shape(x)) == want:
            return x
        return x[tuple(slice(0, m) for m in want)]

    return jax.tree_util.tree_map(cut, tree, like)


def _pad_like(tree: Any, like: Any) -> Any:
    # the inverse of ``unpad``: zero rows up to ``like``'s (padded) shapes
    def pad(x: Any, t: Any) -> Any:
        want, have = tuple(np.shape(t)), tuple(np.shape(x))
        if have == want:
            return x
        return jnp.pad(jnp.asarray(x), [(0, w - h) for w, h in zip(want, have, strict=True)])

    return jax.tree_util.tree_map(pad, tree, like)


def _spec(x: Any, counts: frozenset[int], mesh: Mesh) -> NamedSharding:
    n = _rows(x)
    if n is not None and n in counts:
        if n % mesh.size:
            raise ValueError(
                f"n_nodes: {n} rows do not split evenly over {mesh.size} devices; "
                "pad them first (pad_nodes)"
            )
        return NamedSharding(mesh, P(mesh.axis_names[0]))
    return NamedSharding(mesh, P())


def shard_nodes(tree: Any, mesh: Mesh, n_nodes: int | Iterable[int]) -> Any:
    """``tree`` placed on ``mesh``: leaves whose leading dimension is ``n_nodes`` (an
    int or several) split along it, every other leaf replicated.

    Raises:
      ValueError: naming ``n_nodes`` when such a leaf's rows do not split evenly over
        the devices (JAX 0.10 shards only evenly: :func:`pad_nodes` first).

    Examples:
      >>> mesh = Mesh(np.asarray(jax.devices()[:1]), (AXIS,))
      >>> t = shard_nodes({"x": jnp.ones((6, 2)), "s": jnp.ones(())}, mesh, 6)
      >>> tuple(t["x"].sharding.spec), tuple(t["s"].sharding.spec)
      (('nodes',), ())
    """
    counts = frozenset([n_nodes] if isinstance(n_nodes, (int, np.integer)) else n_nodes)
    if not spans_processes(mesh):
        return jax.tree_util.tree_map(lambda x: jax.device_put(x, _spec(x, counts, mesh)), tree)

    def put(x: Any) -> jax.Array:
        sharding = _spec(x, counts, mesh)
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return jax.device_put(x, sharding)  # a global array already: reshard
        # the same host data in every process: each keeps the rows of its devices
        data = np.asarray(x)
        return jax.make_array_from_callback(data.shape, sharding, lambda idx: data[idx])

    return jax.tree_util.tree_map(put, tree)


def gather(tree: Any) -> Any:
    """``tree``'s arrays as numpy arrays holding their whole values, in every process:
    a global array split over several processes is gathered
    (:func:`~jax.experimental.multihost_utils.process_allgather`, a collective: every
    process must call it on the same tree), anything else copied to the host
    (:func:`jax.device_get`).

    Examples:
      >>> gather({"x": jnp.arange(3.0)})["x"]
      array([0., 1., 2.])
    """

    def host(x: Any) -> Any:
        if isinstance(x, jax.Array) and not (x.is_fully_addressable or x.is_fully_replicated):
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return jax.device_get(x)

    return jax.tree_util.tree_map(host, tree)


@dataclasses.dataclass(frozen=True)
class NodeLayout:
    """How one run splits its node arrays: the mesh, the unpadded ``(params, aux)``
    template ``like`` and the node counts found in it (:func:`node_counts`).

    :meth:`objective` and :meth:`project` wrap the problem's callables to take padded
    arguments; :meth:`place` pads and shards a ``(params, aux)``-like tree,
    :meth:`place_like` any tree onto a padded, sharded example of its structure.

    Examples:
      >>> mesh = Mesh(np.asarray(jax.devices()[:1]), (AXIS,))
      >>> lay = NodeLayout.of(mesh, jnp.ones((5, 2)), None)
      >>> p, aux = lay.place((jnp.ones((5, 2)), None))
      >>> p.shape, float(lay.objective(lambda q, a, k: (jnp.sum(q), {}))(p, aux, None)[0])
      ((5, 2), 10.0)
    """

    mesh: Mesh
    like: Any
    counts: frozenset[int]

    @classmethod
    def of(cls, mesh: Mesh, params: Any, aux: Any) -> NodeLayout:
        like = jax.tree_util.tree_map(
            lambda x: jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x)), (params, aux)
        )
        return cls(mesh, like, node_counts(like, mesh.size))

    @property
    def n_devices(self) -> int:
        return int(self.mesh.size)

    def place(self, tree: Any) -> Any:
        """Pad and shard any tree of the run's arrays (parameters, stencils, a loop
        state): leaves with a node count of rows (padded or not) are split, the rest
        replicated. Idempotent on placed trees."""
        padded = pad_nodes(tree, self.counts, self.n_devices)
        return shard_nodes(padded, self.mesh, self.counts | self._padded_counts())

    def _padded_counts(self) -> frozenset[int]:
        return frozenset(_padded(n, self.n_devices) for n in self.counts)

    def padded_like(self) -> Any:
        """``like`` with the padded shapes (``jax.ShapeDtypeStruct`` leaves)."""
        return jax.eval_shape(lambda t: pad_nodes(t, self.counts, self.n_devices), self.like)

    def place_like(self, tree: Any, like: Any) -> Any:
        """``tree`` (unpadded, e.g. a restored checkpoint) zero-padded to the shapes of
        ``like`` (of the same structure) and placed as by :meth:`place`."""
        return self.place(_pad_like(tree, like))

    def objective(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn(params, aux, key)`` taking padded ``params`` and ``aux``."""

        def padded(params: Any, aux: Any, key: Any) -> Any:
            return fn(*unpad((params, aux), self.like), key)

        return padded

    def project(self, fn: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
        """``fn(params)`` on padded ``params`` (padded rows back to zero), or None."""
        if fn is None:
            return None
        like = self.like[0]

        def padded(params: Any) -> Any:
            out = fn(unpad(params, like))
            return _pad_like(out, params)

        return padded
