"""The degrees of freedom of a triangle mesh and the sparsity of its matrices (host side).

Built once per connectivity (a study re-triangulates only at a restencil); vertex
positions stay free, so everything assembled on a :class:`Space` is traceable w.r.t.
them. Global dofs: the vertices ``0..n_vertices-1``, then for P2 one per edge, edges
sorted by their vertex pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .elements import EDGES

__all__ = ["Space", "space"]


@dataclass(frozen=True)
class Space:
    """Lagrange P``degree`` on triangles ``cells`` (E, 3) of ``n_vertices`` vertices.

    ``dofs`` (E, n_local): each element's global dofs; ``edges`` (n_edges, 2) the P2
    edge dofs' vertices; ``adjl`` (n_dofs, width) the columns of each matrix row
    (padded with the row itself, whose padded entries stay zero); ``slots`` (E,
    n_local, n_local) where each element entry lands in its row.
    """

    degree: int
    cells: np.ndarray
    n_vertices: int
    dofs: np.ndarray
    edges: np.ndarray
    adjl: np.ndarray
    slots: np.ndarray

    @property
    def n_dofs(self) -> int:
        return self.adjl.shape[0]

    def dof_points(self, points: jax.Array) -> jax.Array:
        """The dofs' positions: the vertices, then (P2) the edge midpoints."""
        x = jnp.asarray(points)
        if self.degree == 1:
            return x
        return jnp.concatenate([x, 0.5 * (x[self.edges[:, 0]] + x[self.edges[:, 1]])])


def space(cells: np.ndarray, n_vertices: int, degree: int = 1) -> Space:
    """The :class:`Space` of P1 or P2 on the triangles ``cells`` (E, 3).

    Examples:
      >>> import numpy as np
      >>> from rbfopt.fem import space
      >>> sp = space(np.array([[0, 1, 2], [1, 3, 2]]), 4, degree=2)
      >>> sp.n_dofs, sp.dofs.shape  # 4 vertices + 5 edges
      (9, (2, 6))
    """
    cells = np.asarray(cells)
    if degree not in (1, 2):
        raise ValueError(f"degree: expected 1 or 2, got {degree!r}")
    if cells.ndim != 2 or cells.shape[1] != 3 or not np.issubdtype(cells.dtype, np.integer):
        raise ValueError(f"cells: expected integer triangles (E, 3), got {cells.shape}")
    bad = np.flatnonzero(np.any((cells < 0) | (cells >= n_vertices), axis=1))
    if bad.size:
        raise ValueError(f"cells: vertex indices outside 0..{n_vertices - 1} in cells {bad[:10]}")
    dofs, edges = cells, np.zeros((0, 2), np.int64)
    if degree == 2:
        pairs = np.sort(np.stack([cells[:, list(e)] for e in EDGES], axis=1), axis=2)
        edges, inverse = np.unique(pairs.reshape(-1, 2), axis=0, return_inverse=True)
        dofs = np.concatenate([cells, n_vertices + inverse.reshape(-1, 3)], axis=1)
    adjl, slots = _pattern(dofs, n_vertices + len(edges))
    return Space(degree, cells, n_vertices, dofs, edges, adjl, slots)


def _pattern(dofs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's columns, padded to the widest row, and each element entry's slot."""
    e, m = dofs.shape
    rows = np.repeat(dofs, m, axis=1).ravel()
    cols = np.tile(dofs, (1, m)).ravel()
    key = np.unique(rows * n + cols)
    r, c = key // n, key % n
    count = np.bincount(r, minlength=n)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    pos = np.arange(key.size) - start[r]
    adjl = np.repeat(np.arange(n)[:, None], count.max(), axis=1)
    adjl[r, pos] = c
    slots = pos[np.searchsorted(key, rows * n + cols)].reshape(e, m, m)
    return adjl, slots
