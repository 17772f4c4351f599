"""Global sparse systems: :class:`StencilMatrix` and the differentiable :func:`linsolve`.

The module is ``rbfopt.sparse``; the function ``rbfopt.linsolve`` (= ``rbfopt.sparse.linsolve``)
no longer shadows a module of the same name.
"""

from .matrix import StencilMatrix
from .solve import SINGULAR_TOL, clear_cache, linsolve

__all__ = ["SINGULAR_TOL", "StencilMatrix", "clear_cache", "linsolve"]
