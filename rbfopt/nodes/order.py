"""Spatial orderings of node sets: nearby nodes get nearby indices.

Node arrays split over devices by index blocks (``rbfopt.optimize.run(...,
devices=)``) keep a stencil's neighbours on the stencil's own device only as far as
the index order follows space. :func:`spatial_order` sorts nodes along a Hilbert
curve: each contiguous index block is then a compact patch of the domain, and few
stencils reach into another block.
"""

from __future__ import annotations

import numpy as np

from ..stencils import check_points

__all__ = ["spatial_order"]


def _hilbert_keys(q: np.ndarray, bits: int) -> np.ndarray:
    """Hilbert-curve indices of integer coordinates ``q`` (N, d) in ``[0, 2**bits)``.

    Skilling's transform ("Programming the Hilbert curve", AIP Conf. Proc. 707, 2004),
    vectorized over the points: coordinates to the curve's transposed index, whose
    bits interleaved (highest first, axis 0 first) give the index.
    """
    x = [q[:, i].astype(np.uint64) for i in range(q.shape[1])]
    d = len(x)
    one = np.uint64(1)
    m = one << np.uint64(bits - 1)
    # inverse undo
    b = m
    while b > one:
        p = b - one
        for i in range(d):
            hi = (x[i] & b) != 0
            t = (x[0] ^ x[i]) & p
            x0 = np.where(hi, x[0] ^ p, x[0] ^ t)
            if i:
                x[i] = np.where(hi, x[i], x[i] ^ t)
            x[0] = x0
        b >>= one
    # Gray encode
    for i in range(1, d):
        x[i] = x[i] ^ x[i - 1]
    t = np.zeros_like(x[0])
    b = m
    while b > one:
        t = np.where((x[d - 1] & b) != 0, t ^ (b - one), t)
        b >>= one
    x = [xi ^ t for xi in x]
    # interleave the transposed index's bits
    key = np.zeros_like(x[0])
    for j in range(bits - 1, -1, -1):
        for i in range(d):
            key = (key << one) | ((x[i] >> np.uint64(j)) & one)
    return key


def spatial_order(points: object) -> np.ndarray:
    """A permutation that orders ``points`` along a Hilbert curve.

    ``points[perm]`` visits the nodes along the curve through their bounding box
    (one scale for all axes), so nodes close in index are close in space and a split
    of the reordered nodes into contiguous index blocks gives compact patches. Nodes
    in the same cell of the curve's grid (2**31 cells a side in 2-D, 2**21 in 3-D)
    keep their relative order. In 1-D it is a stable sort.

    Args:
      points: (N, d) finite coordinates, d in 1, 2, 3 (shape (N,) reads as (N, 1)).

    Returns:
      (N,) int64 permutation: ``points[perm]`` is the reordered set; apply the same
      ``perm`` to every per-node array (kinds, normals, ...), and map stencil indices
      computed before the reordering with ``np.argsort(perm)[adjl[perm]]``.

    Raises:
      ValueError: naming ``points`` for a bad shape or non-finite coordinates.

    Examples:
      >>> import numpy as np
      >>> from rbfopt.nodes import spatial_order
      >>> grid = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=float)
      >>> perm = spatial_order(grid)
      >>> grid[perm].tolist()  # the curve's first cell: up, across, down
      [[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0]]
      >>> spatial_order(np.zeros((0, 2))).tolist()
      []
    """
    x = check_points(points, "points")
    n, d = x.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    bits = min(31, 63 // d)
    lo = x.min(axis=0)
    extent = float((x.max(axis=0) - lo).max())
    scale = (2.0**bits - 1) / extent if extent > 0 else 0.0
    q = np.clip(np.floor((x - lo) * scale), 0, 2**bits - 1).astype(np.uint64)
    return np.argsort(_hilbert_keys(q, bits), kind="stable").astype(np.int64)
