"""How a node-layout study's parameters move the nodes.

* ``"nodes"``: every node's position is a parameter (units of the starting spacing h);
  the driver's projection puts boundary nodes back on their boundary and interior nodes
  inside after each step.
* ``"smooth"``: the parameters are a displacement field on a coarse tensor grid
  (spacing ``smooth_cells * h``, in units of h), carried to the nodes by the project's
  C² cubic grid spline (:func:`rbfopt.grid.cubic_interp`, whose adjoint gives the
  gradient):

      x_i = P(x0_i + h s(x0_i)),   s = cubic spline of the grid values,

  with ``P`` the traceable projection of :func:`rbfopt.nodes.projection` (boundary nodes
  slide along their boundary, corners stay, interior nodes stay inside). Neighbouring
  nodes move alike, so the layout stays locally as regular as the start's and can only
  grade: no per-node freedom to tune one stencil set.
* ``"multiscale"``: both, summed: ``x_i = P(x0_i + h (s(x0_i) + o_i))`` with per-node
  offsets ``o_i``. The field carries nodes far (a region empties toward a feature
  many spacings away, which per-node steps of a fraction of h take hundreds of steps
  to do), the offsets shape the layout below the field's scale.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import grid

MOVEMENTS = ("nodes", "smooth", "multiscale")


class NodeMovement:
    """Per-node positions in units of ``h``; features fixed; projected after each step."""

    def __init__(self, x0: jax.Array, fixed: jax.Array, h: float, project_x: Any) -> None:
        self.x0, self.fixed, self.h, self.project_x = x0, fixed, h, project_x

    def init(self) -> dict:
        return {"points": self.x0 / self.h}

    def nodes(self, p: dict) -> jax.Array:
        return jnp.where(self.fixed, self.x0, p["points"] * self.h)

    def project(self, p: dict) -> dict:
        return {"points": self.project_x(p["points"] * self.h) / self.h}


class SmoothMovement:
    """A displacement field on a coarse grid over ``bounds`` (see the module docstring)."""

    def __init__(self, x0: jax.Array, h: float, project_x: Any, bounds: Any, cells: float):
        self.x0, self.h, self.project_x = x0, h, project_x
        lo, hi = (np.asarray(b, dtype=np.float64) for b in bounds)
        step = cells * h
        # one cell beyond the bounds on every side: nodes on the boundary lie inside
        counts = np.ceil((hi - lo) / step).astype(int) + 3
        self.axes = tuple(
            jnp.asarray(a - step + step * np.arange(m)) for a, m in zip(lo, counts, strict=True)
        )
        self.shape = (*(int(m) for m in counts), x0.shape[1])

    def init(self) -> dict:
        return {"field": jnp.zeros(self.shape, dtype=self.x0.dtype)}

    def shift(self, p: dict) -> jax.Array:
        """The field's displacement of the starting nodes, in units of h."""
        return grid.cubic_interp(self.axes, p["field"])(self.x0)

    def nodes(self, p: dict) -> jax.Array:
        return self.project_x(self.x0 + self.h * self.shift(p))

    def project(self, p: dict) -> dict:
        return p


class MultiscaleMovement(SmoothMovement):
    """A coarse displacement field plus per-node offsets (see the module docstring)."""

    def init(self) -> dict:
        return {**super().init(), "offsets": jnp.zeros_like(self.x0)}

    def nodes(self, p: dict) -> jax.Array:
        return self.project_x(self.x0 + self.h * (self.shift(p) + p["offsets"]))


def movement_for(kind: str, start: Any, h: float, project_x: Any, domain: Any, cells: float):
    """The movement ``kind`` (one of :data:`MOVEMENTS`) of a study's starting node set."""
    if kind not in MOVEMENTS:
        raise ValueError(f"movement: expected one of {MOVEMENTS}, got {kind!r}")
    x0 = jnp.asarray(start.points)
    if kind != "nodes":
        cls = SmoothMovement if kind == "smooth" else MultiscaleMovement
        return cls(x0, h, project_x, domain.bounds, cells)
    return NodeMovement(x0, jnp.asarray(start.kind == 2)[:, None], h, project_x)
