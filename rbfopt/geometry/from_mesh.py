"""Domains from mesh files (anything meshio reads) and Gmsh geometry files (``.geo``)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

import meshio
import numpy as np

from .._util import fmt_indices
from . import _checks, _curves
from .base import Domain
from .polygon import Polygon
from .surface import Surface

_LINES = ("line",)
_SURF = ("triangle", "quad")
_AREA = ("triangle", "quad")
_VOLUME = ("tetra",)
_UNNAMED = "rbfopt:default"  # the physical group of a .geo's boundary that names none


def from_mesh(
    mesh: str | os.PathLike | meshio.Mesh, *, feature_angle: float | None = None
) -> Domain:
    """The domain bounded by the boundary cells of a mesh: a :class:`Polygon` or a :class:`Surface`.

    Args:
      mesh: a path to any file meshio reads (.msh, .vtu, .stl, .obj, ...), a Gmsh
        geometry file (``.geo``, meshed with the optional ``gmsh`` package: the
        ``gmsh`` extra), or a ``meshio.Mesh``.
      feature_angle: the least turn, in degrees, of a corner (``features``; default
        10 in 2-D, 30 in 3-D): see :class:`Polygon` and :class:`Surface`.

    Corners of a Gmsh mesh in 2-D (a ``.geo`` file, or a ``.msh`` file Gmsh wrote in
    its default format 4): a CAD curve is smooth however coarsely Gmsh cut it into line
    elements, so the points inside one curve are never corners; where two curves meet,
    the boundary turns by the angle between their tangents (exact for a ``.geo`` file,
    extrapolated along each curve from its elements for a ``.msh`` file), a corner when
    above ``feature_angle``. In 3-D, an edge between two triangles of one CAD surface
    is never sharp. Meshes without Gmsh's entity data keep the plain rules.

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
      ValueError: (naming ``mesh``) when no meshio reader reads the file, gmsh cannot
        mesh a ``.geo`` file, the mesh has no boundary cells, or the boundary is not
        closed (the offending vertices or edges); (naming ``feature_angle``) for an
        angle outside [0, 180]; and the domains' own checks.
      ImportError: for a ``.geo`` file when gmsh is not installed.

    Examples:
      >>> import meshio, numpy as np, rbfopt as ro
      >>> pts = np.array([[0, 0], [2, 0], [2, 1], [0, 1]], float)
      >>> m = meshio.Mesh(pts, [("line", [[0, 1], [1, 2], [2, 3], [3, 0]])])
      >>> dom = ro.geometry.from_mesh(m)
      >>> type(dom).__name__, dom.measure, dom.group_names
      ('Polygon', 2.0, ('outer',))
    """
    if feature_angle is not None:  # before any reading or meshing
        _checks.check_angle(feature_angle)
    mesh, turns = _load(mesh)
    pts, two_d = _points(mesh)
    names, name_order = _block_names(mesh, 1 if two_d else 2)
    bnd, vol = ((_LINES, 2), (_AREA, None)) if two_d else ((_SURF, 3), (_VOLUME, 4))
    cells, groups, tags = _gather(mesh, names, *bnd)
    inner = _gather(mesh, names, *vol)[0]
    if inner is not None:
        # a full mesh: its outline is the boundary (Gmsh writes only the curves or
        # surfaces of physical groups); boundary cells only name the groups
        outline = _outline(inner)
        groups, tags = _match(outline, cells, groups), _match(outline, cells, tags)
        cells = outline
    if cells is None or len(cells) == 0:
        raise ValueError(
            f"mesh: no boundary cells ({'line' if two_d else 'triangle'} cells, or cells to "
            f"take the boundary of) in a {2 if two_d else 3}-D mesh with cell types "
            f"{[blk.type for blk in mesh.cells]}"
        )
    pts, cells, labels = _merge(pts[:, :2] if two_d else pts, cells)
    dim_tags = _dim_tags(mesh, labels)
    if two_d:
        return _polygon(
            pts, cells, labels, groups, tags, dim_tags, turns, feature_angle, name_order
        )
    return _surface(pts, cells, labels, groups, tags, dim_tags, feature_angle, name_order)


def _polygon(pts, cells, labels, groups, tags, dim_tags, turns, feature_angle, name_order):
    """The polygon of closed loops of line cells, with Gmsh's CAD data where known."""
    loops, order = _loops(cells, labels)
    return Polygon._from_loops(
        [pts[lp] for lp in loops],
        [groups[i] for i in order],
        "mesh",
        10.0 if feature_angle is None else feature_angle,
        name_order=name_order,
        smooth=_curves.smooth_vertices(loops, order, cells, tags, dim_tags),
        cad_turn=_curves.vertex_turns(loops, dim_tags, turns),
    )


def _surface(pts, cells, labels, groups, tags, dim_tags, feature_angle, name_order):
    """The domain inside closed shells of triangles, with Gmsh's CAD data where known."""
    return Surface._from_triangles(
        pts,
        cells,
        groups,
        "mesh",
        30.0 if feature_angle is None else feature_angle,
        name_order=name_order,
        labels=labels,
        surfaces=_curves.surface_tags(cells, tags, dim_tags),
    )


def _load(mesh: str | os.PathLike | meshio.Mesh) -> tuple[meshio.Mesh, dict[int, float]]:
    """The mesh, and for a .geo file the exact turn at each CAD point (by point tag)."""
    turns: dict[int, float] = {}
    if isinstance(mesh, (str, os.PathLike)):
        path = Path(mesh)
        if not path.exists():
            raise ValueError(f"mesh: no such file {str(path)!r}")
        if path.suffix.lower() == ".geo":
            mesh, turns = _read_geo(path)
        else:
            mesh = _read(path)
    if not isinstance(mesh, meshio.Mesh):
        raise ValueError(f"mesh: expected a path or a meshio.Mesh, got {type(mesh).__name__}")
    return mesh, turns


def _points(mesh: meshio.Mesh) -> tuple[np.ndarray, bool]:
    """The mesh's points checked, and whether the mesh is 2-D (all z = 0 counts)."""
    pts = np.asarray(mesh.points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] not in (2, 3) or len(pts) == 0:
        raise ValueError(f"mesh: points of shape {pts.shape}; expected (n, 2) or (n, 3)")
    bad = np.flatnonzero(~np.isfinite(pts).all(axis=1))
    if bad.size:
        raise ValueError(f"mesh: NaN or inf in points {fmt_indices(bad)}")
    ext = float(np.ptp(pts, axis=0).max())
    two_d = pts.shape[1] == 2 or float(np.abs(pts[:, 2]).max()) <= 1e-12 * max(ext, 1e-300)
    return pts, two_d


def _read(path: Path, fmt: str | None = None) -> meshio.Mesh:
    """``meshio.read`` without its side effects: it prints each failed format's error on
    stdout (an empty line for every Gmsh file, tried as ANSYS first) and exits the
    process when no format reads the file. Its warnings still reach stderr."""
    if fmt is None:
        formats: list[str] = []
        ext = ""
        for suffix in reversed(path.suffixes):
            ext = (suffix + ext).lower()
            formats += meshio.extension_to_filetypes.get(ext, [])
        formats.sort(key=lambda f: f != "gmsh")  # .msh: Gmsh's far more often than ANSYS's
    else:
        formats = [fmt]
    if not formats:
        raise ValueError(f"mesh: unknown file type {path.suffix!r} of {str(path)!r}")
    errors = []
    for f in formats:
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                mesh = meshio.read(path, file_format=f)
        except SystemExit:  # meshio exits after printing the reader's error
            errors.append(f"as {f}: {out.getvalue().strip() or 'not in this format'}")
            continue
        sys.stderr.write(err.getvalue())
        return mesh
    raise ValueError(f"mesh: could not read {str(path)!r} ({'; '.join(errors)})")


def _read_geo(path: Path) -> tuple[meshio.Mesh, dict[int, float]]:
    """Mesh a .geo file's curves (2-D) or surfaces (3-D) with gmsh, silently: gmsh's
    terminal output is off, its signal handler and config files are left alone, and a
    gmsh session the caller holds keeps its models and options."""
    try:
        import gmsh
    except ImportError as e:
        raise ImportError(
            "from_mesh: reading a .geo file needs the optional gmsh package: "
            "pip install 'rbfopt-fd[gmsh]' (or pip install gmsh)"
        ) from e
    own = not gmsh.isInitialized()
    if own:
        gmsh.initialize(readConfigFiles=False, interruptible=False)
    else:
        before = gmsh.model.getCurrent()
    saved = {k: gmsh.option.getNumber(k) for k in ("General.Terminal", "Mesh.SaveAll")}
    gmsh.option.setNumber("General.Terminal", 0)
    try:
        return _mesh_geo(gmsh, path)
    finally:
        if own:
            gmsh.finalize()
        else:
            gmsh.model.remove()
            if before in gmsh.model.list():
                gmsh.model.setCurrent(before)
            for k, val in saved.items():
                gmsh.option.setNumber(k, val)


def _mesh_geo(gmsh, path: Path) -> tuple[meshio.Mesh, dict[int, float]]:
    try:
        gmsh.option.setNumber("Mesh.SaveAll", 0)
        gmsh.model.add("rbfopt.from_mesh")  # a model of its own: open() may reuse the caller's
        gmsh.merge(str(path))
        dim = gmsh.model.getDimension()
        _group_the_rest(gmsh, max(dim - 1, 1))
        gmsh.model.mesh.generate(max(dim - 1, 1))
        turns = _curves.cad_turns(gmsh) if dim <= 2 else {}
    except Exception as e:  # gmsh raises plain Exceptions carrying its last error
        raise ValueError(f"mesh: gmsh could not mesh {str(path)!r}: {e}") from e
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mesh.msh"
        gmsh.write(str(out))
        return _read(out, "gmsh"), turns


def _group_the_rest(gmsh, b: int) -> None:
    """Put the boundary entities of dimension ``b`` (those bounding at most one entity
    of dimension b + 1) that no physical group holds into one group, ``_UNNAMED``:
    Gmsh writes the elements of physical groups only, and these keep their default
    group name."""
    named = {
        t
        for _, p in gmsh.model.getPhysicalGroups(b)
        for t in gmsh.model.getEntitiesForPhysicalGroup(b, p)
    }
    rest = [
        t
        for _, t in gmsh.model.getEntities(b)
        if t not in named and len(gmsh.model.getAdjacencies(b, t)[0]) <= 1
    ]
    if rest:
        gmsh.model.setPhysicalName(b, gmsh.model.addPhysicalGroup(b, rest), _UNNAMED)


def _dim_tags(mesh: meshio.Mesh, labels: np.ndarray) -> np.ndarray | None:
    """Gmsh's (entity dimension, entity tag) of the merged points, or None."""
    dt = mesh.point_data.get("gmsh:dim_tags")
    if dt is None:
        return None
    dt = np.asarray(dt)
    if dt.ndim != 2 or dt.shape != (len(mesh.points), 2):
        return None
    return dt[labels].astype(np.int64)


def _block_names(mesh: meshio.Mesh, dim: int) -> tuple[list[np.ndarray | None], tuple[str, ...]]:
    """A group name (or None) per cell of each block, Gmsh physical groups (by tag) or
    else cell sets (in their order); and the names in that order."""
    out: list[np.ndarray | None] = [None] * len(mesh.cells)
    phys = mesh.cell_data.get("gmsh:physical")
    if phys is not None:
        tag_name = {}
        for name, (tag, d) in ((k, np.asarray(v).ravel()[:2]) for k, v in mesh.field_data.items()):
            if int(d) == dim:
                tag_name[int(tag)] = None if name == _UNNAMED else name
        for i, tags in enumerate(phys):
            tags = np.asarray(tags).ravel()
            out[i] = np.array(
                [None if t == 0 else tag_name.get(int(t), f"physical{int(t)}") for t in tags],
                dtype=object,
            )
        return out, tuple(tag_name[t] for t in sorted(tag_name) if tag_name[t] is not None)
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
    """Cells of the given types (quads split into triangles when width is not 4), their
    group names and their Gmsh entity tags (None where unknown)."""
    cells, groups, tags = [], [], []
    geo = mesh.cell_data.get("gmsh:geometrical")
    for i, (blk, nm) in enumerate(zip(mesh.cells, names, strict=True)):
        if blk.type not in types:
            continue
        c = np.asarray(blk.data, dtype=np.int64)
        g = nm if nm is not None else np.full(len(c), None, dtype=object)
        t = np.full(len(c), None, dtype=object)
        if geo is not None:
            t[:] = [int(x) if x > 0 else None for x in np.asarray(geo[i]).ravel()]
        if blk.type == "quad" and width != 4:
            c = np.concatenate([c[:, [0, 1, 2]], c[:, [0, 2, 3]]])
            g, t = np.concatenate([g, g]), np.concatenate([t, t])
        cells.append(c)
        groups.append(g)
        tags.append(t)
    if not cells:
        return None, None, None
    return np.concatenate(cells), list(np.concatenate(groups)), list(np.concatenate(tags))


def _outline(cells: np.ndarray) -> np.ndarray:
    """Facets (edges of triangles, faces of tetrahedra) used by exactly one cell."""
    k = cells.shape[1]
    facets = np.concatenate([np.delete(cells, i, axis=1) for i in range(k)])
    key = np.sort(facets, axis=1)
    _, inv, cnt = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    return facets[cnt[inv.ravel()] == 1]


def _match(outline: np.ndarray, cells: np.ndarray | None, values: list | None) -> list:
    """The value (group name, entity tag) of each outline facet: that of the boundary
    cell with its vertices, or None."""
    if cells is None:
        return [None] * len(outline)
    named = {tuple(sorted(c)): g for c, g in zip(cells.tolist(), values, strict=True) if g}
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
