"""Stencil weights that are continuous in the node positions: a blend over stencil sizes.

Weights on the ``m`` nearest neighbours jump when the ``m``-th and ``(m+1)``-th
neighbours swap places, so any loss built on them jumps as nodes move (an
optimization of node positions sees it as noise that does not shrink with the step).
:func:`blended_weights` averages the weights ``W_m`` of the ``m`` nearest neighbours
over ``s`` consecutive sizes ``m = K - s, ..., K - 1`` (``K`` = columns of ``adjl``):

    W = sum_m c_m W_m,     c_m = b_m / sum_m' b_m',     b_m = g_m / (g_m + tau rho)

with sorted distances ``d_1 <= ... <= d_K`` from the evaluation point, gaps
``g_m = d_(m+1) - d_m``, and the local scale ``rho = d_K``. When the ``m``-th and
``(m+1)``-th neighbours swap, only ``W_m`` changes (the first ``m'`` neighbours of
every other size are the same set before and after), and its coefficient is 0 there
because ``g_m = 0``; the coefficients are continuous functions of the sorted distances,
and a neighbour entering at place ``K`` only moves ``d_K``. So ``W`` is continuous in
the positions (up to a ``1e-12`` floor on ``b_m`` that keeps the rare all-ties rows
finite). Each ``W_m`` reproduces the basis' polynomials and the ``c_m`` sum to 1, so
``W`` does too. Derivatives: ordinary AD through the sort's gathers, the gaps and
:func:`~rbfopt.fd.weights.build_weights` (its rules in both modes).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._util import check_int
from ..basis import RadialBasis, safe_norm
from ..operators import Operator
from .weights import build_weights, tapered_build

__all__ = ["blended_weights", "tapered_weights"]

#: Floor on the blend coefficients: keeps rows whose gaps all vanish (exact ties) finite.
_FLOOR = 1e-12


def blended_weights(
    op: Operator,
    data: jax.Array,
    eval_points: jax.Array | None,
    adjl: jax.Array,
    basis: RadialBasis,
    *,
    sizes: int = 2,
    taper: float = 0.1,
) -> jax.Array:
    """RBF-FD weights of ``op`` continuous in the positions, blended over stencil sizes.

    Args:
      op, data, eval_points, basis: as for :func:`~rbfopt.fd.weights.build_weights`.
      adjl: (N_eval, K) indices of at least the ``K`` nearest points of each
        evaluation point (``ro.find_neighbors(data, K, ...)``); the order within a
        row does not matter (rows are sorted by the current distances).
      sizes: number of stencil sizes blended, ``K - sizes .. K - 1``; the ``K``-th
        neighbour only enters through its distance.
      taper: gap, in units of ``d_K``, at which a size gets half its full share.

    Returns:
      (N_eval, K) weights in ``adjl``'s column order ((N_eval, K, n_out) for vector
      operators); the column of a neighbour outside a size's stencil gets 0 from it.

    Examples:
      >>> import numpy as np, rbfopt as ro
      >>> x = np.random.default_rng(0).random((200, 2))
      >>> adjl = ro.find_neighbors(x, 15)
      >>> w = ro.fd.blended_weights(ro.Laplacian(), x, None, adjl, ro.PHS(3, poly_deg=2))
      >>> u = x[:, 0] ** 2 + x[:, 1] ** 2  # Laplacian 4, reproduced exactly
      >>> bool(np.allclose(np.sum(np.asarray(w) * u[adjl], axis=1), 4.0))
      True
    """
    adjl = jnp.asarray(adjl, dtype=jnp.int32)
    big_k = adjl.shape[1]
    what = f"number of blended stencil sizes (adjl has K={big_k})"
    sizes = check_int("sizes", sizes, 1, big_k - 1, what=what)
    x, pts, ranked, rank, share = _ranked(data, eval_points, adjl, sizes, taper)
    w = None
    for j, m in enumerate(range(big_k - sizes, big_k)):
        w_m = build_weights(op, x, pts, ranked[:, :m], basis)
        w_m = jnp.pad(w_m, [(0, 0), (0, big_k - m)] + [(0, 0)] * (w_m.ndim - 2))
        part = share[:, j].reshape((-1,) + (1,) * (w_m.ndim - 1)) * w_m
        w = part if w is None else w + part
    return _unranked(w, rank)


def tapered_weights(
    op: Operator,
    data: jax.Array,
    eval_points: jax.Array | None,
    adjl: jax.Array,
    basis: RadialBasis,
    *,
    taper: float = 0.1,
) -> jax.Array:
    r"""RBF-FD weights of ``op`` continuous in the positions, from one local solve.

    The stencil is the ``K - 1`` nearest of the ``K`` points in ``adjl``; its
    farthest point enters with the factor ``t``, the share that
    :func:`blended_weights` (``sizes=2``) gives the larger of its two sizes,

        t = b_(K-1) / (b_(K-2) + b_(K-1)),     b_m = g_m / (g_m + tau rho) + 1e-12,

    and the weights solve the saddle system with that point held back by a penalty
    (:func:`~rbfopt.fd._local.taper_last`):

        [A + sign mu e e'  P] [w]   [f]
        [P'                0] [l] = [g],     mu = c (1 - t^2) / t^2,

    ``c`` the RMS of the kernel block times 0.01, ``e`` the farthest point's unit vector. When
    the ``(K-1)``-th and ``K``-th points swap, ``t = 0`` and the farthest point has
    weight 0 (the ``K - 2``-point weights); when the ``(K-2)``-th and ``(K-1)``-th
    swap, ``t = 1`` and the two enter alike (the ``K - 1``-point weights). So the
    weights are continuous where :func:`blended_weights` is, for the cost of one local
    solve of ``K - 1`` points instead of two, and reproduce the basis' polynomials
    exactly for every ``t`` (``P' w = g``). Between the swaps they are penalized
    weights, not a mean of the two sizes'. Derivatives: AD through the gaps and the
    rules of :func:`~rbfopt.fd.weights.build_weights`.

    Args:
      op, data, eval_points, basis: as for :func:`~rbfopt.fd.weights.build_weights`.
      adjl: (N_eval, K) indices of at least the ``K`` nearest points of each
        evaluation point, ``K >= 3``; the order within a row does not matter.
      taper: gap, in units of ``d_K``, at which ``b_m`` is half its full value.

    Returns:
      (N_eval, K) weights in ``adjl``'s column order ((N_eval, K, n_out) for vector
      operators); the ``K``-th neighbour's column is 0.

    Examples:
      >>> import numpy as np, rbfopt as ro
      >>> x = np.random.default_rng(0).random((200, 2))
      >>> adjl = ro.find_neighbors(x, 15)
      >>> w = np.asarray(ro.fd.tapered_weights(ro.Gradient(), x, None, adjl, ro.PHS(3, 1)))
      >>> u = 2 * x[:, 0] - x[:, 1]  # gradient (2, -1), reproduced exactly
      >>> bool(np.allclose(np.einsum("nkd,nk->nd", w, u[adjl]), [2.0, -1.0]))
      True
      >>> float(np.abs(w[:, -1]).max())  # the farthest of the 15 enters by its distance
      0.0
    """
    adjl = jnp.asarray(adjl, dtype=jnp.int32)
    big_k = adjl.shape[1]
    if big_k < 3:
        raise ValueError(f"adjl: tapered weights need K >= 3 neighbours, got K={big_k}")
    x, pts, ranked, rank, share = _ranked(data, eval_points, adjl, 2, taper)
    w = tapered_build(op, x, pts, ranked[:, : big_k - 1], basis, share[:, 1])
    w = jnp.pad(w, [(0, 0), (0, 1)] + [(0, 0)] * (w.ndim - 2))
    return _unranked(w, rank)


def _ranked(data, eval_points, adjl, sizes, taper):
    """Points, each row of ``adjl`` sorted by distance, and the sizes' shares.

    Returns ``(x, pts, ranked, rank, share)``: the nodes (N, d), the evaluation points
    (None for the nodes), the sorted rows, each entry's place in its sorted row, and
    the normalized ``b_m`` of the ``sizes`` largest sizes (N_eval, sizes).
    """
    if not taper > 0:
        raise ValueError(f"taper: must be > 0, got {taper!r}")
    big_k = adjl.shape[1]
    x = jnp.asarray(data, dtype=jnp.float64)
    c = x if eval_points is None else jnp.asarray(eval_points, dtype=jnp.float64)
    x = x.reshape(x.shape[0], -1)
    c = c.reshape(c.shape[0], -1)
    d = safe_norm(c[:, None, :] - x[adjl])  # finite gradient at r = 0
    order, rank = _ranks(jax.lax.stop_gradient(d))
    ranked = jnp.take_along_axis(adjl, order, axis=1)
    d = jnp.take_along_axis(d, order, axis=1)
    gaps = jnp.stack([d[:, m] - d[:, m - 1] for m in range(big_k - sizes, big_k)], axis=1)
    share = gaps / (gaps + taper * d[:, -1:]) + _FLOOR
    share = share / jnp.sum(share, axis=1, keepdims=True)
    return x, None if eval_points is None else c, ranked, rank, share


def _unranked(w, rank):
    """Weights of sorted rows back in ``adjl``'s column order."""
    back = rank.reshape(rank.shape + (1,) * (w.ndim - 2))
    return jnp.take_along_axis(w, back, axis=1)


def _ranks(d: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(order, rank)`` of each row of ``d`` (N, K): ``order`` sorts the row
    (``argsort``, stable), ``rank`` is its inverse (each entry's place in the sort).

    Counted by K^2 comparisons per row, one column at a time (no (N, K, K)
    intermediate): for short rows much faster than XLA:CPU's sort, which ``argsort``
    and the inverse permutation would run twice (docs/performance.md).
    """
    n, k = d.shape
    i = jnp.arange(k)
    rank = jnp.zeros((n, k), jnp.int32)
    for j in range(k):  # entries before entry j: smaller, or equal and to its left
        col = d[:, j : j + 1]
        rank = rank + ((col < d) | ((col == d) & (j < i))).astype(jnp.int32)
    order = jnp.zeros((n, k), jnp.int32)
    for j in range(k):
        order = order + jnp.where(rank[:, j : j + 1] == i, j, 0).astype(jnp.int32)
    return order, rank
