"""AD wiring: grad/vjp w.r.t. data = the adjoint; w.r.t. queries = derivative evaluation;
forward mode, higher order, jit and vmap.  Rules checked with testing.check_rules."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import rbfopt.grid as grid
from rbfopt import testing

RNG = np.random.default_rng(0)
X = np.sort(np.concatenate([[0.0, 2.0], RNG.uniform(0.0, 2.0, 10)]))
F = np.sin(3 * X)
XQ = RNG.uniform(0.05, 1.95, 9)


def _f(f, xq):
    return grid.cubic_interp(X, f, bc=grid.NotAKnot(), extrap=grid.ExtendExtrap())(xq)


def test_check_rules_wrt_data_and_queries():
    # eps: the FD step on queries must stay small against the grid spacing (~0.05).
    testing.check_rules(_f, jnp.asarray(F), jnp.asarray(XQ), rtol=1e-6, eps=1e-4)


def test_check_rules_periodic_derivative_and_2d():
    xp = np.linspace(0, 1, 9)[:-1]

    def per(f, xq):
        itp = grid.cubic_interp(xp, f, bc=grid.Periodic("exclusive"), extrap=grid.WrapExtrap())
        return itp(xq, 1)

    testing.check_rules(per, jnp.sin(2 * np.pi * xp), jnp.asarray(RNG.uniform(-1, 2, 6)), rtol=1e-6)

    y = np.linspace(-1, 1, 7)

    def two(f, a, b):
        return grid.cubic_interp((X, y), f, bc=(grid.CubicFit(), grid.Natural()))((a, b), (1, 0))

    testing.check_rules(
        two,
        jnp.asarray(RNG.normal(size=(12, 7))),
        jnp.asarray(XQ[:5]),
        jnp.asarray(RNG.uniform(-0.9, 0.9, 5)),
        rtol=1e-6,
    )


def test_grad_wrt_data_is_the_adjoint_and_pytree_grad():
    ybar = RNG.normal(size=XQ.shape)
    adj = grid.cubic_adjoint(X, XQ, bc=grid.NotAKnot(), extrap=grid.ExtendExtrap())
    g = jax.grad(lambda f: jnp.vdot(ybar, _f(f, XQ)))(jnp.asarray(F))
    np.testing.assert_allclose(g, adj(ybar), rtol=1e-12, atol=1e-12)
    itp = grid.cubic_interp(X, F, bc=grid.NotAKnot(), extrap=grid.ExtendExtrap())
    gi = jax.grad(lambda i: jnp.vdot(ybar, i(XQ)))(itp)
    assert isinstance(gi, grid.GridInterpolant)
    np.testing.assert_allclose(gi.f, adj(ybar), rtol=1e-12, atol=1e-12)


def test_grad_wrt_queries_at_knots_and_coincident_queries():
    xq = jnp.asarray(np.concatenate([X[1:-1], X[3:4], X[3:4]]))
    itp = grid.cubic_interp(X, F, bc=grid.NotAKnot())
    g = jax.grad(lambda q: jnp.sum(itp(q)))(xq)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, itp(xq, 1), rtol=1e-12)
    g3 = jax.grad(lambda q: jnp.sum(itp(q, 3)))(xq)
    np.testing.assert_allclose(g3, 0.0)  # piecewise-constant third derivative


def test_forward_mode_hessian_jit_vmap():
    itp = grid.cubic_interp(X, F)
    # jvp w.r.t. queries = derivative evaluation times the tangent.
    _, t = jax.jvp(lambda q: itp(q), (jnp.asarray(XQ),), (jnp.ones_like(XQ),))
    np.testing.assert_allclose(t, itp(XQ, 1), rtol=1e-12)
    # Hessian w.r.t. data of ½‖W f‖² is WᵀW (forward-over-reverse through the solves).
    h = jax.hessian(lambda f: 0.5 * jnp.sum(grid.cubic_interp(X, f)(XQ) ** 2))(jnp.asarray(F))
    w = jax.jacfwd(lambda f: grid.cubic_interp(X, f)(XQ))(jnp.asarray(F))
    np.testing.assert_allclose(h, w.T @ w, rtol=1e-10, atol=1e-12)
    # vmap over data sets equals a trailing batch axis; jit of the whole thing.
    fs = jnp.asarray(RNG.normal(size=(3, X.size)))
    run = jax.jit(jax.vmap(lambda f: grid.cubic_interp(X, f)(XQ)))
    np.testing.assert_allclose(run(fs), grid.cubic_interp(X, fs.T)(XQ).T, rtol=1e-12)
    # vmap over queries and over adjoint cotangents.
    qs = jnp.asarray(RNG.uniform(0, 2, (4, 3)))
    np.testing.assert_allclose(jax.vmap(itp)(qs), itp(qs), rtol=1e-12)
    adj = grid.cubic_adjoint(X, XQ)
    ys = jnp.asarray(RNG.normal(size=(2, XQ.size)))
    np.testing.assert_allclose(jax.vmap(adj)(ys), adj(ys.T).T, rtol=1e-12, atol=1e-13)


def test_traced_grid_and_noextrap_under_jit():
    """A traced grid falls back to bisection search; NoExtrap queries outside give NaN
    under jit (they cannot raise there)."""
    out = jax.jit(lambda x, f, q: grid.cubic_interp(x, f)(q))(
        jnp.asarray(X), jnp.asarray(F), jnp.asarray([0.5, 3.0])
    )
    ref = grid.cubic_interp(X, F)(np.array([0.5]))
    np.testing.assert_allclose(out[0], ref[0], rtol=1e-13)
    assert np.isnan(out[1])
