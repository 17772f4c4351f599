"""Bad input: a ValueError naming the argument (and the offending indices), one test
per case, never a silent NaN."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import scattered

import rbfopt as ro

N = 40


@pytest.fixture(scope="module")
def x():
    return scattered(N, 2, seed=5)


@pytest.fixture(scope="module")
def adjl(x):
    return ro.find_neighbors(x, 12)


def build(x, adjl, op=None, basis=None, eval_points=None, **kw):
    return ro.build_weights(
        op or ro.Laplacian(), x, eval_points, adjl, basis or ro.PHS(3, poly_deg=2), **kw
    )


# ------------------------------------------------------------------ shapes


def test_data_wrong_dimension():
    with pytest.raises(ValueError, match=r"data: expected shape \(N, d\)"):
        ro.find_neighbors(np.zeros((10, 4)), 3)


def test_data_wrong_ndim(adjl):
    with pytest.raises(ValueError, match="data"):
        build(np.zeros((N, 2, 1)), adjl)


def test_eval_points_wrong_dimension(x, adjl):
    with pytest.raises(ValueError, match="eval_points"):
        build(x, adjl, eval_points=np.zeros((N, 3)))


def test_eval_points_wrong_dimension_in_find_neighbors(x):
    with pytest.raises(ValueError, match="eval_points"):
        ro.find_neighbors(x, 5, np.zeros((4, 3)))


def test_adjl_wrong_number_of_rows(x, adjl):
    with pytest.raises(ValueError, match="adjl: has 39 rows"):
        build(x, adjl[:-1])


def test_adjl_not_2d(x, adjl):
    with pytest.raises(ValueError, match=r"adjl: expected shape \(N_eval, k\)"):
        build(x, adjl.ravel())


def test_adjl_float_dtype(x, adjl):
    with pytest.raises(ValueError, match="adjl: expected integer"):
        build(x, adjl.astype(float))


def test_apply_wrong_u_shape(x):
    op = ro.laplacian(x)
    with pytest.raises(ValueError, match="u: expected shape"):
        op(jnp.zeros(N + 1))


def test_adjoint_wrong_ybar_shape(x):
    op = ro.gradient(x)
    with pytest.raises(ValueError, match="ybar"):
        op.adjoint(jnp.zeros(N))


def test_directional_wrong_v_shape(x):
    with pytest.raises(ValueError, match="v: expected shape"):
        ro.directional(x, np.ones(3))


def test_per_stencil_eps_wrong_length(x, adjl):
    with pytest.raises(ValueError, match=r"eps: per-stencil shape parameters must have shape"):
        build(x, adjl, basis=ro.IMQ(jnp.ones(N - 1)))


# ------------------------------------------------------------------ values


def test_nan_in_data(adjl, x):
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"data: non-finite .* indices \[3\]"):
        build(bad, adjl)


def test_inf_in_eval_points(x):
    y = x[:5].copy()
    y[[1, 4], 0] = np.inf
    with pytest.raises(ValueError, match=r"eval_points: non-finite .* indices \[1, 4\]"):
        ro.find_neighbors(x, 5, y)


def test_nan_in_data_of_constructor(x):
    bad = x.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match=r"data: non-finite .* \[7\]"):
        ro.laplacian(bad)


def test_duplicate_points(x):
    bad = np.concatenate([x, x[[2]]])
    with pytest.raises(ValueError, match=r"data: duplicate points \(index pairs \[\[2, 40\]\]"):
        ro.find_neighbors(bad, 5)


def test_duplicate_points_in_a_given_stencil(x, adjl):
    """Coincident nodes inside a user-given stencil: singular kernel block, reported as a
    degenerate stencil with its row."""
    bad = x.copy()
    j = int(adjl[6, 3])
    bad[j] = bad[adjl[6, 5]]
    with pytest.raises(ValueError, match=r"adjl: degenerate stencils at evaluation points \[.*6"):
        build(bad, adjl)


def test_k_greater_than_n(x):
    with pytest.raises(ValueError, match=r"k: stencil size 41 exceeds the number of data points"):
        ro.find_neighbors(x, N + 1)


def test_k_greater_than_n_in_constructor(x):
    with pytest.raises(ValueError, match="k: stencil size"):
        ro.laplacian(x[:10], k=12)


def test_k_not_positive(x):
    with pytest.raises(ValueError, match="k: stencil size must be an integer >= 1"):
        ro.find_neighbors(x, 0)


def test_k_smaller_than_number_of_monomials(x):
    adjl5 = ro.find_neighbors(x, 5)
    with pytest.raises(ValueError, match=r"k=5 is smaller than the 6 monomials"):
        build(x, adjl5)


def test_eps_zero_scalar():
    with pytest.raises(ValueError, match=r"eps: shape parameter must be finite and > 0"):
        ro.IMQ(0.0)


def test_eps_negative_scalar():
    with pytest.raises(ValueError, match="eps"):
        ro.Gaussian(-1.0)


def test_eps_nonpositive_per_stencil():
    with pytest.raises(ValueError, match=r"eps: .* at indices \[1, 3\]"):
        ro.MQ(jnp.array([1.0, 0.0, 2.0, -3.0]))


def test_eps_nonpositive_per_stencil_via_replace(x, adjl):
    """A basis rebuilt with bad per-stencil eps (e.g. after an optimizer step)."""
    with pytest.raises(ValueError, match=r"eps: .*indices \[2\]"):
        build(x, adjl, basis=ro.IMQ(1.0).replace(eps=jnp.ones(N).at[2].set(-1.0)))


@pytest.mark.parametrize("order", [0, 2, 4, 9, 3.5, True])
def test_phs_order_not_allowed(order):
    with pytest.raises(ValueError, match="order: PHS order must be one of 1, 3, 5, 7"):
        ro.PHS(order)


def test_phs_order_too_low_for_operator(x, adjl):
    with pytest.raises(ValueError, match="basis: PHS order 1"):
        build(x, adjl, basis=ro.PHS(1, poly_deg=1))


def test_poly_deg_invalid():
    with pytest.raises(ValueError, match="poly_deg"):
        ro.PHS(3, poly_deg=-2)


def test_degenerate_collinear_stencil(x):
    """2-D stencil whose points are collinear, poly_deg 1: not unisolvent."""
    k = 6
    line = np.stack([np.linspace(2.0, 3.0, k), 2.0 + 0.5 * np.linspace(2.0, 3.0, k)], 1)
    data = np.concatenate([x, line])
    adjl = np.array(ro.find_neighbors(data, k, x[:5]))
    adjl[3] = np.arange(N, N + k)
    with pytest.raises(ValueError, match=r"adjl: degenerate stencils at evaluation points \[3\]"):
        ro.build_weights(ro.Partial(1, 0), data, x[:5], adjl, ro.PHS(3, poly_deg=1))


def test_degenerate_conic_stencil():
    """Points on a circle are not unisolvent for quadratics (x^2 + y^2 - 1 vanishes)."""
    t = np.linspace(0, 2 * np.pi, 12, endpoint=False) + 0.1
    data = np.stack([np.cos(t), np.sin(t)], 1)
    adjl = np.arange(12)[None]
    with pytest.raises(ValueError, match=r"adjl: degenerate stencils at evaluation points \[0\]"):
        ro.build_weights(ro.Laplacian(), data, np.zeros((1, 2)), adjl, ro.PHS(3, poly_deg=2))


def test_adjl_index_out_of_range(x, adjl):
    bad = np.array(adjl)
    bad[2, 4] = N
    bad[9, 0] = -1
    with pytest.raises(ValueError, match=r"adjl: indices out of range 0..39 in rows \[2, 9\]"):
        build(x, bad)


def test_adjl_repeated_index_in_row(x, adjl):
    bad = np.array(adjl)
    bad[4, 2] = bad[4, 1]
    with pytest.raises(ValueError, match=r"adjl: repeated indices within rows \[4\]"):
        build(x, bad)


# ------------------------------------------------------------------ operators


def test_partial_dim_out_of_range(x, adjl):
    with pytest.raises(ValueError, match="dim: dimension index 2 out of range for d=2"):
        build(x, adjl, op=ro.Partial(1, 2))


def test_mixed_partial_index_out_of_range(x, adjl):
    with pytest.raises(ValueError, match="j: dimension index 3"):
        build(x, adjl, op=ro.MixedPartial(0, 3))


def test_partial_negative_dim():
    with pytest.raises(ValueError, match="dim"):
        ro.Partial(1, -1)


def test_partial_order_zero():
    with pytest.raises(ValueError, match="order: derivative order"):
        ro.Partial(0, 0)


def test_directional_vector_wrong_length(x, adjl):
    with pytest.raises(ValueError, match=r"v: direction must have shape \(2,\)"):
        build(x, adjl, op=ro.Directional(np.ones(3)))


def test_sum_of_mismatched_operators(x, adjl):
    with pytest.raises(ValueError, match="op: cannot add operators"):
        build(x, adjl, op=ro.Gradient() + ro.Laplacian())


def test_not_an_operator(x, adjl):
    with pytest.raises(ValueError, match="op: expected an operator description"):
        build(x, adjl, op="laplacian")


def test_not_a_basis(x, adjl):
    with pytest.raises(ValueError, match="basis: expected a basis"):
        build(x, adjl, basis="phs3")


def test_unknown_local_solve(x, adjl):
    with pytest.raises(ValueError, match="local_solve: unknown local solve 'cholesky'"):
        build(x, adjl, local_solve="cholesky")


@pytest.mark.parametrize("chunk", [0, -3])
def test_bad_chunk_size(x, adjl, chunk):
    with pytest.raises(ValueError, match="chunk_size"):
        build(x, adjl, chunk_size=chunk)


def test_autoselect_k_bad_dimension():
    with pytest.raises(ValueError, match=r"d: dimension must be an integer in 1\.\.3"):
        ro.autoselect_k(4, 2)
    with pytest.raises(ValueError, match="d: dimension must be an integer"):
        ro.autoselect_k(True, 2)
    with pytest.raises(ValueError, match="poly_deg: polynomial degree"):
        ro.autoselect_k(2, 1.5)


def test_check_rules_bad_mode():
    with pytest.raises(ValueError, match="modes"):
        ro.testing.check_rules(lambda a: a, jnp.ones(2), modes=("sideways",))
