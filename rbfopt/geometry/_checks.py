"""Host-side geometric checks used when domains are built (numpy, not traced)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._util import fmt_indices


def as_coords(a: Any, name: str, d: int, min_rows: int) -> np.ndarray:
    """``a`` as a finite float64 array (n, d) with n >= min_rows, or ValueError naming ``name``."""
    try:
        v = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: expected an array of shape (n, {d}) of numbers ({e})") from e
    if v.ndim != 2 or v.shape[1] != d:
        raise ValueError(f"{name}: expected shape (n, {d}), got {v.shape}")
    bad = np.flatnonzero(~np.isfinite(v).all(axis=1))
    if bad.size:
        raise ValueError(f"{name}: NaN or inf in rows {fmt_indices(bad)}")
    if v.shape[0] < min_rows:
        raise ValueError(f"{name}: need at least {min_rows} vertices, got {v.shape[0]}")
    return v


def check_angle(angle: Any, name: str = "feature_angle") -> float:
    """``angle`` as a float in degrees in [0, 180], or ValueError naming ``name``."""
    ok = isinstance(angle, (int, float, np.integer, np.floating)) and not isinstance(angle, bool)
    if not ok or not 0.0 <= float(angle) <= 180.0:
        raise ValueError(f"{name}: expected a number of degrees in [0, 180], got {angle!r}")
    return float(angle)


def fmt_pairs(p: np.ndarray, limit: int = 10) -> str:
    """Pairs of indices for error messages: '(1, 2), (3, 4) (2 in all)'."""
    p = np.asarray(p).reshape(-1, 2)
    s = ", ".join(f"({int(i)}, {int(j)})" for i, j in p[:limit])
    return f"{s}{', ...' if len(p) > limit else ''} ({len(p)} in all)"


def _orient(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
    return (q[:, 0] - p[:, 0]) * (r[:, 1] - p[:, 1]) - (q[:, 1] - p[:, 1]) * (r[:, 0] - p[:, 0])


def candidate_pairs(lo: np.ndarray, hi: np.ndarray, h: float) -> np.ndarray:
    """Pairs (i < j) of boxes sharing a cell of a uniform grid of spacing ``h`` (2-D)."""
    n = len(lo)
    origin = lo.min(axis=0)
    for _ in range(60):
        i0 = np.floor((lo - origin) / h).astype(np.int64)
        i1 = np.floor((hi - origin) / h).astype(np.int64)
        w = i1 - i0 + 1
        counts = w[:, 0] * w[:, 1]
        if counts.sum() <= 8 * n + 10**6:
            break
        h *= 2.0
    seg = np.repeat(np.arange(n), counts)
    k = np.arange(seg.size) - np.repeat(np.cumsum(counts) - counts, counts)
    cx = i0[seg, 0] + k % w[seg, 0]
    cy = i0[seg, 1] + k // w[seg, 0]
    key = cx * (int(i1[:, 1].max()) + 2) + cy
    order = np.argsort(key, kind="stable")
    key, seg = key[order], seg[order]
    out = []
    s = 1
    while s < key.size:
        same = key[:-s] == key[s:]
        if not same.any():
            break
        out.append(np.stack([seg[:-s][same], seg[s:][same]], axis=1))
        s += 1
    if not out:
        return np.zeros((0, 2), dtype=np.int64)
    p = np.concatenate(out)
    p = np.sort(p, axis=1)
    p = p[p[:, 0] != p[:, 1]]
    key = np.sort(p[:, 0] * n + p[:, 1])
    key = key[np.r_[True, key[1:] != key[:-1]]]
    return np.stack([key // n, key % n], axis=1)


def segment_intersections(a: np.ndarray, b: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """Pairs of closed segments (a[i], b[i]) that intersect, other than consecutive
    segments meeting at their shared vertex (``nxt[i]`` is the segment after ``i``);
    consecutive segments that fold back onto each other count."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    length = np.linalg.norm(b - a, axis=1)
    ext = float((hi.max(axis=0) - lo.min(axis=0)).max())
    h = max(2.0 * float(np.median(length)), ext / 4096, 1e-300)
    p = candidate_pairs(lo, hi, h)
    i, j = p[:, 0], p[:, 1]
    box = np.all((lo[i] <= hi[j]) & (lo[j] <= hi[i]), axis=1)
    i, j = i[box], j[box]
    o1 = _orient(a[i], b[i], a[j])
    o2 = _orient(a[i], b[i], b[j])
    o3 = _orient(a[j], b[j], a[i])
    o4 = _orient(a[j], b[j], b[i])
    hit = (o1 * o2 <= 0) & (o3 * o4 <= 0)
    collinear = (o1 == 0) & (o2 == 0)
    adjacent = (nxt[i] == j) | (nxt[j] == i)
    dot = np.sum((b[i] - a[i]) * (b[j] - a[j]), axis=1)
    fold = adjacent & collinear & (dot < 0)
    bad = (hit & ~adjacent) | fold
    return np.stack([i[bad], j[bad]], axis=1)


def points_in_loop(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Crossing-number test of points p (m, 2) against the closed loop of segments (a, b)."""
    ay, by = a[None, :, 1], b[None, :, 1]
    py, px = p[:, None, 1], p[:, None, 0]
    straddle = (ay > py) != (by > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = a[None, :, 0] + (py - ay) * (b[None, :, 0] - a[None, :, 0]) / (by - ay)
    return (np.sum(straddle & (px < xc), axis=1) % 2) == 1


def duplicate_rows(v: np.ndarray) -> np.ndarray:
    """Indices of rows of ``v`` equal to another row (sorted)."""
    order = np.lexsort(v.T[::-1])
    s = v[order]
    same = np.all(s[1:] == s[:-1], axis=1)
    dup = np.zeros(len(v), dtype=bool)
    dup[order[1:][same]] = True
    dup[order[:-1][same]] = True
    return np.flatnonzero(dup)


def assign_groups(
    groups: Any,
    n: int,
    element: str,
    file_groups: Sequence[str | None] | None,
    name_order: Sequence[str],
    component: np.ndarray,
    default: Sequence[str],
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Group id per element and the group names, in the order of the ids.

    Named by ``groups`` (name -> element indices) first, then by ``file_groups`` (a
    name or None per element, from a mesh file; ``name_order`` orders their names),
    and every element left over by the default name of its component (``outer``
    first, then ``hole<i>``).
    """
    names: list[str] = []
    gid = np.full(n, -1)
    if groups is not None and not isinstance(groups, Mapping):
        raise ValueError(f"groups: expected a mapping name -> {element} indices, got {groups!r}")
    for name, idx in (groups or {}).items():
        if not isinstance(name, str):
            raise ValueError(f"groups: group names must be strings, got {name!r}")
        e = np.asarray(idx)
        if e.size and not np.issubdtype(e.dtype, np.integer):
            raise ValueError(f"groups[{name!r}]: {element} indices must be integers")
        e = e.astype(np.int64).ravel()
        out = np.flatnonzero((e < 0) | (e >= n))
        if out.size:
            raise ValueError(
                f"groups[{name!r}]: {element} indices out of range (there are {n} "
                f"{element}s): {fmt_indices(e[out])}"
            )
        twice = e[gid[e] >= 0]
        if twice.size:
            raise ValueError(
                f"groups[{name!r}]: {element}s already in another group: {fmt_indices(twice)}"
            )
        if name not in names:
            names.append(name)
        gid[e] = names.index(name)
    used = set(file_groups or ())
    names += [nm for nm in name_order if nm in used]
    for e, name in enumerate(file_groups or ()):
        if name is not None:
            if name not in names:
                names.append(name)
            gid[e] = names.index(name)
    rest = gid < 0
    for k in sorted(range(len(default)), key=lambda k: (default[k] != "outer", k)):
        m = rest & (component == k)
        if m.any():
            if default[k] not in names:
                names.append(default[k])
            gid[m] = names.index(default[k])
    return gid, tuple(names)
