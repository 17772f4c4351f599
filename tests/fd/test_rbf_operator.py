"""RBFOperator and the constructors: apply/adjoint/to_scipy, traceable construction,
the reference examples, agreement with treverhines-rbf, and a convergence study."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import jittered_grid, scattered

import rbfopt as ro

# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def cloud():
    x = scattered(90, 2, seed=11)
    y = scattered(13, 2, seed=12, lo=0.1, hi=0.9)
    return x, y


@pytest.fixture(scope="module")
def grid7():
    i = np.arange(7)
    g = 0.1 + 0.8 * i / 7
    return np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)


# ------------------------------------------------------------------ RBFOperator


def test_apply_shapes_and_to_scipy(cloud, rng):
    x, y = cloud
    n = len(x)
    ops = {
        "lap": ro.laplacian(x),
        "dx": ro.partial(x, 1, 0, eval_points=y),
        "dxy": ro.mixed_partial(x, 0, 1),
        "grad": ro.gradient(x, eval_points=y),
        "hess": ro.hessian(x),
        "regrid": ro.regrid(x, y),
        "dir": ro.directional(x, np.array([0.3, 0.4]), eval_points=y),
        "op": ro.operator(x, ro.Laplacian() + 2.0 * ro.Partial(1, 1)),
    }
    u = rng.normal(size=n)
    U = rng.normal(size=(n, 3))
    for name, op in ops.items():
        n_eval = op.adjl.shape[0]
        out_shape = {"grad": (2,), "hess": (2, 2)}.get(name, ())
        assert op.out_shape == out_shape, name
        assert op.shape == (n_eval, n)
        assert op(u).shape == (n_eval,) + out_shape
        assert op(U).shape == (n_eval,) + out_shape + (3,)
        mats = op.to_scipy()
        mats = mats if isinstance(mats, tuple) else (mats,)
        assert len(mats) == max(1, int(np.prod(out_shape)))
        ref = np.stack([m @ u for m in mats], -1).reshape((n_eval,) + out_shape)
        np.testing.assert_allclose(op(u), ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
        refU = np.stack([m @ U for m in mats], 1).reshape((n_eval,) + out_shape + (3,))
        np.testing.assert_allclose(op(U), refU, rtol=1e-12, atol=1e-12 * np.abs(refU).max())
        # pytree round trip
        leaves, tdef = jax.tree_util.tree_flatten(op)
        op2 = jax.tree_util.tree_unflatten(tdef, leaves)
        np.testing.assert_array_equal(op2(u), op(u))


@pytest.mark.slow  # redundant with the exactness tests; 6 more weight compilations
def test_vector_ops_are_consistent_with_scalar_ones(cloud, rng):
    """Gradient components equal the Partial operators, Hessian entries the second
    partials / mixed partials (same stencils): the operators' algebra, checked through
    independent weight builds."""
    x, _ = cloud
    u = rng.normal(size=len(x))
    g = ro.gradient(x)(u)
    h = ro.hessian(x)(u)
    for i in range(2):
        np.testing.assert_allclose(g[:, i], ro.partial(x, 1, i)(u), rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(h[:, i, i], ro.partial(x, 2, i)(u), rtol=1e-8, atol=1e-7)
    np.testing.assert_allclose(h[:, 0, 1], ro.mixed_partial(x, 0, 1)(u), rtol=1e-8, atol=1e-7)
    np.testing.assert_allclose(h[:, 0, 1], h[:, 1, 0], rtol=1e-8, atol=1e-7)
    np.testing.assert_allclose(h[:, 0, 0] + h[:, 1, 1], ro.laplacian(x)(u), rtol=1e-8, atol=1e-7)


@pytest.mark.parametrize("which", ["lap", "grad", "hess_regrid"])
def test_adjoint_dot_product_identity(cloud, rng, which):
    x, y = cloud
    op = {
        "lap": lambda: ro.laplacian(x),
        "grad": lambda: ro.gradient(x, eval_points=y),
        "hess_regrid": lambda: ro.regrid(x, y),
    }[which]()
    for m in (None, 2):
        u = rng.normal(size=(len(x),) if m is None else (len(x), m))
        Wu = op(u)
        ybar = rng.normal(size=Wu.shape)
        WTy = op.adjoint(ybar)
        assert WTy.shape == u.shape
        lhs, rhs = np.vdot(ybar, Wu), np.vdot(WTy, u)
        assert abs(lhs - rhs) <= 1e-12 * (abs(lhs) + np.linalg.norm(ybar) * np.linalg.norm(u))
        # and against scipy's transpose
        mats = op.to_scipy()
        mats = mats if isinstance(mats, tuple) else (mats,)
        yb = ybar.reshape((len(ybar), len(mats)) + ybar.shape[1 + len(op.out_shape) :])
        ref = sum(mats[i].T @ yb[:, i] for i in range(len(mats)))
        np.testing.assert_allclose(WTy, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


def test_traceable_construction_grad_wrt_points(cloud):
    x, _ = cloud
    adjl = ro.find_neighbors(x, 12)
    u = jnp.asarray(np.sin(3 * x[:, 0]) * np.cos(2 * x[:, 1]))

    def loss(p):
        return jnp.sum(ro.laplacian(p, adjl=adjl)(u) ** 2)

    p0 = jnp.asarray(x)
    g = jax.jit(jax.grad(loss))(p0)
    assert g.shape == x.shape and np.all(np.isfinite(g))
    rng = np.random.default_rng(3)
    lj = jax.jit(loss)
    for _ in range(2):
        v = jnp.asarray(rng.normal(size=x.shape))
        h = 1e-5
        fd = (
            -lj(p0 + 2 * h * v) + 8 * lj(p0 + h * v) - 8 * lj(p0 - h * v) + lj(p0 - 2 * h * v)
        ) / (12 * h)
        np.testing.assert_allclose(jnp.vdot(g, v), fd, rtol=1e-6)


def test_constructor_without_adjl_inside_a_trace_raises(cloud):
    x, _ = cloud
    with pytest.raises(ValueError, match="adjl"):
        jax.jit(lambda p: ro.laplacian(p).weights)(jnp.asarray(x))


# ------------------------------------------------------------------ reference examples


def _fd_grad(f, v, h=1e-6):
    g = np.zeros_like(v)
    for i in range(len(v)):
        e = np.zeros_like(v)
        e[i] = h
        g[i] = (f(v + e) - f(v - e)) / (2 * h)
    return g


@pytest.mark.parametrize("name", ["lap", "grad_op", "dx"])
def test_reference_example_gradients_wrt_v(grid7, name):
    points = grid7
    op = {
        "lap": lambda: ro.laplacian(points),
        "grad_op": lambda: ro.gradient(points),
        "dx": lambda: ro.partial(points, 1, 0),
    }[name]()
    v = np.sin(2 * points[:, 0]) + points[:, 1] ** 2

    def loss(v):
        return jnp.sum(op(v) ** 2)

    g = np.asarray(jax.grad(loss)(jnp.asarray(v)))
    mats = op.to_scipy()
    mats = mats if isinstance(mats, tuple) else (mats,)
    analytic = sum(2 * (W.T @ (W @ v)) for W in mats)
    np.testing.assert_allclose(g, analytic, rtol=1e-10, atol=1e-10 * np.abs(analytic).max())
    fd = _fd_grad(lambda vv: float(np.sum(sum((W @ vv) ** 2 for W in mats))), v)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())
    # also exact on quadratics at the nodes: lap(x^2 + y^2) = 4, d/dx(x^2) = 2x
    q = points[:, 0] ** 2 + points[:, 1] ** 2
    if name == "lap":
        np.testing.assert_allclose(op(q), 4.0, rtol=1e-8)
    elif name == "dx":
        np.testing.assert_allclose(op(q), 2 * points[:, 0], rtol=1e-8)
    else:
        np.testing.assert_allclose(op(q), 2 * points, rtol=1e-8)


# ------------------------------------------------------------------ peer agreement


@pytest.mark.parametrize("what", ["laplacian", "dx"])
@pytest.mark.parametrize("at", ["data", "eval"])
def test_agrees_with_treverhines_rbf(cloud, what, at):
    pytest.importorskip("rbf")
    from rbf.pde.fd import weight_matrix

    x, y = cloud
    xe = x if at == "data" else y
    n = 12
    diffs = [[2, 0], [0, 2]] if what == "laplacian" else [1, 0]
    ref = weight_matrix(xe, x, n, diffs, phi="phs3", order=2).toarray()
    adjl = ro.find_neighbors(x, n, None if at == "data" else y)
    op = ro.Laplacian() if what == "laplacian" else ro.Partial(1, 0)
    W = ro.operator(
        x, op, basis=ro.PHS(3, poly_deg=2), adjl=adjl, eval_points=None if at == "data" else y
    )
    ours = W.to_scipy().toarray()
    # the same stencils (both are the n nearest neighbours; no ties on scattered nodes)
    np.testing.assert_array_equal(ours != 0, ref != 0)
    rel = np.max(np.abs(ours - ref), axis=1) / np.max(np.abs(ref), axis=1)
    PEER[f"{what}@{at}"] = float(rel.max())
    assert rel.max() < 1e-8, rel.max()


PEER: dict[str, float] = {}


# ------------------------------------------------------------------ convergence

M_LEVELS = (16, 23, 32, 45, 64)  # nodes per side: N = 256 .. 4096
N_PROBE = 40


def _f(x):
    return np.sin(2 * x[:, 0] + 0.5) * np.cos(3 * x[:, 1] - 0.3)


def _lap_f(x):
    return -13.0 * _f(x)


def convergence_order(basis: ro.RadialBasis, levels=M_LEVELS) -> tuple[float, list]:
    """Fitted slope of log(max error) vs log(h) of the 2-D Laplacian at fixed interior
    probe points (away from the boundary), on jittered grids of increasing density.

    Every level pads its node array to the size of the finest one with far-away unused
    points, so all levels share one compiled weight build (same shapes)."""
    probes = scattered(N_PROBE, 2, seed=99, lo=0.3, hi=0.7)
    k = ro.autoselect_k(2, basis.poly_deg)
    n_max = max(levels) ** 2
    hs, errs = [], []
    for m in levels:
        x = jittered_grid(m, 2, seed=m)
        adjl = ro.find_neighbors(x, k, probes)
        pad = 10.0 + np.stack([np.arange(n_max - len(x)), np.zeros(n_max - len(x))], 1)
        data = np.concatenate([x, pad])
        w = np.asarray(ro.build_weights(ro.Laplacian(), data, probes, adjl, basis))
        approx = np.sum(w * _f(x)[adjl], axis=1)
        errs.append(np.max(np.abs(approx - _lap_f(probes))) / 13.0)
        hs.append(1.0 / (m - 1))
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    return float(slope), errs


ORDERS: dict[str, float] = {}


@pytest.mark.parametrize("order, deg", [(3, 2), (5, 3), (7, 4)], ids=["PHS3/2", "PHS5/3", "PHS7/4"])
def test_convergence_order_of_laplacian(order, deg):
    slope, errs = convergence_order(ro.PHS(order, poly_deg=deg))
    ORDERS[f"PHS{order}/{deg}"] = slope
    assert np.all(np.diff(np.log(errs)) < 0.3), errs  # no stagnation/blow-up
    assert slope >= deg - 1.3, (slope, errs)


def test_print_figures(capsys):
    with capsys.disabled():
        if PEER:
            print(f"\n[peer] max row-relative difference vs treverhines-rbf: {PEER}")
        if ORDERS:
            print(f"[convergence] fitted orders: {ORDERS}")
