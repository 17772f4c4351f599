"""Lagrange P1 and P2 on the reference triangle, P1 on the reference tetrahedron, and
the quadrature that integrates them.

Reference simplex: the origin and the unit vectors, with barycentric coordinates
``l0 = 1 - sum_k s_k``, ``l_k = s_k``. Local degrees of freedom: the d + 1 vertices,
then for P2 (triangles) the edge midpoints of (0, 1), (1, 2), (0, 2) (:data:`EDGES`;
one source of truth for that order). Shape functions:

* P1: ``phi_i = l_i``;
* P2: ``phi_i = l_i (2 l_i - 1)`` at vertex i, ``phi_e = 4 l_i l_j`` at edge (i, j).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "EDGES",
    "QUADRATURE",
    "TET_QUADRATURE",
    "conical_rule",
    "quadrature",
    "shape_gradients",
    "shape_values",
]

#: The P2 edge dofs' vertex pairs, in local order after the three vertex dofs.
EDGES = ((0, 1), (1, 2), (0, 2))

_A, _B = 0.445948490915965, 0.108103018168070
_C, _D = 0.091576213509771, 0.816847572980459
_WA, _WC = 0.223381589678011, 0.109951743655322

#: Dunavant's 6-point rule, exact to degree 4 (a P2 mass matrix, a P2 load with a
#: quadratic source): barycentric points (q, 3) and weights (q,) summing to 1 (times
#: the element's area).
QUADRATURE = (
    np.array([[_A, _A, _B], [_A, _B, _A], [_B, _A, _A], [_C, _C, _D], [_C, _D, _C], [_D, _C, _C]]),
    np.array([_WA] * 3 + [_WC] * 3),
)

_E, _F = 0.585410196624968, 0.138196601125011

#: Keast's 4-point rule on the tetrahedron, exact to degree 2 (a P1 mass matrix, a P1
#: load with a linear source): barycentric points (4, 4), weights summing to 1.
TET_QUADRATURE = (np.full((4, 4), _F) + (_E - _F) * np.eye(4), np.full(4, 0.25))


def quadrature(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The assembly rule of the ``dim``-simplex: :data:`QUADRATURE` (triangles) or
    :data:`TET_QUADRATURE`."""
    return QUADRATURE if dim == 2 else TET_QUADRATURE


def _dl(dim: int) -> np.ndarray:
    """Gradients of the barycentric coordinates on the reference simplex (dim + 1, dim)."""
    return np.concatenate([-np.ones((1, dim)), np.eye(dim)])


def shape_values(degree: int, bary: np.ndarray) -> np.ndarray:
    """Shape functions at barycentric points ``bary`` (q, d + 1): (q, n_local).

    Examples:
      >>> import numpy as np
      >>> from rbfopt.fem.elements import shape_values
      >>> shape_values(2, np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])).round(12) + 0.0
      array([[1., 0., 0., 0., 0., 0.],
             [0., 0., 0., 1., 0., 0.]])
    """
    if degree == 1:
        return bary.copy()
    vert = bary * (2 * bary - 1)
    edge = np.stack([4 * bary[:, i] * bary[:, j] for i, j in EDGES], axis=1)
    return np.concatenate([vert, edge], axis=1)


def shape_gradients(degree: int, bary: np.ndarray) -> np.ndarray:
    """Reference gradients of the shape functions at ``bary`` (q, d + 1): (q, n_local, d)."""
    q, d = bary.shape[0], bary.shape[1] - 1
    dl = _dl(d)
    if degree == 1:
        return np.broadcast_to(dl, (q, d + 1, d)).copy()
    vert = (4 * bary - 1)[:, :, None] * dl[None]
    edge = [4 * (bary[:, j, None] * dl[i] + bary[:, i, None] * dl[j]) for i, j in EDGES]
    return np.concatenate([vert, np.stack(edge, axis=1)], axis=1)


def conical_rule(n: int, dim: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A collapsed (conical) Gauss rule on the triangle (``dim=2``, exact to degree
    ``2 n - 2``) or the tetrahedron (``dim=3``, exact to degree ``2 n - 3``):
    barycentric points (n^dim, dim + 1) and weights (n^dim,) summing to 1 (times the
    measure).

    The cube ``(a, b, c) in [0, 1]^dim`` maps onto the reference simplex by ``s = a``,
    ``t = b (1 - a)``, ``u = c (1 - a) (1 - b)`` (Duffy), whose Jacobian
    ``(1 - a)^(dim - 1) (1 - b)^(dim - 2)`` raises the degree in ``a`` by dim - 1;
    ``n`` Gauss-Legendre points per direction integrate degree ``2 n - 1``. For
    integrands that are no polynomial (an error against a known solution) a rule of
    higher degree than the assembly's.

    Examples:
      >>> import numpy as np
      >>> from rbfopt.fem.elements import conical_rule
      >>> bary, w = conical_rule(3)  # exact to degree 4: the mean of s^2 t^2 is 1/90
      >>> bool(np.isclose(w @ (bary[:, 1] ** 2 * bary[:, 2] ** 2), 1 / 90))
      True
      >>> bary, w = conical_rule(3, dim=3)  # degree 3: the mean of s t u is 1/120
      >>> bool(np.isclose(w @ np.prod(bary[:, 1:], axis=1), 1 / 120))
      True
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    if dim not in (2, 3):
        raise ValueError(f"dim: expected 2 or 3, got {dim!r}")
    g, gw = np.polynomial.legendre.leggauss(int(n))
    g, gw = 0.5 * (g + 1.0), 0.5 * gw
    abc = [v.ravel() for v in np.meshgrid(*[g] * dim, indexing="ij")]
    weight = np.prod([v.ravel() for v in np.meshgrid(*[gw] * dim, indexing="ij")], axis=0)
    coords, rest = [], np.ones_like(abc[0])
    for k, a in enumerate(abc):
        coords.append(a * rest)
        weight = weight * (1.0 - a) ** (dim - 1 - k)
        rest = rest * (1.0 - a)
    s = np.stack(coords, axis=1)
    return np.c_[1.0 - s.sum(axis=1), s], weight * (2.0 if dim == 2 else 6.0)
