"""linsolve(method="krylov") on Dirichlet Laplacians whose right-hand side lives only on
identity (Dirichlet) rows: BiCGStab's shadow residual r0 = b broke down there (NaN after
2 steps with Jacobi, a few hundred with the AMG V-cycle); the identity rows are now
lifted out first (rbfopt.sparse.krylov).

References are independent of the code under test: scipy's spsolve on the CSR matrix
(the solution, the transposed solve, and the derivative formulas dx = A^-1 (db - dA x),
bbar = A^-T xbar, Abar[i, j] = -bbar[i] x[adjl[i, j]] evaluated with it).
"""

import os
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.linalg as spla

import rbfopt as ro
from rbfopt.sparse import StencilMatrix, amg, krylov, linsolve

SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1]]
HOLE = [[[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]]]


def laplace(h: float):
    """Dirichlet Laplacian on the unit square with a square hole, zero source:
    b = g on the boundary (identity) rows, 0 on the interior rows."""
    ns = ro.nodes.generate(ro.geometry.Polygon(SQUARE, holes=HOLE), h)
    p, kind = np.asarray(ns.points), np.asarray(ns.kind)
    bd, inner = np.flatnonzero(kind > 0), np.flatnonzero(kind == 0)
    A = ro.assemble(ns.points, ro.Laplacian(), interior=inner, dirichlet=bd)
    b = np.zeros(len(p))
    b[bd] = np.sin(3 * p[bd, 0]) + p[bd, 1]
    return A, b, bd


@pytest.fixture(scope="module")
def system():
    A, b, bd = laplace(0.02)  # 2410 unknowns
    S = A.to_scipy().tocsc()
    return A, b, bd, S, amg(A)


def _rel(x, y):
    return float(np.linalg.norm(np.asarray(x) - y) / np.linalg.norm(y))


def _precond(system, which):
    return system[4] if which == "amg" else None


@pytest.mark.parametrize("which", ["jacobi", "amg"])
def test_solution_matches_direct(system, which):
    A, b, bd, S, _ = system
    P = _precond(system, which)
    ref = spla.spsolve(S, b)
    x = linsolve(A, b, "krylov", precond=P, tol=1e-12)
    assert np.all(np.isfinite(np.asarray(x)))
    assert _rel(x, ref) < 1e-8
    assert _rel(x, np.asarray(linsolve(A, b, "direct"))) < 1e-8
    # several right-hand sides at once (vmap): identity rows only, zero, random
    B = np.stack([b, np.zeros_like(b), np.cos(np.arange(len(b)))], axis=1)
    XB = np.asarray(linsolve(A, B, "krylov", precond=P, tol=1e-12))
    np.testing.assert_array_equal(XB[:, 1], 0.0)
    for j in (0, 2):
        assert _rel(XB[:, j], spla.spsolve(S, B[:, j])) < 1e-8


@pytest.mark.parametrize("which", ["jacobi", "amg"])
def test_transposed_solves(system, which):
    """A^T z = r for r on identity rows only (solved by the lift alone), on one
    identity row, on the other rows only, and random."""
    A, b, bd, S, _ = system
    P = _precond(system, which)
    n = len(b)
    rng = np.random.default_rng(3)
    one = np.zeros(n)
    one[bd[5]] = 2.0
    inner = np.where(b == 0, rng.standard_normal(n), 0.0)
    for r in (b, one, inner, rng.standard_normal(n)):
        res = krylov(A, jnp.asarray(r), precond=P, transpose=True, tol=1e-12)
        assert _rel(res.x, spla.spsolve(S.T.tocsc(), r)) < 1e-8


def _scipy_grads(S, adjl, b, xbar_of):
    x = spla.spsolve(S, b)
    bbar = spla.spsolve(S.T.tocsc(), xbar_of(x))
    return -bbar[:, None] * x[np.asarray(adjl)], bbar


@pytest.mark.parametrize("which", ["jacobi", "amg"])
def test_gradients_match_direct(system, which):
    """Gradients w.r.t. A.values and b: a loss of every unknown (the transposed solve's
    right-hand side on all rows) and of the boundary unknowns alone (on identity rows
    only)."""
    A, b, bd, S, _ = system
    P = _precond(system, which)
    losses = {
        "all": (lambda x: jnp.sum(jnp.sin(x)), np.cos),
        "boundary": (lambda x: jnp.sum(x[bd] ** 2), lambda x: np.where(b != 0, 2 * x, 0.0)),
    }
    for name, (f, xbar_of) in losses.items():

        def loss(v, r, method, f=f):
            return f(linsolve(StencilMatrix(v, A.adjl), r, method, precond=P, tol=1e-12))

        g_kry = jax.jit(jax.grad(loss, argnums=(0, 1)), static_argnums=2)(
            A.values, jnp.asarray(b), "krylov"
        )
        g_dir = jax.grad(lambda v, r: loss(v, r, "direct") if P is None else None, (0, 1))
        ref_v, ref_b = _scipy_grads(S, A.adjl, b, xbar_of)
        assert _rel(g_kry[0], ref_v) < 1e-7, name
        assert _rel(g_kry[1], ref_b) < 1e-7, name
        if P is None:
            d_v, d_b = g_dir(A.values, jnp.asarray(b))
            assert _rel(g_kry[0], np.asarray(d_v)) < 1e-7 and _rel(g_kry[1], np.asarray(d_b)) < 1e-7


@pytest.mark.parametrize("which", ["jacobi", "amg"])
def test_forward_mode(system, which):
    """jvp: dx = A^-1 (db - dA x), with db on identity rows only."""
    A, b, bd, S, _ = system
    P = _precond(system, which)
    rng = np.random.default_rng(4)
    dv = rng.standard_normal(A.values.shape) * np.asarray(A.values)  # relative steps
    db = np.where(b != 0, rng.standard_normal(len(b)), 0.0)

    def solve(v, r):
        return linsolve(StencilMatrix(v, A.adjl), r, "krylov", precond=P, tol=1e-12)

    x, dx = jax.jvp(solve, (A.values, jnp.asarray(b)), (jnp.asarray(dv), jnp.asarray(db)))
    xr = spla.spsolve(S, b)
    dA = StencilMatrix(dv, A.adjl).to_scipy()
    ref = spla.spsolve(S, db - dA @ xr)
    assert _rel(x, xr) < 1e-8
    assert _rel(dx, ref) < 1e-7


def test_exact_convergence_is_no_breakdown():
    """A system BiCGStab solves exactly in one step (lineax then divided 0 by 0)."""
    values = np.array([[2.0, -1.0], [2.0, -1.0], [1.0, 0.0]])
    A = StencilMatrix(values, np.array([[0, 1], [1, 2], [2, 0]]))
    ref = np.linalg.solve(A.to_scipy().toarray(), [0.0, 0.0, 4.0])
    x = linsolve(A, jnp.array([0.0, 0.0, 4.0]), "krylov", tol=1e-12)
    np.testing.assert_allclose(np.asarray(x), ref, rtol=1e-12)
    z = krylov(A, jnp.array([1.0, 0.0, 0.0]), transpose=True, tol=1e-12).x
    np.testing.assert_allclose(np.asarray(z), np.linalg.solve(A.to_scipy().T.toarray(), [1, 0, 0]))


def test_advice_replaces_the_default(system):
    A, b, *_ = system
    advice = "pass solver='direct' to the study (-O solver=direct)"
    with pytest.raises(ValueError, match=r"maxiter 2\); pass precond=rbfopt.sparse.amg"):
        linsolve(A, b, "krylov", maxiter=2)
    with pytest.raises(ValueError, match=r"maxiter 2\); pass solver='direct' to the study") as e:
        linsolve(A, b, "krylov", maxiter=2, advice=advice)
    assert "method='direct'" not in str(e.value)
    f = jax.jit(lambda v: linsolve(StencilMatrix(v, A.adjl), b, "krylov", maxiter=2, advice=advice))
    with pytest.raises(Exception, match=r"-O solver=direct"):
        jax.block_until_ready(f(A.values))
    for bad in ("", 3):
        with pytest.raises(ValueError, match="advice: expected a non-empty sentence"):
            linsolve(A, b, "krylov", advice=bad)


@pytest.mark.slow  # 22 s here; the 2410-unknown tests above make its checks
def test_converges_at_22000_unknowns():
    """The size at which studies switch to Krylov: the AMG solve converges and equals
    SuperLU's (forward and transposed)."""
    t0 = time.perf_counter()
    A, b, bd = laplace(0.0066)
    assert 20_000 < A.shape[0] < 24_000
    S = A.to_scipy().tocsc()
    M = amg(A)
    res = krylov(A, jnp.asarray(b), precond=M)
    # the target: tol, or 8x the residual's rounding floor (~6e-10 here)
    assert float(res.residual) <= max(1e-10, 8 * float(res.floor))
    assert int(res.iterations) < 200
    assert _rel(res.x, spla.spsolve(S, b)) < 1e-8
    r = np.cos(np.arange(len(b)))
    assert (
        _rel(krylov(A, jnp.asarray(r), precond=M, transpose=True).x, spla.spsolve(S.T.tocsc(), r))
        < 1e-8
    )
    print(f"N = {A.shape[0]}: {int(res.iterations)} iterations, {time.perf_counter() - t0:.1f} s")


SHARDED = textwrap.dedent(
    """
    import rbfopt as ro
    ro.set_host_device_count(4)
    import jax, jax.numpy as jnp, numpy as np, scipy.sparse.linalg as spla
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    assert jax.local_device_count() == 4
    hole = [[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]]
    dom = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]], holes=[hole])
    ns = ro.nodes.generate(dom, 0.038)  # 696 nodes
    p, kind = np.asarray(ns.points), np.asarray(ns.kind)
    bd, inner = np.flatnonzero(kind > 0), np.flatnonzero(kind == 0)
    A = ro.assemble(ns.points, ro.Laplacian(), interior=inner, dirichlet=bd)
    n = A.shape[0]
    b = np.zeros(n); b[bd] = np.sin(3 * p[bd, 0]) + p[bd, 1]
    S = A.to_scipy().tocsc()
    M = ro.sparse.amg(A)
    mesh = Mesh(np.array(jax.devices()), ("x",))
    rows = NamedSharding(mesh, P("x"))
    assert n % 4 == 0  # rows split evenly over the 4 devices

    def f(v, r, P_):
        x = ro.linsolve(ro.StencilMatrix(v, A.adjl), r, "krylov", precond=P_, tol=1e-12)
        return x, jnp.sum(jnp.sin(x))
    for P_ in (None, M):
        v = jax.device_put(A.values, rows)
        r = jax.device_put(jnp.asarray(b), rows)
        x, _ = jax.jit(f)(v, r, P_)
        g = jax.jit(jax.grad(lambda v, r: f(v, r, P_)[1], argnums=(0, 1)))(v, r)
        ref = spla.spsolve(S, b)
        bbar = spla.spsolve(S.T.tocsc(), np.cos(ref))
        e1 = np.linalg.norm(np.asarray(x) - ref) / np.linalg.norm(ref)
        e2 = np.linalg.norm(np.asarray(g[1]) - bbar) / np.linalg.norm(bbar)
        assert x.sharding.spec == P("x")
        assert e1 < 1e-8 and e2 < 1e-7
    print("OK")
    """
)


def test_sharded_solve_and_gradient():
    """The lifted Krylov solve and its adjoint on rows split over 4 CPU devices (a fresh
    interpreter: the device count is fixed when JAX starts), against scipy."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run(
        [sys.executable, "-c", SHARDED], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("OK")
