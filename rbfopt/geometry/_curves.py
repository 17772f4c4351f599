"""Which boundary vertices of a Gmsh mesh lie inside one CAD curve, which boundary
triangles inside one CAD surface (numpy, host side).

Gmsh cuts each CAD curve into many line elements; the vertices between them are not
corners, however coarse the cut. Gmsh records where each mesh point lies (point data
``gmsh:dim_tags``: entity dimension and tag; dimension 0 for CAD points, 1 for points
inside a curve) and on which curve each line element lies (cell data
``gmsh:geometrical``). A vertex is *smooth* when both say it is inside curve ``t``:
its point is (1, t) and both its edges are on curve t. A curve is trusted only when
some CAD point (dimension 0) ends one of its edges, as Gmsh writes every curve; files
written without CAD data (meshio fills tag 0, or the same tag on every point) then
keep the plain turning-angle rule.
"""

from __future__ import annotations

import numpy as np


def smooth_vertices(
    loops: list[np.ndarray],
    cell_order: np.ndarray,
    cells: np.ndarray,
    tags: list | None,
    dim_tags: np.ndarray | None,
) -> np.ndarray | None:
    """Bool per loop vertex (loops concatenated), or None without CAD data.

    ``loops``: vertex indices of each closed loop; ``cell_order``: the cells in loop
    order (cell ``cell_order[j]`` joins the loop's vertices j and j + 1, loops
    concatenated); ``cells``: (e, 2) vertex indices; ``tags``: Gmsh curve tag per cell
    (None where unknown); ``dim_tags``: (n, 2) Gmsh entity of each vertex.
    """
    if dim_tags is None:
        return None
    vdim, vtag = dim_tags[:, 0], np.where(dim_tags[:, 1] > 0, dim_tags[:, 1], -1)
    etag = np.array([-1 if t is None else int(t) for t in (tags or [None] * len(cells))])
    # an edge no line cell names (the outline of an area mesh) is on the curve of its
    # endpoints inside a curve, when they agree
    ta = np.where(vdim[cells[:, 0]] == 1, vtag[cells[:, 0]], -1)
    tb = np.where(vdim[cells[:, 1]] == 1, vtag[cells[:, 1]], -1)
    inferred = np.where((ta < 0) | (ta == tb), tb, np.where(tb < 0, ta, -1))
    etag = np.where(etag > 0, etag, inferred)
    at_point = (vdim[cells[:, 0]] == 0) | (vdim[cells[:, 1]] == 0)
    trusted = np.unique(etag[at_point & (etag > 0)])
    out, j = [], 0
    for lp in loops:
        ce = cell_order[j : j + len(lp)]
        j += len(lp)
        t_in, t_out = etag[np.roll(ce, 1)], etag[ce]
        t = vtag[lp]
        out.append((vdim[lp] == 1) & (t > 0) & (t_in == t) & (t_out == t) & np.isin(t, trusted))
    return np.concatenate(out)


def cad_turns(gmsh) -> dict[int, float]:
    """Turn (degrees) of the boundary at each CAD point where exactly two curve ends
    meet, from the curves' exact tangents in the current gmsh model (a closed curve
    meets itself at its one point)."""
    inward: dict[int, list[np.ndarray]] = {}
    for _, c in gmsh.model.getEntities(1):
        lo, hi = gmsh.model.getParametrizationBounds(1, c)
        ends = np.asarray(gmsh.model.getValue(1, c, [lo[0], hi[0]])).reshape(2, 3)
        der = np.asarray(gmsh.model.getDerivative(1, c, [lo[0], hi[0]])).reshape(2, 3)
        der[1] = -der[1]  # both pointing into the curve
        for p in gmsh.model.getAdjacencies(1, c)[1]:
            at = np.asarray(gmsh.model.getValue(0, int(p), []))
            for k in np.flatnonzero(
                np.linalg.norm(ends - at, axis=1) <= 1e-9 * (1 + abs(at).max())
            ):
                if np.linalg.norm(der[k]) > 0:
                    inward.setdefault(int(p), []).append(der[k] / np.linalg.norm(der[k]))
    # smooth where one curve leaves along the other's arriving direction: a = -b
    return {
        p: float(np.degrees(np.arccos(np.clip(-t[0] @ t[1], -1.0, 1.0))))
        for p, t in inward.items()
        if len(t) == 2
    }


def vertex_turns(loops: list[np.ndarray], dim_tags: np.ndarray | None, turns: dict) -> np.ndarray:
    """Per loop vertex (loops concatenated): the CAD turn at the CAD point it sits on,
    NaN elsewhere."""
    n = sum(len(lp) for lp in loops)
    if dim_tags is None or not turns:
        return np.full(n, np.nan)
    v = np.concatenate(loops)
    turn = np.array([turns.get(int(t), np.nan) for t in dim_tags[v, 1]])
    return np.where(dim_tags[v, 0] == 0, turn, np.nan)


def surface_tags(cells: np.ndarray, tags: list | None, dim_tags: np.ndarray | None):
    """The Gmsh surface tag of each boundary triangle where trusted, else -1 (None
    without CAD data): an edge between two triangles of one surface is never sharp.
    A surface is trusted when its triangles touch both a point inside it (2, t) and a
    point on a CAD curve or CAD point (dimension 0 or 1), as Gmsh writes every surface."""
    if dim_tags is None or tags is None:
        return None
    etag = np.array([-1 if t is None else int(t) for t in tags])
    vdim, vtag = dim_tags[cells, 0], dim_tags[cells, 1]  # (t, 3)
    inside = np.unique(etag[np.any((vdim == 2) & (vtag == etag[:, None]), axis=1)])
    edged = np.unique(etag[np.any(vdim <= 1, axis=1)])
    ok = (etag > 0) & np.isin(etag, inside) & np.isin(etag, edged)
    return np.where(ok, etag, -1)
