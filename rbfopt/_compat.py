"""The private JAX names rbfopt relies on, behind one version guard.

JAX keeps these under ``jax._src``, which may change in any release. Each is read
here and nowhere else, with a fallback or a clear error where a release no longer
has it, so a JAX upgrade breaks at most this file.
"""

from __future__ import annotations

from typing import Any

__all__ = ["backends_started", "callback_op_sharding", "jaxlib_version"]


def jaxlib_version() -> tuple[int, ...]:
    """jaxlib's version as a tuple, ``(0,)`` when it cannot be read.

    Examples:
      >>> from rbfopt._compat import jaxlib_version
      >>> jaxlib_version() >= (0, 4)
      True
    """
    try:
        from jax._src.lib import version
    except ImportError:  # pragma: no cover
        return (0,)
    return tuple(version)


def backends_started() -> bool:
    """Whether JAX's backends are up (XLA has read ``XLA_FLAGS`` and the device count).

    Unknown on a JAX without the private test: then True, the safe answer for callers
    that may only change settings before the start.
    """
    try:
        from jax._src import xla_bridge
    except ImportError:  # pragma: no cover
        return True
    return bool(xla_bridge.backends_are_initialized())


def callback_op_sharding(ctx: Any) -> Any:
    """The op sharding ``jax.pure_callback`` gives its callback in the lowering ``ctx``:
    one call on whole (gathered) operands in a partitioned program, one per device in a
    ``shard_map`` (see :mod:`rbfopt.sparse.solve`)."""
    try:
        from jax._src.callback import _callback_op_sharding
    except ImportError as e:  # pragma: no cover
        raise ImportError(
            "rbfopt's SuperLU host callback needs jax._src.callback._callback_op_sharding, "
            "which this JAX release lacks; install a JAX release rbfopt supports (>= 0.4.30)"
        ) from e
    return _callback_op_sharding(ctx.module_context.axis_context, None, ctx.avals_out)
