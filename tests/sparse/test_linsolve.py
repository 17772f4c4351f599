"""linsolve: SuperLU solve of StencilMatrix systems vs scipy, derivative rules, errors."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.linalg as spla

import rbfopt  # noqa: F401  (float64)
from rbfopt.sparse import StencilMatrix, linsolve
from rbfopt.testing import check_rules

# the module behind ro.linsolve (monkeypatched below)
ls = importlib.import_module("rbfopt.sparse.solve")


@pytest.fixture(scope="module")
def system():
    rng = np.random.default_rng(0)
    n, k = 60, 5
    # self first, then distinct random columns (a nonsymmetric, diagonally dominant matrix)
    others = np.stack(
        [rng.choice(np.delete(np.arange(n), i), k - 1, replace=False) for i in range(n)]
    )
    adjl = np.concatenate([np.arange(n)[:, None], others], axis=1).astype(np.int32)
    vals = rng.standard_normal((n, k))
    vals[:, 0] += 6.0
    b = rng.standard_normal(n)
    B = rng.standard_normal((n, 3))
    return vals, adjl, b, B


def test_matches_spsolve(system):
    vals, adjl, b, B = system
    A = StencilMatrix(vals, adjl)
    S = A.to_scipy().tocsc()
    np.testing.assert_allclose(
        np.asarray(linsolve(A, b)), spla.spsolve(S, b), rtol=1e-12, atol=1e-13
    )
    np.testing.assert_allclose(
        np.asarray(linsolve(A, B)), spla.spsolve(S, B), rtol=1e-12, atol=1e-13
    )
    xj = jax.jit(lambda v, r: linsolve(StencilMatrix(v, adjl), r))(
        jnp.asarray(vals), jnp.asarray(b)
    )
    np.testing.assert_allclose(np.asarray(xj), spla.spsolve(S, b), rtol=1e-12, atol=1e-13)
    # repeated columns in a row add up, as in the scipy matrix
    adj2 = adjl.copy()
    adj2[:, 2] = adj2[:, 1]
    A2 = StencilMatrix(vals, adj2)
    np.testing.assert_allclose(
        np.asarray(linsolve(A2, b)), spla.spsolve(A2.to_scipy().tocsc(), b), rtol=1e-11
    )


def test_rules(system):
    vals, adjl, b, B = system
    f = lambda v, r: linsolve(StencilMatrix(v, adjl), r)  # noqa: E731
    check_rules(f, jnp.asarray(vals), jnp.asarray(b), rtol=1e-7)
    check_rules(f, jnp.asarray(vals), jnp.asarray(B), rtol=1e-7)


def test_forward_over_reverse(system):
    vals, adjl, b, _ = system

    def g(v, r):
        return jax.grad(lambda v, r: jnp.sum(jnp.sin(linsolve(StencilMatrix(v, adjl), r))), (0, 1))(
            v, r
        )

    check_rules(g, jnp.asarray(vals), jnp.asarray(b), modes=("fwd",), rtol=1e-6)


def test_vmap(system):
    vals, adjl, b, B = system
    xs = jax.vmap(lambda r: linsolve(StencilMatrix(vals, adjl), r), in_axes=1, out_axes=1)(
        jnp.asarray(B)
    )
    S = StencilMatrix(vals, adjl).to_scipy().tocsc()
    np.testing.assert_allclose(np.asarray(xs), spla.spsolve(S, B), rtol=1e-12, atol=1e-13)


def test_vmap_over_matrices_under_jit(system):
    # batched matrices with one right-hand side, and in the other order: one solve each
    vals, adjl, b, _ = system
    scales = jnp.asarray([1.0, 0.5, -2.0])
    xs = jax.jit(jax.vmap(lambda c: linsolve(StencilMatrix(c * vals, adjl), b, "direct")))(scales)
    S = StencilMatrix(vals, adjl).to_scipy().tocsc()
    ref = spla.spsolve(S, b)
    for c, x in zip([1.0, 0.5, -2.0], np.asarray(xs), strict=True):
        np.testing.assert_allclose(x, ref / c, rtol=1e-12, atol=1e-13)
    xt = jax.vmap(lambda c: linsolve(StencilMatrix(vals, adjl), c * b), out_axes=1)(scales)
    np.testing.assert_allclose(np.asarray(xt), np.outer(ref, scales), rtol=1e-12, atol=1e-13)


def test_reverse_reuses_factorization(system, monkeypatch):
    """One SuperLU factorization serves the solve and the transposed (adjoint) solve."""
    vals, adjl, b, _ = system
    ls.clear_cache()
    calls = []
    real = ls.spla.splu
    monkeypatch.setattr(ls.spla, "splu", lambda A: calls.append(1) or real(A))
    v = jnp.asarray(vals) * 1.001  # a matrix not cached yet
    jax.grad(lambda v, r: jnp.sum(linsolve(StencilMatrix(v, adjl), r) ** 2), (0, 1))(
        v, jnp.asarray(b)
    )
    assert len(calls) == 1


def test_bad_singular_zero_row(system):
    vals, adjl, b, _ = system
    v = vals.copy()
    v[[4, 9]] = 0.0
    with pytest.raises(ValueError, match=r"singular system: rows \[4, 9\]"):
        linsolve(StencilMatrix(v, adjl), b)


def test_bad_singular_dependent_rows():
    # rows 0 and 1 identical: exactly singular
    adjl = np.array([[0, 1], [0, 1], [2, 0]])
    vals = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match=r"singular system"):
        linsolve(StencilMatrix(vals, adjl), np.ones(3))


def test_bad_singular_numerically():
    # rows summing to zero (a pure-Neumann-like operator): constants are in the null space
    n = 8
    adjl = np.stack([np.arange(n), (np.arange(n) + 1) % n, (np.arange(n) - 1) % n], 1)
    vals = np.tile([2.0, -1.0, -1.0], (n, 1))
    with pytest.raises(ValueError, match=r"singular system"):
        linsolve(StencilMatrix(vals, adjl), np.ones(n))


def test_bad_shapes_and_nan(system):
    vals, adjl, b, _ = system
    with pytest.raises(ValueError, match=r"b: expected shape \(60,\)"):
        linsolve(StencilMatrix(vals, adjl), b[:-1])
    with pytest.raises(ValueError, match=r"values: expected shape \(N, k\)"):
        StencilMatrix(vals[:, :3], adjl)
    v = vals.copy()
    v[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"A.values: non-finite .* rows \[7\]"):
        linsolve(StencilMatrix(v, adjl), b)
    bb = b.copy()
    bb[3] = np.inf
    with pytest.raises(ValueError, match=r"b: non-finite .* rows \[3\]"):
        linsolve(StencilMatrix(vals, adjl), bb)
    a2 = adjl.copy()
    a2[5, 1] = 60
    with pytest.raises(ValueError, match=r"out of range .* rows \[5\]"):
        linsolve(StencilMatrix(vals, a2), b)


def test_singular_under_jit_is_an_error(system):
    vals, adjl, b, _ = system
    v = vals.copy()
    v[4] = 0.0
    f = jax.jit(lambda v, r: linsolve(StencilMatrix(v, adjl), r))
    with pytest.raises(Exception, match=r"singular system: rows \[4\]"):
        jax.block_until_ready(f(jnp.asarray(v), jnp.asarray(b)))
