"""k-nearest-neighbour stencils (scipy cKDTree) and the checks that guard them.

Neighbour search is combinatorial, so it runs in numpy on concrete arrays, outside
any traced code; everything downstream (geometry, weights) is traceable and
differentiable with the stencils held fixed.
"""

from __future__ import annotations

from math import comb

import numpy as np
from scipy.spatial import cKDTree

from ._util import check_int, fmt_indices

__all__ = ["find_neighbors", "autoselect_k", "check_points", "check_stencils"]


def autoselect_k(d: int, poly_deg: int) -> int:
    """Default stencil size: ``max(2 * C(poly_deg + d, d), 2 d + 1)``.

    Examples:
      >>> import rbfopt as ro
      >>> ro.autoselect_k(2, 2), ro.autoselect_k(3, 1), ro.autoselect_k(1, -1)
      (12, 8, 3)
    """
    d = check_int("d", d, 1, 3, what="dimension")
    poly_deg = check_int("poly_deg", poly_deg, -1, what="polynomial degree (-1: none)")
    m = comb(poly_deg + d, d) if poly_deg >= 0 else 0
    return max(2 * m, 2 * d + 1)


def check_points(points: object, name: str = "data", d: int | None = None) -> np.ndarray:
    """Validate a concrete point array: shape (N, d) with d in {1, 2, 3}, finite values.

    Returns it as a float64 numpy array. 1-D input of shape (N,) is read as (N, 1).

    Examples:
      >>> import numpy as np
      >>> from rbfopt.stencils import check_points
      >>> check_points([0.0, 1.0, 2.0]).shape
      (3, 1)
      >>> check_points([[0.0, np.nan]])
      Traceback (most recent call last):
      ...
      ValueError: data: non-finite (NaN/inf) coordinates at indices [0] (1 in all)
    """
    a = np.asarray(points)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[1] not in (1, 2, 3):
        raise ValueError(
            f"{name}: expected shape (N, d) with d in {{1, 2, 3}}, got {np.shape(points)}"
        )
    if d is not None and a.shape[1] != d:
        raise ValueError(f"{name}: expected {d} coordinates per point, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{name}: expected a numeric array, got dtype {a.dtype}")
    bad = np.flatnonzero(~np.all(np.isfinite(a), axis=1))
    if bad.size:
        raise ValueError(f"{name}: non-finite (NaN/inf) coordinates at indices {fmt_indices(bad)}")
    return a.astype(np.float64, copy=False)


def _duplicates(tree: cKDTree, n: int) -> np.ndarray:
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = tree.query_pairs(r=0.0, output_type="ndarray")
    return pairs


def find_neighbors(data: object, k: int, eval_points: object | None = None) -> np.ndarray:
    """Indices of the ``k`` nearest ``data`` points of each evaluation point.

    Returns int32 of shape ``(N_eval, k)``, each row sorted by distance; when
    ``eval_points`` is ``None`` (evaluation at the data) every row starts with the
    point itself. Raises ValueError for bad shapes, NaN/inf, duplicate data points
    and ``k`` outside ``1..N``.

    Examples:
      >>> import numpy as np
      >>> import rbfopt as ro
      >>> x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
      >>> ro.find_neighbors(x, 2)
      array([[0, 1],
             [1, 0],
             [2, 0],
             [3, 2]], dtype=int32)
      >>> ro.find_neighbors(x, 3, eval_points=np.array([[2.9, 2.9]]))
      array([[3, 2, 1]], dtype=int32)
    """
    x = check_points(data, "data")
    n, d = x.shape
    k = check_int("k", k, 1, what="stencil size")
    if k > n:
        raise ValueError(f"k: stencil size {k} exceeds the number of data points N={n}")
    tree = cKDTree(x)
    dup = _duplicates(tree, n)
    if len(dup):
        raise ValueError(
            f"data: duplicate points (index pairs {dup[:10].tolist()}); remove them before "
            "building stencils"
        )
    if eval_points is None:
        _, idx = tree.query(x, k=k, workers=-1)
        idx = np.asarray(idx).reshape(n, k)
        # Ties at distance zero cannot occur (no duplicates) so self is first, but
        # ties among neighbours are broken by the tree; make "self first" explicit.
        self_pos = idx == np.arange(n)[:, None]
        if not np.all(self_pos[:, 0]):
            rows = np.flatnonzero(~self_pos[:, 0])
            for r in rows:  # rare (exact ties only): a handful of rows at most
                j = int(np.flatnonzero(self_pos[r])[0])
                idx[r, 1 : j + 1] = idx[r, 0:j].copy()
                idx[r, 0] = r
    else:
        y = check_points(eval_points, "eval_points", d)
        _, idx = tree.query(y, k=k, workers=-1)
        idx = np.asarray(idx).reshape(len(y), k)
    return idx.astype(np.int32)


def check_stencils(
    adjl: object, n_data: int, n_eval: int | None = None, min_k: int = 1
) -> np.ndarray:
    """Validate a concrete stencil array against the data size.

    ``adjl`` must be integer, shape (N_eval, k) with ``k >= min_k`` (the number of
    monomials), indices in ``0..n_data-1`` and no repeated index within a row.

    Examples:
      >>> import numpy as np
      >>> from rbfopt.stencils import check_stencils
      >>> check_stencils(np.array([[0, 1], [1, 2]]), n_data=3)
      array([[0, 1],
             [1, 2]], dtype=int32)
      >>> check_stencils(np.array([[0, 1], [1, 3]]), n_data=3)
      Traceback (most recent call last):
      ...
      ValueError: adjl: indices out of range 0..2 in rows [1] (1 in all)
    """
    a = np.asarray(adjl)
    if a.ndim != 2:
        raise ValueError(f"adjl: expected shape (N_eval, k), got {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"adjl: expected integer indices, got dtype {a.dtype}")
    if n_eval is not None and a.shape[0] != n_eval:
        raise ValueError(f"adjl: has {a.shape[0]} rows but there are {n_eval} evaluation points")
    if a.shape[1] < min_k:
        raise ValueError(
            f"adjl: stencil size k={a.shape[1]} is smaller than the {min_k} monomials of the "
            "polynomial degree; use a larger k or a lower poly_deg"
        )
    if a.shape[1] > n_data:
        raise ValueError(
            f"k: stencil size {a.shape[1]} exceeds the number of data points N={n_data}"
        )
    bad = np.flatnonzero(np.any((a < 0) | (a >= n_data), axis=1))
    if bad.size:
        raise ValueError(f"adjl: indices out of range 0..{n_data - 1} in rows {fmt_indices(bad)}")
    s = np.sort(a, axis=1)
    rep = np.flatnonzero(np.any(s[:, 1:] == s[:, :-1], axis=1))
    if rep.size:
        raise ValueError(f"adjl: repeated indices within rows {fmt_indices(rep)}")
    return a.astype(np.int32, copy=False)
