"""The RBF-FD engine: stencil weights of any linear operator, and the operators built on them.

* :func:`build_weights` (:mod:`rbfopt.fd.weights`): batched local saddle-point solves
  (:mod:`rbfopt.fd._saddle`) with derivative rules in both modes;
* :class:`RBFOperator` and its constructors (:mod:`rbfopt.fd.operator`):
  ``laplacian``, ``partial``, ``gradient``, ..., ``regrid``;
* :func:`blended_weights` (:mod:`rbfopt.fd.blend`): weights continuous in the node
  positions (a blend over stencil sizes), for losses differentiated w.r.t. positions;
  :func:`tapered_weights`, the same continuity from one local solve;
* :func:`nested_weights` (:mod:`rbfopt.fd.nested`): the weights of several stencil
  sizes on the same neighbours from one factorization (:mod:`rbfopt.fd._nested`);
* boundary conditions (:mod:`rbfopt.fd.conditions`: :class:`Dirichlet`, :class:`Neumann`,
  :class:`Robin`), boundary rows and the one assembly of a global system with its
  right-hand side (:mod:`rbfopt.fd.boundary`).
"""

from .blend import blended_weights, tapered_weights
from .boundary import (
    assemble,
    condition_rows,
    dirichlet_rows,
    interior_rows,
    neumann_rows,
    right_hand_side,
    robin_rows,
)
from .conditions import Condition, Dirichlet, Neumann, Robin, data_values
from .nested import nested_weights
from .operator import (
    RBFOperator,
    directional,
    gradient,
    hessian,
    laplacian,
    mixed_partial,
    partial,
    regrid,
)
from .weights import build_weights, check_inputs, set_host_device_count

__all__ = [
    "Condition",
    "Dirichlet",
    "Neumann",
    "RBFOperator",
    "Robin",
    "condition_rows",
    "data_values",
    "right_hand_side",
    "assemble",
    "blended_weights",
    "build_weights",
    "nested_weights",
    "check_inputs",
    "dirichlet_rows",
    "directional",
    "gradient",
    "hessian",
    "interior_rows",
    "laplacian",
    "mixed_partial",
    "neumann_rows",
    "partial",
    "regrid",
    "robin_rows",
    "set_host_device_count",
    "tapered_weights",
]
