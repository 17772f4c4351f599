"""The mesh terms of a finite-element study: element shapes, boundary facets that stay
Delaunay edges, and the uniform refinement behind the energy objective's scale.

* :func:`shape_barrier`: ``sum relu(theta_0 / theta - 1)^2`` over the triangles'
  corners, without bound as a triangle flattens, and whether every cell is positively
  oriented (an inverted one makes the study's loss ``inf``);
* :func:`gabriel_neighbours` (host) and :func:`gabriel_barrier`: vertices kept out of
  the boundary facets' diametral circles, so that re-triangulation never drops a
  boundary facet (a hole, or a cell across the boundary);
* :func:`refine`: each triangle split in four.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import meshio
import numpy as np
from scipy.spatial import cKDTree

from ..fem.space import Space


def shape_barrier(x: jax.Array, sp: Space, floor: float):
    """``sum relu(floor / theta - 1)^2`` over the corners of the active cells, the
    smallest angle, and whether every active cell is positively oriented."""
    p = jnp.asarray(x)[sp.cells]  # (E, 3, 2)
    u = jnp.roll(p, -1, axis=1) - p
    v = jnp.roll(p, -2, axis=1) - p
    cross = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
    dot = jnp.sum(u * v, axis=-1)
    active = jnp.asarray(sp.active)[:, None] > 0
    ok = jnp.all(jnp.where(active, cross > 0, True))
    theta = jnp.arctan2(jnp.where(cross > 0, cross, 1.0), dot)
    theta = jnp.where(active, theta, 1.0)
    barrier = jnp.sum(jnp.where(active, jax.nn.relu(floor / theta - 1.0) ** 2, 0.0))
    return barrier, jnp.min(theta), ok


#: Vertices near each boundary facet checked against its diametral circle.
GABRIEL_NEIGHBOURS = 6
#: The circle's radius is widened by this factor (a vertex on it sees the facet at
#: 2 atan(1 / 1.1) = 85 degrees).
GABRIEL_WIDEN = 1.1


def gabriel_neighbours(x: np.ndarray, lines: np.ndarray, capacity: int) -> np.ndarray:
    """Rows ``(a, b, real, v_1 .. v_G)``: each boundary facet ``(a, b)``, 1 (0 for the
    padding up to ``capacity`` rows) and the G vertices nearest its midpoint other than
    a and b (host side, at each restencil)."""
    mid = 0.5 * (x[lines[:, 0]] + x[lines[:, 1]])
    _, idx = cKDTree(x).query(mid, k=min(GABRIEL_NEIGHBOURS + 2, len(x)))
    keep = (idx != lines[:, :1]) & (idx != lines[:, 1:2])
    near = np.stack([row[k][:GABRIEL_NEIGHBOURS] for row, k in zip(idx, keep, strict=True)])
    rows = np.c_[lines, np.ones(len(lines), int), near]
    pad = np.repeat(rows[:1] * np.r_[1, 1, 0, np.ones(near.shape[1], int)], capacity - len(rows), 0)
    return np.concatenate([rows, pad])


def gabriel_barrier(x: jax.Array, rows: jax.Array) -> jax.Array:
    """``sum relu(1 - |v - m|^2 / (w r)^2)^2`` over the boundary facets (midpoint m,
    half-length r, w = GABRIEL_WIDEN) and the vertices v near them: a vertex inside a
    facet's diametral circle can take the facet out of the Delaunay triangulation (a
    mesh with a hole, or a cell across the boundary). Outside every such circle, the
    boundary facets stay Delaunay edges."""
    a, b = x[rows[:, 0]], x[rows[:, 1]]
    mid, r2 = 0.5 * (a + b), 0.25 * jnp.sum((b - a) ** 2, axis=1)
    d2 = jnp.sum((x[rows[:, 3:]] - mid[:, None]) ** 2, axis=2)
    pen = jax.nn.relu(1.0 - d2 / (GABRIEL_WIDEN**2 * r2[:, None])) ** 2
    return jnp.sum(rows[:, 2:3] * pen)


def refine(x: np.ndarray, mesh):
    """Each triangle split in four at its edge midpoints (boundary midpoints on the
    straight facets): vertices and a mesh with the facets' groups, for the energy scale."""
    cells, lines = mesh.cells[0].data, mesh.cells[1].data
    group = np.asarray(mesh.cell_data["group"][1])
    n = len(x)
    pairs = np.sort(np.concatenate([cells[:, [0, 1]], cells[:, [1, 2]], cells[:, [2, 0]]]), axis=1)
    edges, inv = np.unique(pairs, axis=0, return_inverse=True)
    mid = n + inv.reshape(3, -1).T  # (E, 3): midpoints of edges 01, 12, 20
    xf = np.concatenate([x, 0.5 * (x[edges[:, 0]] + x[edges[:, 1]])])
    a, b, c = cells.T
    m01, m12, m20 = mid.T
    fine = np.concatenate(
        [np.c_[a, m01, m20], np.c_[m01, b, m12], np.c_[m20, m12, c], np.c_[m01, m12, m20]]
    )
    key = np.sort(lines, axis=1)
    lm = n + np.searchsorted(edges[:, 0] * n + edges[:, 1], key[:, 0] * n + key[:, 1])
    flines = np.concatenate([np.c_[lines[:, 0], lm], np.c_[lm, lines[:, 1]]])
    fgroup = np.concatenate([group, group])
    return xf, meshio.Mesh(xf, [("triangle", fine), ("line", flines)],
                           cell_data={"group": [np.zeros(len(fine), int), fgroup]})  # fmt: skip
