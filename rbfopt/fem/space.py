"""The degrees of freedom of a simplex mesh and the sparsity of its matrices (host side).

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

__all__ = ["Space", "check_cells", "space"]


@dataclass(frozen=True)
class Space:
    """Lagrange P``degree`` on triangles (E, 3) or (P1) tetrahedra (E, 4) ``cells`` of
    ``n_vertices`` vertices.

    ``dofs`` (E, n_local): each element's global dofs; ``edges`` (n_edges, 2) the P2
    edge dofs' vertices; ``adjl`` (n_dofs, width) the columns of each matrix row
    (padded with the row itself, whose padded entries stay zero); ``slots`` (E,
    n_local, n_local) where each element entry lands in its row; ``active`` (E,) 1 for
    the mesh's cells, 0 for padding (copies of cell 0 that add nothing); ``used``
    (n_dofs,) whether a cell touches the dof (padding dofs' rows are empty: a solve
    fixes them). A pytree (``degree``, ``n_vertices`` static): a study passes it
    through its jitted step, and meshes of equal capacity share one compile.
    """

    degree: int
    cells: np.ndarray
    n_vertices: int
    dofs: np.ndarray
    edges: np.ndarray
    adjl: np.ndarray
    slots: np.ndarray
    active: np.ndarray
    used: np.ndarray

    @property
    def dim(self) -> int:
        """2 for triangles, 3 for tetrahedra."""
        return self.cells.shape[1] - 1

    @property
    def n_dofs(self) -> int:
        return self.adjl.shape[0]

    @property
    def capacity(self) -> tuple[int, int, int]:
        """The padded sizes ``(n_cells, n_dofs, width)``."""
        return len(self.cells), self.n_dofs, self.adjl.shape[1]

    def edge_dofs(self, pairs: np.ndarray) -> np.ndarray:
        """The P2 dofs of the edges with vertex ``pairs`` (m, 2), in any order."""
        key = np.sort(np.asarray(pairs), axis=1)
        n = self.n_vertices
        edges = np.asarray(self.edges)[np.asarray(self.used)[self.n_vertices :]]
        codes, want = edges[:, 0] * n + edges[:, 1], key[:, 0] * n + key[:, 1]
        idx = np.minimum(np.searchsorted(codes, want), max(len(codes) - 1, 0))
        bad = np.flatnonzero(codes[idx] != want) if len(codes) else np.arange(len(want))
        if bad.size:
            raise ValueError(f"pairs: rows {bad[:10]} are no edges of the mesh")
        return self.n_vertices + idx

    def dof_points(self, points: jax.Array) -> jax.Array:
        """The dofs' positions: the vertices, then (P2) the edge midpoints."""
        x = jnp.asarray(points)
        if self.degree == 1:
            return x
        return jnp.concatenate([x, 0.5 * (x[self.edges[:, 0]] + x[self.edges[:, 1]])])


def space(
    cells: np.ndarray,
    n_vertices: int,
    degree: int = 1,
    capacity: tuple | None = None,
    points: np.ndarray | None = None,
) -> Space:
    """The :class:`Space` of P1 or P2 on the triangles ``cells`` (E, 3), or of P1 on
    the tetrahedra ``cells`` (E, 4).

    ``capacity`` ``(n_cells, n_dofs, width)``: pad the arrays to at least these sizes
    (inactive cells, untouched dofs, wider rows), so that meshes of one node set with
    slightly different connectivity share one compiled solve; the sizes used are
    ``sp.capacity``. With ``points`` (n_vertices, 2), the cells are checked: an
    inverted (clockwise, negatively oriented) or zero-measure cell is a ValueError naming it.

    Examples:
      >>> import numpy as np
      >>> from rbfopt.fem import space
      >>> sp = space(np.array([[0, 1, 2], [1, 3, 2]]), 4, degree=2)
      >>> sp.n_dofs, sp.dofs.shape  # 4 vertices + 5 edges
      (9, (2, 6))
      >>> space(np.array([[0, 1, 2, 3]]), 4).dim  # one tetrahedron
      3
    """
    cells = np.asarray(cells)
    if degree not in (1, 2):
        raise ValueError(f"degree: expected 1 or 2, got {degree!r}")
    if (
        cells.ndim != 2
        or cells.shape[1] not in (3, 4)
        or not np.issubdtype(cells.dtype, np.integer)
    ):
        raise ValueError(
            f"cells: expected integer triangles (E, 3) or tetrahedra (E, 4), got {cells.shape}"
        )
    if degree == 2 and cells.shape[1] == 4:
        raise ValueError("degree: tetrahedra have P1 (degree=1) here, not P2")
    bad = np.flatnonzero(np.any((cells < 0) | (cells >= n_vertices), axis=1))
    if bad.size:
        raise ValueError(f"cells: vertex indices outside 0..{n_vertices - 1} in cells {bad[:10]}")
    if points is not None:
        check_cells(cells, points)
    dofs, edges = cells, np.zeros((0, 2), np.int64)
    if degree == 2:
        pairs = np.sort(np.stack([cells[:, list(e)] for e in EDGES], axis=1), axis=2)
        edges, inverse = np.unique(pairs.reshape(-1, 2), axis=0, return_inverse=True)
        dofs = np.concatenate([cells, n_vertices + inverse.reshape(-1, 3)], axis=1)
    n_cells, n_dofs, width = capacity if capacity is not None else (0, 0, 0)
    # P1's dofs are the vertices: no padding dofs (``dof_points`` is the vertices)
    n_dofs = max(n_dofs, n_vertices + len(edges)) if degree == 2 else n_vertices
    adjl, slots = _pattern(dofs, n_dofs, width)
    used = np.zeros(n_dofs, bool)
    used[dofs] = True
    active = np.zeros(max(n_cells, len(cells)))
    active[: len(cells)] = 1.0
    pad = len(active) - len(cells)
    cells, dofs, slots = (
        np.concatenate([a, np.repeat(a[:1], pad, axis=0)]) for a in (cells, dofs, slots)
    )
    if degree == 2:  # padding dofs sit at the first edge's midpoint
        edges = np.concatenate([edges, np.repeat(edges[:1], n_dofs - n_vertices - len(edges), 0)])
    return Space(degree, cells, n_vertices, dofs, edges, adjl, slots, active, used)


def check_cells(cells: np.ndarray, points: np.ndarray) -> None:
    """Raise a ValueError naming the cells that are inverted (clockwise triangles,
    negatively oriented tetrahedra) or flat (measure at most 1e-12 of their longest
    edge to the power d, up to the simplex's d!).

    Examples:
      >>> import numpy as np
      >>> from rbfopt.fem.space import check_cells
      >>> x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
      >>> check_cells(np.array([[0, 1, 2], [0, 2, 1], [0, 1, 3]]), x)
      Traceback (most recent call last):
      ...
      ValueError: cells: inverted (clockwise) cells [1]; zero-area cells [2]
    """
    x = np.asarray(points, dtype=np.float64)
    cells = np.asarray(cells)
    d = cells.shape[1] - 1
    if x.ndim != 2 or x.shape[1] != d or not np.all(np.isfinite(x)):
        raise ValueError(f"points: expected finite (n, {d}) vertices, got shape {x.shape}")
    p = x[cells]
    det = np.linalg.det(np.swapaxes(p[:, 1:] - p[:, :1], 1, 2))  # d! times the measure
    corners = np.arange(d + 1)
    longest = np.max(np.sum((p[:, corners] - p[:, np.roll(corners, 1)]) ** 2, axis=2), axis=1)
    if d == 3:
        longest = np.maximum(longest, np.sum((p[:, 1] - p[:, 3]) ** 2, axis=1))
        longest = np.maximum(longest, np.sum((p[:, 0] - p[:, 2]) ** 2, axis=1))
    flat = np.abs(det) <= 2e-12 * longest ** (d / 2)
    parts = []
    inverted = np.flatnonzero((det < 0) & ~flat)
    if inverted.size:
        sense = "clockwise" if d == 2 else "negatively oriented"
        parts.append(f"inverted ({sense}) cells {inverted[:10]}")
    if flat.any():
        parts.append(f"zero-{'area' if d == 2 else 'volume'} cells {np.flatnonzero(flat)[:10]}")
    if parts:
        raise ValueError("cells: " + "; ".join(parts))


def _pattern(dofs: np.ndarray, n: int, width: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each row's columns, padded to the widest row (at least ``width``), and each
    element entry's slot."""
    e, m = dofs.shape
    rows = np.repeat(dofs, m, axis=1).ravel()
    cols = np.tile(dofs, (1, m)).ravel()
    key = np.unique(rows * n + cols)
    r, c = key // n, key % n
    count = np.bincount(r, minlength=n)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    pos = np.arange(key.size) - start[r]
    adjl = np.repeat(np.arange(n)[:, None], max(count.max(), width), axis=1)
    adjl[r, pos] = c
    slots = pos[np.searchsorted(key, rows * n + cols)].reshape(e, m, m)
    return adjl, slots


jax.tree_util.register_dataclass(
    Space,
    data_fields=["cells", "dofs", "edges", "adjl", "slots", "active", "used"],
    meta_fields=["degree", "n_vertices"],
)
