"""Constraints of a node set under optimization: the projection back onto the domain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

from .nodeset import BOUNDARY, FEATURE, NodeSet


def projection(
    domain: Any, nodes: NodeSet, *, margin: Any, gap: Any = None
) -> Callable[[jax.Array], jax.Array]:
    """A traceable map (n, d) -> (n, d) that puts moved nodes back where their kind says.

    With ``p, n = domain.closest(x)`` (closest boundary point, outward normal):

    * features (kind 2) return to their positions in ``nodes``;
    * boundary nodes (kind 1) slide along the boundary: ``x -> p``. Near a feature,
      closest points pile up on the feature itself (the whole normal cone of a convex
      corner maps onto it), so a node closer than ``gap`` to the feature that was
      nearest to it in ``nodes`` goes to ``closest(f + gap u)``, with ``u`` the unit
      vector from that feature ``f`` to the node's position in ``nodes`` (its side of
      the corner): no two nodes can land on the same spot. A node whose closest point
      is on another boundary group than its own (pushed past a corner, or on an edge
      between two groups in 3-D) goes to ``closest(f + r u)``, ``r`` the distance of
      its closest point from ``f`` (at least ``gap``): boundary nodes keep their
      groups, and nodes of one edge keep their distances from its corner;
    * interior nodes (kind 0) closer than ``margin`` to the boundary, or outside, go to
      depth ``margin`` along the inward direction: ``x -> p + margin u`` with ``u`` the
      unit vector from ``p`` to ``x`` (inside) or ``-n`` (outside, on the boundary).

    Args:
      domain: the :mod:`rbfopt.geometry` domain of ``nodes``.
      nodes: the node set whose kinds and features are kept (e.g. the starting nodes).
      margin: depth of interior nodes: a number or a (n,) array (e.g. a fraction of
        the local spacing).
      gap: the least distance of boundary nodes from features: a number or a (n,)
        array; default ``margin``.

    Returns:
      ``project(x)`` for (n, d) arrays in the order of ``nodes``; jit-, vmap- and
      grad-compatible (the kinds and features are constants).

    Raises:
      ValueError: naming ``margin`` or ``gap`` when not finite and >= 0 (or not of
        shape (n,)), ``nodes`` when its dimension differs from the domain's.

    Examples:
      >>> import jax.numpy as jnp, rbfopt as ro
      >>> sq = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]])
      >>> ns = ro.nodes.generate(sq, 0.25)
      >>> project = ro.nodes.projection(sq, ns, margin=0.05)
      >>> x = jnp.asarray(ns.points).at[-1].set([1.5, 0.5])   # an interior node pushed out
      >>> project(x)[-1]
      Array([0.95, 0.5 ], dtype=float64)
      >>> b = int((ns.kind == 2).sum())                      # the first boundary node
      >>> bool(jnp.abs(sq.sdf(project(x + 0.1))[b]) < 1e-12)
      True
    """
    n, d = len(nodes), nodes.dim
    if d != domain.dim:
        raise ValueError(f"nodes: {d}-D nodes for a {domain.dim}-D domain")
    margin = _per_node("margin", margin, n)
    gap = margin if gap is None else _per_node("gap", gap, n)
    kind = np.asarray(nodes.kind)
    fixed = np.flatnonzero(kind == FEATURE)
    bnd = np.flatnonzero(kind == BOUNDARY)
    inner = np.flatnonzero((kind != FEATURE) & (kind != BOUNDARY))
    x0 = np.asarray(nodes.points, dtype=np.float64)
    guard = _feature_guard(x0, fixed, bnd, gap)
    own_group = jnp.asarray(np.asarray(nodes.group)[bnd])

    def project(x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        out = x.at[fixed].set(x0[fixed])
        if len(bnd):
            p, _, grp = domain.closest(x[bnd])
            if guard is not None:
                f, u, g = guard
                d2 = jnp.sum((p - f) ** 2, axis=1)
                near = (d2 < g**2) | (grp != own_group)
                # at their own distance from the feature (at least the gap): nodes of
                # one side pushed past it, or on an edge between two groups (whose
                # closest point may name either), stay apart
                dist = jnp.sqrt(jnp.where(d2 > g**2, d2, g**2))
                q, _, _ = domain.closest(f + dist[:, None] * u)
                p = jnp.where(near[:, None], q, p)
            out = out.at[bnd].set(p)
        if len(inner):
            out = out.at[inner].set(_inside(domain, x[inner], margin[inner]))
        return out

    return project


def _per_node(name: str, v: Any, n: int) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    a = np.broadcast_to(a, (n,)) if a.ndim == 0 else a
    if a.shape != (n,) or not np.all(np.isfinite(a) & (a >= 0)):
        raise ValueError(f"{name}: expected a finite number >= 0 or an ({n},) array of them")
    return np.array(a)


def _feature_guard(x0: np.ndarray, fixed: np.ndarray, bnd: np.ndarray, gap: np.ndarray):
    """Per boundary node: its nearest feature, the unit vector from it to the node, the gap."""
    if len(fixed) == 0 or len(bnd) == 0:
        return None
    _, j = cKDTree(x0[fixed]).query(x0[bnd])
    f = x0[fixed][j]
    r = x0[bnd] - f
    u = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-300)
    return jnp.asarray(f), jnp.asarray(u), jnp.asarray(gap[bnd])


def _inside(domain: Any, x: jax.Array, depth: np.ndarray) -> jax.Array:
    """``x`` where it is at least ``depth`` inside, else at depth ``depth`` below its
    closest boundary point."""
    p, nrm, _ = domain.closest(x)
    r = x - p
    d2 = jnp.sum(r * r, axis=1)
    dist = jnp.where(d2 > 0, jnp.sqrt(jnp.where(d2 > 0, d2, 1.0)), 0.0)  # no NaN gradient at 0
    inward = (jnp.sum(r * nrm, axis=1) < 0) & (d2 > 0)
    u = jnp.where(inward[:, None], r / jnp.where(d2 > 0, dist, 1.0)[:, None], -nrm)
    ok = inward & (dist >= depth)
    return jnp.where(ok[:, None], x, p + depth[:, None] * u)
