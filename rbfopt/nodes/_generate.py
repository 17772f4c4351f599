"""Node generation: features, boundary, then an advancing-front Poisson-disk interior fill.

The algorithm (:func:`generate`):

1. **Features** (``domain.features``: polygon corners, vertices on sharp surface edges)
   become fixed nodes (kind 2).
2. **Boundary** (kind 1). In 2-D each boundary loop is cut at its features into chains,
   and each chain is walked by arc length: nodes sit where the integral of 1/h along the
   chain reaches equal steps (the chain's integral rounded to a whole number of
   intervals), so corners are nodes and edges are evenly filled also for variable
   spacing. In 3-D, dense random candidates are drawn on the sharp edges and on the
   triangles (by length/area weighted with 1/h^(d-1)), and a Poisson-disk subset is
   chosen by parallel sample elimination: a maximal independent set of the conflict
   graph (candidates closer than ``0.85 h``) in Luby's rounds with priorities that
   prefer features, then sharp edges, then faces (dart throwing made parallel, as in
   Wei 2008, "Parallel Poisson disk sampling", ACM TOG 27(3)).
3. **Interior** (kind 0): the advancing-front fill of Slak & Kosec (2019, "On
   generation of node distributions for meshless PDE discretizations", SIAM J. Sci.
   Comput. 41(5), A3202-A3229). The front starts as the boundary nodes; each front
   node p proposes ``K`` candidates on a circle (sphere) of radius r with a random
   rotation; a candidate is accepted when it is inside (``sdf < -h/2``) and no node is
   within ``0.99 r``. The ring radius r = 0.93 h(p) in 2-D (0.89 h(p) in 3-D) gives
   the node density of the hexagonal (face-centred cubic) packing at spacing h, since
   the fill is locally close to a square (cubic) lattice of spacing r. Candidates of
   one generation are processed together (vectorized; conflicts among them resolved
   by the same independent-set rounds), and the accepted ones form the next front.
4. **Repulsion**: a few steps push each interior node away from its nearest
   neighbours (weights (h/r)^6, steps from 0.3 h down to 0); nodes that come closer to the
   boundary than h/2 are put back at depth h/2 along the closest-point direction.

Rule kept throughout: no two nodes closer than half the local target spacing (except
features closer than that to each other, which are all kept).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

from .._util import check_int
from ._spacing import DENSITY, as_spacing
from .nodeset import BOUNDARY, FEATURE, NodeSet

MAX_NODES = 50_000_000
"""The largest node count :func:`generate` accepts (estimated before generating)."""

_K = {2: 12, 3: 32}  # candidates per front node (Slak & Kosec use 10-20 in 2-D)
_R = 0.99  # acceptance radius, as a fraction of the ring radius
# ring radius as a fraction of h(p): the fill is locally close to a square (cubic)
# lattice, so its spacing is scaled to give the node density of the hexagonal (FCC)
# packing at spacing h: r^2 = (sqrt(3)/2) h^2 in 2-D, r^3 = h^3 / sqrt(2) in 3-D
_RING = {2: (3**0.5 / 2) ** 0.5, 3: 2 ** (-1 / 6)}
_R_SURF = 0.85  # conflict radius of the surface sample elimination, fraction of h


def generate(
    domain: Any, spacing: Any, *, seed: int = 0, repel: int = 30, max_nodes: int = MAX_NODES
) -> NodeSet:
    """Nodes filling ``domain`` at the target ``spacing`` (see the module docstring).

    Args:
      domain: a :class:`rbfopt.geometry.Polygon` (2-D) or :class:`~rbfopt.geometry.Surface`
        (3-D) (anything with ``dim``, ``sdf``, ``closest``, ``features``, ...).
      spacing: a positive number, or a callable h(x) mapping (m, d) points to (m,)
        positive target spacings (variable density).
      seed: seed of the random rotations and priorities (same seed, same nodes).
      repel: repulsion steps after the fill (0: none).
      max_nodes: the largest estimated node count accepted.

    Returns:
      a :class:`NodeSet`: features first, then boundary nodes, then interior nodes.

    Raises:
      ValueError: naming ``domain`` when it is not a 2-D or 3-D domain; ``repel``
        when it is not a non-negative integer; naming
        ``spacing`` when it is not positive and finite, when the callable returns the
        wrong shape or non-positive values, or when the estimated node count (measure
        times the mean of density / h^d over a sample of the domain) exceeds
        ``max_nodes`` (the message gives the estimate).

    Examples:
      >>> import rbfopt as ro
      >>> from rbfopt.nodes import generate
      >>> sq = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]])
      >>> ns = generate(sq, 0.25)
      >>> ns.points[ns.kind == 2].tolist()
      [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
      >>> int((ns.kind == 1).sum()), bool(0.5 < len(ns) / (1 / (0.866 * 0.25**2)) < 1.3)
      (12, True)
    """
    d = int(getattr(domain, "dim", 0))
    if d not in (2, 3):
        raise ValueError(f"domain: expected a 2-D or 3-D rbfopt.geometry domain, got {domain!r}")
    repel = check_int("repel", repel, 0, what="number of repulsion steps")
    hfun, hconst = as_spacing(spacing, d)
    rng = np.random.default_rng(seed)
    est = estimate_count(domain, hfun, hconst, rng)
    if est > max_nodes:
        raise ValueError(
            f"spacing: too small: it would give about {est:.3g} nodes, over the limit of "
            f"{max_nodes:.3g} (max_nodes)"
        )
    feats = np.asarray(domain.features, dtype=np.float64).reshape(-1, d)
    if d == 2:
        bnd = _boundary_2d(domain, hfun, hconst)
        kinds = np.r_[np.full(len(feats), FEATURE), np.full(len(bnd), BOUNDARY)]
        pts = np.concatenate([feats, bnd])
    else:
        pts, kinds = _boundary_3d(domain, feats, hfun, rng)
    # boundary chains of different loops may come close: keep the rule among them
    keep = _thin(pts, hfun(pts), kinds == FEATURE)
    pts, kinds = pts[keep], kinds[keep]
    _, nrm, grp = _closest(domain, pts)
    inner = _fill(domain, pts, hfun, rng)
    if repel and len(inner):
        inner = _repel(domain, pts, inner, hfun, repel)
    n_b = len(pts)
    allp = np.concatenate([pts, inner])
    h_all = hfun(allp)
    keep = _thin(allp, h_all, np.arange(len(allp)) < n_b, factor=0.5)
    inner = allp[n_b:][keep[n_b:]]
    n_i = len(inner)
    return NodeSet(
        points=np.concatenate([pts, inner]),
        kind=np.r_[kinds, np.zeros(n_i)].astype(np.int8),
        group=np.r_[grp.astype(np.int64), np.full(n_i, -1, np.int64)],
        normals=np.concatenate([nrm, np.zeros((n_i, d))]),
        group_names=tuple(domain.group_names),
    )


# ---------------------------------------------------------------- domain queries
def _sdf(domain: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(domain.sdf(x))


def _closest(domain: Any, x: np.ndarray):
    return tuple(np.asarray(a) for a in domain.closest(x))


def estimate_count(domain: Any, hfun, hconst: float | None, rng) -> float:
    """Estimated node count: measure x density x mean(1 / h^d) over a sample of the domain."""
    d = domain.dim
    if hconst is not None:
        return float(domain.measure * DENSITY[d] / hconst**d)
    lo, hi = np.asarray(domain.bounds, dtype=np.float64)
    x = lo + (hi - lo) * rng.random((4096, d))
    x = x[_sdf(domain, x) < 0]
    if len(x) == 0:
        x = np.asarray(domain.vertices, dtype=np.float64)
    return float(domain.measure * DENSITY[d] * np.mean(hfun(x) ** (-float(d))))


# ---------------------------------------------------------------- boundary, 2-D
def _boundary_2d(domain: Any, hfun, hconst: float | None) -> np.ndarray:
    """Nodes along each loop's chains between features (features themselves excluded)."""
    v = np.asarray(domain.vertices, dtype=np.float64)
    fset = np.zeros(len(v), dtype=bool)
    fset[np.asarray(domain.feature_ids, dtype=np.int64)] = True
    chains = []  # (polyline, closed)
    for a, b in domain.loops:
        idx = np.arange(a, b)
        f = np.flatnonzero(fset[idx])
        if f.size == 0:
            chains.append((v[np.r_[idx, idx[0]]], True))
            continue
        for k in range(f.size):
            i0, i1 = f[k], f[(k + 1) % f.size]
            if i1 <= i0:
                i1 += idx.size
            chains.append((v[idx[np.arange(i0, i1 + 1) % idx.size]], False))
    out = []
    if hconst is None:  # sample h along all chains at once: coarse, then fine
        coarse = [_along(p, np.linspace(0, 1, 65)) for p, _ in chains]
        hc = np.split(hfun(np.concatenate(coarse)), len(chains))
        fine_s = []
        for (p, _), hh in zip(chains, hc, strict=True):
            L = _length(p)
            m = int(min(max(L / (hh.min() / 16), 64), 200_000))
            fine_s.append(np.linspace(0, 1, m + 1))
        fine = [_along(p, s) for (p, _), s in zip(chains, fine_s, strict=True)]
        hf = np.split(hfun(np.concatenate(fine)), np.cumsum([len(s) for s in fine_s])[:-1])
    for c, (p, closed) in enumerate(chains):
        L = _length(p)
        if hconst is not None:
            s_f, phi = np.array([0.0, 1.0]), np.array([0.0, L / hconst])
        else:
            s_f, w = fine_s[c], 1.0 / hf[c]
            phi = np.r_[0.0, np.cumsum((w[1:] + w[:-1]) / 2 * np.diff(s_f) * L)]
        n = max(int(round(phi[-1])), 3 if closed else 1)
        k = np.arange(0, n) if closed else np.arange(1, n)
        s = np.interp(k * phi[-1] / n, phi, s_f)
        out.append(_along(p, s))
    return np.concatenate(out) if out else np.zeros((0, 2))


def _length(p: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())


def _along(p: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Points of the polyline ``p`` at fractions ``s`` in [0, 1] of its arc length."""
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
    cum = np.r_[0.0, np.cumsum(seg)]
    t = np.asarray(s) * cum[-1]
    j = np.clip(np.searchsorted(cum, t, side="right") - 1, 0, len(seg) - 1)
    u = np.clip((t - cum[j]) / seg[j], 0.0, 1.0)
    return p[j] + u[:, None] * (p[j + 1] - p[j])


# ---------------------------------------------------------------- boundary, 3-D
def _boundary_3d(domain: Any, feats: np.ndarray, hfun, rng) -> tuple[np.ndarray, np.ndarray]:
    """Features, sharp-edge and face candidates thinned by parallel sample elimination."""
    v = np.asarray(domain.vertices, dtype=np.float64)
    tri = v[np.asarray(domain.elements)]
    fe = np.asarray(getattr(domain, "feature_edges", np.zeros((0, 2), int)), dtype=np.int64)
    over = 10.0  # candidates per expected node
    # sharp edges: candidates by length / h
    ea, eb = v[fe[:, 0]], v[fe[:, 1]]
    e_len = np.linalg.norm(eb - ea, axis=1)
    if len(fe):
        w = e_len / hfun((ea + eb) / 2)
        ne = rng.poisson(over * w)
        ei = np.repeat(np.arange(len(fe)), ne)
        t = rng.random(ei.size)[:, None]
        ecand = ea[ei] + t * (eb[ei] - ea[ei])
    else:
        ecand = np.zeros((0, 3))
    # faces: candidates by area / h^2
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1) / 2
    w = area * DENSITY[2] / hfun(tri.mean(axis=1)) ** 2
    nf = rng.poisson(over * w)
    ti = np.repeat(np.arange(len(tri)), nf)
    r1, r2 = rng.random(ti.size), rng.random(ti.size)
    flip = r1 + r2 > 1
    r1, r2 = np.where(flip, 1 - r1, r1), np.where(flip, 1 - r2, r2)
    t0 = tri[ti]
    fcand = t0[:, 0] + r1[:, None] * (t0[:, 1] - t0[:, 0]) + r2[:, None] * (t0[:, 2] - t0[:, 0])
    pts = np.concatenate([feats, ecand, fcand])
    tier = np.r_[np.zeros(len(feats)), np.ones(len(ecand)), np.full(len(fcand), 2.0)]
    prio = tier + rng.random(len(pts))
    h = hfun(pts)
    chosen = _mis(pts, _R_SURF * h, prio, fixed=tier == 0)
    kinds = np.where(tier == 0, FEATURE, BOUNDARY)[chosen]
    return pts[chosen], kinds


# ---------------------------------------------------------------- independent sets
def _pairs(pts: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both orientations of the pairs closer than the mean of their radii ``r``.

    Each point's neighbours within its own radius come from a k-nearest query (k doubled
    for the points whose k-th neighbour is still inside), so no pair is missed."""
    n = len(pts)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    tree = cKDTree(pts)
    rows, k = np.arange(n), 4 * pts.shape[1]
    found_i, found_j = [], []
    while len(rows):
        k = min(k, n)
        dist, j = tree.query(pts[rows], k=k, distance_upper_bound=float(r[rows].max()), workers=-1)
        near = dist < r[rows, None]
        done = ~near[:, -1] | (k == n)
        found_i.append(np.broadcast_to(rows[:, None], near.shape)[near & done[:, None]])
        found_j.append(j[near & done[:, None]])
        rows, k = rows[~done], 2 * k
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    dd = np.linalg.norm(pts[i] - pts[j], axis=1)
    m = (i != j) & (dd < (r[i] + r[j]) / 2)
    i, j = i[m], j[m]
    return np.r_[i, j], np.r_[j, i]


def _mis(pts: np.ndarray, r: np.ndarray, prio: np.ndarray, fixed=None) -> np.ndarray:
    """Maximal independent set of the conflict graph (pairs closer than their mean
    radius) by Luby's rounds: a node joins when its priority is the lowest among its
    live neighbours, then its neighbours leave. ``fixed`` nodes always join."""
    n = len(pts)
    i, j = _pairs(pts, r)
    alive = np.ones(n, dtype=bool)
    chosen = np.zeros(n, dtype=bool)
    if fixed is not None and fixed.any():
        chosen |= fixed
        alive &= ~fixed
        alive[j[fixed[i]]] = False
    while alive.any():
        m = alive[i] & alive[j]
        low = np.full(n, np.inf)
        np.minimum.at(low, i[m], prio[j[m]])
        win = alive & (prio < low)
        chosen |= win
        alive &= ~win
        alive[j[win[i]]] = False
    return chosen


def _thin(pts: np.ndarray, h: np.ndarray, keep_first: np.ndarray, factor: float = 0.5):
    """Drop the later node of each pair closer than ``factor`` times their mean spacing
    (``keep_first`` nodes are never dropped); conflicts are rare here, so a short loop."""
    i, j = _pairs(pts, factor * h)
    m = i < j
    i, j = i[m], j[m]
    keep = np.ones(len(pts), dtype=bool)
    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        if keep[a] and keep[b] and not keep_first[b]:
            keep[b] = False
        elif keep[a] and keep[b] and not keep_first[a]:
            keep[a] = False
    return keep


# ---------------------------------------------------------------- interior fill
def _directions(d: int, k: int) -> np.ndarray:
    """k unit vectors evenly spread on the circle or the (Fibonacci) sphere."""
    if d == 2:
        a = 2 * np.pi * np.arange(k) / k
        return np.stack([np.cos(a), np.sin(a)], axis=1)
    i = np.arange(k) + 0.5
    z = 1 - 2 * i / k
    a = np.pi * (1 + 5**0.5) * i
    s = np.sqrt(1 - z * z)
    return np.stack([s * np.cos(a), s * np.sin(a), z], axis=1)


def _rotations(d: int, n: int, rng) -> np.ndarray:
    """n random rotation matrices (d, d)."""
    if d == 2:
        a = 2 * np.pi * rng.random(n)
        c, s = np.cos(a), np.sin(a)
        return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    q, r = np.linalg.qr(rng.standard_normal((n, 3, 3)))
    return q * np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]


def _fill(domain: Any, seeds: np.ndarray, hfun, rng) -> np.ndarray:
    """Slak & Kosec's advancing front, one vectorized step per generation."""
    d = domain.dim
    dirs = _directions(d, _K[d])
    nodes = [seeds]
    front = seeds
    h_front = _RING[d] * hfun(front)
    # upper bounds of the front's signed distances: sdf is 1-Lipschitz, so a candidate
    # at distance r from p has sdf <= sdf(p) + r, and only candidates whose bound is not
    # deep enough (those near the boundary) need the exact query
    s_front = np.zeros(len(front))
    # the nodes so far in two k-d trees: all nodes up to some generation (rebuilt
    # rarely) and the recent ones (rebuilt each generation); rebuilding the large tree
    # when the recent part exceeds sqrt(2 n_built n_front) balances the two costs
    built, n_built, n_all = cKDTree(seeds), 1, len(seeds)
    while len(front):
        n_recent = n_all - len(built.data)
        if n_recent**2 > 2 * len(built.data) * len(front):
            built, n_built = cKDTree(np.concatenate(nodes)), len(nodes)
            n_recent = 0
        recent = cKDTree(np.concatenate(nodes[n_built:])) if n_recent else None
        rot = _rotations(d, len(front), rng)
        cand = front[:, None, :] + h_front[:, None, None] * np.einsum("nij,kj->nki", rot, dirs)
        cand = cand.reshape(-1, d)
        hp = np.repeat(h_front, len(dirs))
        s_up = np.repeat(s_front + h_front, len(dirs))
        for tree in (built, recent):
            if len(cand) and tree is not None:
                dist, _ = tree.query(cand, distance_upper_bound=float(_R * hp.max()), workers=-1)
                ok = dist >= _R * hp
                cand, hp, s_up = cand[ok], hp[ok], s_up[ok]
        test = s_up >= -0.5 * hp
        s_up[test] = _sdf(domain, cand[test])
        ok = s_up < -0.5 * hp
        cand, hp, s_up = cand[ok], hp[ok], s_up[ok]
        if len(cand) == 0:
            break
        chosen = _mis(cand, _R * hp, rng.random(len(cand)))
        front, s_front = cand[chosen], s_up[chosen]
        h_front = _RING[d] * hfun(front)
        nodes.append(front)
        n_all += len(front)
    return np.concatenate(nodes[1:]) if len(nodes) > 1 else np.zeros((0, d))


# ---------------------------------------------------------------- repulsion
_REFRESH = 5  # repulsion steps per neighbour search (nodes move < 0.3 h per step)


def _repel(domain: Any, fixed: np.ndarray, x: np.ndarray, hfun, steps: int) -> np.ndarray:
    """A few steps of short-range repulsion on the interior nodes ``x`` (``fixed``
    boundary nodes push but do not move); nodes leaving the h/2 band are put back.

    Each node moves along the sum over its nearest neighbours of unit vectors weighted
    by (h / r)^6 (steep, so only the closest neighbours count), by at most a step that
    decays linearly from 0.3 h to zero. The neighbour lists are searched every
    ``_REFRESH`` steps; the pushes run as one fused JAX kernel."""
    d = domain.dim
    k = min(7 if d == 2 else 13, len(fixed) + len(x))
    # the steps add up to at most 0.15 h (steps + 1): deeper nodes never reach the band
    near = _sdf(domain, x) > -(0.5 + 0.15 * (steps + 1) + 0.5) * hfun(x)
    fixed_j = jnp.asarray(fixed)
    for it in range(steps):
        if it % _REFRESH == 0:
            _, idx = cKDTree(np.concatenate([fixed, x])).query(x, k=k, workers=-1)
            idx = jnp.asarray(idx[:, 1:])
        h = hfun(x)
        x = np.array(_push(fixed_j, jnp.asarray(x), idx, jnp.asarray(h), 0.3 * (1 - it / steps)))
        if near.any():
            xn, hn = x[near], hfun(x[near])
            out = _sdf(domain, xn) > -0.5 * hn
            if out.any():
                p, n, _ = _closest(domain, xn[out])
                xn[out] = p - 0.5 * hn[out, None] * n
                x[near] = xn
    return x


@jax.jit
def _push(fixed: jax.Array, x: jax.Array, idx: jax.Array, h: jax.Array, frac) -> jax.Array:
    """One repulsion step of the nodes ``x`` from their neighbours ``idx`` (indices into
    ``fixed`` followed by ``x``), by at most ``frac * h``."""
    diff = x[:, None, :] - jnp.concatenate([fixed, x])[idx]
    dist = jnp.maximum(jnp.sqrt(jnp.sum(diff * diff, axis=-1)), 1e-12 * h[:, None])
    w = (h[:, None] / dist) ** 6
    force = jnp.sum(diff * (w / dist)[..., None], axis=1)
    step = frac * h
    fn = jnp.sqrt(jnp.sum(force * force, axis=-1))
    scale = jnp.minimum(0.5 * step * fn, step) / jnp.maximum(fn, 1e-300)
    return x + force * scale[:, None]
