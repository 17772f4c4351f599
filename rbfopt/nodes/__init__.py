"""Node generation on domains (:mod:`rbfopt.geometry`) and node-set quality figures.

* :func:`generate`: features, boundary nodes, then an advancing-front Poisson-disk fill
  of the interior (Slak & Kosec 2019) and a short repulsion, at a constant or variable
  target spacing; returns a :class:`NodeSet`.
* :func:`spacing_for`: the spacing that gives about n nodes.
* :func:`quality`: separation radius, fill distance, mesh ratio, spacing CV.
* :func:`projection`: the constraint of a node set under optimization (features fixed,
  boundary nodes sliding along the boundary, interior nodes kept inside).
* :func:`spatial_order`: a Hilbert-curve permutation (nearby nodes, nearby indices:
  node arrays split over devices by index blocks stay local).
"""

from ._generate import MAX_NODES, generate
from ._quality import quality
from ._spacing import spacing_for
from .constrain import projection
from .nodeset import NodeSet
from .order import spatial_order

__all__ = [
    "MAX_NODES",
    "NodeSet",
    "generate",
    "projection",
    "quality",
    "spacing_for",
    "spatial_order",
]
