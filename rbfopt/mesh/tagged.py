"""Meshes of a node set for finite-element codes: cells plus named boundary groups.

* :func:`triangulate`: Delaunay triangles (2-D) or tetrahedra (3-D) of the nodes,
  clipped to the domain, with the boundary facets (edges / triangles on exactly one
  cell) tagged by the domain's boundary group — ready for
  :func:`rbfopt.mesh.write` as Gmsh ``.msh``, ``.vtu`` or ``.xdmf``.

Tag convention (what the returned ``meshio.Mesh`` carries, and what
:func:`~rbfopt.mesh.write` keeps):

* boundary facets of group ``g`` (an index into ``domain.group_names``) have Gmsh
  physical tag ``g + 1``; the cells have tag ``len(group_names) + 1``, named
  ``"domain"``. ``gmsh:geometrical`` equals the physical tag.
* ``field_data`` maps each name to ``[tag, dim]`` (Gmsh physical names), so a Gmsh
  reader finds the groups by name; scikit-fem's ``MeshTri.load`` /
  ``MeshTet.load`` of the Gmsh 2.2 file turn them into ``mesh.boundaries[name]``.
* cell data ``group`` = physical tag - 1 (the group id; ``len(group_names)`` on the
  cells) for formats without Gmsh tags (VTU, XDMF); names come from ``field_data``.

Point indices equal node indices: nodes no kept cell uses stay as unused points
(Delaunay uses every distinct node, so there are none unless nodes repeat or only
outside cells touched them; scikit-fem keeps them as vertices whose degrees of
freedom a solve must condense out). ``field_data`` names only the groups that have
facets, plus ``"domain"``.
"""

from __future__ import annotations

import warnings
from typing import Any

import meshio
import numpy as np
from scipy.spatial import Delaunay, QhullError

__all__ = ["triangulate"]

_CELL = {2: "triangle", 3: "tetra"}
_FACET = {2: "line", 3: "triangle"}
# local facets of a positively oriented cell, each ordered so that its normal
# (right of the edge in 2-D, right-hand rule in 3-D) points out of the cell
_LOCAL_FACETS = {
    2: np.array([[0, 1], [1, 2], [2, 0]]),
    3: np.array([[1, 2, 3], [0, 3, 2], [0, 1, 3], [0, 2, 1]]),
}


def triangulate(
    points: Any,
    domain: Any,
    *,
    kind: np.ndarray | None = None,
    min_quality: float = 1e-3,
) -> meshio.Mesh:
    """Delaunay cells of ``points`` inside ``domain`` with tagged boundary facets.

    Args:
      points: (n, d) node coordinates, ``d == domain.dim`` (2 or 3), or a
        :class:`~rbfopt.nodes.NodeSet` (its ``kind`` is then used).
      domain: a :mod:`rbfopt.geometry` domain (``contains``, ``closest``,
        ``group_names``).
      kind: optional (n,) node kinds (0 interior, > 0 boundary); stored as point data
        ``kind``, and a boundary facet through an interior node (a hole in the mesh)
        raises a ``RuntimeWarning``.
      min_quality: cells with measure / longest edge^d at or below it (slivers of
        collinear or coplanar boundary nodes) are peeled off from the outside; such
        cells enclosed by others stay, so the mesh keeps no holes. With ``kind``,
        only cells of boundary nodes are peeled.

    Cells whose centroid lies outside ``domain`` are dropped (Delaunay fills the
    convex hull), then each boundary facet gets the group of the domain boundary
    point closest to its centroid. See the module docstring for the tags.

    Raises:
      ValueError: naming the argument, for a wrong point shape, a dimension that is
        not ``domain.dim``, fewer than d + 1 points, or no cell left inside.

    Examples:
      >>> import numpy as np, rbfopt as ro
      >>> sq = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]], groups={"bottom": [0]})
      >>> m = triangulate([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], sq)
      >>> m.cells_dict["triangle"].shape, m.cells_dict["line"].shape
      ((4, 3), (4, 2))
      >>> m.cell_data_dict["gmsh:physical"]["line"]
      array([1, 2, 2, 2], dtype=int32)
      >>> {k: v.tolist() for k, v in m.field_data.items()}
      {'bottom': [1, 1], 'outer': [2, 1], 'domain': [3, 2]}
    """
    if kind is None and hasattr(points, "kind"):
        kind = points.kind
    p = _check_points(getattr(points, "points", points), domain)
    cells = _cells_inside(p, domain, min_quality, kind)
    facets = _boundary_facets(cells)
    group = np.asarray(domain.closest(p[facets].mean(axis=1))[2]).astype(np.int64)
    order = np.argsort(group, kind="stable")  # facets of one group together
    facets, group = facets[order], group[order]
    point_data = {}
    if kind is not None:
        point_data["kind"] = _check_kind(kind, len(p), facets)
    return _assemble(p, cells, facets, group, tuple(domain.group_names), point_data)


def _check_points(points: Any, domain: Any) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    d = int(domain.dim)
    if p.ndim != 2 or p.shape[1] != d:
        raise ValueError(f"points: expected shape (n, {d}) for a {d}-D domain, got {p.shape}")
    if len(p) < d + 1:
        raise ValueError(f"points: need at least {d + 1} points in {d}-D, got {len(p)}")
    if not np.all(np.isfinite(p)):
        raise ValueError("points: non-finite coordinates")
    return p


def _check_kind(kind: Any, n: int, facets: np.ndarray) -> np.ndarray:
    k = np.asarray(kind).astype(np.int32)
    if k.shape != (n,):
        raise ValueError(f"kind: expected shape ({n},), got {k.shape}")
    hole = (k[facets] == 0).any(axis=1)
    if hole.any():
        warnings.warn(
            f"triangulate: {int(hole.sum())} boundary facets touch interior nodes "
            "(the mesh has a hole; lower min_quality or check the nodes)",
            RuntimeWarning,
            stacklevel=3,
        )
    return k


#: A cell through an interior node stays when its centroid lies outside by less than
#: this fraction of its longest edge: next to a curved boundary the boundary facet
#: between two nodes cuts the surface, so a valid cell's centroid can fall just outside.
INTERIOR_SLACK = 0.1


def _cells_inside(
    p: np.ndarray, domain: Any, min_quality: float, kind: np.ndarray | None = None
) -> np.ndarray:
    """Positively oriented Delaunay cells with centroid inside (or, through an interior
    node, just outside: :data:`INTERIOR_SLACK`, or with every edge from an interior
    node inside), exposed slivers peeled."""
    if not min_quality >= 0:
        raise ValueError(f"min_quality: expected a number >= 0, got {min_quality}")
    try:
        cells = Delaunay(p).simplices.astype(np.int64)
    except QhullError as e:
        raise ValueError(f"points: Delaunay failed (all points on a line/plane?): {e}") from e
    vol = _signed_measure(p[cells])
    cells[vol < 0, :2] = cells[vol < 0, 1::-1]  # swap two vertices: positive orientation
    centroid = p[cells].mean(axis=1)
    keep = np.array(domain.contains(centroid), dtype=bool)
    if kind is not None and len(kind) == len(p):
        inner = (np.asarray(kind)[cells] == 0).any(axis=1) & ~keep
        if inner.any():
            idx = np.flatnonzero(inner)
            slack = INTERIOR_SLACK * _longest_edge(p[cells[idx]])
            near = np.asarray(domain.sdf(centroid[idx])) < slack
            keep[idx[near | _edges_inside(p, cells[idx], np.asarray(kind), domain, slack)]] = True
    cells = cells[keep]
    if len(cells):
        bad = _relative_measure(p[cells]) <= min_quality
        if kind is not None and len(kind) == len(p):
            # a sliver through an interior node is no boundary artefact: peeling it
            # would expose the node (a hole)
            bad &= (np.asarray(kind)[cells] != 0).all(axis=1)
        cells = _peel(cells, bad)
    if len(cells) == 0:
        raise ValueError(f"domain: no {_CELL[p.shape[1]]} of the points lies inside it")
    return cells


def _edges_inside(p, cells, kind, domain, slack) -> np.ndarray:
    """Whether the midpoints of every edge from an interior node of each cell lie
    inside (up to ``slack``): a cell between an interior node and a curved boundary
    whose chord cuts the surface (its centroid may fall outside), and not one across a
    notch (an edge from the interior node crosses outside)."""
    m = cells.shape[1]
    i, j = np.triu_indices(m, 1)
    inner = kind[cells[:, i]] == 0
    inner |= kind[cells[:, j]] == 0
    mid = 0.5 * (p[cells[:, i]] + p[cells[:, j]])  # (c, pairs, d)
    depth = np.asarray(domain.sdf(mid.reshape(-1, p.shape[1]))).reshape(len(cells), -1)
    return np.all(~inner | (depth < slack[:, None]), axis=1)


def _peel(cells: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Remove ``bad`` cells that touch the boundary, repeatedly: removing an enclosed
    one would leave a hole whose facets look like domain boundary."""
    keep = np.ones(len(cells), dtype=bool)
    while True:
        once = _facet_counts(cells[keep]) == 1
        exposed = np.zeros(len(cells), dtype=bool)
        exposed[keep] = once.any(axis=1)
        drop = keep & bad & exposed
        if not drop.any():
            return cells[keep]
        keep &= ~drop


def _facet_keys(cells: np.ndarray) -> np.ndarray:
    """(m, d+1, d) local facets of each cell, in their outward orientation."""
    return cells[:, _LOCAL_FACETS[cells.shape[1] - 1]]


def _facet_counts(cells: np.ndarray) -> np.ndarray:
    """(m, d+1) how many of ``cells`` hold each local facet (1: boundary, 2: interior)."""
    f = np.sort(_facet_keys(cells), axis=2).reshape(-1, cells.shape[1] - 1)
    _, inv, cnt = np.unique(f, axis=0, return_inverse=True, return_counts=True)
    return cnt[inv.ravel()].reshape(len(cells), -1)


def _boundary_facets(cells: np.ndarray) -> np.ndarray:
    """Facets held by exactly one cell, oriented with outward normal."""
    faces = _facet_keys(cells)
    return faces[_facet_counts(cells) == 1]


def _signed_measure(x: np.ndarray) -> np.ndarray:
    """Signed area (2-D) / volume (3-D) of simplices ``x`` (m, d+1, d)."""
    e = x[:, 1:] - x[:, :1]
    return np.linalg.det(e) / (2.0 if x.shape[2] == 2 else 6.0)


def _longest_edge(x: np.ndarray) -> np.ndarray:
    """(m,) longest edge of the simplices ``x`` (m, d+1, d)."""
    i, j = np.triu_indices(x.shape[1], 1)
    return np.linalg.norm(x[:, i] - x[:, j], axis=2).max(axis=1)


def _relative_measure(x: np.ndarray) -> np.ndarray:
    """|measure| / longest edge^d: ~0.43 / 0.12 for equilateral simplices, 0 when flat."""
    d = x.shape[2]
    return np.abs(_signed_measure(x)) / np.maximum(_longest_edge(x), 1e-300) ** d


def _assemble(
    p: np.ndarray,
    cells: np.ndarray,
    facets: np.ndarray,
    group: np.ndarray,
    names: tuple[str, ...],
    point_data: dict[str, np.ndarray],
) -> meshio.Mesh:
    d = p.shape[1]
    dom = len(names)  # group id of the cells; physical tag = id + 1
    gid = [np.full(len(cells), dom, dtype=np.int32), group.astype(np.int32)]
    field_data = {n: np.array([i + 1, d - 1]) for i, n in enumerate(names) if (group == i).any()}
    field_data["domain"] = np.array([dom + 1, d])
    pad = np.zeros((len(p), 3 - d))  # VTK and XDMF store 3 coordinates
    return meshio.Mesh(
        np.hstack([p, pad]),
        [(_CELL[d], cells), (_FACET[d], facets)],
        point_data=point_data,
        cell_data={
            "gmsh:physical": [g + 1 for g in gid],
            "gmsh:geometrical": [g + 1 for g in gid],
            "group": gid,
        },
        field_data=field_data,
    )
