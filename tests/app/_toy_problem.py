"""Toy node-layout study for the driver/CLI tests: make an RBF-FD Laplacian consistent.

Nodes in the unit square (corners fixed); the loss is the mean squared consistency
error of the PHS3 + linear RBF-FD Laplacian on ``g = sin(2x) cos(y)`` plus a spacing
barrier; the loss returns ``(value, metrics)``. Stencils are refreshed by
``restencil`` (jit inputs). Small and quick to compile: used by tests only.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

import rbfopt as ro
from rbfopt.mesh import node_cloud
from rbfopt.problem import Problem

DEFAULTS = {"steps": 8, "optimizer": "adam", "lr": 0.01, "restencil_every": 3}


def problem(n: int = 25, seed: int = 0, nan_after: float = 0.0) -> Problem:
    """``nan_after`` > 0 makes the loss NaN once any node leaves x < nan_after (tests)."""
    if n < 9:
        raise ValueError(f"n: need at least 9 nodes, got {n}")
    rng = np.random.default_rng(seed)
    corners = jnp.asarray([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    x0 = rng.uniform(0.1, 0.9, (n - 4, 2))
    basis = ro.PHS(3, poly_deg=1)
    k = 8

    def nodes(p):
        return jnp.concatenate([corners, p["x"]], 0)

    def g(X):
        return jnp.sin(2 * X[:, 0]) * jnp.cos(X[:, 1])

    def lap_g(X):
        return -5.0 * g(X)

    def loss(p, aux):
        X = nodes(p)
        op = ro.laplacian(X, basis=basis, adjl=aux)
        err = jnp.mean((op(g(X)) - lap_g(X)) ** 2)
        d = jnp.sqrt(jnp.sum((X[:, None] - X[aux[:, 1:]]) ** 2, -1))
        val = jnp.log(err) + jnp.sum(jnp.maximum(0.0, 1 - d / 0.05) ** 2)
        if nan_after > 0:
            val = jnp.where(jnp.max(p["x"][:, 0]) > nan_after, jnp.nan, val)
        return val, {"min_spacing": jnp.min(d)}  # metrics from the same evaluation

    def restencil(p):
        return jnp.asarray(ro.find_neighbors(np.asarray(nodes(p)), k))

    def to_mesh(p):
        X = np.asarray(nodes(p))
        flags = np.zeros(len(X), np.int32)
        flags[:4] = 1
        return node_cloud(X, {"g": np.asarray(g(jnp.asarray(X)))}, boundary=flags)

    return Problem(
        name="toy",
        init=lambda: {"x": jnp.asarray(x0)},
        loss=loss,
        project=lambda p: {"x": jnp.clip(p["x"], 0.02, 0.98)},
        restencil=restencil,
        to_mesh=to_mesh,
        inside=lambda c: np.all((c > 0) & (c < 1), axis=1),
        options=dict(n=n, seed=seed, nan_after=nan_after),
    )
