"""The RBF-FD engine: stencil weights of any linear operator, and the operators built on them.

* :func:`build_weights` (:mod:`rbfopt.fd.weights`): batched local saddle-point solves
  (:mod:`rbfopt.fd._saddle`) with derivative rules in both modes;
* :class:`RBFOperator` and its constructors (:mod:`rbfopt.fd.operator`):
  ``laplacian``, ``partial``, ``gradient``, ..., ``regrid``;
* :func:`blended_weights` (:mod:`rbfopt.fd.blend`): weights continuous in the node
  positions (a blend over stencil sizes), for losses differentiated w.r.t. positions;
  :func:`tapered_weights`, the same continuity from one local solve;
* boundary rows and their assembly into a global system (:mod:`rbfopt.fd.boundary`).
"""

from .blend import blended_weights, tapered_weights
from .boundary import assemble, dirichlet_rows, interior_rows, neumann_rows, robin_rows
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
    "RBFOperator",
    "assemble",
    "blended_weights",
    "build_weights",
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
