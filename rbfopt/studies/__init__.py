"""Study builders: a node-layout study from a domain, an operator and boundary conditions.

* :func:`node_layout`: returns an :class:`rbfopt.Problem` (nodes generated on the
  domain, a loss with an exact or a reference objective, constraints, a report) of
  ``L u = source`` with one condition per boundary group;
* :class:`LayoutOptions`: its typed options;
* :func:`shape_parameter`: a study of ``eps`` and ``smoothing`` by leave-one-out
  cross-validation on the user's data, :func:`tune` its minimizer;
* :class:`Discretization`, :func:`family`: the family of RBF-FD discretizations whose
  mean log error a layout study minimizes;
* :class:`Dirichlet`, :class:`Neumann`, :class:`Robin` (from :mod:`rbfopt.fd`): the
  condition of a boundary group.
"""

from ..fd.conditions import Dirichlet, Neumann, Robin, data_values
from .family import Discretization, family, sizes_from_text
from .node_layout import DEFAULTS, node_layout, reference_solution
from .options import LayoutOptions
from .shape_parameter import shape_parameter, tune

__all__ = [
    "DEFAULTS",
    "Dirichlet",
    "Discretization",
    "LayoutOptions",
    "Neumann",
    "Robin",
    "data_values",
    "family",
    "node_layout",
    "reference_solution",
    "shape_parameter",
    "sizes_from_text",
    "tune",
]
