"""Adjoint checks: the dot-product identity <W f, ȳ> = <f, Wᵀȳ> and adj.matrix() = Wᵀ.

``W f`` is the interpolant with the affine offset removed: ``itp_f(xq) - itp_0(xq)``
(prescribed Deriv1/Deriv2 values and fill values give the offset).  The pairing is
bilinear (no conjugation), so complex data check the plain transpose.

Error measure: ``|<Wf, ȳ> - <f, Wᵀȳ>| / (‖Wf‖ ‖ȳ‖ + ‖f‖ ‖Wᵀȳ‖)`` — relative to the
sizes of the two sides, not to their (possibly cancelling) value.  Tolerance 1e-12 for
float64/complex128; for float32 ``200 ε₃₂ ≈ 2.4e-5``: both sides are computed in
float32 (coefficient solve, Horner sums over O(n) terms), so agreement is limited by
float32 rounding, not by the transpose.

To keep the suite fast the cross product runs op by op (``jax.disable_jit``) with
fixed array shapes, so each primitive compiles once and is shared by all cases.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt.grid as grid

N, M = 9, 7
BCS = {
    "cubicfit": grid.CubicFit(),
    "notaknot": grid.NotAKnot(),
    "natural": grid.Natural(),
    "deriv1-2": (grid.Deriv1(0.7), grid.Deriv2(-1.3)),
    "periodic-incl": grid.Periodic("inclusive"),
    "periodic-excl": grid.Periodic("exclusive"),
}
EXTRAPS = {
    "none": grid.NoExtrap(),
    "extend": grid.ExtendExtrap(),
    "clamp": grid.ClampExtrap(),
    "fill": grid.FillExtrap(2.5),
    "wrap": grid.WrapExtrap(),
}
DTYPES = {
    "float64": (np.float64, np.float64),
    "float32": (np.float32, np.float32),
    "complex128": (np.float64, np.complex128),
}
TOL = {"float64": 1e-12, "complex128": 1e-12, "float32": 200 * np.finfo(np.float32).eps}


@pytest.fixture(autouse=True, scope="module")
def _eager():
    with jax.disable_jit():
        yield


def _grid(uniform: bool, n: int = N, dtype=np.float64):
    if uniform:
        return np.linspace(0.0, 2.0, n).astype(dtype)
    rng = np.random.default_rng(n)
    h = rng.uniform(0.3, 1.7, n - 1)
    return np.concatenate([[0.0], np.cumsum(h) * 2.0 / h.sum()]).astype(dtype)


def _data(rng, shape, fdtype):
    f = rng.normal(size=shape)
    if np.issubdtype(fdtype, np.complexfloating):
        f = f + 1j * rng.normal(size=shape)
    return f.astype(fdtype)


def _queries(rng, lo, hi, m, inside: bool, dtype):
    pad = 0.0 if inside else 0.25 * (hi - lo)
    q = rng.uniform(lo - pad, hi + pad, m)
    q[:2] = [lo, hi]  # the ends themselves
    return q.astype(dtype)


def _rel(lhs, rhs, scale):
    return abs(complex(lhs) - complex(rhs)) / scale


def _dot_1d(bc, extrap, deriv, uniform, dt, kind="cubic"):
    xdtype, fdtype = DTYPES[dt]
    rng = np.random.default_rng(hash((deriv, uniform, dt)) % 2**32)
    x = _grid(uniform, dtype=xdtype)
    f = _data(rng, (N,), fdtype)
    if isinstance(bc, grid.Periodic) and bc.endpoint == "inclusive":
        f[-1] = f[0]
    lo, hi = x[0], x[-1]
    if isinstance(bc, grid.Periodic) and bc.endpoint == "exclusive":
        hi = x[-1] + (x[1] - x[0])
    xq = _queries(rng, lo, hi, M, isinstance(extrap, grid.NoExtrap), xdtype)
    ybar = _data(rng, (M,), fdtype)
    if kind == "cubic":
        make = lambda g: grid.cubic_interp(x, g, bc=bc, extrap=extrap)  # noqa: E731
        adj = grid.cubic_adjoint(x, xq, bc=bc, extrap=extrap)
    else:
        make = lambda g: grid.linear_interp(x, g, extrap=extrap)  # noqa: E731
        adj = grid.linear_adjoint(x, xq, extrap=extrap)
    wf = np.asarray(make(f)(xq, deriv)) - np.asarray(make(np.zeros_like(f))(xq, deriv))
    wty = np.asarray(adj(ybar, deriv))
    lhs, rhs = np.sum(wf * ybar), np.sum(f * wty)
    scale = np.linalg.norm(wf) * np.linalg.norm(ybar) + np.linalg.norm(f) * np.linalg.norm(wty)
    return _rel(lhs, rhs, max(scale, 1e-300))


def _covering():
    """30 cases covering every pair of factors: each BC × extrapolation once; within a
    BC the 5 cases walk through all 4 derivatives and 3 dtypes, and across BCs each
    extrapolation meets every derivative and dtype (k = 5 i + j: k mod 4, k mod 3)."""
    out = []
    for k, (bc, ex) in enumerate(itertools.product(BCS, EXTRAPS)):
        out.append((bc, ex, k % 4, (k // 2) % 2 == 0, list(DTYPES)[k % 3]))
    return out


@pytest.mark.parametrize("bc,extrap,deriv,uniform,dt", _covering())
def test_dot_identity_cubic_1d(bc, extrap, deriv, uniform, dt):
    err = _dot_1d(BCS[bc], EXTRAPS[extrap], deriv, uniform, dt)
    assert err <= TOL[dt], err


@pytest.mark.slow
@pytest.mark.parametrize("extrap", list(EXTRAPS), ids=list(EXTRAPS))
@pytest.mark.parametrize("bc", list(BCS), ids=list(BCS))
def test_dot_identity_cubic_1d_full_product(bc, extrap):
    """The full cross product: every deriv × uniform/non-uniform × dtype."""
    for deriv, uniform, dt in itertools.product(range(4), (True, False), DTYPES):
        err = _dot_1d(BCS[bc], EXTRAPS[extrap], deriv, uniform, dt)
        assert err <= TOL[dt], (deriv, uniform, dt, err)


@pytest.mark.parametrize("extrap", list(EXTRAPS), ids=list(EXTRAPS))
def test_dot_identity_linear_1d(extrap):
    k = list(EXTRAPS).index(extrap)
    for deriv in range(2):
        dt = list(DTYPES)[(k + deriv) % 3]
        err = _dot_1d(None, EXTRAPS[extrap], deriv, (k + deriv) % 2 == 0, dt, kind="linear")
        assert err <= TOL[dt], (deriv, dt, err)


ND_CASES = [
    # (bc per axis, extrap per axis)
    ((grid.CubicFit(), grid.Periodic("exclusive")), (grid.ExtendExtrap(), grid.WrapExtrap())),
    (
        ((grid.Deriv1(0.5), grid.Natural()), grid.NotAKnot()),
        (grid.FillExtrap(1.5), grid.ClampExtrap()),
    ),
    ((grid.Periodic("inclusive"), (grid.Deriv2(0.2), grid.Deriv1(-0.4))), grid.NoExtrap()),
]


@pytest.mark.parametrize(
    "case", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)]
)
def test_dot_identity_cubic_2d(case):
    """2-D: mixed BCs/extrapolations per axis, uniform × non-uniform axes, a trailing
    batch axis; the three cases together cover all 16 mixed partials and 3 dtypes."""
    bc, extrap = ND_CASES[case]
    for dt in [list(DTYPES)[case]]:  # one dtype per case; all three across cases
        xdtype, fdtype = DTYPES[dt]
        rng = np.random.default_rng(case)
        x, y = _grid(True, 6, xdtype), _grid(False, 7, xdtype)
        f = _data(rng, (6, 7, 2), fdtype)
        if isinstance(bc[0], grid.Periodic):
            f[-1] = f[0]
        e = extrap if isinstance(extrap, tuple) else (extrap,) * 2
        hi_y = y[-1] + (y[1] - y[0]) if isinstance(bc[1], grid.Periodic) else y[-1]
        xq = _queries(rng, x[0], x[-1], M, isinstance(e[0], grid.NoExtrap), xdtype)
        yq = _queries(rng, y[0], hi_y, M, isinstance(e[1], grid.NoExtrap), xdtype)
        ybar = _data(rng, (M, 2), fdtype)
        adj = grid.cubic_adjoint((x, y), (xq, yq), bc=bc, extrap=extrap)
        itp = grid.cubic_interp((x, y), f, bc=bc, extrap=extrap)
        itp0 = grid.cubic_interp((x, y), np.zeros_like(f), bc=bc, extrap=extrap)
        derivs = list(itertools.product(range(4), range(4)))[case::3]  # all 16 across cases
        for deriv in derivs:
            wf = np.asarray(itp((xq, yq), deriv)) - np.asarray(itp0((xq, yq), deriv))
            wty = np.asarray(adj(ybar, deriv))
            scale = np.linalg.norm(wf) * np.linalg.norm(ybar) + np.linalg.norm(f) * np.linalg.norm(
                wty
            )
            err = _rel(np.sum(wf * ybar), np.sum(f * wty), scale)
            assert err <= TOL[dt], (dt, deriv, err)


def test_dot_identity_linear_3d():
    rng = np.random.default_rng(3)
    xs = (_grid(True, 4), _grid(False, 5), _grid(True, 3))
    q = tuple(_queries(rng, g[0], g[-1], M, False, np.float64) for g in xs)
    f = rng.normal(size=(4, 5, 3))
    ybar = rng.normal(size=M)
    ex = (grid.ClampExtrap(), grid.ExtendExtrap(), grid.FillExtrap(-1.0))
    adj = grid.linear_adjoint(xs, q, extrap=ex)
    for deriv in itertools.product(range(2), repeat=3):
        wf = np.asarray(grid.linear_interp(xs, f, extrap=ex)(q, deriv))
        wf = wf - np.asarray(grid.linear_interp(xs, 0 * f, extrap=ex)(q, deriv))
        wty = np.asarray(adj(ybar, deriv))
        scale = np.linalg.norm(wf) * np.linalg.norm(ybar) + np.linalg.norm(f) * np.linalg.norm(wty)
        assert _rel(np.sum(wf * ybar), np.sum(f * wty), scale) <= 1e-12


@pytest.mark.parametrize("bc", ["notaknot", "deriv1-2", "periodic-incl"])
def test_matrix_is_transpose_of_columns(bc):
    """adj.matrix() equals Wᵀ with W built column by column: W e_j for each unit e_j."""
    b = BCS[bc]
    x = _grid(False)
    rng = np.random.default_rng(0)
    hi = x[-1]
    xq = _queries(rng, x[0], hi, M, False, np.float64)
    ex = grid.ExtendExtrap()
    adj = grid.cubic_adjoint(x, xq, bc=b, extrap=ex)
    assert adj.shape == (N, M)
    for deriv in range(4):
        # Column j = jvp along e_j (forward mode pushes the unit vectors one by one;
        # the affine offset drops out).  Traced data also skips the inclusive-periodic
        # end check (e_j has unequal ends).
        w = np.asarray(
            jax.jacfwd(lambda g: grid.cubic_interp(x, g, bc=b, extrap=ex)(xq, deriv))(  # noqa: B023
                jnp.zeros(N)
            )
        )
        np.testing.assert_allclose(
            np.asarray(adj.matrix(deriv)), w.T, rtol=1e-12, atol=1e-12 * np.abs(w).max()
        )


@pytest.mark.slow
def test_matrix_2d_shape_and_values():
    x, y = _grid(True, 5), _grid(False, 4)
    rng = np.random.default_rng(1)
    q = (
        _queries(rng, x[0], x[-1], 6, True, np.float64),
        _queries(rng, y[0], y[-1], 6, True, np.float64),
    )
    adj = grid.cubic_adjoint((x, y), q, bc=grid.NotAKnot())
    assert adj.shape == (20, 6)
    w = jax.jacfwd(lambda g: grid.cubic_interp((x, y), g, bc=grid.NotAKnot())(q, (1, 1)))(
        jnp.zeros((5, 4))
    )
    np.testing.assert_allclose(
        np.asarray(adj.matrix((1, 1))),
        np.asarray(w).reshape(6, 20).T,
        atol=1e-12 * float(jnp.abs(w).max()),
    )
