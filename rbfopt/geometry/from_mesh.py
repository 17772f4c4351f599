"""Domains from mesh files (anything meshio reads) and Gmsh geometry files (``.geo``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import meshio
import numpy as np

from .._util import fmt_indices
from .base import Domain
from .polygon import Polygon
from .surface import Surface

_LINES = ("line",)
_SURF = ("triangle", "quad")
_AREA = ("triangle", "quad")
_VOLUME = ("tetra",)


def from_mesh(
    mesh: str | os.PathLike | meshio.Mesh, *, feature_angle: float | None = None
) -> Domain:
    """The domain bounded by the boundary cells of a mesh: a :class:`Polygon` or a :class:`Surface`.

    Args:
      mesh: a path to any file meshio reads (.msh, .vtu, .stl, .obj, ...), a Gmsh
        geometry file (``.geo``, meshed with the optional ``gmsh`` package: the
        ``gmsh`` extra), or a ``meshio.Mesh``.
      feature_angle: passed to the domain (default: 10 degrees in 2-D, 30 in 3-D).

    The mesh is 2-D when its points have two coordinates or all z = 0. When the mesh
    has area cells (triangles/quads in 2-D) or tetrahedra (3-D), the boundary is their
    outline (the facets of exactly one cell) and the line (2-D) or triangle/quad (3-D)
    cells only name groups; otherwise the boundary is the line cells (2-D) or the
    triangle cells, quads split in two (3-D). Coincident points are merged (STL files
    repeat them). Named groups come from Gmsh physical groups (cell data
    ``gmsh:physical`` with names in ``field_data``; a physical group without a name is
    ``"physical<tag>"``) or else from the mesh's cell sets; other cells keep their
    default group. Several closed loops or
    shells make holes: a loop or shell inside an odd number of others is a hole.

    Raises:
      ValueError: (naming ``mesh``) when it has no boundary cells, or the boundary is not
        closed (the offending vertices or edges), and the domains' own checks.
      ImportError: for a ``.geo`` file when gmsh is not installed.

    Examples:
      >>> import meshio, numpy as np, rbfopt as ro
      >>> pts = np.array([[0, 0], [2, 0], [2, 1], [0, 1]], float)
      >>> m = meshio.Mesh(pts, [("line", [[0, 1], [1, 2], [2, 3], [3, 0]])])
      >>> dom = ro.geometry.from_mesh(m)
      >>> type(dom).__name__, dom.measure, dom.group_names
      ('Polygon', 2.0, ('outer',))
    """
    if isinstance(mesh, (str, os.PathLike)):
        path = Path(mesh)
        if not path.exists():
            raise ValueError(f"mesh: no such file {str(path)!r}")
        mesh = _read_geo(path) if path.suffix.lower() == ".geo" else meshio.read(path)
    if not isinstance(mesh, meshio.Mesh):
        raise ValueError(f"mesh: expected a path or a meshio.Mesh, got {type(mesh).__name__}")
    pts = np.asarray(mesh.points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] not in (2, 3) or len(pts) == 0:
        raise ValueError(f"mesh: points of shape {pts.shape}; expected (n, 2) or (n, 3)")
    bad = np.flatnonzero(~np.isfinite(pts).all(axis=1))
    if bad.size:
        raise ValueError(f"mesh: NaN or inf in points {fmt_indices(bad)}")
    ext = float(np.ptp(pts, axis=0).max())
    two_d = pts.shape[1] == 2 or float(np.abs(pts[:, 2]).max()) <= 1e-12 * max(ext, 1e-300)
    names, name_order = _block_names(mesh, 1 if two_d else 2)
    types = [blk.type for blk in mesh.cells]
    if two_d:
        pts = pts[:, :2]
        cells, groups = _gather(mesh, names, _LINES, 2)
        inner, _ = _gather(mesh, names, _AREA, None)
    else:
        cells, groups = _gather(mesh, names, _SURF, 3)
        inner, _ = _gather(mesh, names, _VOLUME, 4)
    if inner is not None:
        # a full mesh: its outline is the boundary (Gmsh writes only the curves or
        # surfaces of physical groups); boundary cells only name the groups
        outline = _outline(inner)
        groups = _match(outline, cells, groups)
        cells = outline
    if cells is None or len(cells) == 0:
        want = "line" if two_d else "triangle"
        raise ValueError(
            f"mesh: no boundary cells ({want} cells, or cells to take the boundary of) in a "
            f"{2 if two_d else 3}-D mesh with cell types {types}"
        )
    pts, cells, labels = _merge(pts, cells)
    if two_d:
        loops, order = _loops(cells, labels)
        edge_groups = [groups[i] for i in order]
        angle = 10.0 if feature_angle is None else feature_angle
        return Polygon._from_loops(
            [pts[lp] for lp in loops], edge_groups, "mesh", angle, name_order=name_order
        )
    angle = 30.0 if feature_angle is None else feature_angle
    return Surface._from_triangles(
        pts, cells, groups, "mesh", angle, name_order=name_order, labels=labels
    )


def _read_geo(path: Path) -> meshio.Mesh:
    try:
        import gmsh
    except ImportError as e:
        raise ImportError(
            "from_mesh: reading a .geo file needs the optional gmsh package: "
            "pip install 'rbfopt-fd[gmsh]' (or pip install gmsh)"
        ) from e
    gmsh.initialize()
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("Mesh.SaveAll", 0)
        gmsh.open(str(path))
        dim = gmsh.model.getDimension()
        gmsh.model.mesh.generate(max(dim - 1, 1))
        if not gmsh.model.getPhysicalGroups():
            gmsh.option.setNumber("Mesh.SaveAll", 1)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "mesh.msh")
            gmsh.write(out)
            return meshio.read(out)
    finally:
        gmsh.finalize()


def _block_names(mesh: meshio.Mesh, dim: int) -> tuple[list[np.ndarray | None], tuple[str, ...]]:
    """A group name (or None) per cell of each block, Gmsh physical groups (by tag) or
    else cell sets (in their order); and the names in that order."""
    out: list[np.ndarray | None] = [None] * len(mesh.cells)
    phys = mesh.cell_data.get("gmsh:physical")
    if phys is not None:
        tag_name = {}
        for name, (tag, d) in ((k, np.asarray(v).ravel()[:2]) for k, v in mesh.field_data.items()):
            if int(d) == dim:
                tag_name[int(tag)] = name
        for i, tags in enumerate(phys):
            tags = np.asarray(tags).ravel()
            out[i] = np.array(
                [None if t == 0 else tag_name.get(int(t), f"physical{int(t)}") for t in tags],
                dtype=object,
            )
        return out, tuple(tag_name[t] for t in sorted(tag_name))
    for name, per_block in (mesh.cell_sets or {}).items():
        if name.startswith("gmsh:"):
            continue
        for i, idx in enumerate(per_block):
            if idx is None or len(idx) == 0:
                continue
            if out[i] is None:
                out[i] = np.full(len(mesh.cells[i].data), None, dtype=object)
            out[i][np.asarray(idx, dtype=np.int64)] = name
    return out, tuple(k for k in (mesh.cell_sets or {}) if not k.startswith("gmsh:"))


def _gather(mesh, names, types, width):
    """Cells of the given types (quads split into triangles when width is 3)."""
    cells, groups = [], []
    for blk, nm in zip(mesh.cells, names, strict=True):
        if blk.type not in types:
            continue
        c = np.asarray(blk.data, dtype=np.int64)
        g = nm if nm is not None else np.full(len(c), None, dtype=object)
        if blk.type == "quad" and width == 3:
            c = np.concatenate([c[:, [0, 1, 2]], c[:, [0, 2, 3]]])
            g = np.concatenate([g, g])
        elif blk.type == "quad" and width is None:
            c = np.concatenate([c[:, [0, 1, 2]], c[:, [0, 2, 3]]])
        cells.append(c)
        groups.append(g)
    if not cells:
        return None, None
    return np.concatenate(cells), list(np.concatenate(groups))


def _outline(cells: np.ndarray) -> np.ndarray:
    """Facets (edges of triangles, faces of tetrahedra) used by exactly one cell."""
    k = cells.shape[1]
    facets = np.concatenate([np.delete(cells, i, axis=1) for i in range(k)])
    key = np.sort(facets, axis=1)
    _, inv, cnt = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    return facets[cnt[inv.ravel()] == 1]


def _match(outline: np.ndarray, cells: np.ndarray | None, groups: list | None) -> list:
    """The group of each outline facet: that of the boundary cell with its vertices."""
    if cells is None:
        return [None] * len(outline)
    named = {tuple(sorted(c)): g for c, g in zip(cells.tolist(), groups, strict=True) if g}
    return [named.get(tuple(sorted(c))) for c in outline.tolist()]


def _merge(pts: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge coincident points and drop unused ones: points, cells, and for each point
    the index of one of its originals (for error messages)."""
    used = np.unique(cells)
    u, first, inv = np.unique(pts[used], axis=0, return_index=True, return_inverse=True)
    remap = np.zeros(len(pts), dtype=np.int64)
    remap[used] = inv.ravel()
    return u, remap[cells], used[first]


def _loops(edges: np.ndarray, labels: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Closed vertex loops through line cells; the cells in loop order. ``labels``: the
    mesh's point index of each vertex, for error messages."""
    nv = int(edges.max()) + 1
    deg = np.bincount(edges.ravel(), minlength=nv)
    used = np.flatnonzero(deg > 0)
    bad = used[deg[used] != 2]
    if bad.size:
        raise ValueError(
            f"mesh: boundary is not closed: points {fmt_indices(np.sort(labels[bad]))} have "
            f"{sorted(set(deg[bad].tolist()))} boundary edges each instead of 2"
        )
    zero = np.flatnonzero(edges[:, 0] == edges[:, 1])
    if zero.size:
        raise ValueError(f"mesh: zero-length boundary edges {fmt_indices(zero)}")
    inc = np.full((nv, 2), -1)
    order = np.argsort(edges.ravel(), kind="stable")
    vs = edges.ravel()[order]
    inc[vs[0::2], 0] = order[0::2] // 2
    inc[vs[1::2], 1] = order[1::2] // 2
    seen = np.zeros(len(edges), dtype=bool)
    loops, cell_order = [], []
    for e0 in range(len(edges)):
        if seen[e0]:
            continue
        v0, v = edges[e0]
        lp, ce = [v0], [e0]
        seen[e0] = True
        e = e0
        while v != v0:
            lp.append(v)
            e = inc[v, 0] if inc[v, 0] != e else inc[v, 1]
            seen[e] = True
            ce.append(e)
            v = edges[e, 1] if edges[e, 0] == v else edges[e, 0]
        loops.append(np.array(lp))
        cell_order.extend(ce)
    return loops, np.array(cell_order)
