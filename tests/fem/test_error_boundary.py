"""Error functionals, facet terms, padded spaces and mesh checks of rbfopt.fem, against
scikit-fem (facet assembly, error functionals), exact integrals (the conical rule) and
finite differences (derivatives w.r.t. the vertices)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skfem
from scipy.spatial import Delaunay, cKDTree
from skfem.helpers import dot, grad

import rbfopt as ro
from rbfopt.fem import boundary
from rbfopt.fem.elements import conical_rule
from rbfopt.testing import check_rules


@pytest.fixture(scope="module")
def mesh():
    """A counter-clockwise Delaunay mesh of the unit square and its skfem twin."""
    rng = np.random.default_rng(3)
    t = np.linspace(0, 1, 7)
    sides = [np.stack(s, 1) for s in ((t, 0 * t), (t, 0 * t + 1), (0 * t, t), (0 * t + 1, t))]
    x = np.concatenate([np.unique(np.concatenate(sides), axis=0), rng.uniform(0.1, 0.9, (40, 2))])
    cells = Delaunay(x).simplices
    e1, e2 = x[cells[:, 1]] - x[cells[:, 0]], x[cells[:, 2]] - x[cells[:, 0]]
    flip = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] < 0
    cells[flip] = cells[flip][:, [0, 2, 1]]
    return x, cells, skfem.MeshTri(x.T.copy(), cells.T.copy())


def _order(sp, x, basis):
    dist, idx = cKDTree(np.asarray(sp.dof_points(x))).query(basis.doflocs.T)
    assert dist.max() < 1e-12
    return idx


@pytest.mark.parametrize("n", [2, 3, 5])
def test_conical_rule_is_exact_to_its_degree(n):
    bary, w = conical_rule(n)
    s, t = bary[:, 1], bary[:, 2]
    for a in range(2 * n - 1):
        for b in range(2 * n - 1 - a):
            # mean over the reference triangle: 2 a! b! / (a + b + 2)!
            mean = 2 * math.factorial(a) * math.factorial(b) / math.factorial(a + b + 2)
            assert w @ (s**a * t**b) == pytest.approx(mean, rel=1e-13, abs=1e-16)


@pytest.mark.parametrize("degree", [1, 2])
def test_errors_equal_scikit_fem_functionals(mesh, degree):
    x, cells, m = mesh
    sp = ro.fem.space(cells, len(x), degree)
    element = skfem.ElementTriP2() if degree == 2 else skfem.ElementTriP1()
    basis = skfem.Basis(m, element, intorder=12)
    idx = _order(sp, x, basis)
    uh = np.random.default_rng(0).standard_normal(sp.n_dofs)

    def u(p):
        return jnp.sin(2 * p[0]) * jnp.exp(p[1])

    w = basis.interpolate(uh[idx])

    def field(x0, x1):
        return np.sin(2 * x0) * np.exp(x1)

    l2 = skfem.Functional(lambda v: (v["uh"] - field(*v.x)) ** 2).assemble(basis, uh=w)
    d0 = lambda v: v["uh"].grad[0] - 2 * np.cos(2 * v.x[0]) * np.exp(v.x[1])  # noqa: E731
    d1 = lambda v: v["uh"].grad[1] - field(*v.x)  # noqa: E731
    h1 = skfem.Functional(lambda v: d0(v) ** 2 + d1(v) ** 2).assemble(basis, uh=w)
    ours = ro.fem.errors(sp, x, jnp.asarray(uh), u, order=7)
    np.testing.assert_allclose(np.asarray(ours), np.sqrt([l2, h1]), rtol=1e-10)


def test_errors_derivatives_against_finite_differences(mesh):
    x, cells, _ = mesh
    sp = ro.fem.space(cells, len(x), 2)
    uh = jnp.asarray(np.random.default_rng(1).standard_normal(sp.n_dofs))

    def f(pts):
        l2, h1 = ro.fem.errors(sp, pts, uh, lambda p: jnp.sin(2 * p[0]) * p[1])
        return l2 + 0.3 * h1

    check_rules(f, jnp.asarray(x), rtol=1e-6, eps=1e-6, n_directions=2)


@pytest.mark.parametrize("degree", [1, 2])
def test_facet_terms_equal_scikit_fem(mesh, degree):
    x, cells, m = mesh
    sp = ro.fem.space(cells, len(x), degree)
    element = skfem.ElementTriP2() if degree == 2 else skfem.ElementTriP1()
    basis = skfem.Basis(m, element)
    idx = _order(sp, x, basis)
    bottom = m.facets_satisfying(lambda p: p[1] < 1e-12)
    fb = skfem.FacetBasis(m, element, facets=bottom, intorder=8)
    # the bottom edges, each from left to right (counter-clockwise around the square)
    lines = np.sort(m.facets[:, bottom].T, axis=1)
    lines = np.where((x[lines[:, 0], 0] < x[lines[:, 1], 0])[:, None], lines, lines[:, ::-1])
    fdofs = lines if degree == 1 else np.c_[lines, sp.edge_dofs(lines)]
    ones = jnp.ones(len(fdofs))

    def data(p, n):  # a cubic of x and the outward normal (0, -1)
        return p[:, 0] ** 3 - 2 * n[:, 1]

    ours = np.asarray(boundary.facet_load(sp, x, jnp.asarray(fdofs), data, ones))[idx]
    ref = skfem.LinearForm(lambda v, w: (w.x[0] ** 3 - 2 * w.n[1]) * v).assemble(fb)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-14)
    K = ro.fem.stiffness(sp, x)
    slots = boundary.facet_slots(sp, fdofs)
    R = boundary.facet_mass(sp, K, x, jnp.asarray(fdofs), jnp.asarray(slots), 2.5 * ones)
    robin = skfem.BilinearForm(lambda u, v, w: 2.5 * u * v).assemble(fb)
    lap = skfem.BilinearForm(lambda u, v, w: dot(grad(u), grad(v))).assemble(basis)
    dense, want = R.to_scipy().toarray()[np.ix_(idx, idx)], (lap + robin).toarray()
    np.testing.assert_allclose(dense, want, rtol=0, atol=1e-14 * abs(want).max())


@pytest.mark.parametrize("degree", [1, 2])
def test_padded_space_assembles_the_same_matrices(mesh, degree):
    x, cells, _ = mesh
    sp = ro.fem.space(cells, len(x), degree)
    big = ro.fem.space(cells, len(x), degree, capacity=(len(cells) + 7, sp.n_dofs + 5, 40))
    # P1's dofs are the vertices: a capacity of more dofs pads P2 only
    assert big.capacity == (len(cells) + 7, sp.n_dofs + 5 * (degree == 2), 40)
    assert not np.asarray(big.used)[sp.n_dofs :].any()
    n = sp.n_dofs
    for f in (ro.fem.stiffness, ro.fem.mass):
        a, b = f(sp, x).to_scipy().toarray(), f(big, x).to_scipy().toarray()
        np.testing.assert_allclose(b[:n, :n], a, rtol=0, atol=1e-15)
        assert not b[n:].any() and not b[:, n:].any()
    src = lambda p: 1.0 + p[0]  # noqa: E731
    lb = np.asarray(ro.fem.load(big, x, src))
    np.testing.assert_allclose(lb[:n], np.asarray(ro.fem.load(sp, x, src)), atol=1e-15)
    # a space passes through jit as a pytree: meshes of one capacity share a compile
    stiff = jax.jit(lambda s, p: ro.fem.stiffness(s, p).values)
    np.testing.assert_allclose(stiff(big, x), ro.fem.stiffness(big, x).values, atol=1e-14)


def test_lift_with_a_mask_equals_lift_with_rows(mesh):
    x, cells, _ = mesh
    sp = ro.fem.space(cells, len(x), 2)
    K, b = ro.fem.stiffness(sp, x), ro.fem.load(sp, x, 1.0)
    rows = np.array([0, 3, 5])
    vals = jnp.array([1.0, -2.0, 0.5])
    A1, b1 = ro.fem.lift_dirichlet(K, b, rows, vals)
    mask = np.zeros(sp.n_dofs, bool)
    mask[rows] = True
    g = jnp.zeros(sp.n_dofs).at[rows].set(vals)
    A2, b2 = jax.jit(ro.fem.lift)(K, b, jnp.asarray(mask), g)
    np.testing.assert_array_equal(A1.to_scipy().toarray(), A2.to_scipy().toarray())
    np.testing.assert_array_equal(b1, b2)


def test_inverted_and_flat_cells_are_named(mesh):
    x, cells, _ = mesh
    bad = cells.copy()
    bad[4] = bad[4, [0, 2, 1]]
    with pytest.raises(ValueError, match=r"inverted \(clockwise\) cells \[4\]"):
        ro.fem.space(bad, len(x), 2, points=x)
    flat = np.concatenate([cells, [[0, 0, 1]]])
    with pytest.raises(ValueError, match=rf"zero-area cells \[{len(cells)}\]"):
        ro.fem.space(flat, len(x), 1, points=x)
    with pytest.raises(ValueError, match="pairs"):
        ro.fem.space(cells, len(x), 2).edge_dofs(np.array([[0, len(x) - 1]]))
