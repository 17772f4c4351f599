"""Extrapolation rules: what an interpolant returns for queries outside its axis domain.

Each rule acts per axis on the queries before the interval search:

* :class:`NoExtrap` — concrete queries outside ``[x_0, x_{n-1}]`` raise ``ValueError``;
  under tracing (jit) they cannot, and evaluate to NaN instead.
* :class:`ExtendExtrap` — continue the end polynomial piece.
* :class:`ClampExtrap` — ``x ↦ clip(x, x_0, x_{n-1})``: the end value, zero
  derivatives along this axis.
* :class:`FillExtrap` — the constant ``value``; derivatives there are 0.
* :class:`WrapExtrap` — ``x ↦ x_0 + mod(x - x_0, L)``, ``L`` the domain length (the
  period for periodic splines).

Outside the domain the interpolant is ``mask · (W f) + offset``: the linear part is
masked and ``offset`` (fill value, or NaN) is data-independent, so the adjoint is that
of the masked linear part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax

from ._leaf import ValueLeaf

__all__ = [
    "Extrapolation",
    "NoExtrap",
    "ExtendExtrap",
    "ClampExtrap",
    "FillExtrap",
    "WrapExtrap",
    "normalize_extrap",
]


class Extrapolation:
    """Base class of the extrapolation rules."""


@dataclass(frozen=True)
class NoExtrap(Extrapolation):
    """Queries must lie in the domain (``ValueError`` when concrete, NaN when traced).

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> grid.linear_interp(x, x)(jnp.array([1.5]))  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      ValueError: xq: queries outside the domain [0.0, 1.0] at indices [0] ...
    """


@dataclass(frozen=True)
class ExtendExtrap(Extrapolation):
    """Continue the end polynomial piece (cubic or linear) outside the domain.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> grid.linear_interp(x, x, extrap=grid.ExtendExtrap())(jnp.array([1.5]))
      Array([1.5], dtype=float64)
    """


@dataclass(frozen=True)
class ClampExtrap(Extrapolation):
    """End value outside the domain; derivatives along the axis are zero there.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> grid.linear_interp(x, x, extrap=grid.ClampExtrap())(jnp.array([-0.5, 1.5]))
      Array([0., 1.], dtype=float64)
    """


@jax.tree_util.register_pytree_node_class
@dataclass(frozen=True)
class FillExtrap(ValueLeaf, Extrapolation):
    """Constant ``value`` outside the domain (derivatives 0).  ``value`` is a leaf.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> grid.linear_interp(x, x, extrap=grid.FillExtrap(-1.0))(jnp.array([0.5, 1.5]))
      Array([ 0.5, -1. ], dtype=float64)
    """

    value: Any = 0.0


@dataclass(frozen=True)
class WrapExtrap(Extrapolation):
    """Wrap queries into the domain modulo its length.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> grid.linear_interp(x, x, extrap=grid.WrapExtrap())(jnp.array([1.25]))
      Array([0.25], dtype=float64)
    """


for _cls in (NoExtrap, ExtendExtrap, ClampExtrap, WrapExtrap):
    # Leafless pytree: the (frozen, hashable) instance itself is the static aux data.
    jax.tree_util.register_pytree_node(_cls, lambda o: ((), o), lambda aux, _: aux)


def normalize_extrap(extrap: Any, ndim: int, name: str = "extrap") -> tuple[Extrapolation, ...]:
    """``extrap`` argument → one rule per axis (a single rule is broadcast)."""
    if isinstance(extrap, Extrapolation):
        return (extrap,) * ndim
    if isinstance(extrap, (tuple, list)) and len(extrap) == ndim:
        for e in extrap:
            if not isinstance(e, Extrapolation):
                raise ValueError(f"{name}: {e!r} is not an extrapolation rule")
        return tuple(extrap)
    raise ValueError(f"{name}: expected an extrapolation rule or a tuple of {ndim}, got {extrap!r}")
