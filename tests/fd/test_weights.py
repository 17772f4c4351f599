"""build_weights: exact reproduction of monomial derivatives (the independent check of
every operator, basis and dimension), per-stencil eps, chunking, solvers, degenerate
stencils under jit.

The exact values come from differentiating monomials by hand (falling factorials of
the exponents), not from the library.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import rel_err, scattered

import rbfopt as ro

N_DATA = {1: 30, 2: 70, 3: 150}
N_EVAL = 9
EXACT_TOL = 1e-8
WORST: dict[str, float] = {}  # filled by the tests; printed with -s for the closing note


# ---------------------------------------------------------------- exact operators
def _dmono(x: np.ndarray, a: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """d^beta of the monomial x^a, evaluated at x (n, d)."""
    if np.any(beta > a):
        return np.zeros(len(x))
    c = math.prod(math.perm(int(ai), int(bi)) for ai, bi in zip(a, beta, strict=True))
    return c * np.prod(x ** (a - beta), axis=1)


def _e(d, *dims):
    b = np.zeros(d, dtype=int)
    for i in dims:
        b[i] += 1
    return b


def exact_terms(name: str, d: int):
    """The operator as a list over outputs of lists of (coefficient, multi-index).

    Coefficients may be arrays of shape (n_eval,) (per-node directions)."""
    if name == "identity":
        return [[(1.0, _e(d))]]
    if name.startswith("partial"):  # partial{order}_{dim}
        o, dim = map(int, name[7:].split("_"))
        return [[(1.0, o * _e(d, dim))]]
    if name == "mixed":
        return [[(1.0, _e(d, 0, d - 1))]]
    if name == "laplacian":
        return [[(1.0, _e(d, i, i)) for i in range(d)]]
    if name == "gradient":
        return [[(1.0, _e(d, i))] for i in range(d)]
    if name == "hessian":
        return [[(1.0, _e(d, i, j))] for i in range(d) for j in range(d)]
    if name == "directional":
        return [[(float(DIRECTION[i]), _e(d, i)) for i in range(d)]]
    if name == "custom":  # 2 f_00 + 3 f_{d-1} - f
        return [[(2.0, _e(d, 0, 0)), (3.0, _e(d, d - 1)), (-1.0, _e(d))]]
    if name == "sum":  # 0.5 Lap + d/dx_{d-1} - 2 (d/dx_0)
        return [[(0.5, _e(d, i, i)) for i in range(d)] + [(1.0, _e(d, d - 1)), (-2.0, _e(d, 0))]]
    raise KeyError(name)


DIRECTION = np.array([0.6, -0.8, 0.3])


def _custom_fn(f):
    def lf(x):
        return 2.0 * jax.hessian(f)(x)[0, 0] + 3.0 * jax.grad(f)(x)[-1] - f(x)

    return lf


# Operator instances live at module level: a Custom hashes by its function, so one
# instance per (name, d) lets repeated builds hit the compile cache.
CUSTOM = ro.Custom(_custom_fn)
_OPS: dict = {}


def make_op(name: str, d: int) -> ro.Operator:
    key = (name, d)
    if key not in _OPS:
        if name == "identity":
            op = ro.Identity()
        elif name.startswith("partial"):
            o, dim = map(int, name[7:].split("_"))
            op = ro.Partial(o, dim)
        elif name == "mixed":
            op = ro.MixedPartial(0, d - 1)
        elif name == "laplacian":
            op = ro.Laplacian()
        elif name == "gradient":
            op = ro.Gradient()
        elif name == "hessian":
            op = ro.Hessian()
        elif name == "directional":
            op = ro.Directional(jnp.asarray(DIRECTION[:d]))
        elif name == "custom":
            op = CUSTOM
        elif name == "sum":
            op = 0.5 * ro.Laplacian() + ro.Partial(1, d - 1) - 2.0 * ro.Partial(1, 0)
        _OPS[key] = op
    return _OPS[key]


def problem(d: int, seed: int = 0):
    """Scattered data in [0.2, 1.2]^d and distinct scattered evaluation points inside."""
    x = scattered(N_DATA[d], d, seed=seed, lo=0.2, hi=1.2)
    y = scattered(N_EVAL, d, seed=seed + 100, lo=0.35, hi=1.05)
    return x, y


def exactness_error(op_name, d, basis, x, y, w, adjl):
    """Worst relative error of W p(x) vs (L p)(y) over all monomials of degree <= deg."""
    exps = ro.exponents(d, basis.poly_deg)
    w = np.asarray(w)
    if w.ndim == 2:
        w = w[..., None]
    terms = exact_terms(op_name, d)
    assert w.shape[-1] == len(terms)
    worst = 0.0
    for o, out_terms in enumerate(terms):
        approx = np.stack(
            [np.sum(w[:, :, o] * np.prod(x[adjl] ** a, axis=-1), axis=1) for a in exps], 1
        )
        exact = np.stack([sum(c * _dmono(y, a, b) for c, b in out_terms) for a in exps], 1)
        worst = max(worst, rel_err(approx, exact))
    return worst


ALL_2D = [
    "identity",
    "partial1_0",
    "partial2_1",
    "mixed",
    "laplacian",
    "gradient",
    "hessian",
    "directional",
    "custom",
    "sum",
]
# (d, basis name, operators): every operator on PHS3/2 in 2-D, the rest a covering
# design over bases, dimensions and operators (each case is one XLA compilation).
CASES = (
    [(2, "PHS3/2", op) for op in ALL_2D]
    + [(2, "PHS5/3", op) for op in ["partial3_0", "laplacian", "hessian", "custom"]]
    + [(2, "PHS7/4", op) for op in ["laplacian", "gradient", "partial3_1"]]
    + [(2, "IMQ/2", op) for op in ["laplacian", "hessian"]]
    + [(2, "Gaussian/2", op) for op in ["identity", "laplacian"]]
    + [(2, "MQ/2", op) for op in ["laplacian", "mixed"]]
    + [(1, "PHS3/2", op) for op in ["identity", "partial1_0", "partial2_0", "hessian"]]
    + [(1, "PHS5/3", op) for op in ["partial3_0", "laplacian"]]
    + [(1, "Gaussian/3", "laplacian")]
    + [(3, "PHS3/2", op) for op in ["identity", "mixed", "laplacian", "gradient", "hessian"]]
    + [(3, "PHS5/3", "custom"), (3, "IMQ/2", "partial1_2"), (3, "MQ/2", "sum")]
)


def make_basis(name: str, d: int = 2) -> ro.RadialBasis:
    kind, deg = name.split("/")
    deg = int(deg)
    if kind.startswith("PHS"):
        return ro.PHS(int(kind[3:]), poly_deg=deg)
    # eps * (stencil radius) ~ 0.5-1: far enough from the flat limit, where the local
    # systems of smooth kernels become numerically singular (and are rejected)
    eps = 10.0 if d == 1 else 1.5
    return {"IMQ": ro.IMQ, "Gaussian": ro.Gaussian, "MQ": ro.MQ}[kind](eps, poly_deg=deg)


@pytest.mark.parametrize("d, bname, opname", CASES, ids=[f"{d}d-{b}-{o}" for d, b, o in CASES])
def test_exact_on_monomials(d, bname, opname):
    basis = make_basis(bname, d)
    x, y = problem(d)
    k = ro.autoselect_k(d, basis.poly_deg)
    adjl = ro.find_neighbors(x, k, y)
    op = make_op(opname, d)
    w = ro.build_weights(op, x, y, adjl, basis)
    n_out = len(exact_terms(opname, d))
    assert w.shape == ((N_EVAL, k) if not op.out_shape(d) else (N_EVAL, k, n_out))
    err = exactness_error(opname, d, basis, x, y, w, adjl)
    WORST[f"{d}d {bname} {opname}"] = err
    assert err < EXACT_TOL, err


@pytest.mark.parametrize("d", [1, 2, 3])
def test_exact_at_the_data_and_chunked(d):
    """eval_points=None (stencil centred on a data node) and many small chunks."""
    basis = ro.PHS(3, poly_deg=2)
    x, _ = problem(d, seed=3)
    k = ro.autoselect_k(d, 2)
    adjl = ro.find_neighbors(x, k)
    w = ro.build_weights(ro.Laplacian(), x, None, adjl, basis, chunk_size=9)
    assert w.shape == (len(x), k) and len(x) % 9 != 0
    assert exactness_error("laplacian", d, basis, x, x, w, adjl) < EXACT_TOL


def test_per_node_directional_exact():
    d = 2
    x, y = problem(d)
    rng = np.random.default_rng(5)
    v = rng.normal(size=(N_EVAL, d))
    basis = ro.PHS(3, poly_deg=2)
    k = ro.autoselect_k(d, 2)
    adjl = ro.find_neighbors(x, k, y)
    op = ro.directional(x, v, eval_points=y, adjl=adjl, basis=basis)
    exps = ro.exponents(d, 2)
    for a in exps:
        exact = sum(v[:, i] * _dmono(y, a, _e(d, i)) for i in range(d))
        approx = op(jnp.asarray(np.prod(x**a, axis=1)))
        assert rel_err(approx, exact) < EXACT_TOL


def test_per_stencil_eps_is_exact_and_matches_scalar_builds():
    d = 2
    x, y = problem(d)
    k = ro.autoselect_k(d, 2)
    adjl = ro.find_neighbors(x, k, y)
    eps = np.linspace(2.0, 4.0, N_EVAL)
    w = ro.build_weights(ro.Laplacian(), x, y, adjl, ro.Gaussian(jnp.asarray(eps), poly_deg=2))
    assert exactness_error("laplacian", d, ro.Gaussian(1.0, 2), x, y, w, adjl) < EXACT_TOL
    for i in (0, N_EVAL - 1):
        wi = ro.build_weights(ro.Laplacian(), x, y[i : i + 1], adjl[i : i + 1], ro.Gaussian(eps[i]))
        np.testing.assert_allclose(w[i], wi[0], rtol=1e-8, atol=1e-10 * np.abs(wi).max())


def test_solvers_agree_including_indefinite_fallback():
    """PHS5 with poly_deg 1 is not guaranteed definite: the dense fallback must still be
    exact; the implicit, traced and dense solvers give the same weights."""
    d = 2
    x, y = problem(d)
    adjl = ro.find_neighbors(x, 12, y)
    b = ro.PHS(5, poly_deg=1)
    w = ro.build_weights(ro.Partial(1, 0), x, y, adjl, b)
    assert exactness_error("partial1_0", d, b, x, y, w, adjl) < EXACT_TOL
    b = ro.PHS(3, poly_deg=2)
    ws = [
        ro.build_weights(ro.Laplacian(), x, y, adjl, b, local_solve=s)
        for s in ("implicit", "traced", "dense")
    ]
    for w in ws[1:]:
        np.testing.assert_allclose(w, ws[0], rtol=1e-8, atol=1e-8 * np.abs(ws[0]).max())


def test_weights_do_not_depend_on_a_shift_or_scale_of_coordinates():
    """Affine invariance: translating by c leaves Laplacian weights unchanged, scaling
    by s multiplies them by s^-2 (PHS3 with polynomial: scale-invariant span)."""
    d = 2
    x, y = problem(d)
    adjl = ro.find_neighbors(x, 12, y)
    b = ro.PHS(3, poly_deg=2)
    w = np.asarray(ro.build_weights(ro.Laplacian(), x, y, adjl, b))
    w2 = ro.build_weights(ro.Laplacian(), 3.0 * x + 7.0, 3.0 * y + 7.0, adjl, b)
    np.testing.assert_allclose(np.asarray(w2) * 9.0, w, rtol=1e-7, atol=1e-9 * np.abs(w).max())


def test_degenerate_stencil_under_jit_gives_nonfinite_row_not_a_crash():
    """Documented behaviour: inside jit no check can run; a non-unisolvent stencil
    (collinear points, poly_deg 1 in 2-D) yields non-finite weights in its row, or a
    vanishing quality; the other rows are unaffected and exact."""
    d = 2
    x, y = problem(d)
    k = 8
    adjl = np.array(ro.find_neighbors(x, k, y))
    # replace the stencil of evaluation point 0 by collinear nodes
    line = np.stack([np.linspace(0.3, 0.9, k), np.full(k, 0.123)], 1)
    xx = np.concatenate([x, line])
    adjl[0] = np.arange(len(x), len(x) + k)
    b = ro.PHS(3, poly_deg=1)
    with pytest.raises(ValueError, match=r"adjl: degenerate stencils at evaluation points \[0\]"):
        ro.build_weights(ro.Laplacian(), xx, y, adjl, b)
    f = jax.jit(lambda p, q: ro.build_weights(ro.Laplacian(), p, q, adjl, b))
    w = np.asarray(f(jnp.asarray(xx), jnp.asarray(y)))
    assert w.shape == (N_EVAL, k)
    good = np.ones(N_EVAL, bool)
    good[0] = False
    assert exactness_error("laplacian", d, b, xx, y[good], w[good], adjl[good]) < EXACT_TOL
    # the degenerate row: the docstring promises non-finite weights
    assert not np.all(np.isfinite(w[0])), w[0]


def test_print_worst(capsys):
    if WORST:
        with capsys.disabled():
            k = max(WORST, key=WORST.get)
            print(f"\n[exactness] {len(WORST)} cases, worst rel. error {WORST[k]:.2e} ({k})")


def test_no_polynomial_reproduces_kernel_translates():
    """poly_deg = -1 (no polynomial block): local interpolation with IMQ reproduces
    every kernel translate centred on a stencil node exactly (independent of the
    solver: phi(y - x_m) is in the span)."""
    d = 2
    x, y = problem(d)
    adjl = ro.find_neighbors(x, 8, y)
    b = ro.IMQ(3.0, poly_deg=-1)
    w = np.asarray(ro.build_weights(ro.Identity(), x, y, adjl, b))
    for e in (0, 4):
        for m in range(8):
            c = x[adjl[e, m]]
            u = 1.0 / np.sqrt(1.0 + 9.0 * np.sum((x[adjl[e]] - c) ** 2, axis=1))
            exact = 1.0 / np.sqrt(1.0 + 9.0 * np.sum((y[e] - c) ** 2))
            assert abs(w[e] @ u - exact) < 1e-10


def test_k_equal_to_number_of_monomials_is_polynomial_fd():
    """k == M: no kernel degrees of freedom left; d/dx weights are those of the linear
    interpolant on the triangle of the 3 nearest nodes."""
    d = 2
    x, y = problem(d)
    adjl = ro.find_neighbors(x, 3, y)
    w = np.asarray(ro.build_weights(ro.Partial(1, 0), x, y, adjl, ro.PHS(3, poly_deg=1)))
    for e in range(N_EVAL):
        V = np.c_[np.ones(3), x[adjl[e]]]  # rows: [1, x, y] at the three nodes
        np.testing.assert_allclose(w[e], np.linalg.solve(V.T, [0.0, 1.0, 0.0]), rtol=1e-10)


def test_solver_keyword_is_a_dated_alias_of_local_solve():
    x = np.random.default_rng(1).random((40, 2))
    adjl = ro.find_neighbors(x, 12)
    b = ro.PHS(3, poly_deg=2)
    new = ro.build_weights(ro.Laplacian(), x, None, adjl, b, local_solve="dense")
    with pytest.warns(DeprecationWarning, match="2026-12: use local_solve"):
        old = ro.build_weights(ro.Laplacian(), x, None, adjl, b, solver="dense")
    np.testing.assert_array_equal(np.asarray(old), np.asarray(new))
    with pytest.raises(ValueError, match="local_solve: unknown local solve 'lu'"):
        ro.build_weights(ro.Laplacian(), x, None, adjl, b, local_solve="lu")
