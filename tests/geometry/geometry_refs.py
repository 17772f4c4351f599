"""Independent numpy references for the geometry tests: brute force over all elements."""

from __future__ import annotations

import time

import numpy as np


def seg_closest(x, a, b):
    """Closest points of every query (m, 2) on every segment: distances (m, n), points."""
    d = b - a
    t = np.einsum("mnk,nk->mn", x[:, None, :] - a[None], d) / np.sum(d * d, axis=1)
    t = np.clip(t, 0.0, 1.0)
    p = a[None] + t[..., None] * d[None]
    return np.linalg.norm(x[:, None, :] - p, axis=-1), p


def even_odd_inside(x, loops):
    """Even-odd crossing rule over all loops (lists of (n, 2) vertices)."""
    inside = np.zeros(len(x), dtype=bool)
    for v in loops:
        a, b = v, np.roll(v, -1, axis=0)
        for ai, bi in zip(a, b, strict=True):
            if ai[1] == bi[1]:
                continue
            s = (ai[1] > x[:, 1]) != (bi[1] > x[:, 1])
            xc = ai[0] + (x[:, 1] - ai[1]) * (bi[0] - ai[0]) / (bi[1] - ai[1])
            inside ^= s & (x[:, 0] < xc)
    return inside


def tri_closest(x, a, b, c):
    """Ericson's closest point on triangles (n, 3) for queries (m, 3): points (m, n, 3)."""
    p = x[:, None, :]
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = np.sum(ab * ap, -1), np.sum(ac * ap, -1)
    bp = p - b
    d3, d4 = np.sum(ab * bp, -1), np.sum(ac * bp, -1)
    cp = p - c
    d5, d6 = np.sum(ab * cp, -1), np.sum(ac * cp, -1)
    vc = d1 * d4 - d3 * d2
    vb = d5 * d2 - d1 * d6
    va = d3 * d6 - d5 * d4
    with np.errstate(divide="ignore", invalid="ignore"):
        den = 1.0 / (va + vb + vc)
        v, w = vb * den, vc * den
        out = a + ab * v[..., None] + ac * w[..., None]  # face region
        # edge regions
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    e_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    e_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    e_bc = (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0)
    out = np.where(e_bc[..., None], b + t_bc[..., None] * (c - b), out)
    out = np.where(e_ac[..., None], a + t_ac[..., None] * ac, out)
    out = np.where(e_ab[..., None], a + t_ab[..., None] * ab, out)
    # vertex regions
    va_ = (d1 <= 0) & (d2 <= 0)
    vb_ = (d3 >= 0) & (d4 <= d3)
    vc_ = (d6 >= 0) & (d5 <= d6)
    out = np.where(vc_[..., None], np.broadcast_to(c, out.shape), out)
    out = np.where(vb_[..., None], np.broadcast_to(b, out.shape), out)
    out = np.where(va_[..., None], np.broadcast_to(a, out.shape), out)
    return np.linalg.norm(p - out, axis=-1), out


def winding(x, a, b, c):
    """Generalized winding number of closed triangle surfaces about points x (m, 3)."""
    A, B, C = a[None] - x[:, None], b[None] - x[:, None], c[None] - x[:, None]
    la, lb, lc = (np.linalg.norm(z, axis=-1) for z in (A, B, C))
    num = np.sum(A * np.cross(B, C), -1)
    den = la * lb * lc + np.sum(A * B, -1) * lc + np.sum(A * C, -1) * lb + np.sum(B * C, -1) * la
    return np.sum(2 * np.arctan2(num, den), axis=1) / (4 * np.pi)


def icosphere(level: int, r: float = 1.0, centre=(0.0, 0.0, 0.0)):
    """Subdivided icosahedron on a sphere: vertices (n, 3), outward triangles (t, 3)."""
    p = (1 + 5**0.5) / 2
    v = [[-1, p, 0], [1, p, 0], [-1, -p, 0], [1, -p, 0], [0, -1, p], [0, 1, p],
         [0, -1, -p], [0, 1, -p], [p, 0, -1], [p, 0, 1], [-p, 0, -1], [-p, 0, 1]]  # fmt: skip
    f = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
         [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
         [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]]  # fmt: skip
    v = np.array(v, float)
    v /= np.linalg.norm(v, axis=1)[:, None]
    f = np.array(f)
    for _ in range(level):
        edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        uniq, inv = np.unique(edges, axis=0, return_inverse=True)
        mid = v[uniq].mean(axis=1)
        mid /= np.linalg.norm(mid, axis=1)[:, None]
        m = len(v) + inv.ravel().reshape(3, -1).T  # midpoints of ab, bc, ca
        v = np.concatenate([v, mid])
        a, b, c = f.T
        f = np.concatenate(
            [
                np.stack([a, m[:, 0], m[:, 2]], 1),
                np.stack([b, m[:, 1], m[:, 0]], 1),
                np.stack([c, m[:, 2], m[:, 1]], 1),
                m,
            ]
        )
    return r * v + np.asarray(centre), f


def cube(h: float = 1.0, n: int = 2):
    """Surface of the cube [-h, h]^3 with an n x n grid per face: vertices, triangles."""
    t = np.linspace(-h, h, n + 1)
    verts, tris = [], []
    for axis in range(3):
        for side in (-h, h):
            u, w = np.meshgrid(t, t, indexing="ij")
            p = np.zeros(u.shape + (3,))
            p[..., axis] = side
            p[..., (axis + 1) % 3] = u
            p[..., (axis + 2) % 3] = w
            base = sum(len(x) for x in verts)
            verts.append(p.reshape(-1, 3))
            i = np.arange(n)[:, None] * (n + 1) + np.arange(n)[None, :]
            i = i.ravel() + base
            q = np.stack([i, i + n + 1, i + n + 2, i + 1], 1)
            tris.append(np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]]))
    v = np.concatenate(verts)
    f = np.concatenate(tris)
    u, inv = np.unique(np.round(v, 12), axis=0, return_inverse=True)
    return u, inv.ravel()[f]


def timed_queries(build, x, label: str):
    """Build a domain, jit its ``sdf`` and query ``x`` twice; print build, first call
    (compile) and second call times. Returns (domain, distances)."""
    import jax

    t0 = time.perf_counter()
    domain = build()
    t_build = time.perf_counter() - t0
    fn = jax.jit(domain.sdf)
    t0 = time.perf_counter()
    fn(x).block_until_ready()
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    d = fn(x).block_until_ready()
    t_second = time.perf_counter() - t0
    print(
        f"\n{label}: build {t_build:.2f} s, first call (compile) {t_first:.2f} s, "
        f"second {t_second:.2f} s"
    )
    return domain, d
