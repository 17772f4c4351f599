"""Boundary rows and global assembly: polynomial exactness, a mixed BVP, rules, errors."""

import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt  # noqa: F401  (float64)
from rbfopt.basis import IMQ, MQ, PHS, Gaussian
from rbfopt.fd.boundary import assemble, dirichlet_rows, neumann_rows, robin_rows
from rbfopt.operators import Laplacian
from rbfopt.sparse import linsolve
from rbfopt.stencils import find_neighbors
from rbfopt.testing import check_rules


def _quad(p):
    x, y = p[:, 0], p[:, 1]
    u = 1 + 2 * x - y + x**2 + 3 * x * y - 0.5 * y**2
    g = np.stack([2 + 2 * x + 3 * y, -1 + 3 * x - y], 1)
    return u, g


@pytest.fixture(scope="module")
def disk():
    """~300 nodes: 50 on the unit circle (first), the rest jittered-grid inside."""
    rng = np.random.default_rng(0)
    nb = 48  # equal Neumann and Robin quarters: one compiled weight build
    t = 2 * np.pi * np.arange(nb) / nb
    bnd = np.stack([np.cos(t), np.sin(t)], 1)
    h = 2 * np.pi / nb
    g = np.arange(-1, 1 + h, h)
    X, Y = np.meshgrid(g, g)
    c = np.stack([X.ravel(), Y.ravel()], 1) + 0.2 * h * rng.uniform(-1, 1, (X.size, 2))
    inner = c[np.linalg.norm(c, axis=1) < 1 - 0.5 * h]
    p = np.concatenate([bnd, inner])
    normals = np.zeros_like(p)
    normals[:nb] = bnd
    return p, nb, normals, find_neighbors(p, 12)


def test_dirichlet_rows(disk):
    p, nb, _, adjl = disk
    rows = np.arange(nb)
    w = np.asarray(dirichlet_rows(rows, adjl))
    u = np.random.default_rng(1).standard_normal(len(p))
    np.testing.assert_array_equal(np.sum(w * u[adjl[rows]], 1), u[rows])


ALL_BASES = [
    PHS(3, poly_deg=2),
    IMQ(2.0, poly_deg=2),
    Gaussian(2.0, poly_deg=2),
    MQ(2.0, poly_deg=2),
]


@pytest.mark.parametrize("basis", ALL_BASES, ids=lambda b: type(b).__name__)
def test_bvp_exact_for_quadratics(disk, basis):
    """Lap u = const inside; Dirichlet on the upper half circle, Neumann on the lower-left
    and Robin on the lower-right quarter. With poly_deg 2 every row (one-sided boundary
    stencils included) is exact for a quadratic u, for every basis, so the rows applied
    to u must give the analytic data and the discrete solution must equal u up to
    round-off: an analytic reference with no discretization error."""
    p, nb, normals, adjl = disk
    u, g = _quad(p)
    dn = np.sum(g * normals, 1)
    upper = np.flatnonzero(p[:nb, 1] >= 0)
    neu = np.flatnonzero((p[:nb, 1] < 0) & (p[:nb, 0] < 0))
    rob = np.flatnonzero((p[:nb, 1] < 0) & (p[:nb, 0] >= 0))
    alpha = np.linspace(0.5, 2.0, len(p))
    beta = 0.7
    # the rows on their own (n.grad u and alpha u + beta n.grad u, exactly)
    w = np.asarray(neumann_rows(p, neu, normals, adjl, basis))
    np.testing.assert_allclose(np.sum(w * u[adjl[neu]], 1), dn[neu], rtol=1e-7, atol=1e-7)
    w = np.asarray(robin_rows(p, rob, normals, alpha, beta, adjl, basis))
    np.testing.assert_allclose(
        np.sum(w * u[adjl[rob]], 1), alpha[rob] * u[rob] + beta * dn[rob], rtol=1e-7, atol=1e-7
    )
    A = assemble(
        p,
        Laplacian(),
        interior=np.arange(nb, len(p)),
        dirichlet=upper,
        neumann=neu,
        robin=rob,
        normals=normals,
        alpha=alpha,
        beta=beta,
        basis=basis,
        adjl=adjl,
    )
    rhs = np.full(len(p), 2.0 - 1.0)  # u_xx + u_yy
    rhs[upper] = u[upper]
    rhs[neu] = dn[neu]
    rhs[rob] = alpha[rob] * u[rob] + beta * dn[rob]
    err = np.max(np.abs(np.asarray(linsolve(A, rhs)) - u))
    assert err < 1e-7, err


@pytest.mark.slow
def test_neumann_rules_points_normals(disk):
    p, nb, normals, adjl = disk
    rows = np.arange(0, nb, 5)
    u, _ = _quad(p)
    uj = jnp.asarray(u)

    def f(pts, nrm):
        w = neumann_rows(pts, rows, nrm, adjl, PHS(3, poly_deg=2))
        return jnp.sum(w * jnp.sin(uj)[adjl[rows]], 1)

    check_rules(f, jnp.asarray(p), jnp.asarray(normals), rtol=1e-5)


def test_bad_partition(disk):
    p, nb, normals, adjl = disk
    n = len(p)
    with pytest.raises(
        ValueError, match=r"nodes \[3\] \(1 in all\) are assigned more than one equation"
    ):
        assemble(
            p, Laplacian(), interior=np.arange(nb, n), dirichlet=np.r_[np.arange(nb), 3], adjl=adjl
        )
    with pytest.raises(ValueError, match=r"nodes \[0, 1\] \(2 in all\) have no equation"):
        assemble(p, Laplacian(), interior=np.arange(nb, n), dirichlet=np.arange(2, nb), adjl=adjl)
    with pytest.raises(ValueError, match=r"normals: Neumann/Robin rows need"):
        assemble(p, Laplacian(), interior=np.arange(nb, n), neumann=np.arange(nb), adjl=adjl)
    with pytest.raises(ValueError, match=r"normals: zero or non-finite normals at nodes \[60"):
        neumann_rows(p, [60], normals, adjl, PHS(3, poly_deg=2))
    bad = adjl.copy()
    bad[4] = adjl[np.argmax(np.linalg.norm(p - p[4], axis=1))]  # the farthest node's stencil
    with pytest.raises(ValueError, match=r"nodes \[4\] \(1 in all\) are not in their own stencils"):
        dirichlet_rows(np.arange(nb), bad)
