"""Bounding-volume hierarchy over boundary elements: built on the host, searched in JAX.

Why a tree and not a uniform grid of padded candidate lists: on a smooth boundary the
distances from a point to neighbouring elements differ only to second order, so the
candidates a grid cell cannot exclude fill an arc that grows like ``sqrt(cell size)``
(figures in docs/performance.md, "Domain queries"), while boxes around the elements
bound the distance to the first order and a pruned walk visits O(log n) nodes.

Layout: a complete binary tree in heap order (node ``i`` has children ``2i+1`` and
``2i+2``) with ``2**depth`` leaves of ``LEAF`` element slots each (slot -1: empty);
elements are split at the median of their centroids along the widest axis, level by
level. ``skip[i]`` is the next node in preorder after the subtree of ``i`` (-1 at the
end), so the walk needs no stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

# element slots per leaf: every step of the batched walk evaluates one leaf's slots,
# so cheap segments share a leaf and triangles get one each (docs/performance.md)
LEAF = {2: 4, 3: 1}
CHUNK = 1024  # queries per while loop: one far-from-boundary query stalls only its chunk


class Tree(NamedTuple):
    """Device arrays of the hierarchy (a pytree)."""

    rot: jax.Array  # (n_nodes, d, d) rows: the node's box axes
    lo: jax.Array  # (n_nodes, d) box lower corners in that frame (+inf for empty nodes)
    hi: jax.Array  # (n_nodes, d)
    skip: jax.Array  # (n_nodes,) int32
    leaves: jax.Array  # (n_leaves, LEAF) int32 element ids, -1 for empty slots


def build(elem: np.ndarray) -> Tree:
    """Hierarchy over elements given by their vertex coordinates, shape (n, k, d)."""
    n, k, d = elem.shape
    leaf = LEAF.get(k, 1)
    elo, ehi = elem.min(axis=1), elem.max(axis=1)
    cen = 0.5 * (elo + ehi)
    depth = max(int(np.ceil(np.log2(max(n / leaf, 1.0)))), 0)
    n_leaves = 2**depth
    slots = n_leaves * leaf
    order = np.arange(n)
    # level by level: each node owns a contiguous block of the order; sort within it
    for level in range(depth):
        size = slots >> level
        c = np.full((slots, d), np.nan)
        c[:n] = cen[order]
        blocks = c.reshape(2**level, size, d)
        nan = np.isnan(blocks)
        top = np.where(nan, -np.inf, blocks).max(axis=1)
        span = top - np.where(nan, np.inf, blocks).min(axis=1)
        axis = np.argmax(np.where(np.isfinite(span), span, -1.0), axis=1)
        node = np.arange(n) // size
        key = c[np.arange(n), axis[node]]
        order = order[np.lexsort((key, node))]
    padded = np.full(slots, -1, dtype=np.int64)
    padded[:n] = order
    leaves = padded.reshape(n_leaves, leaf)
    n_nodes = 2 * n_leaves - 1
    # oriented boxes: each node's frame holds the principal axes of its vertices, so
    # a smooth patch gets a box as thin as its sagitta (the bound is second-order tight)
    valid = (padded >= 0)[:, None].repeat(k, axis=1)  # (slots, k)
    pts = elem[np.maximum(padded, 0)]  # (slots, k, d)
    rot = np.tile(np.eye(d), (n_nodes, 1, 1))
    lo = np.full((n_nodes, d), np.inf)
    hi = np.full((n_nodes, d), -np.inf)
    for level in range(depth + 1):
        nl = 2**level
        p = pts.reshape(nl, -1, d)
        w = valid.reshape(nl, -1).astype(np.float64)
        cnt = w.sum(axis=1)
        ok = cnt > 0
        mean = np.sum(w[..., None] * p, axis=1) / np.maximum(cnt, 1)[:, None]
        q = (p - mean[:, None, :]) * w[..., None]
        cov = np.matmul(np.swapaxes(q, 1, 2), p - mean[:, None, :])
        _, vec = np.linalg.eigh(cov + 1e-300 * np.eye(d))
        r = np.swapaxes(vec, 1, 2)  # rows: axes
        y = np.matmul(p, vec)
        m = w[..., None] > 0
        sl = slice(nl - 1, 2 * nl - 1)
        rot[sl] = np.where(ok[:, None, None], r, np.eye(d))
        lo[sl] = np.where(ok[:, None], np.where(m, y, np.inf).min(axis=1), np.inf)
        hi[sl] = np.where(ok[:, None], np.where(m, y, -np.inf).max(axis=1), -np.inf)
    skip = np.arange(n_nodes)
    done = np.zeros(n_nodes, dtype=bool)
    # climb while a right child (even index > 0); then step to the right sibling
    for _ in range(depth + 1):
        right = (skip % 2 == 0) & (skip > 0) & ~done
        skip = np.where(right, (skip - 1) // 2, skip)
        done |= ~right
    skip = np.where(skip == 0, -1, skip + 1)
    return Tree(
        jnp.asarray(rot),
        jnp.asarray(lo),
        jnp.asarray(hi),
        jnp.asarray(skip, dtype=jnp.int32),
        jnp.asarray(leaves, dtype=jnp.int32),
    )


def _box_d2(tree: Tree, node: jax.Array, x: jax.Array) -> jax.Array:
    y = tree.rot[node] @ x
    g = jnp.maximum(jnp.maximum(tree.lo[node] - y, y - tree.hi[node]), 0.0)
    return jnp.sum(g * g, axis=-1)


def nearest(
    tree: Tree,
    elem: jax.Array,
    dist2: Callable[[jax.Array, jax.Array], jax.Array],
    x: jax.Array,
) -> jax.Array:
    """Index of the element closest to each query, shape (m,) int32 (not differentiated).

    ``elem`` is (n, k, d); ``dist2(e, x)`` the squared distance from a point ``x`` (d,)
    to the elements ``e`` (L, k, d) -> (L,).
    """
    x = jax.lax.stop_gradient(x)
    m = x.shape[0]
    n_leaves = tree.leaves.shape[0]
    first = n_leaves - 1
    depth = int(np.log2(n_leaves))
    n_nodes = 2 * n_leaves - 1

    def leaf_best(leaf, bd2, bi, x):
        ids = tree.leaves[leaf]
        d2 = dist2(elem[jnp.maximum(ids, 0)], x)
        d2 = jnp.where(ids >= 0, d2, jnp.inf)
        k = jnp.argmin(d2)
        better = d2[k] < bd2
        return jnp.where(better, d2[k], bd2), jnp.where(better, ids[k], bi)

    def one(x):
        # depth-first, nearer child first; a stack entry carries its box distance so a
        # popped node is pruned against the best distance found since it was pushed
        def body(s):
            stack, sd2, sp, bd2, bi = s
            sp = sp - 1
            node, nd2 = stack[sp], sd2[sp]
            live = nd2 < bd2
            is_leaf = node >= first
            ld2, li = leaf_best(jnp.clip(node - first, 0, n_leaves - 1), bd2, bi, x)
            take = live & is_leaf
            bd2 = jnp.where(take, ld2, bd2)
            bi = jnp.where(take, li, bi)
            a = jnp.minimum(2 * node + 1, n_nodes - 1)
            b = jnp.minimum(2 * node + 2, n_nodes - 1)
            da, db = _box_d2(tree, a, x), _box_d2(tree, b, x)
            near_a = da <= db
            c_near, d_near = jnp.where(near_a, a, b), jnp.minimum(da, db)
            c_far, d_far = jnp.where(near_a, b, a), jnp.maximum(da, db)
            expand = live & ~is_leaf
            push_far = expand & (d_far < bd2)
            stack = stack.at[sp].set(jnp.where(push_far, c_far, stack[sp]))
            sd2 = sd2.at[sp].set(jnp.where(push_far, d_far, sd2[sp]))
            sp = sp + push_far
            push_near = expand & (d_near < bd2)
            stack = stack.at[sp].set(jnp.where(push_near, c_near, stack[sp]))
            sd2 = sd2.at[sp].set(jnp.where(push_near, d_near, sd2[sp]))
            sp = sp + push_near
            return stack, sd2, sp, bd2, bi

        stack = jnp.zeros(depth + 2, jnp.int32)
        sd2 = jnp.zeros(depth + 2, x.dtype)
        init = (stack, sd2, jnp.int32(1), jnp.asarray(jnp.inf, x.dtype), jnp.int32(-1))
        return jax.lax.while_loop(lambda s: s[2] > 0, body, init)[4]

    if m <= CHUNK:
        return jax.vmap(one)(x)
    # queries in Morton order, so that each chunk's walk covers one patch of space
    lo, hi = jnp.min(x, axis=0), jnp.max(x, axis=0)
    q = jnp.clip((x - lo) / jnp.maximum(hi - lo, 1e-300), 0.0, 1.0)
    q = (q * 1023).astype(jnp.int64)
    code = jnp.zeros(m, dtype=jnp.int64)
    d = x.shape[1]
    for bit in range(10):
        for j in range(d):
            code = code | (((q[:, j] >> bit) & 1) << (bit * d + j))
    perm = jnp.argsort(code)
    nc = -(-m // CHUNK)
    xs = x[perm]
    xs = jnp.concatenate([xs, jnp.repeat(xs[-1:], nc * CHUNK - m, axis=0)], axis=0)
    out = jax.lax.map(jax.vmap(one), xs.reshape(nc, CHUNK, d)).reshape(-1)[:m]
    return jnp.zeros(m, dtype=jnp.int32).at[perm].set(out)
