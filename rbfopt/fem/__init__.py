"""Finite elements: Lagrange P1 and P2 on triangles, assembled in JAX from vertex positions.

* :func:`space` (:mod:`rbfopt.fem.space`): the dofs of a triangle mesh and the sparsity
  of its matrices, once per connectivity (host side);
* :func:`stiffness`, :func:`mass`, :func:`load` (:mod:`rbfopt.fem.assemble`): traceable
  w.r.t. the vertices, in both modes; matrices for :func:`rbfopt.linsolve`;
* the reference elements and the quadrature (:mod:`rbfopt.fem.elements`).
"""

from .assemble import areas, lift_dirichlet, load, mass, stiffness
from .space import Space, space

__all__ = ["Space", "areas", "lift_dirichlet", "load", "mass", "space", "stiffness"]
