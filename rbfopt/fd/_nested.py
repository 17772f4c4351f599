"""Saddle systems of nested stencils, solved from one factorization, batch axis last.

A family of stencil sizes ``k_1 < ... < k_S`` on the same sorted neighbours gives
nested systems: the kernel block ``A_s`` of size ``k_s`` is the leading block of the
widest one's ``A`` (K = k_S), and ``P_s`` holds the first ``k_s`` rows of ``P``. One
factorization of the widest system then serves every member:

1. Householder QR of the head ``P[:k_1]`` only: ``Q_1' P[:k_1] = [R; 0]``; with
   ``Q = diag(Q_1, I)``, ``Q' P = [R; 0; P_r]`` (``P_r = P[k_1:]``).
2. In ``u = Q' w = (u_1, v)`` (``u_1``: the first M entries) the constraint
   ``P_s' w = g`` reads ``R' u_1 + P_r,s' v_r = g``, so ``u = u_p + Z v`` with
   ``u_p = (R^-T g, 0)`` and ``Z = [G; I]``, ``G = [0, -R^-T P_r']`` (M x (K - M)).
   The columns of ``Z`` are nested: member s's null-space basis is the first
   ``k_s - M`` of them, whose rows beyond ``k_s`` are zero.
3. Hence member s's projected kernel block ``Z_s' A~_s Z_s`` (``A~ = Q' A Q``) is the
   leading block of the widest one's, and so is its Cholesky factor: one Cholesky
   ``L`` of ``sign Z' A~ Z`` serves all members. Member s solves
   ``L_s L_s' v = sign Z_s' (Q' f - A~ u_p)`` (its leading blocks), then
   ``u_1 = R^-T g + G_s v``, ``R l = (Q' f)_1 - (A~ u)_1`` and ``w = Q u``.

The weights are those of separate builds up to round-off (the member's own QR gives
another basis of the same null space). Cost: the widest member's kernel block and
projection, one Cholesky of ``K - M`` columns and one pair of triangular solves per
member, against a kernel block, a QR, a projection and a Cholesky per member.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ._saddle import (
    CHOL_BLOCK,
    UNROLL_MAX_M,
    _apply_q,
    _cholesky,
    _householder,
    _householder_unrolled,
    _indices,
    _lower_solve,
    _matmul,
    _project,
    _quality,
    _upper_solve,
    _wy,
    matvec,
)


class NestedFactors(NamedTuple):
    V: jax.Array  # (k_1, M, B) Householder vectors of the head P[:k_1]
    T: jax.Array  # (M, M, B) compact WY of Q_1
    R: jax.Array  # (M, M, B) upper triangular
    At: jax.Array  # (K, K, B) Q' A Q, Q = diag(Q_1, I)
    G: jax.Array  # (M, K - M, B) the u_1 rows of the nested null-space basis
    L: jax.Array  # (K - M, K - M, B) lower Cholesky factor of sign Z' A~ Z
    sign: float
    quality: jax.Array  # (B,) >0 good; <= tiny: degenerate (any member)


def factor_nested(
    A: jax.Array, P: jax.Array, sign: float, head: int, large: bool = False
) -> NestedFactors:
    """Factor the nested saddle systems (A: (K, K, B), P: (K, M, B)) whose smallest
    member has ``head`` points (M < head <= K); ``large`` as for
    :func:`rbfopt.fd._saddle.factor` (the loop variants that run faster on XLA:CPU)."""
    K, M, B = P.shape
    unroll = large and M <= UNROLL_MAX_M
    Ph, V, beta = (_householder_unrolled if unroll else _householder)(P[:head], _indices(head, A))
    T = _wy(V, beta, unroll, A)
    A11 = _project(A[:head, :head], V, T)
    A12 = _apply_q(V, T, A[:head, head:], transpose=True)
    At = jnp.concatenate(
        [
            jnp.concatenate([A11, A12], axis=1),
            jnp.concatenate([jnp.swapaxes(A12, 0, 1), A[head:, head:]], axis=1),
        ],
        axis=0,
    )
    R = Ph[:M]
    H = _lower_solve(R, jnp.swapaxes(P[head:], 0, 1), transpose_of_upper=True)
    G = jnp.concatenate([jnp.zeros((M, head - M, B), A.dtype), -H], axis=1)
    # Z' A~ Z with Z = [G; I]: A~_vv + G' (A~_1v + A~_11 G) + A~_v1 G
    Y = At[:M, M:] + _matmul(At[:M, :M], G)
    S = sign * (At[M:, M:] + _matmul(jnp.swapaxes(G, 0, 1), Y) + _matmul(At[M:, :M], G))
    L, minpiv = _cholesky(S, CHOL_BLOCK if large else None)
    return NestedFactors(V, T, R, At, G, L, sign, _quality(R, S, minpiv))


def solve_nested(F: NestedFactors, k: int, f: jax.Array, g: jax.Array):
    """Solve member ``k``'s system for f: (k, n, B), g: (M, n, B) -> (w, l)."""
    M, head = F.R.shape[0], F.V.shape[0]
    n = k - M
    ft = jnp.concatenate([_apply_q(F.V, F.T, f[:head], transpose=True), f[head:]], axis=0)
    u1 = _lower_solve(F.R, g, transpose_of_upper=True)
    y = ft - _matmul(F.At[:k, :M], u1)
    Gs, Ls = F.G[:, :n], F.L[:n, :n]
    r = y[M:] + _matmul(jnp.swapaxes(Gs, 0, 1), y[:M])
    v = F.sign * _upper_solve(Ls, _lower_solve(Ls, r), transpose_of_lower=True)
    u = jnp.concatenate([u1 + _matmul(Gs, v), v], axis=0)
    lam = _upper_solve(F.R, ft[:M] - _matmul(F.At[:M, :k], u))
    w = jnp.concatenate([_apply_q(F.V, F.T, u[:head], transpose=False), u[head:]], axis=0)
    return w, lam


def solve_nested_differentiable(A, P, f, g, sign: float, sizes: tuple[int, ...], large=False):
    """Every member's weights (a list of (k_s, n, B)) and the family's quality (B,).

    The rules are those of :func:`rbfopt.fd._saddle.solve_differentiable`, one
    ``lax.custom_linear_solve`` per member (its own matrix-vector product, the shared
    factors' solve); the factorization of ``stop_gradient`` of the widest system is
    computed once for all members and all three kinds of solve.
    """
    F = factor_nested(lax.stop_gradient(A), lax.stop_gradient(P), sign, min(sizes), large)
    F = jax.tree_util.tree_map(lax.stop_gradient, F)
    out = []
    for k in sizes:

        def mv(x, k=k):
            return jnp.concatenate(matvec(A[:k, :k], P[:k], x[:k], x[k:]), axis=0)

        def sv(_, b, k=k):
            return jnp.concatenate(solve_nested(F, k, b[:k], b[k:]), axis=0)

        b = jnp.concatenate([f[:k], g], axis=0)
        out.append(lax.custom_linear_solve(mv, b, solve=sv, symmetric=True)[:k])
    return out, F.quality
