"""linsolve(A, b, "direct", near=A0): GMRES preconditioned by the factors of a near matrix.

Two RBF-FD Laplacians (k = 12 and k = 20) on the same scattered nodes of the unit
square. References are independent of the code under test: scipy's spsolve on the
CSR matrix, finite differences (check_rules), and SuperLU calls counted at scipy.
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.linalg as spla

import rbfopt as ro
from rbfopt.sparse import StencilMatrix, linsolve
from rbfopt.testing import check_rules

ls = importlib.import_module("rbfopt.sparse.solve")


@pytest.fixture(scope="module")
def family():
    """A0 (k = 12) and A1 (k = 20): -Lap u = f with Dirichlet rows, N = 332."""
    rng = np.random.default_rng(1)
    t = np.linspace(0.0, 1.0, 9)[:-1]
    o, i = np.zeros_like(t), np.ones_like(t)
    edge = np.concatenate(
        [np.stack(c, 1) for c in ((t, o), (i, t), (1 - t, i), (o, 1 - t))], axis=0
    )
    x = np.concatenate([edge, rng.uniform(0.03, 0.97, (300, 2))])
    kw = dict(interior=np.arange(len(edge), len(x)), dirichlet=np.arange(len(edge)))
    A0 = ro.assemble(x, ro.Laplacian(), k=12, **kw)
    A1 = ro.assemble(x, ro.Laplacian(), k=20, **kw)
    b = np.sin(3 * x[:, 0]) + x[:, 1]
    B = np.stack([b, np.cos(np.arange(len(x)))], axis=1)
    return A0, A1, b, B


def _rel(x, y):
    return float(np.linalg.norm(np.asarray(x) - y) / np.linalg.norm(y))


def _nnz(A):
    S = A.to_scipy()
    S.eliminate_zeros()
    return S.nnz


@pytest.fixture
def splu_calls(monkeypatch):
    """The nnz of every matrix SuperLU factors from here on (the cache emptied first)."""
    ls.clear_cache()
    calls = []
    real = ls.spla.splu
    monkeypatch.setattr(ls.spla, "splu", lambda M: calls.append(M.nnz) or real(M))
    return calls


def test_matches_spsolve(family, splu_calls):
    A0, A1, b, B = family
    S = A1.to_scipy().tocsc()
    assert _rel(linsolve(A1, b, "direct", near=A0), spla.spsolve(S, b)) < 1e-10
    assert _rel(linsolve(A1, B, "direct", near=A0), spla.spsolve(S, B)) < 1e-10
    xj = jax.jit(lambda v, r: linsolve(StencilMatrix(v, A1.adjl), r, "direct", near=A0))(
        A1.values, jnp.asarray(B)
    )
    assert _rel(xj, spla.spsolve(S, B)) < 1e-10
    xt = jax.vmap(lambda r: linsolve(A1, r, "direct", near=A0), in_axes=1, out_axes=1)(
        jnp.asarray(B)
    )
    assert _rel(xt, spla.spsolve(S, B)) < 1e-10
    scaled = jax.jit(
        jax.vmap(lambda c: linsolve(StencilMatrix(c * A1.values, A1.adjl), b, "direct", near=A0))
    )(jnp.asarray([1.0, 2.0]))
    assert _rel(scaled * jnp.asarray([[1.0], [2.0]]), np.stack([spla.spsolve(S, b)] * 2)) < 1e-10
    assert splu_calls == [_nnz(A0)]  # A1 never factored


def test_rules_and_equal_to_plain_direct(family, splu_calls):
    A0, A1, b, B = family
    adjl = A1.adjl

    def f(v, r, near):
        return linsolve(StencilMatrix(v, adjl), r, "direct", near=near)

    check_rules(lambda v, r: f(v, r, A0), A1.values, jnp.asarray(b), rtol=1e-6)
    check_rules(lambda v, r: f(v, r, A0), A1.values, jnp.asarray(B), rtol=1e-6)
    assert splu_calls == [_nnz(A0)]  # every solve by GMRES, perturbed matrices included

    def loss(v, r, near):
        return jnp.sum(jnp.sin(f(v, r, near)))

    args = (A1.values, jnp.asarray(b))
    g_near = jax.jit(jax.grad(lambda v, r: loss(v, r, A0), (0, 1)))(*args)
    g_plain = jax.jit(jax.grad(lambda v, r: loss(v, r, None), (0, 1)))(*args)
    for gn, gp in zip(g_near, g_plain, strict=True):
        assert _rel(gn, np.asarray(gp)) < 1e-9
    tangents = (0.01 * A1.values, jnp.cos(jnp.arange(len(b), dtype=jnp.float64)))
    t_near = jax.jit(lambda *a: jax.jvp(lambda v, r: f(v, r, A0), a, tangents)[1])(*args)
    t_plain = jax.jit(lambda *a: jax.jvp(lambda v, r: f(v, r, None), a, tangents)[1])(*args)
    assert _rel(t_near, np.asarray(t_plain)) < 1e-9


def test_no_derivative_into_near(family):
    A0, A1, b, _ = family

    def f(v0):
        return linsolve(A1, b, "direct", near=StencilMatrix(v0, A0.adjl))

    g = jax.jit(jax.grad(lambda v0: jnp.sum(f(v0))))(A0.values)
    _, t = jax.jvp(f, (A0.values,), (A0.values,))
    assert not np.any(np.asarray(g)) and not np.any(np.asarray(t))


def test_good_near_factors_only_near_once(family, splu_calls):
    """A forward and a reverse pass of two members sharing A0: one factorization (A0's)."""
    A0, A1, b, _ = family

    def loss(v, r):
        return jnp.sum(linsolve(StencilMatrix(v, A1.adjl), r, "direct", near=A0) ** 2)

    for c in (1.0, 1.01):
        jax.grad(loss, (0, 1))(c * A1.values, jnp.asarray(b))
    assert splu_calls == [_nnz(A0)]


def test_poor_near_falls_back_to_exact(family, splu_calls):
    A0, A1, b, B = family
    n = len(b)
    D = StencilMatrix(np.full((n, 1), 7.0), np.arange(n)[:, None])  # wrong scale, no coupling
    S = A1.to_scipy().tocsc()
    x = linsolve(A1, b, "direct", near=D)
    assert sorted(splu_calls) == sorted([n, _nnz(A1)])  # D, then A1 itself
    assert _rel(x, spla.spsolve(S, b)) < 1e-10
    np.testing.assert_array_equal(x, linsolve(A1, b, "direct"))  # A1's factors
    # the transposed solves of reverse mode fall back too, to A1's cached factors
    g = jax.grad(lambda r: jnp.sum(linsolve(A1, r, "direct", near=D) * r[::-1]))(jnp.asarray(b))
    ref = spla.spsolve(S.T.tocsc(), b[::-1]) + spla.spsolve(S, b)[::-1]
    assert _rel(g, ref) < 1e-10
    assert len(splu_calls) == 2


def test_cache_keeps_a_family(family, splu_calls):
    """Forward then reverse of 6 distinct matrices factors each once."""
    _, A1, b, _ = family
    mats = [StencilMatrix((1.0 + 0.1 * i) * A1.values, A1.adjl) for i in range(6)]
    for A in mats:
        linsolve(A, b, "direct")
    for A in mats:
        jax.grad(lambda v: jnp.sum(linsolve(StencilMatrix(v, A1.adjl), b, "direct")))(A.values)
    assert len(splu_calls) == 6
    assert ls.CACHE_SIZE >= 6


def test_cache_byte_budget_keeps_the_newest(family, splu_calls, monkeypatch):
    _, A1, b, _ = family
    monkeypatch.setattr(ls, "CACHE_BYTES", 1)
    for c in (1.0, 2.0, 3.0):
        x = linsolve(StencilMatrix(c * A1.values, A1.adjl), b, "direct")
    assert len(ls._CACHE) == 1
    assert _rel(x, spla.spsolve(A1.to_scipy().tocsc(), b) / 3.0) < 1e-10
    ls.clear_cache()


def test_bad_near(family, monkeypatch):
    A0, A1, b, _ = family
    small = StencilMatrix(A0.values[:10], A0.adjl[:10] % 10)
    with pytest.raises(ValueError, match=r"near: expected a matrix of A's size 332x332"):
        linsolve(A1, b, "direct", near=small)
    with pytest.raises(ValueError, match=r"near: expected a StencilMatrix"):
        linsolve(A1, b, "direct", near=A0.to_scipy())
    with pytest.raises(ValueError, match=r"near: only used by the direct solve.*'krylov'"):
        linsolve(A1, b, "krylov", near=A0)
    monkeypatch.setattr(ls, "AUTO_DIRECT_MAX", 10)  # "auto" resolves to Krylov
    with pytest.raises(ValueError, match=r"near: only used by the direct solve"):
        linsolve(A1, b, near=A0)
    v = np.asarray(A0.values).copy()
    v[5] = 0.0
    with pytest.raises(ValueError, match=r"near: singular system: rows \[5\]"):
        linsolve(A1, b, "direct", near=StencilMatrix(v, A0.adjl))


def test_tolerances_bound_the_true_residuals(family, splu_calls):
    # tol bounds the forward residual, adjoint_tol the transposed one (reverse mode):
    # loose targets are met, by GMRES (no factorization of A1), not to rounding
    A0, A1, b, _ = family
    S = A1.to_scipy()
    x = np.asarray(linsolve(A1, b, "direct", near=A0, tol=1e-4))
    res = np.linalg.norm(b - S @ x) / np.linalg.norm(b)
    assert 1e-13 < res <= 1e-4
    ones = jnp.ones(len(b))
    g = jax.grad(lambda r: jnp.sum(linsolve(A1, r, "direct", near=A0, adjoint_tol=1e-4)))(
        jnp.asarray(b)
    )
    res_t = np.linalg.norm(ones - S.T @ np.asarray(g)) / np.sqrt(len(b))
    assert 1e-13 < res_t <= 1e-4
    assert splu_calls == [_nnz(A0)]
