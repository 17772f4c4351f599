"""Domains: polygons (2-D), closed triangle surfaces (3-D) and mesh files.

Every domain (:class:`Domain`) offers ``dim``, ``bounds``, ``measure``,
``group_names``, ``features``, and the JAX-traceable queries ``sdf``, ``closest`` and
``contains``.
"""

from .base import Domain
from .from_mesh import from_mesh
from .polygon import Polygon
from .surface import Surface

__all__ = ["Domain", "Polygon", "Surface", "from_mesh"]
