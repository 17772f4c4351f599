"""Finite elements: Lagrange P1 and P2 on triangles, P1 on tetrahedra, assembled in JAX
from vertex positions.

* :func:`space` (:mod:`rbfopt.fem.space`): the dofs of a simplex mesh and the sparsity
  of its matrices, once per connectivity (host side);
* :func:`stiffness`, :func:`mass`, :func:`load` (:mod:`rbfopt.fem.assemble`): traceable
  w.r.t. the vertices, in both modes; matrices for :func:`rbfopt.linsolve`;
* :func:`errors` (:mod:`rbfopt.fem.error`): L2 and H1-seminorm errors against a known
  solution, traceable (a mesh study's objective);
* facet terms for Neumann and Robin data (:mod:`rbfopt.fem.boundary`);
* :func:`check_cells`: inverted or zero-measure cells of a user's mesh, named;
* the reference elements and the quadrature (:mod:`rbfopt.fem.elements`).
"""

from .assemble import areas, lift, lift_dirichlet, load, mass, stiffness
from .error import errors
from .space import Space, check_cells, space

__all__ = [
    "Space",
    "areas",
    "check_cells",
    "errors",
    "lift",
    "lift_dirichlet",
    "load",
    "mass",
    "space",
    "stiffness",
]
