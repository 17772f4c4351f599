"""Global Interpolator, its adjoint and LOOCV: against scipy, refits, FD and algebra."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.interpolate import RBFInterpolator

import rbfopt  # noqa: F401  (float64)
from rbfopt.basis import IMQ, MQ, PHS, Gaussian
from rbfopt.interp import Interpolator, interpolator_adjoint, loocv
from rbfopt.operators import Gradient, Laplacian, Partial
from rbfopt.testing import check_rules


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    x = rng.random((40, 2))
    f = np.sin(3 * x[:, 0]) * np.cos(2 * x[:, 1]) + x[:, 0]
    q = rng.random((70, 2))
    return x, f, q


def _saddle_cond(x, basis, kernel_fn):
    """Condition number of [A P; P' 0] (numpy, independent of the code under test)."""
    r = np.linalg.norm(x[:, None] - x[None], axis=-1)
    A = kernel_fn(r)
    lo, hi = x.min(0), x.max(0)
    z = (x - (lo + hi) / 2) / (np.max(hi - lo) / 2)
    cols = [np.ones(len(x))]
    if basis.poly_deg >= 1:
        cols += [z[:, 0], z[:, 1]]
    if basis.poly_deg >= 2:
        cols += [z[:, 0] ** 2, z[:, 0] * z[:, 1], z[:, 1] ** 2]
    P = np.stack(cols, 1) if basis.poly_deg >= 0 else np.zeros((len(x), 0))
    m = P.shape[1]
    K = np.block([[A, P], [P.T, np.zeros((m, m))]])
    return np.linalg.cond(K)


KERNELS = {
    "cubic": (lambda e, deg: PHS(3, poly_deg=deg), lambda r, e: r**3),
    "gaussian": (lambda e, deg: Gaussian(e, poly_deg=deg), lambda r, e: np.exp(-((e * r) ** 2))),
    "inverse_multiquadric": (
        lambda e, deg: IMQ(e, poly_deg=deg),
        lambda r, e: 1 / np.sqrt(1 + (e * r) ** 2),
    ),
    "multiquadric": (lambda e, deg: MQ(e, poly_deg=deg), lambda r, e: np.sqrt(1 + (e * r) ** 2)),
}


@pytest.mark.parametrize("degree", [0, 1, 2])
@pytest.mark.parametrize("kernel", list(KERNELS))
def test_matches_scipy(data, kernel, degree):
    x, f, q = data
    eps = 3.0
    make, phi = KERNELS[kernel]
    basis = make(eps, degree)
    with warnings.catch_warnings():
        # scipy warns for cubic with degree 0 (below the CPD order); still solvable here
        warnings.simplefilter("ignore")
        ref = RBFInterpolator(x, f, kernel=kernel, degree=degree, epsilon=eps)(q)
    got = np.asarray(Interpolator(x, f, basis)(q))
    rel = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
    if kernel == "cubic":
        assert rel < 1e-8
    else:
        # both codes lose ~cond * machine-eps; allow a generous multiple of it
        cond = _saddle_cond(x, basis, lambda r: phi(r, eps))
        assert rel < max(1e-8, 1e-14 * cond), (rel, cond)


def test_vector_values_and_reproduction(data):
    x, f, q = data
    # poly_deg 2 reproduces quadratics exactly: an independent analytic reference
    u = lambda p: 1 + 2 * p[:, 0] - p[:, 1] + p[:, 0] ** 2 + 3 * p[:, 0] * p[:, 1] - p[:, 1] ** 2  # noqa: E731
    V = np.stack([u(x), f], axis=1)
    itp = Interpolator(x, V, PHS(3, poly_deg=2))
    out = np.asarray(itp(q))
    assert out.shape == (len(q), 2)
    np.testing.assert_allclose(out[:, 0], u(q), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(out[:, 1], np.asarray(Interpolator(x, f)(q)), rtol=1e-12)
    g = np.asarray(itp.derivative(Gradient())(q))  # (Nq, d, m)
    assert g.shape == (len(q), 2, 2)
    np.testing.assert_allclose(g[:, 0, 0], 2 + 2 * q[:, 0] + 3 * q[:, 1], atol=1e-9)
    np.testing.assert_allclose(g[:, 1, 0], -1 + 3 * q[:, 0] - 2 * q[:, 1], atol=1e-9)
    lap = np.asarray(itp.derivative(Laplacian())(q))[:, 0]
    np.testing.assert_allclose(lap, 0.0, atol=1e-8)
    dxx = itp.derivative(Partial(1, 0)).derivative(Partial(1, 0))
    np.testing.assert_allclose(np.asarray(dxx(q))[:, 0], 2.0, atol=1e-8)


def test_queries_at_centres_no_nan(data):
    x, f, _ = data
    itp = Interpolator(x, f)
    np.testing.assert_allclose(np.asarray(itp(x)), f, rtol=1e-10, atol=1e-12)
    gq = jax.grad(lambda z: jnp.sum(itp(z)))(jnp.asarray(x[:5]))
    gp = jax.grad(lambda p: jnp.sum(Interpolator(p, f)(p[:5])))(jnp.asarray(x))
    assert np.all(np.isfinite(gq)) and np.all(np.isfinite(gp))
    g1 = itp.derivative(Gradient())(x[:5])
    np.testing.assert_allclose(np.asarray(gq), np.asarray(g1), rtol=1e-12, atol=1e-12)


def test_many_queries_chunked(data, monkeypatch):
    import rbfopt.interp._system as mod

    x, f, _ = data
    q = np.random.default_rng(5).random((333, 2))
    full = np.asarray(Interpolator(x, f)(q))
    monkeypatch.setattr(mod, "_CHUNK_BUDGET", 40 * 64)  # 64 queries per chunk
    itp = Interpolator(x, f)
    np.testing.assert_allclose(np.asarray(itp(q)), full, rtol=1e-13, atol=1e-13)
    adj = interpolator_adjoint(x, q)
    yb = np.random.default_rng(6).standard_normal(len(q))
    lhs = float(np.dot(yb, full))
    rhs = float(np.dot(f, np.asarray(adj(yb))))
    assert abs(lhs - rhs) <= 1e-10 * abs(lhs)


# ---------------------------------------------------------------- derivative rules


def test_rules_values(data):
    x, f, q = data
    check_rules(lambda v: Interpolator(x, v)(q), jnp.asarray(f), rtol=1e-6)


def test_rules_points(data):
    x, f, q = data
    check_rules(lambda p: Interpolator(p, f)(q), jnp.asarray(x), rtol=1e-5)


def test_rules_eps(data):
    x, f, q = data
    # eps = 4: the system is well conditioned enough that the finite differences
    # (step 1e-3) are not swamped by round-off (at eps = 2, cond ~ 1e9 for Gaussian)
    # (IMQ's eps is checked in the forward-over-reverse test below)
    for make in (Gaussian, MQ):
        f_e = lambda e, make=make: Interpolator(x, f, make(e, poly_deg=1))(q)  # noqa: E731
        check_rules(f_e, jnp.asarray(4.0), rtol=1e-6, eps=1e-3)


def test_rules_queries(data):
    x, f, q = data
    itp = Interpolator(x, f, MQ(2.0, poly_deg=1))
    check_rules(lambda z: itp(z), jnp.asarray(q), rtol=1e-6)


def test_rules_all_at_once_forward_over_reverse(data):
    """jax.grad of a loss, differentiated again in forward mode (Hessian-vector)."""
    x, f, q = data

    def loss(p, v, e):
        return jnp.sum(Interpolator(p, v, IMQ(e, poly_deg=1))(q) ** 2)

    def grad_loss(p, v, e):
        return jax.grad(loss, argnums=(0, 1, 2))(p, v, e)

    check_rules(
        grad_loss, jnp.asarray(x), jnp.asarray(f), jnp.asarray(4.0), modes=("fwd",), rtol=1e-5
    )


# ---------------------------------------------------------------- adjoint


# Gaussian eps = 4 keeps cond(M) ~ 1e6: at eps = 2 (cond ~ 1e10) round-off alone breaks 1e-10
@pytest.mark.parametrize("basis", [PHS(3, poly_deg=2), Gaussian(4.0, poly_deg=1)])
def test_adjoint_dot_product_identity(data, basis):
    x, f, q = data
    rng = np.random.default_rng(2)
    adj = interpolator_adjoint(x, q, basis)
    assert adj.shape == (len(x), len(q))
    for m in (None, 3):
        shape_f = (len(x),) if m is None else (len(x), m)
        shape_y = (len(q),) if m is None else (len(q), m)
        fv = rng.standard_normal(shape_f)
        yb = rng.standard_normal(shape_y)
        Wf = np.asarray(Interpolator(x, fv, basis)(q))
        WTy = np.asarray(adj(yb))
        lhs, rhs = float(np.sum(Wf * yb)), float(np.sum(fv * WTy))
        assert abs(lhs - rhs) <= 1e-10 * max(abs(lhs), 1e-300), (lhs, rhs)


def test_adjoint_equals_grad_values(data):
    x, f, q = data
    yb = np.random.default_rng(3).standard_normal(len(q))
    g = jax.grad(lambda v: jnp.vdot(yb, Interpolator(x, v)(q)))(jnp.asarray(f))
    WTy = interpolator_adjoint(x, q)(yb)
    np.testing.assert_allclose(np.asarray(WTy), np.asarray(g), rtol=1e-8, atol=1e-9)
    W = np.asarray(interpolator_adjoint(x, q[:7]).matrix())
    Wref = np.asarray(jax.jacrev(lambda v: Interpolator(x, v)(q[:7]))(jnp.asarray(f))).T
    np.testing.assert_allclose(W, Wref, rtol=1e-8, atol=1e-9)


# ---------------------------------------------------------------- LOOCV


@pytest.mark.parametrize(
    "basis", [PHS(3, poly_deg=2), Gaussian(3.0, poly_deg=0), MQ(2.0, poly_deg=1)]
)
def test_loocv_equals_refits(data, basis):
    x, f, _ = data
    x, f = x[:25], f[:25]
    errs = []
    for i in range(len(x)):  # explicit refits with scipy: an independent reference
        keep = np.arange(len(x)) != i
        kern = {PHS: "cubic", Gaussian: "gaussian", MQ: "multiquadric"}[type(basis)]
        s = RBFInterpolator(
            x[keep], f[keep], kernel=kern, degree=basis.poly_deg, epsilon=basis.eps or 1.0
        )
        errs.append(f[i] - s(x[i : i + 1])[0])
    ref = float(np.sum(np.square(errs)))
    got = float(loocv(x, f, basis))
    assert abs(got - ref) <= 1e-8 * ref, (got, ref)


def test_loocv_rules_eps_values(data):
    x, f, _ = data
    x, f = x[:25], f[:25]
    check_rules(lambda e: loocv(x, f, Gaussian(e, poly_deg=1)), jnp.asarray(3.0), rtol=1e-5)
    check_rules(lambda v: loocv(x, v, IMQ(2.0, poly_deg=1)), jnp.asarray(f), rtol=1e-5)


# ---------------------------------------------------------------- bad input


def test_bad_mismatched_lengths(data):
    x, f, _ = data
    with pytest.raises(ValueError, match=r"values: expected shape \(40,\)"):
        Interpolator(x, f[:-1])


def test_bad_nan_values(data):
    x, f, _ = data
    g = f.copy()
    g[[3, 17]] = np.nan
    with pytest.raises(ValueError, match=r"values: non-finite.*\[3, 17\]"):
        Interpolator(x, g)
    with pytest.raises(ValueError, match=r"values: non-finite"):
        loocv(x, g, PHS(3, 2))


def test_bad_duplicate_centres(data):
    x, f, _ = data
    y = x.copy()
    y[9] = y[2]
    with pytest.raises(ValueError, match=r"points: duplicate centres at index pairs \[\[2, 9\]\]"):
        Interpolator(y, f)


def test_bad_rank_deficient_circle():
    t = np.linspace(0, 2 * np.pi, 30, endpoint=False)
    x = np.stack([np.cos(t), np.sin(t)], 1)
    with pytest.raises(ValueError, match=r"rank-deficient for poly_deg=2.*poly_deg=1 works"):
        Interpolator(x, np.sin(t), PHS(3, poly_deg=2))
    # the suggestion is right: poly_deg=1 works on the same points
    Interpolator(x, np.sin(t), PHS(3, poly_deg=1))


def test_bad_rank_deficient_line():
    s = np.linspace(0, 1, 12)
    x = np.stack([s, 2 * s + 1], 1)
    with pytest.raises(ValueError, match=r"rank-deficient for poly_deg=1.*poly_deg=0 works"):
        Interpolator(x, s, PHS(3, poly_deg=1))
    with pytest.raises(ValueError, match=r"rank-deficient"):
        interpolator_adjoint(x, x, PHS(3, poly_deg=2))
