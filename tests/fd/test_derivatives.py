"""Derivative rules of build_weights: forward and reverse mode w.r.t. data, eval_points
and eps against finite differences (rbfopt.testing.check_rules), against plain traced
AD, second order (jax.hessian, HVPs), vmap over eps, and r = 0.

Compile time dominates, so the cases are a covering design rather than the full
product: every basis with at least two operators, every operator with at least two
bases, every poly_deg 0..4, per-stencil eps, and the dense (indefinite) fallback; the
operators of one case share one check_rules call (one compile per mode).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import scattered

import rbfopt as ro
from rbfopt.testing import check_rules

N, N_EVAL = 30, 4
RTOL = 1e-5
WORST: dict[str, dict] = {}


def _custom(f):
    def lf(x):
        return jax.hessian(f)(x)[0, 1] + 2.0 * jax.grad(f)(x)[0] - 0.5 * f(x)

    return lf


CUSTOM = ro.Custom(_custom)


@pytest.fixture(scope="module")
def nodes():
    x = scattered(N, 2, seed=21)
    y = scattered(N_EVAL, 2, seed=22, lo=0.2, hi=0.8)
    return x, y


# (id, basis factory (eps -> basis), ops, eps kind, eval points coincide with a node)
CASES = [
    ("PHS3/2", lambda e: ro.PHS(3, poly_deg=2), (ro.Laplacian(), ro.Gradient()), None, False),
    ("PHS3/1", lambda e: ro.PHS(3, poly_deg=1), (ro.Partial(1, 0),), None, False),
    ("PHS5/3", lambda e: ro.PHS(5, poly_deg=3), (ro.Hessian(), ro.MixedPartial(0, 1)), None, False),
    ("PHS5/0-dense", lambda e: ro.PHS(5, poly_deg=0), (ro.Partial(1, 1),), None, False),
    ("PHS7/4", lambda e: ro.PHS(7, poly_deg=4), (ro.Partial(2, 1), CUSTOM), None, False),
    (
        "IMQ/0-per-stencil-eps",
        lambda e: ro.IMQ(e, poly_deg=0),
        (ro.Partial(1, 0), CUSTOM, ro.MixedPartial(1, 0)),
        "vector",
        False,
    ),
    (
        "Gaussian/2-r0",
        lambda e: ro.Gaussian(e, poly_deg=2),
        (ro.Laplacian(), ro.Hessian()),
        "scalar",
        True,
    ),
    ("MQ/1", lambda e: ro.MQ(e, poly_deg=1), (ro.Gradient(), ro.Partial(2, 0)), "scalar", False),
]


# PHS5/3's operators (Hessian, MixedPartial) are also covered by Gaussian/2-r0 and
# IMQ/0: its case runs with the slow tests to keep CI inside its budget.
_SLOW_CASES = {"PHS5/3"}
_CHUNKED_CASES = {"IMQ/0-per-stencil-eps"}


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.slow) if c[0] in _SLOW_CASES else c for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_check_rules_build_weights(nodes, case):
    name, make, ops, eps_kind, coincide = case
    x, y = nodes
    if coincide:
        y = np.concatenate([y[:-1], x[5:6]])  # one evaluation point on a data node
    deg = make(1.0).poly_deg
    k = ro.autoselect_k(2, deg)
    adjl = ro.find_neighbors(x, k, y)

    # One case runs through the chunk loop of large builds (2 chunks of 2 stencils).
    chunk = 2 if name in _CHUNKED_CASES else None

    def f(data, evalp, eps=None):
        basis = make(eps)
        return tuple(ro.build_weights(op, data, evalp, adjl, basis, chunk_size=chunk) for op in ops)

    args = [jnp.asarray(x), jnp.asarray(y)]
    if eps_kind == "scalar":
        args.append(jnp.asarray(3.0))
    elif eps_kind == "vector":
        args.append(jnp.linspace(2.5, 4.0, N_EVAL))
    worst = check_rules(f, *args, rtol=RTOL)
    WORST[name] = worst
    assert max(worst.values()) < RTOL


@pytest.fixture(scope="module")
def lap_problem(nodes):
    x, y = nodes
    adjl = ro.find_neighbors(x, 12, y)
    return jnp.asarray(x), jnp.asarray(y), adjl


def test_implicit_rules_match_traced_ad(lap_problem):
    """The custom rules (implicit differentiation reusing the factorization) against
    AD traced through the elimination, forward and reverse."""
    x, y, adjl = lap_problem
    rng = np.random.default_rng(0)
    vx, vy = jnp.asarray(rng.normal(size=x.shape)), jnp.asarray(rng.normal(size=y.shape))
    ybar = jnp.asarray(rng.normal(size=(N_EVAL, 12)))

    def make(solver):
        def f(p, q, e):
            return ro.build_weights(ro.Laplacian(), p, q, adjl, ro.IMQ(e), local_solve=solver)

        jv = jax.jit(lambda p, q, e: jax.jvp(f, (p, q, e), (vx, vy, 0.7))[1])
        vj = jax.jit(lambda p, q, e: jax.vjp(f, p, q, e)[1](ybar))
        return jv(x, y, 2.0), vj(x, y, 2.0)

    (t_i, c_i), (t_t, c_t) = make("implicit"), make("traced")
    np.testing.assert_allclose(t_i, t_t, rtol=1e-8, atol=1e-9 * np.abs(t_t).max())
    for a, b in zip(c_i, c_t, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-9 * np.abs(b).max())


# Through the chunk loop of large builds (2 chunks; its first order is covered by the
# chunked check_rules case) with the slow tests: ~10 s of compilation more.
@pytest.mark.parametrize("chunk", [None, pytest.param(2, marks=pytest.mark.slow)])
def test_hessian_fwd_over_rev_and_hvp(lap_problem, chunk):
    """jax.hessian (jacfwd of jacrev) of a scalar loss w.r.t. eps, and a Hessian-vector
    product w.r.t. positions (jvp of grad), against finite differences of the gradient;
    unchunked, and through the chunk loop, whose reverse mode JAX transposes and
    rematerializes."""
    x, y, adjl = lap_problem
    u = jnp.sin(2 * x[:, 0]) * jnp.cos(x[:, 1])

    def loss(p, e):
        w = ro.build_weights(ro.Laplacian(), p, y, adjl, ro.IMQ(e), chunk_size=chunk)
        return jnp.sum((w * u[adjl]).sum(1) ** 2)

    e0 = jnp.asarray(2.0)
    H = jax.jit(jax.hessian(loss, argnums=1))(x, e0)
    g = jax.jit(jax.grad(loss, argnums=1))
    h = 1e-4
    fd = (-g(x, e0 + 2 * h) + 8 * g(x, e0 + h) - 8 * g(x, e0 - h) + g(x, e0 - 2 * h)) / (12 * h)
    np.testing.assert_allclose(H, fd, rtol=1e-6)

    gp = jax.grad(loss, argnums=0)
    v = jnp.asarray(np.random.default_rng(1).normal(size=x.shape))
    hvp = jax.jit(lambda p: jax.jvp(lambda q: gp(q, e0), (p,), (v,))[1])(x)
    gpj = jax.jit(gp)
    fd = (
        -gpj(x + 2 * h * v, e0)
        + 8 * gpj(x + h * v, e0)
        - 8 * gpj(x - h * v, e0)
        + gpj(x - 2 * h * v, e0)
    ) / (12 * h)
    np.testing.assert_allclose(hvp, fd, rtol=1e-5, atol=1e-6 * np.abs(fd).max())


def test_vmap_over_eps_batch(lap_problem):
    x, y, adjl = lap_problem

    def loss(e):
        w = ro.build_weights(ro.Partial(1, 0), x, y, adjl, ro.Gaussian(e))
        return jnp.sum(w**2)

    eps = jnp.array([2.0, 3.0, 4.5])
    vals = jax.jit(jax.vmap(loss))(eps)
    grads = jax.jit(jax.vmap(jax.grad(loss)))(eps)
    lj = jax.jit(loss)
    for i, e in enumerate(np.asarray(eps)):
        np.testing.assert_allclose(vals[i], lj(e), rtol=1e-10)
        h = 1e-5 * e
        fd = (lj(e + h) - lj(e - h)) / (2 * h)
        np.testing.assert_allclose(grads[i], fd, rtol=1e-6)


def test_no_nan_gradients_at_coincident_points(nodes):
    """PHS3 Laplacian with evaluation points exactly on data nodes (r = 0 inside the
    right-hand side): derivatives w.r.t. data and eval_points are finite in both modes
    (the Laplacian of r^3 has a kink at r = 0, so only finiteness is promised here;
    the smooth Gaussian case above is checked against finite differences at r = 0)."""
    x, _ = nodes
    y = x[:N_EVAL]
    adjl = ro.find_neighbors(x, 12, y)

    def f(p, q):
        return ro.build_weights(ro.Laplacian(), p, q, adjl, ro.PHS(3, 2))

    jr = jax.jit(jax.jacrev(f, argnums=(0, 1)))(jnp.asarray(x), jnp.asarray(y))
    jf = jax.jit(jax.jacfwd(f, argnums=(0, 1)))(jnp.asarray(x), jnp.asarray(y))
    for a in (*jr, *jf):
        assert np.all(np.isfinite(a))
    np.testing.assert_allclose(jr[0], jf[0], rtol=1e-8, atol=1e-8 * np.abs(jf[0]).max())


def test_print_worst(capsys):
    with capsys.disabled():
        if WORST:
            w = max(max(v.values()) for v in WORST.values())
            print(f"\n[check_rules] worst rel. error {w:.2e}; per case: {WORST}")
