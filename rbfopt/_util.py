"""Helpers shared by the rooms of the package: one copy of each.

* :func:`is_tracer`: whether a value is being traced (checks that need concrete
  values are skipped under ``jit``/``grad``);
* :func:`as_points`: coerce points to a float64 JAX array of shape (N, d);
* :func:`pad_rows`: pad an array to a row count by repeating its last row;
* :func:`fmt_indices`: the offending indices of an error message, abbreviated;
* :func:`point_values`: call a user's function of points, one scalar per point or a
  ValueError naming the argument;
* :func:`check_int`: an integer argument within bounds, or a ValueError naming it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["as_points", "check_int", "fmt_indices", "is_tracer", "pad_rows", "point_values"]


def is_tracer(*xs: Any) -> bool:
    """True when any leaf of ``xs`` is a JAX tracer.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> is_tracer(jnp.ones(2))
      False
      >>> seen = []
      >>> _ = jax.jit(lambda x: seen.append(is_tracer(x)) or x)(1.0)
      >>> seen
      [True]
    """
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(xs))


def as_points(points: Any) -> jax.Array:
    """``points`` as a JAX array of shape (N, d): float64 when concrete, (N,) read as (N, 1).

    Traced values keep their dtype (they come from the caller's computation).

    Examples:
      >>> as_points([0.0, 1.0]).shape
      (2, 1)
    """
    if is_tracer(points):
        p = jnp.asarray(points)
    else:
        p = jnp.asarray(np.asarray(points, dtype=np.float64))
    return p[:, None] if p.ndim == 1 else p


def pad_rows(a: jax.Array, n: int) -> jax.Array:
    """``a`` extended to ``n`` rows by repeating its last row.

    Padded rows are copies of a valid row (a stencil, a query point), so they stay
    finite in every derivative mode; callers discard them.

    Examples:
      >>> pad_rows(jnp.array([[1.0], [2.0]]), 4).ravel()
      Array([1., 2., 2., 2.], dtype=float64)
    """
    pad = n - a.shape[0]
    if pad <= 0:
        return a
    return jnp.concatenate([a, jnp.repeat(a[-1:], pad, axis=0)], axis=0)


def fmt_indices(idx: Any, limit: int = 10) -> str:
    """The first ``limit`` indices of ``idx`` and their count, for error messages.

    Examples:
      >>> fmt_indices([3, 7])
      '[3, 7] (2 in all)'
    """
    idx = np.asarray(idx).ravel()
    s = ", ".join(str(int(i)) for i in idx[:limit])
    return f"[{s}{', ...' if idx.size > limit else ''}] ({idx.size} in all)"


def point_values(name: str, fn: Any, x: Any) -> np.ndarray:
    """``fn(x)`` as a float64 array of one value per point of ``x`` (m, d).

    Raises ValueError naming ``name`` when ``fn`` fails or returns another shape.

    Examples:
      >>> point_values("f", lambda x: x[:, 0] * 2, np.ones((3, 2)))
      array([2., 2., 2.])
      >>> point_values("f", lambda x: x, np.ones((3, 2)))  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      ValueError: f: must return one value per point, shape (3,) for points of shape ...
    """
    m = np.shape(x)[0]
    try:
        v = np.asarray(fn(x), dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: failed on points of shape {tuple(np.shape(x))}: {e}") from e
    if v.shape != (m,):
        raise ValueError(
            f"{name}: must return one value per point, shape ({m},) for points of shape "
            f"{tuple(np.shape(x))}, got {v.shape}"
        )
    return v


def check_int(
    name: str,
    value: Any,
    lo: int | None = None,
    hi: int | None = None,
    *,
    what: str = "",
    allow_none: bool = False,
) -> int | None:
    """``value`` as a Python int when it is an integer in ``lo..hi`` (inclusive bounds,
    ``None`` for none); else a ValueError naming ``name`` and the value. Booleans are not
    integers here. ``what`` describes the argument in the message; with
    ``allow_none`` a ``None`` passes through.

    Examples:
      >>> check_int("k", 5, 1)
      5
      >>> check_int("k", True, 1)
      Traceback (most recent call last):
      ...
      ValueError: k: expected an integer >= 1, got True
      >>> check_int("blend", 9, 0, 8, what="number of blended stencil sizes")
      Traceback (most recent call last):
      ...
      ValueError: blend: number of blended stencil sizes must be an integer in 0..8, got 9
    """
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, np.integer))
    ok = ok and (lo is None or value >= lo) and (hi is None or value <= hi)
    if ok:
        return int(value)
    if lo is not None and hi is not None:
        bound = f"an integer in {lo}..{hi}"
    elif lo is not None:
        bound = f"an integer >= {lo}"
    elif hi is not None:
        bound = f"an integer <= {hi}"
    else:
        bound = "an integer"
    if allow_none:
        bound += " or None"
    lead = f"{what} must be" if what else "expected"
    raise ValueError(f"{name}: {lead} {bound}, got {value!r}")
