"""Node generation on domains (:mod:`rbfopt.geometry`) and node-set quality figures.

* :func:`generate`: features, boundary nodes, then an advancing-front Poisson-disk fill
  of the interior (Slak & Kosec 2019) and a short repulsion, at a constant or variable
  target spacing; returns a :class:`NodeSet`.
* :func:`quality`: separation radius, fill distance, mesh ratio, spacing CV.
"""

from ._generate import MAX_NODES, generate
from ._quality import quality
from .nodeset import NodeSet

__all__ = ["MAX_NODES", "NodeSet", "generate", "quality"]
