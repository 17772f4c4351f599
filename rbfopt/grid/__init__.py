"""Rectilinear-grid interpolation with query-baked adjoints (``ro.grid``).

* :func:`linear_interp`, :func:`cubic_interp` — 1-D and N-D tensor-product
  interpolants (pytrees; ``itp(xq, deriv=0)``), real or complex data with trailing
  batch axes, float32/float64 grids.
* Boundary conditions :class:`CubicFit` (default), :class:`NotAKnot`,
  :class:`Natural`, :class:`Deriv1`, :class:`Deriv2`, :class:`Periodic`.
* Extrapolation :class:`NoExtrap` (default), :class:`ExtendExtrap`,
  :class:`ClampExtrap`, :class:`FillExtrap`, :class:`WrapExtrap`.
* :func:`linear_adjoint`, :func:`cubic_adjoint` — data-free ``Wᵀ`` for fixed queries:
  ``adj(ybar, deriv=0)``, ``adj.matrix(deriv=0)``, ``adj.shape``.
"""

from .adjoint import GridAdjoint, cubic_adjoint, linear_adjoint
from .bc import CubicFit, Deriv1, Deriv2, Natural, NotAKnot, Periodic
from .extrap import ClampExtrap, ExtendExtrap, FillExtrap, NoExtrap, WrapExtrap
from .interpolant import GridInterpolant, cubic_interp, linear_interp

__all__ = [
    "linear_interp",
    "cubic_interp",
    "linear_adjoint",
    "cubic_adjoint",
    "GridInterpolant",
    "GridAdjoint",
    "CubicFit",
    "NotAKnot",
    "Natural",
    "Deriv1",
    "Deriv2",
    "Periodic",
    "NoExtrap",
    "ExtendExtrap",
    "ClampExtrap",
    "FillExtrap",
    "WrapExtrap",
]
