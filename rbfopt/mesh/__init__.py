"""Meshes of node sets: what a finite-element code reads.

* :func:`triangulate` (:mod:`rbfopt.mesh.tagged`): Delaunay triangles (2-D) or
  tetrahedra (3-D) of the nodes restricted to the domain, boundary facets tagged with
  the domain's group names;
* :func:`quality` (:mod:`rbfopt.mesh.quality`): angles and radius ratios of the cells;
* :func:`node_cloud`, :func:`delaunay`, :func:`write` (:mod:`rbfopt.mesh.io`): node sets
  as vertex clouds, plain triangulations, and atomic Gmsh/VTU/XDMF writing.
"""

from .io import FORMATS, delaunay, local_spacing, node_cloud, write
from .quality import quality
from .tagged import triangulate

__all__ = ["FORMATS", "delaunay", "local_spacing", "node_cloud", "quality", "triangulate", "write"]
