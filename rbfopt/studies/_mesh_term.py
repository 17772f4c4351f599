"""An optional loss term for users whose solver is a finite-element code: the shape of
the Delaunay triangles of the nodes (2-D).

Optimizing for RBF-FD clusters nodes, and the triangulation of clustered nodes has
small angles. The term penalizes triangles whose radius ratio ``2 r / R`` (inradius over
circumradius, 1 for equilateral, 0 when flat) falls below a floor ``rho0``:

    mean_T relu(rho0 - rho_T)^2,    rho_T = 16 A^2 / (a b c (a + b + c)),

with side lengths a, b, c and area A of triangle T. The triangles come from the host
(scipy's Delaunay, those with the centroid inside the domain and not flat) at each restencil, padded
to 2 N rows so that the step never recompiles.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import Delaunay


def cells(x: np.ndarray, domain: Any) -> tuple[np.ndarray, np.ndarray]:
    """Delaunay triangles of ``x`` inside ``domain``, padded to 2 N rows, and their mask."""
    tri = Delaunay(x).simplices
    tri = tri[np.asarray(domain.contains(x[tri].mean(axis=1)))]
    # flat triangles along straight boundaries (collinear boundary nodes) are no cells;
    # numpy here: eager JAX would compile once per triangle count, at every restencil
    tri = tri[radius_ratio(x, tri) > 1e-6]
    cap = 2 * len(x)
    mask = np.zeros(cap)
    mask[: len(tri)] = 1.0
    pad = np.repeat(tri[:1], cap - len(tri), axis=0)  # a valid triangle: finite gradients
    return np.concatenate([tri, pad])[:cap], mask


def radius_ratio(x: jax.Array | np.ndarray, tri: jax.Array | np.ndarray) -> jax.Array | np.ndarray:
    """``2 r / R`` of the triangles ``tri`` (m, 3) of the points ``x`` (n, 2); numpy in,
    numpy out."""
    xp = np if isinstance(x, np.ndarray) else jnp
    a, b, c = x[tri[:, 0]], x[tri[:, 1]], x[tri[:, 2]]
    la, lb, lc = (xp.linalg.norm(v, axis=1) for v in (b - c, c - a, a - b))
    e1, e2 = b - a, c - a
    area = 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    return 16 * area**2 / (la * lb * lc * (la + lb + lc))


def penalty(
    x: jax.Array, tri: jax.Array, mask: jax.Array, floor: float
) -> tuple[jax.Array, jax.Array]:
    """The mean penalty over the valid triangles (``mask`` 1) and their smallest radius
    ratio."""
    rho = radius_ratio(x, tri)
    m = mask
    value = jnp.sum(m * jax.nn.relu(floor - rho) ** 2) / jnp.sum(m)
    return value, jnp.min(jnp.where(m > 0, rho, 1.0))
