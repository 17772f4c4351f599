"""The batched saddle-point factorization (rbfopt.fd._saddle) against numpy/LAPACK, and
the loop variants that large builds use (``large=True``) against exact monomial
reproduction.

Large builds (>= fd._backend.LARGE_BUILD stencils) take other code paths than the small
builds the rest of the suite exercises; here they are forced on small problems.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_weights import EXACT_TOL, exactness_error, make_op, problem

import rbfopt as ro
from rbfopt.fd import _saddle
from rbfopt.fd.weights import _build

B = 5


def _spd_batch(n, seed=0):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((B, n, n))
    return G @ np.swapaxes(G, 1, 2) + n * np.eye(n)  # (B, n, n)


@pytest.mark.parametrize("n", [21, 24])
@pytest.mark.parametrize("blocked", [False, True])
def test_cholesky_matches_lapack(n, blocked):
    S = _spd_batch(n)
    block = _saddle.CHOL_BLOCK if blocked else None
    chol = jax.jit(_saddle._cholesky, static_argnums=1)
    L, minpiv = chol(jnp.asarray(np.moveaxis(S, 0, -1)), block)
    L = np.moveaxis(np.asarray(L), -1, 0)
    L_ref = np.linalg.cholesky(S)
    np.testing.assert_allclose(L, L_ref, rtol=1e-12, atol=1e-12 * np.abs(L_ref).max())
    # smallest pivot = min over j of L_jj^2
    np.testing.assert_allclose(minpiv, np.min(np.diagonal(L_ref, axis1=1, axis2=2) ** 2, 1))


@pytest.mark.parametrize("unrolled", [False, True])
def test_householder_gives_orthogonal_q_and_triangular_r(unrolled):
    """Q' P = [R; 0] with Q = I - V T V' orthogonal (the compact WY form of the
    reflectors), and |R| matches numpy's QR up to the signs of its rows."""
    k, M = 12, 6
    rng = np.random.default_rng(1)
    P = rng.standard_normal((B, k, M))
    A = np.eye(k)[None].repeat(B, 0)
    F = jax.jit(_saddle.factor, static_argnums=(2, 3))(
        jnp.asarray(np.moveaxis(A, 0, -1)), jnp.asarray(np.moveaxis(P, 0, -1)), 1.0, unrolled
    )
    V = np.moveaxis(np.asarray(F.V), -1, 0)
    T = np.moveaxis(np.asarray(F.T), -1, 0)
    Q = np.eye(k) - V @ T @ np.swapaxes(V, 1, 2)
    np.testing.assert_allclose(np.swapaxes(Q, 1, 2) @ Q, np.eye(k)[None].repeat(B, 0), atol=1e-13)
    QtP = np.swapaxes(Q, 1, 2) @ P
    R = np.moveaxis(np.asarray(F.R), -1, 0)
    np.testing.assert_allclose(QtP[:, :M], R, atol=1e-12)
    np.testing.assert_allclose(QtP[:, M:], 0.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(R), np.abs(np.linalg.qr(P)[1]), rtol=1e-10, atol=1e-12)
    # Q' A Q for A = I is I
    At = np.moveaxis(np.asarray(F.At), -1, 0)
    np.testing.assert_allclose(At, np.eye(k)[None].repeat(B, 0), atol=1e-13)


@pytest.mark.parametrize(
    ("d", "deg", "opname"),
    [(2, 2, "laplacian"), (3, 2, "gradient"), (3, 3, "partial1_2")],  # the last: M > 10
)
def test_large_build_path_is_exact(d, deg, opname):
    """The large-build loops (unrolled Householder, blocked Cholesky) reproduce the
    derivatives of every monomial of degree <= poly_deg, like the small-build loops."""
    basis = ro.PHS(5 if deg == 3 else 3, poly_deg=deg)
    assert (ro.num_monomials(d, deg) <= _saddle.UNROLL_MAX_M) == (deg == 2)
    x, y = problem(d)
    adjl = ro.find_neighbors(x, 2 * ro.num_monomials(d, deg) + 2, y)
    op = make_op(opname, d)
    w, q = _build(op, jnp.asarray(x), jnp.asarray(y), jnp.asarray(adjl), basis, 4, "implicit", True)
    assert bool(jnp.all(q > ro.fd.weights.DEGENERATE_TOL))
    w = np.asarray(w)
    w = w[..., 0] if w.shape[-1] == 1 else w
    assert exactness_error(opname, d, basis, x, y, w, adjl) < EXACT_TOL
