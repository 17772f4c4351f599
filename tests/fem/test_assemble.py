"""P1/P2 assembly on triangles against scikit-fem's assembly of the same mesh (matrices
and load vectors equal to round-off, dofs matched by position), derivatives w.r.t.
the vertices against finite differences in both modes under jit, bad input."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import skfem
from scipy.spatial import Delaunay, cKDTree
from skfem.helpers import dot, grad

import rbfopt as ro
from rbfopt.testing import check_rules


@pytest.fixture(scope="module")
def mesh():
    """A Delaunay triangulation of scattered points in the unit square, counter-clockwise."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 6)
    sides = [np.stack(s, 1) for s in ((t, 0 * t), (t, 0 * t + 1), (0 * t, t), (0 * t + 1, t))]
    edge = np.unique(np.concatenate(sides), axis=0)
    x = np.concatenate([edge, rng.uniform(0.1, 0.9, (30, 2))])
    cells = Delaunay(x).simplices
    e1, e2 = x[cells[:, 1]] - x[cells[:, 0]], x[cells[:, 2]] - x[cells[:, 0]]
    flip = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] < 0
    cells[flip] = cells[flip][:, [0, 2, 1]]
    return x, cells


def _skfem(x, cells, degree):
    # quadrature of degree 4: exact for a P2 mass and for either load with a quadratic f
    m = skfem.MeshTri(x.T.copy(), cells.T.copy())
    element = skfem.ElementTriP1() if degree == 1 else skfem.ElementTriP2()
    return skfem.Basis(m, element, intorder=4)


def _order(sp, x, basis):
    """Our dof index of each scikit-fem dof (matched by position)."""
    dist, idx = cKDTree(np.asarray(sp.dof_points(x))).query(basis.doflocs.T)
    assert dist.max() < 1e-12
    return idx


@pytest.mark.parametrize("degree", [1, 2])
def test_matrices_and_load_equal_scikit_fem(mesh, degree):
    x, cells = mesh
    sp = ro.fem.space(cells, len(x), degree)
    basis = _skfem(x, cells, degree)
    idx = _order(sp, x, basis)
    lap = skfem.BilinearForm(lambda u, v, w: dot(grad(u), grad(v))).assemble(basis)
    mass = skfem.BilinearForm(lambda u, v, w: u * v).assemble(basis)
    rhs = skfem.LinearForm(lambda v, w: (1.0 + w.x[0] * w.x[1]) * v).assemble(basis)
    for ours, ref in ((ro.fem.stiffness(sp, x), lap), (ro.fem.mass(sp, x), mass)):
        dense = ours.to_scipy().toarray()[np.ix_(idx, idx)]
        np.testing.assert_allclose(dense, ref.toarray(), rtol=0, atol=1e-13 * abs(ref).max())
    b = np.asarray(ro.fem.load(sp, x, lambda p: 1.0 + p[0] * p[1]))[idx]
    np.testing.assert_allclose(b, rhs, rtol=0, atol=1e-14)
    assert sp.n_dofs == basis.N


def test_derivatives_against_finite_differences(mesh):
    x, cells = mesh
    sp = ro.fem.space(cells, len(x), 2)
    rng = np.random.default_rng(1)
    probe = jnp.asarray(rng.standard_normal(sp.adjl.shape))

    def f(pts):
        K, M = ro.fem.stiffness(sp, pts), ro.fem.mass(sp, pts)
        b = ro.fem.load(sp, pts, lambda p: jnp.sin(3 * p[0]) * p[1])
        return jnp.sum(probe * (K.values + M.values)) + jnp.sum(b**2)

    check_rules(f, jnp.asarray(x), rtol=1e-6, eps=1e-6, n_directions=2)


def test_bad_input(mesh):
    x, cells = mesh
    with pytest.raises(ValueError, match="degree"):
        ro.fem.space(cells, len(x), 3)
    with pytest.raises(ValueError, match=r"cells: vertex indices outside"):
        ro.fem.space(cells + 1, len(x), 1)
    with pytest.raises(ValueError, match=r"cells: expected integer triangles"):
        ro.fem.space(cells[:, :2], len(x), 1)


def _square(m):
    """The unit square's m x m grid, each cell split into two counter-clockwise triangles."""
    t = np.linspace(0.0, 1.0, m + 1)
    x = np.stack(np.meshgrid(t, t, indexing="ij"), -1).reshape(-1, 2)
    i, j = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    v = (i * (m + 1) + j).ravel()
    a, b, c, d = v, v + m + 1, v + m + 2, v + 1
    return x, np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])


def _l2_error(sp, x, uh, exact):
    """The L2 error by a rule of degree 4 (the shape functions at the quadrature points)."""
    bary, w = ro.fem.elements.QUADRATURE
    phi = ro.fem.elements.shape_values(sp.degree, bary)  # (q, m)
    xq = np.einsum("qv,evd->eqd", bary, x[sp.cells])
    err = phi @ np.asarray(uh)[sp.dofs].T  # (q, E)
    err = err.T - exact(xq[..., 0], xq[..., 1])
    area = np.abs(np.asarray(ro.fem.areas(sp, x)))
    return np.sqrt(np.sum(area[:, None] * w * err**2))


@pytest.mark.parametrize("degree, order", [(1, 2), (2, 3)])
def test_poisson_converges_at_the_element_order(degree, order):
    # -Lap u = f, u = sin(3x) cos(2y) + x^2 y on the boundary: L2 error O(h^(p+1))
    def exact(x, y):
        return np.sin(3 * x) * np.cos(2 * y) + x**2 * y

    def source(p):
        return 13.0 * jnp.sin(3 * p[0]) * jnp.cos(2 * p[1]) - 2.0 * p[1]

    errs = []
    for m in (8, 16):
        x, cells = _square(m)
        sp = ro.fem.space(cells, len(x), degree)
        xd = np.asarray(sp.dof_points(x))
        edge = np.flatnonzero(np.any((xd < 1e-12) | (xd > 1 - 1e-12), axis=1))
        K, b = ro.fem.lift_dirichlet(
            ro.fem.stiffness(sp, x), ro.fem.load(sp, x, source), edge, exact(*xd[edge].T)
        )
        errs.append(_l2_error(sp, x, ro.linsolve(K, b, "direct"), exact))
    assert np.log2(errs[0] / errs[1]) == pytest.approx(order, abs=0.1)
