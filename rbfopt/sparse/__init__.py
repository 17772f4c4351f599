"""Global sparse systems: :class:`StencilMatrix` and the differentiable :func:`linsolve`.

The module is ``rbfopt.sparse``; the function ``rbfopt.linsolve`` (= ``rbfopt.sparse.linsolve``)
no longer shadows a module of the same name. ``method="krylov"`` solves
matrix-free in JAX (:mod:`rbfopt.sparse.krylov`), preconditioned by Jacobi or by an
algebraic multigrid V-cycle set up with :func:`amg` (:mod:`rbfopt.sparse.amg`).
"""

from .amg import AMG, amg
from .krylov import KrylovResult, krylov
from .matrix import StencilMatrix
from .solve import AUTO_DIRECT_MAX, SINGULAR_TOL, clear_cache, linsolve

__all__ = [
    "AMG",
    "AUTO_DIRECT_MAX",
    "KrylovResult",
    "SINGULAR_TOL",
    "StencilMatrix",
    "amg",
    "clear_cache",
    "krylov",
    "linsolve",
]
