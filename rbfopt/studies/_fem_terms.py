"""The mesh terms of a finite-element study: element shapes, boundary facets that stay
Delaunay edges, and the uniform refinement behind the energy objective's scale.

* :func:`shape_barrier`: ``sum relu(theta_0 / theta - 1)^2`` over the triangles'
  corners (the tetrahedra's dihedral angles), without bound as a cell flattens, and
  whether every cell is positively oriented (an inverted one makes the study's loss
  ``inf``);
* :func:`gabriel_neighbours` (host) and :func:`gabriel_barrier`: vertices kept out of
  the boundary facets' diametral circles, so that re-triangulation never drops a
  boundary facet (a hole, or a cell across the boundary). Off in 3-D (no
  neighbours): a triangle facet's diametral sphere reaches into the first layer of
  interior vertices of a generated node set (the term is large on a valid start),
  while a facet on the convex hull or on a convex hole is
  Delaunay whatever the interior vertices do; a step that opens a hole elsewhere has
  loss ``inf`` and is rejected;
* :func:`refine`: each triangle split in four.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import meshio
import numpy as np
from scipy.spatial import cKDTree

from ..fem.space import Space
from ..mesh.tagged import _LOCAL_FACETS

#: The angle a padding cell reports: above any floor (``min_angle`` < 60 degrees).
_PADDING = 0.5 * np.pi


def shape_barrier(x: jax.Array, sp: Space, floor: jax.Array):
    """``sum relu(floor / theta - 1)^2`` over the corners of the active cells (the six
    dihedral angles of tetrahedra), the smallest angle, and whether every active cell
    is positively oriented. ``floor``: one angle per cell (E,)."""
    if sp.dim == 3:
        theta, ok = dihedral_angles(x, sp)
    else:
        theta, ok = _corner_angles(x, sp)
    barrier = jnp.sum(jax.nn.relu(jnp.asarray(floor)[:, None] / theta - 1.0) ** 2)
    return barrier, jnp.min(theta), ok


def _corner_angles(x: jax.Array, sp: Space):
    """The triangles' corner angles (E, 3) (a right angle for padding) and whether
    every active cell is counter-clockwise."""
    p = jnp.asarray(x)[sp.cells]  # (E, 3, 2)
    u = jnp.roll(p, -1, axis=1) - p
    v = jnp.roll(p, -2, axis=1) - p
    cross = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
    dot = jnp.sum(u * v, axis=-1)
    active = jnp.asarray(sp.active)[:, None] > 0
    ok = jnp.all(jnp.where(active, cross > 0, True))
    theta = jnp.arctan2(jnp.where(cross > 0, cross, 1.0), dot)
    return jnp.where(active, theta, _PADDING), ok


def dihedral_angles(x: jax.Array, sp: Space):
    """The tetrahedra's dihedral angles (E, 6), ``pi`` minus the angle between the
    outward normals of two faces (a right angle for padding and inverted cells), and
    whether every active cell is positively oriented."""
    p = jnp.asarray(x)[sp.cells]  # (E, 4, 3)
    e = [p[:, k] - p[:, 0] for k in (1, 2, 3)]
    volume = jnp.sum(e[0] * jnp.cross(e[1], e[2]), axis=1)
    active = jnp.asarray(sp.active) > 0
    ok = jnp.all(jnp.where(active, volume > 0, True))
    faces = p[:, _LOCAL_FACETS[3]]  # (E, 4, 3, 3), outward when volume > 0
    n = jnp.cross(faces[:, :, 1] - faces[:, :, 0], faces[:, :, 2] - faces[:, :, 0])
    i, j = np.triu_indices(4, 1)
    # sin and cos of pi minus the normals' angle; both faces' areas scale them alike
    sin2 = jnp.sum(jnp.cross(n[:, i], n[:, j]) ** 2, axis=-1)
    cos = -jnp.sum(n[:, i] * n[:, j], axis=-1)
    good = (active & (volume > 0))[:, None] & (sin2 > 0)  # (no NaN gradient when flat)
    theta = jnp.arctan2(jnp.sqrt(jnp.where(good, sin2, 1.0)), jnp.where(good, cos, 0.0))
    return jnp.where(good, theta, _PADDING), ok


#: Vertices near each boundary facet checked against its diametral circle.
GABRIEL_NEIGHBOURS = 6
#: The circle's radius is widened by this factor (a vertex on it sees the facet at
#: 2 atan(1 / 1.1) = 85 degrees).
GABRIEL_WIDEN = 1.1


def gabriel_neighbours(
    x: np.ndarray, facets: np.ndarray, capacity: int, count: int = GABRIEL_NEIGHBOURS
) -> np.ndarray:
    """Rows ``(a, b[, c], real, v_1 .. v_count)``: each boundary facet (an edge, or a
    triangle in 3-D), 1 (0 for the padding up to ``capacity`` rows) and the ``count``
    vertices nearest its centroid other than its own (host side, at each restencil)."""
    d = facets.shape[1]
    near = np.zeros((len(facets), 0), int)
    if count:
        _, idx = cKDTree(x).query(x[facets].mean(axis=1), k=min(count + d, len(x)))
        keep = ~np.any(idx[:, :, None] == facets[:, None, :], axis=2)
        near = np.stack([row[k][:count] for row, k in zip(idx, keep, strict=True)])
    rows = np.c_[facets, np.ones(len(facets), int), near]
    mask = np.r_[np.ones(d, int), 0, np.ones(near.shape[1], int)]
    return np.concatenate([rows, np.repeat(rows[:1] * mask, capacity - len(rows), 0)])


def gabriel_barrier(x: jax.Array, rows: jax.Array) -> jax.Array:
    """``sum relu(1 - |v - m|^2 / (w r)^2)^2`` over the boundary facets (centroid m,
    r the largest distance from m to a corner: half the length of an edge;
    w = GABRIEL_WIDEN) and the vertices v near them: a vertex inside a facet's
    diametral circle (sphere) can take the facet out of the Delaunay triangulation (a
    mesh with a hole, or a cell across the boundary). Outside every such circle, the
    boundary facets stay Delaunay facets."""
    d = jnp.shape(x)[1]
    corners = x[rows[:, :d]]  # (L, d, d)
    mid = jnp.mean(corners, axis=1)
    r2 = jnp.max(jnp.sum((corners - mid[:, None]) ** 2, axis=2), axis=1)
    d2 = jnp.sum((x[rows[:, d + 1 :]] - mid[:, None]) ** 2, axis=2)
    pen = jax.nn.relu(1.0 - d2 / (GABRIEL_WIDEN**2 * r2[:, None])) ** 2
    return jnp.sum(rows[:, d : d + 1] * pen)


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
