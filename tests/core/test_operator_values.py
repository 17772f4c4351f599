"""Operator descriptions are values: equal descriptions compare and hash equal, so a
weight build (``op`` is a static argument of its jit) compiles once for them. The
compilations are counted with JAX's own compile events, independently of rbfopt."""

from __future__ import annotations

import contextlib
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import scattered

import rbfopt as ro
from rbfopt.operators import Composed, Scaled, Sum

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def count_compiles():
    """Collect the XLA compilations (one event each) made inside the block."""
    names: list[str] = []

    def listener(event, duration, **kw):
        if event == COMPILE_EVENT:
            names.append(str(kw.get("fun_name", "?")))

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield names
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def trace_hessian(f):
    return lambda x: jnp.trace(jax.hessian(f)(x))


def fresh_ops():
    """Each call constructs new, equal descriptions of every kind."""
    return [
        ro.Identity(),
        ro.Partial(2, 1),
        ro.MixedPartial(np.int64(0), 1),
        ro.Laplacian(),
        ro.Gradient(),
        ro.Hessian(),
        ro.Directional(np.array([0.6, 0.8])),
        ro.Custom(trace_hessian),
        ro.Laplacian() + 2.0 * ro.Partial(1, 0),
        ro.Laplacian() - ro.Directional(jnp.array([1.0, 0.0])),
        Composed(ro.Laplacian(), ro.Partial(1, 0)),
    ]


def test_equal_descriptions_compare_and_hash_equal():
    for a, b in zip(fresh_ops(), fresh_ops(), strict=True):
        assert a is not b
        assert a == b and hash(a) == hash(b), a
        assert pickle.loads(pickle.dumps(a)) == a or isinstance(a, ro.Custom)
    assert 2 * ro.Laplacian() == 2.0 * ro.Laplacian() == ro.Laplacian() * np.float32(2)
    assert ro.Directional([1, 0]) == ro.Directional((1.0, 0.0))


def test_different_descriptions_differ():
    ops = [
        ro.Partial(1, 0),
        ro.Partial(1, 1),
        ro.Partial(2, 0),
        ro.MixedPartial(0, 1),
        ro.MixedPartial(1, 0),
        2.0 * ro.Laplacian(),
        3.0 * ro.Laplacian(),
        ro.Laplacian() + ro.Partial(1, 0),
        ro.Partial(1, 0) + ro.Laplacian(),
        ro.Directional([0.6, 0.8]),
        ro.Directional([0.8, 0.6]),
        ro.Custom(trace_hessian),
        ro.Custom(lambda f: trace_hessian(f)),  # another function object
        ro.Custom(trace_hessian, order=2),
        Composed(ro.Partial(1, 0), ro.Partial(1, 1)),
        Composed(ro.Partial(1, 1), ro.Partial(1, 0)),
    ]
    for i, a in enumerate(ops):
        for j, b in enumerate(ops):
            assert (a == b) == (i == j), (a, b)
    assert len(set(ops)) == len(ops)


def test_concrete_numbers_are_required():
    """A traced direction or coefficient cannot be a static value: a clear error."""
    with pytest.raises(ValueError, match=r"v: the direction must be concrete.*rbfopt\.directional"):
        jax.jit(lambda v: ro.Directional(v).order)(jnp.ones(2))
    with pytest.raises(ValueError, match="c: the coefficient must be concrete"):
        jax.jit(lambda c: (c * ro.Laplacian()).order)(2.0)
    with pytest.raises(ValueError, match="v: direction must be 1-D"):
        ro.Directional(np.ones((2, 2)))
    with pytest.raises(ValueError, match="v: the direction must be finite"):
        ro.Directional([np.nan, 1.0])
    with pytest.raises(ValueError, match="c: the coefficient must be a scalar"):
        np.ones(2) * ro.Laplacian()
    with pytest.raises(ValueError, match="c: the coefficient must hold real numbers"):
        Scaled("two", ro.Laplacian())
    with pytest.raises(ValueError, match="op: must be an Operator"):
        Scaled(2.0, "laplacian")
    with pytest.raises(ValueError, match="b: must be an Operator"):
        Sum(ro.Laplacian(), None)
    with pytest.raises(ValueError, match="inner: must be an Operator"):
        Composed(ro.Laplacian(), 2.0)
    with pytest.raises(ValueError, match="op: only scalar operators can be composed"):
        Composed(ro.Laplacian(), ro.Gradient()).validate(2)
    with pytest.raises(ValueError, match="fn: must be callable"):
        ro.Custom(3)
    with pytest.raises(ValueError, match=r"j: index \(0-based\) must be an integer >= 0"):
        ro.MixedPartial(0, -1)
    # concrete JAX arrays are fine: they become floats
    assert ro.Directional(jnp.array([0.6, 0.8])).v == (0.6, 0.8)
    assert (jnp.float64(2.0) * ro.Laplacian()).c == 2.0


@pytest.fixture(scope="module")
def stencils():
    x = jnp.asarray(scattered(60, 2, seed=3))
    return x, ro.find_neighbors(x, 12)


def test_rebuilt_operators_compile_once(stencils):
    """Eager builds with freshly constructed, equal descriptions compile once; the
    counter sees a build with a different description compile again."""
    x, adjl = stencils
    basis = ro.PHS(3, poly_deg=2)

    def weights(c):
        return ro.build_weights(ro.Laplacian() + c * ro.Partial(1, 0), x, None, adjl, basis)

    with count_compiles() as first:
        w1 = weights(2.0)
    with count_compiles() as again:
        w2 = weights(2.0)
    with count_compiles() as other:
        weights(3.0)
    assert first  # the first build compiles (jit(_build) among others)
    assert again == []
    assert other  # a new description does compile: the counter works
    np.testing.assert_array_equal(w1, w2)


# slow (~20 s): test_rebuilt_operators_compile_once checks the same cache on operators
@pytest.mark.slow
def test_loss_rebuilding_its_operator_compiles_once(stencils):
    """The issue's case: an eagerly called loss (and its gradient) that rebuilds
    ``Laplacian() + 2 Partial(1, 0)``, a Directional and a Custom on every call."""
    x, adjl = stencils
    basis = ro.PHS(5, poly_deg=2)

    def loss(p):
        total = 0.0
        for op in (
            ro.Laplacian() + 2.0 * ro.Partial(1, 0),
            ro.Directional(np.array([0.6, 0.8])),
            ro.Custom(trace_hessian),
        ):
            w = ro.build_weights(op, p, None, adjl, basis)
            total = total + jnp.sum(w**2)
        return total

    grad = jax.grad(loss)
    with count_compiles() as first:
        v1, g1 = loss(x), grad(x)
    with count_compiles() as again:
        v2, g2 = loss(x), grad(x)
    assert first
    assert again == []
    assert v1 == v2
    np.testing.assert_array_equal(g1, g2)


def test_composed_acts_as_the_product():
    """Composed(L1, L2) f = L1 (L2 f), on a scalar and a vector-valued function
    (the monomial basis is vector-valued), against MixedPartial and by hand."""
    x = jnp.asarray([0.4, -0.3])

    def f(y):
        return jnp.sin(1.3 * y[0]) * jnp.exp(0.7 * y[1])

    def vf(y):
        return jnp.stack([f(y), y[0] ** 3 * y[1]])

    op = Composed(ro.Partial(1, 0), ro.Partial(1, 1))
    assert op.order == 2 and Composed(ro.Laplacian(), ro.Custom(trace_hessian)).order is None
    np.testing.assert_allclose(op(f)(x), ro.MixedPartial(0, 1)(f)(x), rtol=1e-14)
    lap_dx = Composed(ro.Laplacian(), ro.Partial(1, 0))
    got = lap_dx(vf)(x)  # d/dx of x^3 y is 3 x^2 y; its Laplacian 6 y
    np.testing.assert_allclose(got[1], 6 * x[1], rtol=1e-14)
    want = (0.7**2 - 1.3**2) * 1.3 * jnp.cos(1.3 * x[0]) * jnp.exp(0.7 * x[1])
    np.testing.assert_allclose(got[0], want, rtol=1e-13)
