"""Study builders: a node-layout study from a domain, an operator and boundary conditions.

* :func:`node_layout`: returns an :class:`rbfopt.Problem` (nodes generated on the
  domain, a loss with an exact or a reference objective, constraints, a report).
* :class:`Dirichlet`, :class:`Neumann`, :class:`Robin`: the condition of a boundary group.
"""

from .conditions import Dirichlet, Neumann, Robin, data_values
from .node_layout import DEFAULTS, TUNING, node_layout, reference_solution

__all__ = [
    "DEFAULTS",
    "Dirichlet",
    "Neumann",
    "Robin",
    "TUNING",
    "data_values",
    "node_layout",
    "reference_solution",
]
