"""Monomials: count, the one ordering, evaluation, derivatives at 0."""

from __future__ import annotations

from math import comb

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt as ro


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("deg", [-1, 0, 1, 2, 3, 4, 5])
def test_exponent_table(d, deg):
    e = ro.exponents(d, deg)
    assert e.shape == (ro.num_monomials(d, deg), d)
    assert ro.num_monomials(d, deg) == (comb(deg + d, d) if deg >= 0 else 0)
    tot = e.sum(axis=1)
    # every exponent of total degree <= deg exactly once, sorted by total degree
    assert len({tuple(r) for r in e}) == len(e)
    assert np.all(np.diff(tot) >= 0) and (len(e) == 0 or tot.max() == deg)
    assert np.all(e >= 0)


def test_documented_order_2d_3d():
    assert ro.exponents(2, 2).tolist() == [[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]]
    assert ro.exponents(3, 1).tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert ro.exponents(1, 3).tolist() == [[0], [1], [2], [3]]


@pytest.mark.parametrize("d", [1, 2, 3])
def test_evaluation_matches_powers(d, rng):
    deg = 4
    x = rng.uniform(-2, 2, size=(7, d))
    got = ro.monomials(jnp.asarray(x), deg)
    e = ro.exponents(d, deg)
    expected = np.prod(x[:, None, :] ** e[None, :, :], axis=-1)
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    assert ro.monomials(jnp.asarray(x), -1).shape == (7, 0)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_coordinate_axis(d, rng):
    # batch-last layout (k, d, B): coordinates and monomials along axis 1
    deg = 3
    x = rng.uniform(-2, 2, size=(5, d, 4))
    got = ro.monomials(jnp.asarray(x), deg, axis=1)
    e = ro.exponents(d, deg)
    expected = np.prod(x[:, None, :, :] ** e[None, :, :, None], axis=2)
    np.testing.assert_allclose(got, expected, rtol=1e-13)
    assert ro.monomials(jnp.asarray(x), -1, axis=1).shape == (5, 0, 4)


def test_derivatives_at_origin_are_finite_and_exact():
    # d/dx of x^a y^b at 0 is 1 for (1, 0) and 0 otherwise
    J = jax.jit(jax.jacfwd(lambda x: ro.monomials(x, 3)))(jnp.zeros(2))
    assert np.all(np.isfinite(J))
    e = ro.exponents(2, 3)
    np.testing.assert_array_equal(J[:, 0], [(a == 1 and b == 0) for a, b in e])
    H = jax.jit(jax.hessian(lambda x: ro.monomials(x, 3)))(jnp.zeros(2))
    # d2/dxdy at 0 is 1 only for xy
    np.testing.assert_array_equal(H[:, 0, 1], [(a == 1 and b == 1) for a, b in e])


def test_bad_arguments():
    with pytest.raises(ValueError, match="d:"):
        ro.exponents(4, 2)
    with pytest.raises(ValueError, match="deg:"):
        ro.exponents(2, -2)
