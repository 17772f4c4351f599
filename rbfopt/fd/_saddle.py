"""Batched solves of RBF-FD saddle-point systems, batch axis last.

For every stencil b the system is::

    [A  P] [w]   [f]        A: (k, k) kernel matrix, symmetric
    [P' 0] [l] = [g]        P: (k, M) monomials, full column rank

Null-space method (per stencil, vectorized across the batch axis, which is kept
last so every step is an elementwise operation over contiguous length-B vectors):

1. Householder QR of P: ``Q' P = [R; 0]`` with ``Q = H_0 ... H_{M-1}``,
   ``H_j = I - beta_j v_j v_j'``; in compact WY form ``Q = I - V T V'``, so
   ``A~ = Q' A Q`` is one rank-2M update and Q, Q' are applied by small products.
2. With ``u = Q' w``: ``R' u1 = g``; ``A~22 u2 = f~2 - A~21 u1``; ``R l = f~1 -
   A~11 u1 - A~12 u2``; ``w = Q u``.
3. For a kernel that is conditionally positive definite of order ``<= poly_deg + 1``,
   ``sign * A~22`` is SPD: Cholesky without pivoting.

The factorization is computed once (:func:`factor`) and reused by :func:`solve` for
every right-hand side: the primal solve, the tangent solve of forward mode and the
transposed solve of reverse mode (the matrix is symmetric).

:func:`factor` also reports per-stencil quality: the smaller of
``min(|R_jj|) / max(|R_jj|)`` and ``min(Cholesky pivot) / max(diag sign * A~22)``;
tiny, non-positive or NaN values flag stencils that are not unisolvent or have
coincident points.

Layout (it decides the speed on CPU): reductions run over a *middle* axis with the
batch axis minor (``sum(A[:, :, None, :] * x[None], axis=1)``); XLA:CPU compiles the
same product reduced over the leading axis to much slower code. Large builds
(``factor(..., large=True)``, chosen in :mod:`rbfopt.fd._backend`) unroll the
Householder steps and block the Cholesky, because XLA:CPU emits a fusion that reads a
``dynamic_slice`` at a loop index as scalar code; small builds keep the compact loops,
which compile faster. The profile of a build, and the variants measured and not kept,
are in ``docs/performance.md``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax


class Factors(NamedTuple):
    V: jax.Array  # (k, M, B) Householder vectors
    T: jax.Array  # (M, M, B) compact WY: H_0 ... H_{M-1} = I - V T V'
    R: jax.Array  # (M, M, B) upper triangular
    At: jax.Array  # (k, k, B) Q' A Q
    L: jax.Array  # (k-M, k-M, B) lower Cholesky factor of sign * A~22
    sign: float
    quality: jax.Array  # (B,) >0 good; <= tiny: degenerate


def _indices(n, like):
    """``arange(n)[:, None]``, tied to the data ``like`` (no cost at run time).

    Masks built from a loop index and a constant arange depend on no input, so
    reverse mode's partial evaluation computes them ahead, for all steps at once, and
    the loop reads them back by a slow dynamic slice per step. Through the barrier the
    masks stay in the loop.
    """
    return lax.optimization_barrier((jnp.arange(n)[:, None], like))[0]


def _col(X, j):
    return lax.dynamic_index_in_dim(X, j, axis=1, keepdims=False)


def _row(X, j):
    return lax.dynamic_index_in_dim(X, j, axis=0, keepdims=False)


def _householder(P, rows):
    """Householder QR of P (k, M, B): returns (R in P[:M], Householder vectors V, beta)."""
    k, M, B = P.shape

    def house(j, carry):
        # P alone is reflected here (cheap); A is transformed afterwards in one rank-2M
        # update (compact WY form) instead of M two-sided reflections.
        P, V, beta = carry
        x = jnp.where(rows >= j, _col(P, j), 0.0)  # (k, B)
        xj = _row(x, j)
        nx = jnp.sqrt(jnp.sum(x * x, axis=0))
        alpha = -jnp.where(xj >= 0, 1.0, -1.0) * nx
        v = x - jnp.where(rows == j, alpha, 0.0)
        vv = jnp.sum(v * v, axis=0)
        b = jnp.where(vv > 0, 2.0 / jnp.where(vv > 0, vv, 1.0), 0.0)
        vP = jnp.sum(v[:, None, :] * P, axis=0)  # (M, B)
        P = P - b * v[:, None, :] * vP[None]
        V = lax.dynamic_update_index_in_dim(V, v, j, axis=1)
        beta = lax.dynamic_update_index_in_dim(beta, b, j, axis=0)
        return P, V, beta

    V0 = jnp.zeros((k, M, B), P.dtype)
    b0 = jnp.zeros((M, B), P.dtype)
    return lax.fori_loop(0, M, house, (P, V0, b0))


def _householder_unrolled(P, rows):
    """:func:`_householder` with the M steps unrolled: every slice is static.

    XLA:CPU emits a fusion that slices at a loop index as scalar code; unrolled, the
    steps vectorize and step j updates only the columns >= j (faster, compiles slower).
    """
    k, M, B = P.shape
    Pt = jnp.swapaxes(P, 0, 1)  # (M, k, B): columns first
    vs, bs = [], []
    for j in range(M):
        x = jnp.where(rows >= j, Pt[j], 0.0)  # (k, B)
        nx = jnp.sqrt(jnp.sum(x * x, axis=0))
        alpha = -jnp.where(Pt[j, j] >= 0, 1.0, -1.0) * nx
        v = x.at[j].add(-alpha)
        vv = jnp.sum(v * v, axis=0)
        b = jnp.where(vv > 0, 2.0 / jnp.where(vv > 0, vv, 1.0), 0.0)
        vP = jnp.sum(Pt[j:] * v[None], axis=1)  # (M - j, B)
        Pt = Pt.at[j:].add(-(b * vP)[:, None, :] * v[None])
        vs.append(v)
        bs.append(b)
    return jnp.swapaxes(Pt, 0, 1), jnp.stack(vs, axis=1), jnp.stack(bs, axis=0)


#: Large builds unroll the Householder QR only up to this many monomials (2-D degree 3,
#: 3-D degree 2); its unrolled WY recurrence grows like M^3 in compile time.
UNROLL_MAX_M = 10


def factor(A: jax.Array, P: jax.Array, sign: float, large: bool = False) -> Factors:
    """Factor the batch of saddle systems (A: (k, k, B), P: (k, M, B)).

    ``large`` selects loops that run faster on XLA:CPU but take longer to compile
    (:func:`_householder_unrolled` up to :data:`UNROLL_MAX_M` monomials,
    :func:`_cholesky` in blocks of :data:`CHOL_BLOCK`; longer compiles of a build and
    of its gradient): worth it for builds of many chunks, not for the many small builds
    of a study. Both variants compute the same factors up to round-off.
    """
    k, M, B = P.shape
    unroll = large and M <= UNROLL_MAX_M
    P, V, beta = (_householder_unrolled if unroll else _householder)(P, _indices(k, A))

    T = _wy(V, beta, unroll, A)
    At = _project(A, V, T)
    R = P[:M]
    S = sign * At[M:, M:]
    L, minpiv = _cholesky(S, CHOL_BLOCK if large else None)
    return Factors(V, T, R, At, L, sign, _quality(R, S, minpiv))


def _quality(R, S, minpiv):
    """Per-stencil quality (B,): the smaller of ``min |R_jj| / max |R_jj|`` and the
    smallest Cholesky pivot of ``S`` over its largest diagonal entry; -1 where NaN."""
    M, n, B = R.shape[0], S.shape[0], R.shape[-1]
    if M:
        rd = jnp.abs(jnp.diagonal(R, axis1=0, axis2=1))  # (B, M)
        q_poly = jnp.min(rd, axis=-1) / jnp.maximum(jnp.max(rd, axis=-1), 1e-300)
    else:
        q_poly = jnp.ones((B,), R.dtype)
    if n:
        diag_max = jnp.max(jnp.abs(jnp.diagonal(S, axis1=0, axis2=1)), axis=-1)  # (B,)
        q_kern = minpiv / jnp.maximum(diag_max, 1e-300)
    else:
        q_kern = jnp.ones((B,), R.dtype)
    quality = jnp.minimum(q_poly, q_kern)
    return jnp.where(jnp.isnan(quality), -1.0, quality)


def _wy(V, beta, unroll, like):
    """The compact WY factor T (M, M, B) of the reflectors V (k, M, B), ``beta`` (M, B):
    H_0 ... H_{M-1} = I - V T V', T upper triangular,
    T[j, j] = beta_j, T[:j, j] = -beta_j T[:j, :j] V[:, :j]' v_j."""
    M = V.shape[1]
    if unroll:  # on the Gram matrix V'V, static slices only
        G = _matmul(jnp.swapaxes(V, 0, 1), V)  # (M, M, B)
        cols = []
        for j in range(M):
            t = [-beta[j] * sum(cols[q][p] * G[q, j] for q in range(j)) for p in range(j)]
            cols.append(jnp.stack(t + [beta[j]] + [jnp.zeros_like(beta[j])] * (M - j - 1)))
        T = jnp.stack(cols, axis=1)
    else:
        m_idx = _indices(M, like)

        def wy(j, T):
            vj = _col(V, j)  # (k, B)
            u = jnp.where(m_idx < j, jnp.sum(V * vj[:, None, :], axis=0), 0.0)  # (M, B)
            bj = _row(beta, j)
            t = -bj * jnp.sum(T * u[None], axis=1)  # (M, B)
            t = jnp.where(m_idx < j, t, jnp.where(m_idx == j, bj, 0.0))
            return lax.dynamic_update_index_in_dim(T, t, j, axis=1)

        T = lax.fori_loop(0, M, wy, jnp.zeros((M, M, V.shape[-1]), V.dtype))
    return T


def _project(A, V, T):
    """``Q' A Q`` for A (k, k, B) and ``Q = I - V T V'``: one rank-2M update."""
    # Q' A Q = A - V Z' - Z2 V' with Y = A V, Z = Y T, C = T' V' Z, Z2 = Z - V C.
    Y = _matmul(A, V)  # (k, M, B)
    Z = _matmul(Y, T)
    C = _matmul(jnp.swapaxes(T, 0, 1), _matmul(jnp.swapaxes(V, 0, 1), Z))
    Z2 = Z - _matmul(V, C)
    At = (
        A
        - jnp.sum(V[:, None, :, :] * Z[None, :, :, :], axis=2)
        - jnp.sum(Z2[:, None, :, :] * V[None, :, :, :], axis=2)
    )
    return At


#: Column block of the Cholesky factorization of large builds (the fastest measured;
#: docs/performance.md).
CHOL_BLOCK = 4


def _cholesky(S, block=None):
    """Lower Cholesky factors of S (n, n, B) and the smallest pivot of each (B,).

    Left-looking (Crout): column j is ``L[:, j] = (S[:, j] - L L[j, :]') / L[j, j]``.
    Blocked by ``block`` columns (default: one block of n): for the columns [r0, r1)
    of a block, the finished columns (< r0) contribute one static product, and the loop
    over the block's columns reads only its panel L[r0:, r0:r1], not all n x n of L.
    The unblocked loop is bound by those reads, but compiles faster. Large builds use
    blocks of :data:`CHOL_BLOCK`.
    """
    n, _, B = S.shape
    block = n if block is None else block
    L = jnp.zeros_like(S)
    minpiv = jnp.full((B,), jnp.inf, S.dtype)
    for r0 in range(0, n, block):
        r1 = min(r0 + block, n)
        panel = S[r0:, r0:r1]  # (n - r0, r1 - r0, B)
        if r0:
            left = L[r0:, :r0]
            panel = panel - _matmul(left, jnp.swapaxes(left[: r1 - r0], 0, 1))
        rows = _indices(n - r0, S)

        def column(j, carry, panel=panel, rows=rows):
            # rows r0.. of column r0 + j; the panel's columns >= j are still zero
            Lp, minpiv = carry
            lj = _row(Lp, j)  # (r1 - r0, B): row j of the panel
            col = _col(panel, j) - jnp.sum(Lp * lj[None], axis=1)  # (n - r0, B)
            piv = _row(col, j)
            minpiv = jnp.minimum(minpiv, piv)
            sq = jnp.sqrt(piv)
            newcol = jnp.where(rows > j, col / sq, jnp.where(rows == j, sq, 0.0))
            return lax.dynamic_update_index_in_dim(Lp, newcol, j, axis=1), minpiv

        Lp, minpiv = lax.fori_loop(0, r1 - r0, column, (jnp.zeros_like(panel), minpiv))
        L = Lp if r1 - r0 == n else L.at[r0:, r0:r1].set(Lp)
    return L, minpiv


def _apply_q(V: jax.Array, T: jax.Array, x: jax.Array, transpose: bool) -> jax.Array:
    """Q' x (transpose) or Q x for x: (k, n, B), Q = I - V T V' (three small products;
    a loop over the M reflectors ran as many loop steps, each of little work)."""
    VtX = _matmul(jnp.swapaxes(V, 0, 1), x)  # (M, n, B)
    T = jnp.swapaxes(T, 0, 1) if transpose else T
    return x - _matmul(V, _matmul(T, VtX))


def _lower_solve(L, y, transpose_of_upper: bool = False):
    """Solve T x = y, T lower triangular: T = L, or T = R' when given R upper."""
    n = L.shape[0]
    idx = jnp.arange(n)[:, None, None]

    def step(i, y):
        d = _row(_row(L, i), i)
        xi = _row(y, i) / d[None]
        c = _row(L, i) if transpose_of_upper else _col(L, i)  # (n, B): column i of T
        y = jnp.where(idx > i, y - c[:, None, :] * xi[None], y)
        return lax.dynamic_update_index_in_dim(y, xi, i, axis=0)

    return lax.fori_loop(0, n, step, y)


def _upper_solve(U, y, transpose_of_lower: bool = False):
    """Solve T x = y, T upper triangular: T = U, or T = L' when given L lower."""
    n = U.shape[0]
    idx = jnp.arange(n)[:, None, None]

    def step(t, y):
        i = n - 1 - t
        d = _row(_row(U, i), i)
        xi = _row(y, i) / d[None]
        c = _row(U, i) if transpose_of_lower else _col(U, i)  # column i of T
        y = jnp.where(idx < i, y - c[:, None, :] * xi[None], y)
        return lax.dynamic_update_index_in_dim(y, xi, i, axis=0)

    return lax.fori_loop(0, n, step, y)


def _matmul(A, x):
    """(p, q, B) @ (q, n, B) -> (p, n, B)."""
    return jnp.sum(A[:, :, None, :] * x[None], axis=1)


def solve(F: Factors, f: jax.Array, g: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Solve the factored saddle systems for f: (k, n, B), g: (M, n, B) -> (w, l)."""
    M = F.R.shape[0]
    ft = _apply_q(F.V, F.T, f, transpose=True)
    u1 = _lower_solve(F.R, g, transpose_of_upper=True)
    At = F.At
    rhs = ft[M:] - _matmul(At[M:, :M], u1)
    y = _lower_solve(F.L, rhs)
    u2 = F.sign * _upper_solve(F.L, y, transpose_of_lower=True)
    t = ft[:M] - _matmul(At[:M, :M], u1) - _matmul(At[:M, M:], u2)
    lam = _upper_solve(F.R, t)
    w = _apply_q(F.V, F.T, jnp.concatenate([u1, u2], axis=0), transpose=False)
    return w, lam


def matvec(A: jax.Array, P: jax.Array, w: jax.Array, lam: jax.Array):
    """The saddle operator: (A w + P l, P' w)."""
    return _matmul(A, w) + _matmul(P, lam), jnp.sum(P[:, :, None, :] * w[:, None], axis=0)


def solve_differentiable(
    A: jax.Array, P: jax.Array, f: jax.Array, g: jax.Array, sign: float, large: bool = False
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Solve with implicit-differentiation rules; returns (w, l, quality).

    ``lax.custom_linear_solve`` supplies the rules: for ``K(p) x = b(p)``,
    ``dx = K^-1 (db - dK x)`` in forward mode, and by transposition
    ``bbar = K^-T xbar`` (K symmetric: the same factors) in reverse mode; the
    factorization of ``stop_gradient(K)`` is computed once and reused for all three.
    Higher orders nest (the rules are again linear solves).
    """
    F = factor(lax.stop_gradient(A), lax.stop_gradient(P), sign, large)
    F = jax.tree_util.tree_map(lax.stop_gradient, F)
    k = A.shape[0]

    # One stacked right-hand side: JAX transposes a linear solve only when every
    # leaf of b depends on the differentiated input, and g alone may not (e.g. a
    # derivative w.r.t. eps leaves the monomial part constant).
    def mv(x):
        return jnp.concatenate(matvec(A, P, x[:k], x[k:]), axis=0)

    def sv(_, b):
        return jnp.concatenate(solve(F, b[:k], b[k:]), axis=0)

    x = lax.custom_linear_solve(mv, jnp.concatenate([f, g], axis=0), solve=sv, symmetric=True)
    return x[:k], x[k:], F.quality


def solve_traced(A, P, f, g, sign, large=False):
    """Same solve with AD tracing through the elimination (reference for tests)."""
    F = factor(A, P, sign, large)
    w, lam = solve(F, f, g)
    return w, lam, F.quality


def solve_dense(A, P, f, g):
    """Fallback for kernels without a definite projection: LU of the full system.

    Batch-first ``jnp.linalg.solve``; JAX's rules for it reuse the LU factors.
    Returns (w, l, quality) with quality from the pivots' reciprocal condition proxy.
    """
    k, M, B = P.shape
    Ab = jnp.moveaxis(A, -1, 0)
    Pb = jnp.moveaxis(P, -1, 0)
    top = jnp.concatenate([Ab, Pb], axis=2)
    bot = jnp.concatenate([jnp.swapaxes(Pb, 1, 2), jnp.zeros((B, M, M), A.dtype)], axis=2)
    K = jnp.concatenate([top, bot], axis=1)  # (B, k+M, k+M)
    rhs = jnp.concatenate([jnp.moveaxis(f, -1, 0), jnp.moveaxis(g, -1, 0)], axis=1)
    x = jnp.linalg.solve(K, rhs)
    x = jnp.moveaxis(x, 0, -1)
    lu = lax.stop_gradient(jax.scipy.linalg.lu_factor(lax.stop_gradient(K))[0])
    dg = jnp.abs(jnp.diagonal(lu, axis1=1, axis2=2))
    quality = jnp.min(dg, axis=1) / jnp.maximum(jnp.max(dg, axis=1), 1e-300)
    quality = jnp.where(jnp.all(jnp.isfinite(x), axis=(0, 1)), quality, -1.0)
    return x[:k], x[k:], quality
