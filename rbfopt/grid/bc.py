"""Boundary conditions for cubic splines on a grid axis.

A cubic spline on knots ``x_0 < ... < x_{n-1}`` is stored in Hermite form: values
``f_i`` and slopes ``s_i``.  C² continuity at the interior knots gives, for
``i = 1..n-2`` (``h_i = x_{i+1} - x_i``, ``δ_i = (f_{i+1} - f_i) / h_i``)::

    h_i s_{i-1} + 2 (h_{i-1} + h_i) s_i + h_{i-1} s_{i+1} = 3 (h_i δ_{i-1} + h_{i-1} δ_i)

and each boundary condition supplies the first and last rows (a tridiagonal
system), or, for :class:`Periodic`, closes the system cyclically.  The boundary
condition objects only *describe* the condition; the rows are assembled in
:mod:`rbfopt.grid.cubic`.  ``Deriv1`` / ``Deriv2`` values are pytree leaves, so the
spline is differentiable w.r.t. them; a non-zero value makes the data-to-spline map
affine (its adjoint is that of the linear part).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import jax

from ._leaf import ValueLeaf

__all__ = [
    "BoundaryCondition",
    "CubicFit",
    "NotAKnot",
    "Natural",
    "Deriv1",
    "Deriv2",
    "Periodic",
    "normalize_bc",
]


class BoundaryCondition:
    """Base class of the cubic-spline end conditions."""

    #: fewest grid points this condition needs on the axis (at its end).
    min_points: ClassVar[int] = 2


@dataclass(frozen=True)
class CubicFit(BoundaryCondition):
    """End slope = slope of the cubic interpolating the 4 end points (the default).

    ``s_0 = Σ_{k=0}^{3} L_k'(x_0) f_k`` with ``L_k`` the Lagrange basis on ``x_0..x_3``
    (mirrored at the right end).  Reproduces cubic polynomials exactly.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> grid.cubic_interp(x, x ** 3, bc=grid.CubicFit())(jnp.array([0.3]))
      Array([0.027], dtype=float64)
    """

    min_points: ClassVar[int] = 4


@dataclass(frozen=True)
class NotAKnot(BoundaryCondition):
    """Third derivative continuous at ``x_1`` (resp. ``x_{n-2}``): first two pieces
    are one cubic.  Reproduces cubic polynomials exactly.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> grid.cubic_interp(x, x ** 3, bc=grid.NotAKnot())(jnp.array([0.3]))
      Array([0.027], dtype=float64)
    """

    min_points: ClassVar[int] = 4


@jax.tree_util.register_pytree_node_class
@dataclass(frozen=True)
class Deriv1(ValueLeaf, BoundaryCondition):
    """Prescribed first derivative ``f'(end) = value`` (clamped).

    Examples:
      A ``(start, end)`` pair; with the exact end slopes a quadratic is reproduced:

      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> bc = (grid.Deriv1(0.0), grid.Deriv1(2.0))
      >>> grid.cubic_interp(x, x ** 2, bc=bc)(jnp.array([0.3]))
      Array([0.09], dtype=float64)
    """

    value: Any = 0.0


@jax.tree_util.register_pytree_node_class
@dataclass(frozen=True)
class Deriv2(ValueLeaf, BoundaryCondition):
    """Prescribed second derivative ``f''(end) = value``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> grid.cubic_interp(x, x ** 2, bc=grid.Deriv2(2.0))(jnp.array([0.3]))
      Array([0.09], dtype=float64)
    """

    value: Any = 0.0


@dataclass(frozen=True)
class Natural(BoundaryCondition):
    """Zero second derivative at the end (``Deriv2(0)``, but purely linear).

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> grid.cubic_interp(x, x ** 2, bc=grid.Natural())(jnp.array([0.0, 1.0]), deriv=2)
      Array([0., 0.], dtype=float64)
    """


@dataclass(frozen=True)
class Periodic(BoundaryCondition):
    """Periodic spline: value, slope and curvature continuous across the period.

    ``endpoint="inclusive"``: the grid includes both ends of one period,
    ``x_{n-1} = x_0 + P`` and ``f_{n-1}`` must equal ``f_0`` (checked; the spline then
    uses ``f_0``, so ``f_{n-1}`` gets zero sensitivity).  ``period`` may be given and
    must then equal ``x_{n-1} - x_0``.

    ``endpoint="exclusive"``: the grid holds one period without its right end;
    ``period`` defaults to ``x_{n-1} - x_0 + (x_1 - x_0)`` (right for uniform grids).

    The slopes solve the cyclic system (indices mod N, N unknowns)
    ``h_i s_{i-1} + 2 (h_{i-1} + h_i) s_i + h_{i-1} s_{i+1} = 3 (h_i δ_{i-1} + h_{i-1} δ_i)``
    with the actual spacings ``h_i`` (so non-uniform grids are right), by
    Sherman–Morrison on a tridiagonal matrix.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> th = jnp.linspace(0.0, 2 * jnp.pi, 17)
      >>> s = grid.cubic_interp(th, jnp.cos(th), bc=grid.Periodic())
      >>> d1 = s(jnp.array([0.0, 2 * jnp.pi]), deriv=1)
      >>> bool(jnp.isclose(d1[0], d1[1], atol=1e-12))
      True
      >>> s2 = grid.cubic_interp(th[:-1], jnp.cos(th[:-1]), bc=grid.Periodic(endpoint="exclusive"))
      >>> jnp.round(s2(jnp.array([jnp.pi])), 4)
      Array([-1.], dtype=float64)
    """

    endpoint: str = "inclusive"
    period: float | None = None

    def __post_init__(self):
        if self.endpoint not in ("inclusive", "exclusive"):
            raise ValueError(
                f"endpoint: expected 'inclusive' or 'exclusive', got {self.endpoint!r}"
            )
        if self.period is not None and not float(self.period) > 0:
            raise ValueError(f"period: must be positive, got {self.period!r}")

    @property
    def min_points(self) -> int:  # type: ignore[override]
        # three distinct nodes per period, so the cyclic corners are not on the band.
        return 4 if self.endpoint == "inclusive" else 3


def _register_static(cls):
    # Leafless pytree: the (frozen, hashable) instance itself is the static aux data.
    jax.tree_util.register_pytree_node(cls, lambda o: ((), o), lambda aux, _: aux)
    return cls


for _cls in (CubicFit, NotAKnot, Natural, Periodic):
    _register_static(_cls)


def normalize_bc(bc: Any, name: str = "bc") -> tuple[BoundaryCondition, BoundaryCondition]:
    """One axis' ``bc`` argument → ``(start, end)``.

    A single condition applies to both ends; a pair gives them separately.
    ``Periodic`` cannot be mixed with another condition.
    """
    if isinstance(bc, BoundaryCondition):
        pair = (bc, bc)
    elif isinstance(bc, (tuple, list)) and len(bc) == 2:
        pair = tuple(bc)
    else:
        raise ValueError(
            f"{name}: expected a boundary condition or a (start, end) pair, got {bc!r}"
        )
    for b in pair:
        if not isinstance(b, BoundaryCondition):
            raise ValueError(f"{name}: {b!r} is not a boundary condition")
    if any(isinstance(b, Periodic) for b in pair) and pair[0] != pair[1]:
        raise ValueError(f"{name}: Periodic must apply to both ends, got {pair!r}")
    return pair  # type: ignore[return-value]
