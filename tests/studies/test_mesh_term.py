"""The mesh-quality term: radius ratios against hand values, its derivatives against
finite differences, and its effect on a short run (the triangles' worst ratio rises)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rbfopt as ro
from rbfopt.studies import _mesh_term


def test_radius_ratio_by_hand():
    x = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.5, 3**0.5 / 2], [0.0, 1.0], [3.0, 0.01]])
    tri = jnp.array([[0, 1, 2], [0, 1, 3], [0, 1, 4]])
    rho = np.asarray(_mesh_term.radius_ratio(x, tri))
    # equilateral: 1; right isosceles (legs 1): 2 r / R = 2 (2 - sqrt 2) / 2 / (sqrt 2 / 2)
    assert np.allclose(rho[:2], [1.0, 2 * np.sqrt(2) - 2], atol=1e-14)
    assert 0 < rho[2] < 0.01  # a sliver


def test_penalty_derivatives():
    x = jnp.asarray(np.random.default_rng(0).random((30, 2)))
    sq = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]])
    tri, mask = (jnp.asarray(a) for a in _mesh_term.cells(np.asarray(x), sq))
    assert int(mask.sum()) > 20 and tri.shape == (60, 3)
    ro.testing.check_rules(
        lambda z: _mesh_term.penalty(z, tri, mask, 0.9)[0], x, rtol=1e-5, eps=1e-6
    )


@pytest.mark.slow
def test_mesh_weight_raises_the_worst_triangle():
    sq = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]])

    def u(x):
        return jnp.exp(-jnp.sum((x - 0.3) ** 2) / 0.02)

    runs = {}
    for w in (0.0, 1000.0):
        prob = ro.studies.node_layout(
            sq,
            source=lambda x: jnp.trace(jax.hessian(u)(x)),
            bcs={"outer": ro.Dirichlet(u)},
            n=300,
            objective="exact",
            exact=u,
            mesh_weight=w,
        )
        res = ro.optimize.run(prob, "adam", 30, lr=0.04, restencil_every=1, progress=False)
        x = np.asarray(prob.to_mesh(res.last_params).points[:, :2])
        runs[w] = np.min(np.asarray(_mesh_term.radius_ratio(x, _mesh_term.cells(x, sq)[0])))
    assert runs[1000.0] > runs[0.0] + 0.1, runs


def test_3d_is_refused():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    tet = ro.geometry.Surface(v, [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    with pytest.raises(ValueError, match="mesh_weight: the mesh-quality term is for 2-D"):
        ro.studies.node_layout(
            tet, source=lambda x: 0.0, bcs={"outer": ro.Dirichlet(0.0)}, n=50, mesh_weight=1.0
        )
