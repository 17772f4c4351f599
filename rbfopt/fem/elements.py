"""Lagrange P1 and P2 on the reference triangle, and the quadrature that integrates them.

Reference triangle (0, 0), (1, 0), (0, 1) with barycentric coordinates
``l0 = 1 - s - t``, ``l1 = s``, ``l2 = t``. Local degrees of freedom: the three
vertices, then for P2 the edge midpoints of (0, 1), (1, 2), (0, 2)
(:data:`EDGES`; one source of truth for that order). Shape functions:

* P1: ``phi_i = l_i``;
* P2: ``phi_i = l_i (2 l_i - 1)`` at vertex i, ``phi_e = 4 l_i l_j`` at edge (i, j).
"""

from __future__ import annotations

import numpy as np

__all__ = ["EDGES", "QUADRATURE", "conical_rule", "shape_values", "shape_gradients"]

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

#: Gradients of the barycentric coordinates on the reference triangle (3, 2).
_DL = np.array([[-1.0, -1.0], [1.0, 0.0], [0.0, 1.0]])


def shape_values(degree: int, bary: np.ndarray) -> np.ndarray:
    """Shape functions at barycentric points ``bary`` (q, 3): (q, n_local).

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
    """Reference gradients of the shape functions at ``bary`` (q, 3): (q, n_local, 2)."""
    q = bary.shape[0]
    if degree == 1:
        return np.broadcast_to(_DL, (q, 3, 2)).copy()
    vert = (4 * bary - 1)[:, :, None] * _DL[None]
    edge = [4 * (bary[:, j, None] * _DL[i] + bary[:, i, None] * _DL[j]) for i, j in EDGES]
    return np.concatenate([vert, np.stack(edge, axis=1)], axis=1)


def conical_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A collapsed (conical) Gauss rule on the triangle, exact to degree ``2 n - 2``:
    barycentric points (n^2, 3) and weights (n^2,) summing to 1 (times the area).

    The square ``(a, b) in [0, 1]^2`` maps onto the reference triangle by ``s = a``,
    ``t = b (1 - a)`` (Duffy), whose Jacobian ``1 - a`` raises the degree in ``a`` by
    one; ``n`` Gauss-Legendre points per direction integrate degree ``2 n - 1``. For
    integrands that are no polynomial (an error against a known solution) a rule of
    higher degree than the assembly's.

    Examples:
      >>> import numpy as np
      >>> from rbfopt.fem.elements import conical_rule
      >>> bary, w = conical_rule(3)  # exact to degree 4: the mean of s^2 t^2 is 1/90
      >>> bool(np.isclose(w @ (bary[:, 1] ** 2 * bary[:, 2] ** 2), 1 / 90))
      True
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected a positive int, got {n!r}")
    g, gw = np.polynomial.legendre.leggauss(int(n))
    g, gw = 0.5 * (g + 1.0), 0.5 * gw
    a, b = (v.ravel() for v in np.meshgrid(g, g, indexing="ij"))
    wa, wb = (v.ravel() for v in np.meshgrid(gw, gw, indexing="ij"))
    s, t = a, b * (1.0 - a)
    return np.stack([1.0 - s - t, s, t], axis=1), 2.0 * wa * wb * (1.0 - a)
