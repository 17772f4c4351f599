"""Closest points on segments and triangles, in JAX: squared distances for the search,
and the differentiable closest point, signed distance and normal for the answer.

The sign comes from the pseudo-normal of the feature that holds the closest point
(Baerentzen & Aanaes 2005): the face normal inside a segment or triangle, the
angle-weighted pseudo-normal at a vertex, the sum of the two face normals on a
triangle edge. Inside a face the signed distance is written ``(x - a) . n``, smooth
with gradient ``n`` (also on the boundary); at edges and vertices it is
``sign * |x - c|`` with a safe norm whose value at ``x = c`` is ``(x - c) . n_pseudo``,
so no derivative is NaN on the boundary.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _seg_t(a: jax.Array, b: jax.Array, x: jax.Array) -> jax.Array:
    d = b - a
    return jnp.sum((x - a) * d, axis=-1) / jnp.sum(d * d, axis=-1)


def seg_dist2(e: jax.Array, x: jax.Array) -> jax.Array:
    """Squared distance from ``x`` (d,) to segments ``e`` (L, 2, d) -> (L,)."""
    a, b = e[:, 0], e[:, 1]
    t = jnp.clip(_seg_t(a, b, x), 0.0, 1.0)
    r = x - (a + t[:, None] * (b - a))
    return jnp.sum(r * r, axis=-1)


def _tri_bary(a, b, c, x):
    """Barycentric coordinates (of b and c) of the projection of x on the plane."""
    e0, e1, r = b - a, c - a, x - a
    d00 = jnp.sum(e0 * e0, -1)
    d01 = jnp.sum(e0 * e1, -1)
    d11 = jnp.sum(e1 * e1, -1)
    d20 = jnp.sum(r * e0, -1)
    d21 = jnp.sum(r * e1, -1)
    den = d00 * d11 - d01 * d01
    v = (d11 * d20 - d01 * d21) / den
    w = (d00 * d21 - d01 * d20) / den
    return v, w


def _tri_edges(a, b, c, x):
    """Closest points on the three edges (ab, bc, ca): params t (..., 3), points (..., 3, d)."""
    p = jnp.stack([a, b, c], axis=-2)
    q = jnp.stack([b, c, a], axis=-2)
    t = jnp.clip(_seg_t(p, q, x[..., None, :]), 0.0, 1.0)
    return t, p + t[..., None] * (q - p)


def tri_dist2(e: jax.Array, x: jax.Array) -> jax.Array:
    """Squared distance from ``x`` (3,) to triangles ``e`` (L, 3, 3) -> (L,)."""
    a, b, c = e[:, 0], e[:, 1], e[:, 2]
    v, w = _tri_bary(a, b, c, x)
    inside = (v >= 0) & (w >= 0) & (v + w <= 1)
    n = jnp.cross(b - a, c - a)
    h = jnp.sum((x - a) * n, -1)
    face = h * h / jnp.sum(n * n, -1)
    _, p = _tri_edges(a, b, c, x)
    r = x[None, None, :] - p
    edge = jnp.min(jnp.sum(r * r, -1), axis=-1)
    return jnp.where(inside, face, edge)


def _signed_norm(r: jax.Array, pn: jax.Array) -> jax.Array:
    """``sign(r . pn) |r|`` with a finite derivative at ``r = 0`` (there: ``r . pn``)."""
    r2 = jnp.sum(r * r, -1)
    h = jnp.sum(r * pn, -1)
    pos = r2 > 0
    nrm = jnp.sqrt(jnp.where(pos, r2, 1.0))
    return jnp.where(pos, jnp.where(h >= 0, nrm, -nrm), h)


def seg_query(a, b, n, na, nb, x):
    """Signed distance, closest point and normal for points x (m, 2) on segments (m, 2)
    with face normals n and vertex pseudo-normals na, nb (all (m, 2))."""
    t = _seg_t(a, b, x)
    face = (t > 0) & (t < 1)
    at_a = (t <= 0)[:, None]
    # the vertex itself, not the clipped projection, so that c does not move with x there
    c_face = a + jnp.clip(t, 0.0, 1.0)[:, None] * (b - a)
    c = jnp.where(face[:, None], c_face, jnp.where(at_a, a, b))
    pn = jnp.where(at_a, na, nb)
    s_face = jnp.sum((x - a) * n, -1)
    s_vert = _signed_norm(x - c, pn)
    sdf = jnp.where(face, s_face, s_vert)
    normal = jnp.where(face[:, None], n, pn)
    return sdf, c, normal


def tri_query(a, b, c, n, en, vn, x):
    """Signed distance, closest point and normal for points x (m, 3) on triangles
    (a, b, c each (m, 3)), face normals n (m, 3), edge pseudo-normals en (m, 3, 3) for
    edges ab, bc, ca, vertex pseudo-normals vn (m, 3, 3) for a, b, c."""
    v, w = _tri_bary(a, b, c, x)
    inside = (v > 0) & (w > 0) & (v + w < 1)
    h = jnp.sum((x - a) * n, -1)
    p_face = x - h[:, None] * n
    t, p = _tri_edges(a, b, c, x)
    r = x[:, None, :] - p
    k = jnp.argmin(jnp.sum(r * r, -1), axis=-1)
    tk = jnp.take_along_axis(t, k[:, None], axis=1)[:, 0]
    pk = jnp.take_along_axis(p, k[:, None, None], axis=1)[:, 0]
    on_edge = (tk > 0) & (tk < 1)
    vert = jnp.where(tk <= 0, k, (k + 1) % 3)
    pn_edge = jnp.take_along_axis(en, k[:, None, None], axis=1)[:, 0]
    pn_vert = jnp.take_along_axis(vn, vert[:, None, None], axis=1)[:, 0]
    pn = jnp.where(on_edge[:, None], pn_edge, pn_vert)
    abc = jnp.stack([a, b, c], axis=1)
    pv = jnp.take_along_axis(abc, vert[:, None, None], axis=1)[:, 0]
    pk = jnp.where(on_edge[:, None], pk, pv)
    s_feat = _signed_norm(x - pk, pn)
    sdf = jnp.where(inside, h, s_feat)
    point = jnp.where(inside[:, None], p_face, pk)
    normal = jnp.where(inside[:, None], n, pn)
    return sdf, point, normal
