"""Domains: polygons (2-D), closed triangle surfaces (3-D) and mesh files.

Every domain (:class:`Domain`) offers ``dim``, ``bounds``, ``measure``,
``group_names``, ``features``, and the JAX-traceable queries ``sdf``, ``closest`` and
``contains``.

How the queries work: a bounding-volume hierarchy of oriented boxes (``_bvh``), built
on the host once per domain, finds the exact closest segment or triangle of each
query in a batched depth-first walk (no all-pairs search; exact everywhere, also far
outside). The distance, closest point and normal are then computed on that element
in differentiable JAX (``_simplex``); the sign comes from the pseudo-normal of the
feature holding the closest point (Baerentzen & Aanaes 2005: face normal, edge
normal sum, angle-weighted vertex normal). Features are polygon vertices turning by
more than ``feature_angle`` (10 degrees; in a Gmsh mesh only where two CAD curves
meet) and, in 3-D, vertices on edges whose triangles' normals differ by more than
``feature_angle`` (30 degrees); vertices between two groups are features in both.
"""

from .base import Domain
from .from_mesh import from_mesh
from .polygon import Polygon
from .surface import Surface

__all__ = ["Domain", "Polygon", "Surface", "from_mesh"]
