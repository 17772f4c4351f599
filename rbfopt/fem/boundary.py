"""Boundary terms on the facets of a mesh (edges of triangles, triangles of tetrahedra):
Neumann and Robin data.

A facet from vertex ``a`` to ``b`` is ``x(t) = a + t (b - a)``, ``t in [0, 1]``, of
length ``|b - a|``; its outward normal is ``(b - a)`` turned clockwise (facets run
counter-clockwise around the domain, as :func:`rbfopt.mesh.triangulate` orients
them). The traces of the shape functions on it are 1-D Lagrange P1 / P2 in ``t``
(vertex a, vertex b, then for P2 the midpoint). With Gauss-Legendre points ``t_q``:

    b_a  += sum_q w_q |b - a| g(x_q, n) psi_a(t_q)              (Neumann, Robin data)
    K_ab += sum_q w_q |b - a| c psi_a(t_q) psi_b(t_q)          (Robin, c = alpha / beta)

Facet dofs ``fdofs`` (F, 2 or 3): the two vertices, then the edge's P2 dof.

In 3-D a facet is a triangle ``a, b, c`` with outward normal along
``(b - a) x (c - a)`` (:func:`rbfopt.mesh.triangulate` orders them so), area
``|(b - a) x (c - a)| / 2``, P1 traces the barycentric coordinates, and the rule is
:func:`~rbfopt.fem.elements.conical_rule` ``(4)`` (16 points, exact to degree 6).
Traceable w.r.t. the vertices; :func:`facet_slots` (host side) places the facet
matrix entries in a :class:`~rbfopt.fem.space.Space`'s rows.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..sparse.matrix import StencilMatrix
from .assemble import scatter
from .elements import conical_rule
from .space import Space

__all__ = ["facet_geometry", "facet_load", "facet_mass", "facet_slots"]


def _traces(degree: int, t: np.ndarray) -> np.ndarray:
    if t.ndim == 2:  # barycentric points on a triangle facet (P1)
        return t
    if degree == 1:
        return np.stack([1 - t, t], axis=1)
    return np.stack([(1 - t) * (1 - 2 * t), t * (2 * t - 1), 4 * t * (1 - t)], axis=1)


def _gauss(n: int) -> tuple[np.ndarray, np.ndarray]:
    t, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (t + 1), 0.5 * w


#: Gauss-Legendre on [0, 1], 4 points (exact to degree 7): the one rule of the edges.
_T, _W = _gauss(4)
#: The one rule of the triangle facets: barycentric points (16, 3) and weights.
_TRI_BARY, _TRI_W = conical_rule(4)


def _rule(points: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """The facet rule of a mesh with vertices ``points``: edges in 2-D, triangles in 3-D."""
    return (_T, _W) if jnp.shape(points)[1] == 2 else (_TRI_BARY, _TRI_W)


def facet_geometry(points: jax.Array, fdofs: jax.Array):
    """Quadrature points (F, q, d), outward normals (F, d) and weights times measure
    (F, q) of the facets."""
    x = jnp.asarray(points)
    if x.shape[1] == 3:
        corners = x[fdofs[:, :3]]  # (F, 3, 3)
        cross = jnp.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        twice = jnp.sqrt(jnp.sum(cross**2, axis=1))
        xq = jnp.einsum("qv,fvd->fqd", jnp.asarray(_TRI_BARY), corners)
        return xq, cross / twice[:, None], 0.5 * twice[:, None] * jnp.asarray(_TRI_W)[None]
    a, b = x[fdofs[:, 0]], x[fdofs[:, 1]]
    d = b - a
    length = jnp.sqrt(jnp.sum(d**2, axis=1))
    normal = jnp.stack([d[:, 1], -d[:, 0]], axis=1) / length[:, None]
    xq = a[:, None] + jnp.asarray(_T)[None, :, None] * d[:, None]
    return xq, normal, length[:, None] * jnp.asarray(_W)[None]


def facet_load(
    sp: Space, points: jax.Array, fdofs: jax.Array, data: Callable, weight: jax.Array
) -> jax.Array:
    """``int_facet g psi_a`` summed into a vector (n_dofs,): ``data(x, n)`` maps points
    (m, d) and normals (m, d) to values (m,); ``weight`` (F,) scales each facet (0 for
    padding, 1 / beta for Robin)."""
    xq, normal, jw = facet_geometry(points, fdofs)
    f, q = jw.shape
    nq = jnp.broadcast_to(normal[:, None], xq.shape)
    g = data(xq.reshape(f * q, -1), nq.reshape(f * q, -1)).reshape(f, q)
    psi = jnp.asarray(_traces(sp.degree, _rule(points)[0]))
    local = jnp.einsum("fq,qa->fa", jw * g, psi) * weight[:, None]
    return jnp.zeros(sp.n_dofs, local.dtype).at[fdofs].add(local)


def facet_mass(
    sp: Space,
    A: StencilMatrix,
    points: jax.Array,
    fdofs: jax.Array,
    slots: jax.Array,
    coef: jax.Array,
) -> StencilMatrix:
    """``A`` plus ``coef_f int_facet psi_a psi_b`` (``coef`` (F,), 0 for padding) in the
    slots from :func:`facet_slots`."""
    _, _, jw = facet_geometry(points, fdofs)
    psi = jnp.asarray(_traces(sp.degree, _rule(points)[0]))
    local = jnp.einsum("fq,qa,qb->fab", jw, psi, psi) * coef[:, None, None]
    return StencilMatrix(scatter(A.values, fdofs, slots, local), A.adjl)


def facet_slots(sp: Space, fdofs: np.ndarray) -> np.ndarray:
    """Where each facet entry (a, b) lands in row a of the space's matrices (F, m, m)."""
    adjl = np.asarray(sp.adjl)
    fdofs = np.asarray(fdofs)
    hit = adjl[fdofs][:, :, None, :] == fdofs[:, None, :, None]  # (F, m, m, width)
    if not np.all(hit.any(axis=-1)):
        raise ValueError("fdofs: facet dofs that share no cell")
    return np.argmax(hit, axis=-1)
