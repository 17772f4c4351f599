"""linsolve(method="krylov"): BiCGStab + Jacobi / AMG on an RBF-FD Poisson system.

References are independent of the code under test: scipy's spsolve on the CSR matrix,
and finite differences (check_rules) for the derivative rules.
"""

import importlib.util
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.linalg as spla

import rbfopt  # noqa: F401  (float64)
from rbfopt.sparse import StencilMatrix, amg, krylov, linsolve
from rbfopt.testing import check_rules

_spec = importlib.util.spec_from_file_location(
    "bench_linsolve", Path(__file__).resolve().parents[2] / "scripts" / "bench_linsolve.py"
)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def poisson():
    """-Lap u = f on the unit disk, N = 1500: PHS3 + quadratics, k = 12, Dirichlet rows
    (the benchmark's system, from examples/poisson_disk.py)."""
    A, b = bench.system(1500)
    S = A.to_scipy().tocsc()
    return A, b, S, amg(A)


def _rel(x, y):
    return float(np.linalg.norm(np.asarray(x) - y) / np.linalg.norm(y))


def test_matches_spsolve(poisson):
    A, b, S, M = poisson
    ref = spla.spsolve(S, np.asarray(b))
    x_amg = linsolve(A, b, "krylov", precond=M)
    x_jac = linsolve(A, b, "krylov")
    assert _rel(x_amg, ref) < 1e-8
    assert _rel(x_jac, ref) < 1e-8
    assert _rel(x_amg, np.asarray(linsolve(A, b, "direct"))) < 1e-8
    # several right-hand sides, and the transposed system (the adjoint solve)
    B = np.stack([np.asarray(b), np.cos(np.arange(S.shape[0]))], axis=1)
    XB = linsolve(A, B, "krylov", precond=M)
    assert _rel(XB, spla.spsolve(S, B)) < 1e-8
    xt = krylov(A, b, precond=M, transpose=True).x
    assert _rel(xt, spla.spsolve(S.T.tocsc(), np.asarray(b))) < 1e-8


def test_amg_reduces_iterations(poisson):
    A, b, _, M = poisson
    it_jac = int(krylov(A, b).iterations)
    it_amg = int(krylov(A, b, precond=M).iterations)
    # measured 32 vs 246 (N = 1500)
    assert it_amg < it_jac / 3, (it_amg, it_jac)


def test_amg_transpose_is_exact(poisson):
    """apply_transpose is the transpose of apply: <M^T y, x> = <y, M x> (in float64;
    the default float32 V-cycle is so to single precision)."""
    A, _, _, M32 = poisson
    M = amg(A, dtype="float64")
    rng = np.random.default_rng(1)
    x, y = (jnp.asarray(rng.standard_normal(A.shape[0])) for _ in range(2))
    lhs = jnp.vdot(M.apply_transpose(A, y), x)
    rhs = jnp.vdot(y, M.apply(A, x))
    assert abs(float(lhs - rhs)) < 1e-10 * abs(float(rhs))
    # its own forward cycle: two set-ups differ (pyamg's spectral-radius estimate
    # starts from a random vector), so the float64 one is no reference for it
    lhs32 = jnp.vdot(M32.apply_transpose(A, y), x)
    rhs32 = jnp.vdot(y, M32.apply(A, x))
    assert abs(float(lhs32 - rhs32)) < 1e-4 * abs(float(rhs32))


def test_stale_amg_still_converges(poisson):
    """A hierarchy built for A serves A + dA (the values of a later optimizer step)."""
    A, b, S, M = poisson
    rng = np.random.default_rng(2)
    v2 = np.asarray(A.values) * (1 + 0.05 * rng.standard_normal(A.values.shape))
    A2 = StencilMatrix(v2, A.adjl)
    ref = spla.spsolve(A2.to_scipy().tocsc(), np.asarray(b))
    assert _rel(linsolve(A2, b, "krylov", precond=M), ref) < 1e-8


def test_rebuilt_amg_reuses_the_compiled_solve(poisson):
    """A hierarchy rebuilt for changed values has the same pytree shapes: no retrace."""
    A, b, _, M = poisson
    traces = []

    @jax.jit
    def solve(v, r, M):
        traces.append(1)
        return linsolve(StencilMatrix(v, A.adjl), r, "krylov", precond=M)

    v2 = A.values * (1 + 0.05 * jnp.cos(jnp.arange(A.values.size)).reshape(A.values.shape))
    M2 = amg(StencilMatrix(v2, A.adjl))
    solve(A.values, b, M)
    x2 = solve(v2, b, M2)
    assert len(traces) == 1
    ref = spla.spsolve(StencilMatrix(v2, A.adjl).to_scipy().tocsc(), np.asarray(b))
    assert _rel(x2, ref) < 1e-8


def test_rules(poisson):
    A, b, _, M = poisson
    adjl = A.adjl

    def f(v, r):
        return linsolve(StencilMatrix(v, adjl), r, "krylov", tol=1e-11, precond=M)

    # O(1e3) Laplacian entries: a step scaled to them
    check_rules(f, A.values, b, rtol=1e-6, eps=1e-3)


def test_forward_over_reverse(poisson):
    A, b, _, M = poisson
    adjl = A.adjl

    def g(r):
        return jax.grad(
            lambda r: jnp.sum(
                jnp.sin(linsolve(StencilMatrix(A.values, adjl), r, "krylov", tol=1e-11, precond=M))
            )
        )(r)

    check_rules(g, b, modes=("fwd",), rtol=1e-6, eps=1e-3)


def test_not_converged_eager_and_jit(poisson):
    A, b, _, M = poisson
    msg = r"did not converge: relative residual .* after 2 iterations \(maxiter 2\)"
    with pytest.raises(ValueError, match=msg):
        linsolve(A, b, "krylov", maxiter=2, precond=M)
    f = jax.jit(lambda v, r: linsolve(StencilMatrix(v, A.adjl), r, "krylov", maxiter=2))
    with pytest.raises(Exception, match=msg):
        jax.block_until_ready(f(A.values, b))


def test_auto_is_direct_on_small_cpu_systems(poisson, monkeypatch):
    import rbfopt.sparse.solve as ls

    A, b, _, _ = poisson
    calls = []
    monkeypatch.setattr(ls, "_linsolve", lambda *a: calls.append(1) or 0)
    linsolve(A, b)
    assert calls == [1]


def test_bad_arguments(poisson):
    A, b, _, M = poisson
    with pytest.raises(ValueError, match="method: expected 'auto', 'direct' or 'krylov'"):
        linsolve(A, b, "cg")
    for tol in (0.0, -1e-8, 1.0):
        with pytest.raises(ValueError, match="tol: expected"):
            linsolve(A, b, "krylov", tol=tol)
    for maxiter in (0, -3, 2.5):
        with pytest.raises(ValueError, match="maxiter: expected an integer >= 1"):
            linsolve(A, b, "krylov", maxiter=maxiter)
    with pytest.raises(ValueError, match="precond: expected an AMG"):
        linsolve(A, b, "krylov", precond="amg")
    with pytest.raises(ValueError, match="precond: only used by method='krylov'"):
        linsolve(A, b, "direct", precond=M)
    small = StencilMatrix(np.ones((3, 1)), np.arange(3)[:, None])
    with pytest.raises(ValueError, match=r"precond: built for N = 1500, but A is 3x3"):
        linsolve(small, jnp.ones(3), "krylov", precond=M)
    with pytest.raises(ValueError, match="precond: built for other stencils"):
        linsolve(StencilMatrix(A.values, jnp.roll(A.adjl, 1, axis=1)), b, "krylov", precond=M)
    with pytest.raises(ValueError, match="amg\\(\\) needs a concrete matrix"):
        jax.jit(lambda v: amg(StencilMatrix(v, A.adjl)).omega0)(A.values)


def _moved_system(n: int, jitter: float, seed: int):
    """The benchmark's system on interior nodes moved by up to ``jitter`` spacings,
    with fresh stencils: the matrix after an optimizer step and a restencil."""
    p, n_b = bench.pd.disk_nodes(n)
    h = np.sqrt(np.pi / n)
    rng = np.random.default_rng(seed)
    p = p.copy()
    p[n_b:] += jitter * h * rng.uniform(-1.0, 1.0, p[n_b:].shape)
    adjl = bench.find_neighbors(p, bench.autoselect_k(2, 2))
    A = bench.assemble(
        p, bench.Laplacian(), interior=np.arange(n_b, n), dirichlet=np.arange(n_b),
        basis=bench.PHS(3, poly_deg=2), adjl=adjl,
    )  # fmt: skip
    q = jnp.asarray(p)
    return A, jnp.concatenate([bench.pd.exact(q)[:n_b], -bench.pd.source(q)[n_b:]])


def test_hierarchy_reused_across_restencils(poisson):
    """A hierarchy rebuilt ``like=`` an earlier one, or the earlier one carried over to
    new stencils (``with_stencils``), has its shapes: one compile serves all three, and
    each solves the moved system as scipy does (forward and transposed)."""
    A, b, _, _ = poisson
    A2, b2 = _moved_system(A.shape[0], 0.3, seed=2)
    assert not np.array_equal(np.asarray(A2.adjl), np.asarray(A.adjl))
    S2 = A2.to_scipy().tocsc()
    M = amg(A, headroom=1.3)

    def shapes(P):
        leaves, tree = jax.tree_util.tree_flatten(P)
        return tree, [jnp.shape(a) for a in leaves]

    traces = []

    @jax.jit
    def solve(P, A, b):
        traces.append(1)
        return linsolve(A, b, "krylov", precond=P)

    for P in (M.with_stencils(A2.adjl), amg(A2, like=M)):
        assert shapes(P) == shapes(M)
        assert _rel(solve(P, A2, b2), spla.spsolve(S2, np.asarray(b2))) < 1e-8
        xt = krylov(A2, b2, precond=P, transpose=True).x
        assert _rel(xt, spla.spsolve(S2.T.tocsc(), np.asarray(b2))) < 1e-8
    assert len(traces) == 1


def test_hierarchy_setup_is_deterministic_and_checks_fit(poisson):
    A, _, _, M = poisson
    again = amg(A)
    for a, c in zip(jax.tree_util.tree_leaves(M), jax.tree_util.tree_leaves(again), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
    # A's default hierarchy stops at fewer levels than one coarsened further
    deep = amg(A, max_coarse=20)
    assert len(deep.sizes) > len(M.sizes)
    with pytest.raises(ValueError, match="like: the hierarchy of A does not fit"):
        amg(A, like=deep)
    with pytest.raises(ValueError, match="headroom"):
        amg(A, headroom=0.5)
    with pytest.raises(ValueError, match="adjl: stencils of 3 nodes"):
        M.with_stencils(np.zeros((3, 12), int))


def test_adjoint_tol_sets_the_gradient_solves(poisson):
    """``adjoint_tol`` loosens only the transposed (reverse-mode) solves: the value
    stays at ``tol``, the gradient agrees with SuperLU's to about ``adjoint_tol``."""
    A, b, _, M = poisson

    def loss(values, method, **kw):
        return jnp.sum(jnp.sin(linsolve(StencilMatrix(values, A.adjl), b, method, **kw)))

    ref_v, ref_g = jax.value_and_grad(loss)(A.values, "direct")
    errs = {}
    for adj in (1e-10, 1e-5):
        vg = jax.value_and_grad(partial(loss, method="krylov", precond=M, adjoint_tol=adj))
        v, g = jax.jit(vg)(A.values)
        assert abs(float(v - ref_v)) < 1e-8 * abs(float(ref_v))
        errs[adj] = _rel(g, np.asarray(ref_g))
    assert errs[1e-10] < 1e-7 and errs[1e-5] < 1e-3, errs
    assert errs[1e-5] > errs[1e-10]  # the option reaches the transposed solves
    with pytest.raises(ValueError, match="adjoint_tol: expected a relative residual"):
        linsolve(A, b, "krylov", adjoint_tol=0.0)
