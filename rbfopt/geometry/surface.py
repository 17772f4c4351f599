"""Domains in 3-D: the region enclosed by closed triangle surfaces (shells)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from .._util import fmt_indices
from . import _checks
from .base import Domain


class Surface(Domain):
    """A 3-D domain bounded by closed, watertight triangle surfaces.

    Args:
      vertices: (n, 3) coordinates (vertices no triangle uses are dropped).
      triangles: (t, 3) vertex indices, in any orientation: each shell (connected
        component) is oriented consistently, then outward; shells nested in an odd
        number of others are holes (cavities) and face into them.
      groups: maps a group name to triangle indices; a triangle no group names keeps
        its default group, ``"outer"`` or ``"hole<i>"`` (by shell). ``group_names``
        lists the named groups in the order given, then the default groups in use.
      feature_angle: an edge is sharp when the normals of its two triangles differ by
        more than this many degrees (0 to 180, default 30); ``features`` are the
        vertices on sharp edges and on edges between two groups.

    Raises:
      ValueError: naming the argument and the offending indices, for wrong shapes,
        NaN/inf, vertex indices out of range, degenerate (zero-area) triangles, a
        surface that is not watertight (edges not shared by exactly two triangles),
        a non-orientable shell, and group indices out of range or in two groups
        (shells that intersect each other are not detected).

    Examples:
      >>> import numpy as np, rbfopt as ro
      >>> v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
      >>> tet = ro.geometry.Surface(v, [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
      >>> round(tet.measure, 12), tet.group_names, len(tet.features)
      (0.166666666667, ('outer',), 4)
      >>> tet.sdf([[0.1, 0.1, 0.1], [0.0, 0.0, -2.0]])
      Array([-0.1,  2. ], dtype=float64)
    """

    dim = 3
    _kind = "tri"

    def __init__(
        self,
        vertices: Any,
        triangles: Any,
        groups: Mapping[str, Any] | None = None,
        *,
        feature_angle: float = 30.0,
    ) -> None:
        self._setup(vertices, triangles, groups, None, feature_angle, "triangles")

    @classmethod
    def _from_triangles(
        cls,
        vertices,
        triangles,
        tri_groups,
        arg,
        feature_angle=30.0,
        name_order=(),
        labels=None,
        surfaces=None,
    ):
        """Triangles with a group name (or None) each, from a mesh file; group names in
        use are listed in ``name_order`` first; ``surfaces``: the CAD surface of each
        triangle (-1 unknown), an edge inside one surface is never sharp."""
        self = cls.__new__(cls)
        self._name_order = name_order
        self._labels = labels
        self._surfaces = surfaces
        self._setup(vertices, triangles, None, tri_groups, feature_angle, arg)
        return self

    def _setup(self, vertices, triangles, groups, tri_groups, feature_angle, arg) -> None:
        """Check the triangles, orient each shell outward, then groups, normals, features."""
        angle = _checks.check_angle(feature_angle)
        v, tri, labels = _checked(vertices, triangles, arg, getattr(self, "_labels", None))
        tri, comp, ncomp = _orient_shells(v, tri, arg, labels)
        tri, depth = _orient_outward(v, tri, comp, ncomp)
        e1, e2 = _pair_edges(tri, len(v), arg, labels)
        default, h = [], 0
        for k in range(ncomp):
            default.append("outer" if depth[k] % 2 == 0 else f"hole{h}")
            h += depth[k] % 2
        a, b, c = v[tri[:, 0]], v[tri[:, 1]], v[tri[:, 2]]
        self.measure = float(np.einsum("ij,ij->", a, np.cross(b, c)) / 6)
        self.vertices, self.elements, self.shell = v, tri, comp
        gid, self.group_names = _checks.assign_groups(
            groups,
            len(tri),
            "triangle",
            tri_groups,
            getattr(self, "_name_order", ()),
            comp,
            default,
        )
        self.element_group = gid
        n, en, vn, other = _normals(v, tri, e1, e2)
        sharp = np.degrees(np.arccos(np.clip(np.sum(n[:, None, :] * n[other], -1), -1, 1)))
        cad = getattr(self, "_surfaces", None)
        if cad is not None:  # inside one CAD surface an edge is smooth however coarse
            sharp[(cad[:, None] == cad[other]) & (cad[:, None] >= 0)] = 0.0
        fe = (sharp > angle) | (gid[:, None] != gid[other])
        fv = np.unique(np.concatenate([tri[fe], tri[:, [1, 2, 0]][fe]]))
        self.feature_ids = fv
        self.features = v[fv]
        self.feature_edges = np.unique(
            np.sort(np.stack([tri[fe], tri[:, [1, 2, 0]][fe]], axis=1), axis=1), axis=0
        )
        self._elem = np.stack([a, b, c], axis=1)
        self._finish(nrm=n, en=en, vn=vn[tri])


def _checked(vertices, triangles, arg: str, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates and triangles checked (ValueError naming the argument), unused
    vertices dropped; and each vertex's index in the input (for error messages)."""
    v = _checks.as_coords(vertices, "vertices", 3, 4)
    try:
        tri = np.asarray(triangles)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{arg}: expected an integer array of shape (t, 3) ({e})") from e
    if tri.ndim != 2 or tri.shape[1] != 3 or tri.shape[0] < 4:
        raise ValueError(f"{arg}: expected shape (t, 3) with t >= 4, got {tri.shape}")
    if not np.issubdtype(tri.dtype, np.integer):
        raise ValueError(f"{arg}: vertex indices must be integers, got dtype {tri.dtype}")
    tri = tri.astype(np.int64)
    out = np.flatnonzero(np.any((tri < 0) | (tri >= len(v)), axis=1))
    if out.size:
        raise ValueError(
            f"{arg}: vertex indices out of range (there are {len(v)} vertices) in rows "
            f"{fmt_indices(out)}"
        )
    used, tri = np.unique(tri, return_inverse=True)
    tri = tri.reshape(-1, 3)
    v = v[used]
    labels = used if labels is None else np.asarray(labels)[used]  # input numbering
    a, b, c = v[tri[:, 0]], v[tri[:, 1]], v[tri[:, 2]]
    ar = np.linalg.norm(np.cross(b - a, c - a), axis=1)
    ext = float(np.ptp(v, axis=0).max())
    bad = np.flatnonzero(ar <= 1e-14 * ext**2)
    if bad.size:
        raise ValueError(f"{arg}: degenerate (zero-area) triangles {fmt_indices(bad)}")
    return v, tri, labels


def _orient_shells(v, tri, arg, labels) -> tuple[np.ndarray, np.ndarray, int]:
    """Triangles flipped so that each shell (connected component) is consistently
    oriented (ValueError when one cannot be); the shell of each triangle; their number."""
    nt = len(tri)
    e1, e2 = _pair_edges(tri, len(v), arg, labels)
    de_s = tri.ravel()
    t1, t2 = e1 // 3, e2 // 3
    same = de_s[e1] == de_s[e2]
    g = sparse.coo_matrix((np.ones(t1.size), (t1, t2)), shape=(nt, nt)).tocsr()
    ncomp, comp = csgraph.connected_components(g, directed=False)
    # consistent orientation: parity of "same direction" edges along a BFS tree
    sg = sparse.coo_matrix((same + 1.0, (t1, t2)), shape=(nt, nt))
    sg = (sg + sg.T).tocsr()
    pred = np.arange(nt)
    for k in range(ncomp):
        root = int(np.flatnonzero(comp == k)[0])
        _, p = csgraph.breadth_first_order(g, root, directed=False)
        m = p >= 0
        pred[m] = p[m]
    par = np.asarray(sg[np.arange(nt), pred]).ravel() == 2
    anc = pred.copy()
    for _ in range(int(np.ceil(np.log2(nt))) + 2):
        par = par ^ par[anc]
        anc = anc[anc]
    tri = np.where(par[:, None], tri[:, [0, 2, 1]], tri)
    e1, e2 = _pair_edges(tri, len(v), arg, labels)
    de_s = tri.ravel()
    bad = np.flatnonzero(de_s[e1] == de_s[e2])
    if bad.size:
        raise ValueError(
            f"{arg}: surface is not orientable near triangles {fmt_indices(e1[bad] // 3)}"
        )
    return tri, comp, ncomp


def _orient_outward(v, tri, comp, ncomp) -> tuple[np.ndarray, np.ndarray]:
    """Consistently oriented shells turned to face out of the domain (a shell nested in
    an odd number of others faces into its cavity); and each shell's nesting depth."""
    a, b, c = v[tri[:, 0]], v[tri[:, 1]], v[tri[:, 2]]
    det = np.einsum("ij,ij->i", a, np.cross(b, c))
    vol = np.bincount(comp, weights=det, minlength=ncomp) / 6
    flipc = vol < 0
    # nesting: winding number of one vertex of each shell about every shell
    p0 = np.stack([v[tri[np.flatnonzero(comp == k)[0], 0]] for k in range(ncomp)])
    wind = np.zeros((ncomp, ncomp))
    sgn = np.where(flipc[comp], -1.0, 1.0)
    for s in range(ncomp):
        om = _solid_angle(a - p0[s], b - p0[s], c - p0[s]) * sgn
        wind[s] = np.bincount(comp, weights=om, minlength=ncomp) / (4 * np.pi)
    np.fill_diagonal(wind, 0.0)
    depth = np.sum(np.abs(wind) > 0.5, axis=1)
    flipc ^= depth % 2 == 1
    return np.where(flipc[comp][:, None], tri[:, [0, 2, 1]], tri), depth


def _normals(v, tri, e1, e2):
    """Face normals (t, 3), edge pseudo-normals (t, 3, 3: the two faces' sum), vertex
    pseudo-normals (n, 3: angle-weighted), and the triangle across each edge (t, 3)."""
    nt = len(tri)
    a, b, c = v[tri[:, 0]], v[tri[:, 1]], v[tri[:, 2]]
    n = np.cross(b - a, c - a)
    n /= np.linalg.norm(n, axis=1)[:, None]
    other = np.empty(3 * nt, dtype=np.int64)
    other[e1], other[e2] = e2 // 3, e1 // 3
    other = other.reshape(nt, 3)
    en = n[:, None, :] + n[other]
    en /= np.linalg.norm(en, axis=2)[..., None]
    p = np.stack([a, b, c], axis=1)
    u = np.roll(p, -1, axis=1) - p
    w = np.roll(p, 1, axis=1) - p
    cosang = np.sum(u * w, -1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(w, axis=-1))
    ang = np.arccos(np.clip(cosang, -1.0, 1.0))
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, tri[:, k], ang[:, k, None] * n)
    vn /= np.linalg.norm(vn, axis=1)[:, None]
    return n, en, vn, other


def _solid_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Signed solid angles of triangles seen from the origin (Van Oosterom & Strackee)."""
    la, lb, lc = (np.linalg.norm(z, axis=1) for z in (a, b, c))
    num = np.einsum("ij,ij->i", a, np.cross(b, c))
    den = (
        la * lb * lc
        + np.einsum("ij,ij->i", a, b) * lc
        + np.einsum("ij,ij->i", a, c) * lb
        + np.einsum("ij,ij->i", b, c) * la
    )
    return 2 * np.arctan2(num, den)


def _pair_edges(
    tri: np.ndarray, nv: int, arg: str, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The two directed edges (slots ``3 t + k``: vertex k to k+1 of triangle t) of each
    edge; ValueError naming the edges not shared by exactly two triangles."""
    de_s = tri.ravel()
    de_e = tri[:, [1, 2, 0]].ravel()
    key = np.minimum(de_s, de_e) * nv + np.maximum(de_s, de_e)
    order = np.argsort(key, kind="stable")
    ks = key[order]
    start = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    cnt = np.diff(np.r_[start, ks.size])
    if np.any(cnt != 2):
        badk = ks[start[cnt != 2]]
        pairs = np.sort(labels[np.stack([badk // nv, badk % nv], axis=1)], axis=1)
        kinds = "open" if np.all(cnt[cnt != 2] == 1) else "open or non-manifold"
        raise ValueError(
            f"{arg}: surface is not watertight ({kinds}): edges (vertex pairs) "
            f"{_checks.fmt_pairs(pairs)} are not shared by exactly two triangles"
        )
    return order[start], order[start + 1]
