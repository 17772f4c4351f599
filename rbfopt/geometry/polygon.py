"""Polygonal domains in 2-D: an outer loop, holes, named edge groups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._util import fmt_indices
from . import _checks
from .base import Domain


class Polygon(Domain):
    """A 2-D domain bounded by an outer polygon and polygonal holes.

    Args:
      outer: (n, 2) vertices of the outer boundary, in either orientation (a closing
        vertex equal to the first is dropped).
      holes: sequence of (n_i, 2) vertex arrays, one per hole, any orientation.
      groups: maps a group name to edge indices. Edges are numbered along the outer
        loop (edge ``i`` joins vertices ``i`` and ``i + 1``), then along each hole in
        turn. An edge no group names keeps its default group, ``"outer"`` or
        ``"hole<i>"``. ``group_names`` lists the named groups in the order given, then
        the default groups that keep edges.
      feature_angle: a vertex is a feature (``features``, fixed nodes in
        :func:`rbfopt.nodes.generate`) when the boundary turns there by more than this
        many degrees (0 to 180, default 10), or when its two edges belong to different
        groups.

    Orientation is normalized (outer counter-clockwise, holes clockwise), so normals
    point out of the domain. Edge numbering follows the input order either way.

    Raises:
      ValueError: naming the argument and the offending indices, for wrong shapes,
        NaN/inf, fewer than 3 vertices, zero-length edges, repeated vertices, zero
        area, edges that cross or touch, a hole outside ``outer`` or inside another
        hole, and group edge indices that are out of range or in two groups.

    Examples:
      >>> import rbfopt as ro
      >>> sq = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]],
      ...                          groups={"bottom": [0]})
      >>> sq.measure, sq.group_names
      (1.0, ('bottom', 'outer'))
      >>> sq.sdf([[0.5, 0.25], [2.0, 0.5]])
      Array([-0.25,  1.  ], dtype=float64)
      >>> p, n, g = sq.closest([[0.5, 0.25]])
      >>> p, n, [sq.group_names[i] for i in g]
      (Array([[0.5, 0. ]], dtype=float64), Array([[ 0., -1.]], dtype=float64), ['bottom'])
      >>> sq.features
      array([[0., 0.],
             [1., 0.],
             [1., 1.],
             [0., 1.]])
    """

    dim = 2
    _kind = "seg"

    def __init__(
        self,
        outer: Any,
        holes: Sequence[Any] = (),
        groups: Mapping[str, Any] | None = None,
        *,
        feature_angle: float = 10.0,
    ) -> None:
        loops = [_loop(outer, "outer")]
        loops += [_loop(h, f"holes[{i}]") for i, h in enumerate(holes)]
        names = ["outer"] + [f"holes[{i}]" for i in range(len(holes))]
        self._setup(loops, names, None, groups, feature_angle)

    @classmethod
    def _from_loops(
        cls,
        loops: list[np.ndarray],
        edge_groups: list[str | None],
        arg: str,
        feature_angle: float = 10.0,
        name_order: tuple[str, ...] = (),
        smooth: np.ndarray | None = None,
        cad_turn: np.ndarray | None = None,
    ) -> Polygon:
        """Loops of any nesting (depth decides outer vs hole), names per edge or None;
        group names in use are listed in ``name_order`` first; ``smooth`` (bool per
        vertex, loops concatenated) marks vertices inside one CAD curve, ``cad_turn``
        the exact turn (degrees) where CAD curves meet (NaN elsewhere)."""
        self = cls.__new__(cls)
        self._name_order = name_order
        cad = (smooth, cad_turn)
        self._setup(loops, [arg] * len(loops), edge_groups, None, feature_angle, cad)
        return self

    # ---------------------------------------------------------------- building
    def _setup(self, loops, args, edge_groups, groups, feature_angle, cad=(None, None)) -> None:
        """Check the loops, orient them, then groups, normals and features; ``cad``: see
        :meth:`_from_loops` (None, None without CAD data)."""
        angle = _checks.check_angle(feature_angle)
        t = _topology(loops)
        v, loop_of, nxt, prv = t["v"], t["loop_of"], t["nxt"], t["prv"]
        area = _check_loops(loops, args, t)
        depth, default = _nesting(loops, args, t, edge_groups is None)
        # orientation: even depth counter-clockwise, odd clockwise
        flip = (area < 0) != (depth % 2 == 1)
        fe = flip[loop_of]
        n = len(v)
        ia = np.where(fe, nxt, np.arange(n))
        ib = np.where(fe, np.arange(n), nxt)
        self.vertices = v
        self.elements = np.stack([ia, ib], axis=1)
        self.measure = float(np.sum(np.where(flip, -area, area)))
        start, sizes = t["start"], t["sizes"]
        self.loops = tuple(sl for sl in zip(start, start + sizes, strict=True))
        gid, self.group_names = _checks.assign_groups(
            groups, n, "edge", edge_groups, getattr(self, "_name_order", ()), loop_of, default
        )
        self.element_group = gid
        # normals: face normals, vertex pseudo-normals (the two edge normals' sum)
        d = v[ib] - v[ia]
        nrm = np.stack([d[:, 1], -d[:, 0]], axis=1) / np.linalg.norm(d, axis=1)[:, None]
        vn = np.zeros_like(v)
        np.add.at(vn, ia, nrm)
        np.add.at(vn, ib, nrm)
        vn /= np.linalg.norm(vn, axis=1)[:, None]
        self._elem = np.stack([v[ia], v[ib]], axis=1)
        self._nrm = nrm
        self._vn = np.stack([vn[ia], vn[ib]], axis=1)
        smooth = np.zeros(n, dtype=bool) if cad[0] is None else np.asarray(cad[0], dtype=bool)
        turn = np.degrees(np.abs(_corner_turn(v, nxt, prv, smooth)))
        if cad[1] is not None:  # exact where the CAD model knows it
            turn = np.where(np.isnan(cad[1]), turn, cad[1])
        feat = (~smooth & (turn > angle)) | (gid[prv] != gid)
        self.feature_ids = np.flatnonzero(feat)
        self.features = v[self.feature_ids]
        self._finish(nrm=nrm, vn=self._vn)


def _topology(loops: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Vertex numbering over the loops: the stacked vertices, each vertex's loop, its
    index inside the loop, the next and previous vertex of its loop."""
    sizes = np.array([len(v) for v in loops])
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    n = int(sizes.sum())
    loop_of = np.repeat(np.arange(len(loops)), sizes)
    local = np.arange(n) - start[loop_of]
    nxt = start[loop_of] + (local + 1) % sizes[loop_of]
    prv = start[loop_of] + (local - 1) % sizes[loop_of]
    v = np.concatenate(loops)
    return dict(v=v, sizes=sizes, start=start, loop_of=loop_of, local=local, nxt=nxt, prv=prv)


def _check_loops(loops: list[np.ndarray], args: list[str], t: dict) -> np.ndarray:
    """ValueError (naming the loop's argument) for zero-length edges, repeated vertices,
    zero area and crossing edges; else the signed area of each loop."""
    v, loop_of, local, nxt = t["v"], t["loop_of"], t["local"], t["nxt"]
    for k, lp in enumerate(loops):  # zero-length edges, then repeated vertices
        zero = np.flatnonzero(np.all(lp == np.roll(lp, -1, axis=0), axis=1))
        if zero.size:
            raise ValueError(
                f"{args[k]}: zero-length edges {fmt_indices(zero)} (repeated consecutive vertices)"
            )
    dup = _checks.duplicate_rows(v)
    if dup.size:
        k = loop_of[dup[0]]
        raise ValueError(
            f"{args[k]}: repeated vertices at indices {fmt_indices(local[dup[loop_of[dup] == k]])}"
        )
    a, b = v, v[nxt]
    cross = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    area = np.bincount(loop_of, weights=cross, minlength=len(loops)) / 2
    ext = np.ptp(v, axis=0).max()
    for k in range(len(loops)):
        if abs(area[k]) <= 1e-12 * ext**2:
            raise ValueError(f"{args[k]}: zero area (vertices all on one line)")
    bad = _checks.segment_intersections(a, b, nxt)
    if bad.size:
        k1, k2 = loop_of[bad[0, 0]], loop_of[bad[0, 1]]
        who = args[k1] if args[k1] == args[k2] else f"{args[k1]} and {args[k2]}"
        raise ValueError(
            f"{who}: self-intersecting boundary: edge pairs {_checks.fmt_pairs(bad)} "
            "cross, touch or overlap"
        )
    return area


def _nesting(loops, args, t, public: bool) -> tuple[np.ndarray, list[str]]:
    """Depth of each loop (the number of loops around it) and its default group name.
    ``public``: the constructor's form, one outer loop with holes directly inside it."""
    v, start, sizes, nxt = t["v"], t["start"], t["sizes"], t["nxt"]
    inside = np.zeros((len(loops), len(loops)), dtype=bool)
    for j in range(len(loops)):
        sl = slice(start[j], start[j] + sizes[j])
        inside[:, j] = _checks.points_in_loop(v[start], v[sl], v[nxt[sl]])
    np.fill_diagonal(inside, False)
    depth = inside.sum(axis=1)
    if public:
        for k in range(1, len(loops)):
            if not inside[k, 0]:
                raise ValueError(f"{args[k]}: hole is not inside outer")
            other = np.flatnonzero(inside[k, 1:])
            if other.size:
                raise ValueError(f"{args[k]}: hole is inside holes[{other[0]}]")
        return depth, ["outer"] + [f"hole{k}" for k in range(len(loops) - 1)]
    default, h = [], 0
    for k in range(len(loops)):
        default.append("outer" if depth[k] % 2 == 0 else f"hole{h}")
        h += depth[k] % 2
    return depth, default


def _corner_turn(v: np.ndarray, nxt: np.ndarray, prv: np.ndarray, smooth: np.ndarray):
    """Signed turn (radians) of the boundary's tangent at each vertex.

    Where a neighbouring vertex lies inside a smooth curve, the tangent on that side is
    extrapolated along the curve (a chord's direction is the curve's tangent at its
    midpoint, to second order) instead of taken as the last chord's: a vertex where two
    smooth curves meet tangentially then turns by O(h^2), not by half a chord's turn.
    Without smooth vertices this is the plain turn between consecutive edges.
    """
    d = v[nxt] - v  # edge i: vertex i -> nxt[i]
    length = np.linalg.norm(d, axis=1)
    e_in = d[prv]
    tau = np.arctan2(
        e_in[:, 0] * d[:, 1] - e_in[:, 1] * d[:, 0], np.sum(e_in * d, axis=1)
    )  # turn from edge prv[i] to edge i
    lb, la = length[prv], length[prv[prv]]
    left = np.where(smooth[prv], tau[prv] * lb / (la + lb), 0.0)
    lc, ld = length, length[nxt]
    right = np.where(smooth[nxt], tau[nxt] * lc / (lc + ld), 0.0)
    return np.angle(np.exp(1j * (tau - left - right)))


def _loop(a: Any, name: str) -> np.ndarray:
    v = _checks.as_coords(a, name, 2, 3)
    if len(v) > 3 and np.array_equal(v[0], v[-1]):
        v = v[:-1]
    if len(v) < 3:
        raise ValueError(f"{name}: need at least 3 distinct vertices, got {len(v)}")
    return v
