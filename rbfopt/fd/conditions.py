"""Boundary conditions, one per boundary group or row set: Dirichlet, Neumann, Robin.

Each holds a data function ``g``: a number, a JAX function of one point ``x`` (d,)
or of ``(x, n)`` with ``n`` the outward unit normal there. The condition on a
boundary node ``x`` with normal ``n`` reads

* :class:`Dirichlet`: ``u(x) = g``;
* :class:`Neumann`: ``n . grad u(x) = g``;
* :class:`Robin`: ``alpha u(x) + beta n . grad u(x) = g``.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["Condition", "Dirichlet", "Neumann", "Robin", "data_values"]


@dataclasses.dataclass(frozen=True)
class Condition:
    """Base of the boundary conditions: the data ``g`` (number or function)."""

    g: Any = 0.0

    alpha = 1.0  # weight of u in the row
    beta = 0.0  # weight of n . grad u in the row

    def applied_to(self, fn: Callable) -> Callable:
        """The condition's operator applied to ``fn``: ``(x, n) -> alpha fn(x) + beta
        n . grad fn(x)``, to compare a known solution with the data ``g``."""

        def applied(x, n):
            value = self.alpha * fn(x) if self.alpha else 0.0
            if self.beta:
                value = value + self.beta * jnp.dot(jax.grad(fn)(x), n)
            return value

        return applied


@dataclasses.dataclass(frozen=True)
class Dirichlet(Condition):
    """``u = g`` on the group.

    Examples:
      >>> import jax.numpy as jnp, rbfopt as ro
      >>> bc = ro.Dirichlet(lambda x: x[0] ** 2)
      >>> ro.fd.data_values(bc, jnp.array([[2.0, 0.0]]), jnp.array([[0.0, -1.0]]))
      Array([4.], dtype=float64)
    """


@dataclasses.dataclass(frozen=True)
class Neumann(Condition):
    """``n . grad u = g`` on the group (``n`` the outward unit normal).

    Examples:
      >>> import jax.numpy as jnp, rbfopt as ro
      >>> bc = ro.Neumann(lambda x, n: 3.0 * n[0])
      >>> ro.fd.data_values(bc, jnp.array([[1.0, 0.5]]), jnp.array([[1.0, 0.0]]))
      Array([3.], dtype=float64)
    """

    alpha = 0.0
    beta = 1.0


@dataclasses.dataclass(frozen=True)
class Robin(Condition):
    """``alpha u + beta n . grad u = g`` on the group.

    Examples:
      >>> import jax.numpy as jnp, rbfopt as ro
      >>> bc = ro.Robin(2.0, 1.0, 5.0)
      >>> bc.alpha, bc.beta, ro.fd.data_values(bc, jnp.zeros((2, 2)), jnp.zeros((2, 2)))
      (2.0, 1.0, Array([5., 5.], dtype=float64))
    """

    alpha: float = 1.0
    beta: float = 1.0
    g: Any = 0.0

    def __init__(self, alpha: float, beta: float, g: Any = 0.0):
        object.__setattr__(self, "alpha", float(alpha))
        object.__setattr__(self, "beta", float(beta))
        object.__setattr__(self, "g", g)


def _arity(fn: Callable) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    pos = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return 2 if len(pos) >= 2 else 1


def data_values(bc: Condition, x: jax.Array, normals: jax.Array) -> jax.Array:
    """The data ``g`` of ``bc`` at points ``x`` (m, d) with outward normals (m, d): (m,).

    A number is broadcast; a function of ``x`` or of ``(x, n)`` (one point each) is
    vmapped. Traceable.
    """
    g = bc.g
    if not callable(g):
        return jnp.full(x.shape[0], g, dtype=x.dtype)
    if _arity(g) == 2:
        return jax.vmap(g)(x, normals)
    return jax.vmap(g)(x)
