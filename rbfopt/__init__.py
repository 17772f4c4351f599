"""rbfopt: a differentiable RBF-FD engine in JAX, and gradient-based optimization of
node layouts, RBF shape parameters and field values.

Importing ``rbfopt`` enables float64 in JAX (``jax_enable_x64``): RBF-FD local
systems are too ill-conditioned for float32, and derivative checks need it.
"""

import jax

jax.config.update("jax_enable_x64", True)

from . import app as optimize  # noqa: E402  (ro.optimize: the application's public name)
from . import testing  # noqa: E402
from .basis import IMQ, MQ, PHS, Gaussian, RadialBasis  # noqa: E402
from .fd import (  # noqa: E402
    RBFOperator,
    assemble,
    build_weights,
    directional,
    dirichlet_rows,
    gradient,
    hessian,
    interior_rows,
    laplacian,
    mixed_partial,
    neumann_rows,
    partial,
    regrid,
    robin_rows,
    set_host_device_count,
)
from .fd.operator import operator  # noqa: E402
from .interp import Interpolator, interpolator_adjoint, loocv  # noqa: E402
from .operators import (  # noqa: E402
    Custom,
    Directional,
    Gradient,
    Hessian,
    Identity,
    Laplacian,
    MixedPartial,
    Operator,
    Partial,
)
from .polynomials import exponents, monomials, num_monomials  # noqa: E402
from .problem import Problem  # noqa: E402
from .sparse import StencilMatrix, linsolve  # noqa: E402
from .stencils import autoselect_k, find_neighbors  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "IMQ",
    "MQ",
    "PHS",
    "Gaussian",
    "RadialBasis",
    "Custom",
    "Directional",
    "Gradient",
    "Hessian",
    "Identity",
    "Laplacian",
    "MixedPartial",
    "Operator",
    "Partial",
    "exponents",
    "monomials",
    "num_monomials",
    "RBFOperator",
    "directional",
    "gradient",
    "hessian",
    "laplacian",
    "mixed_partial",
    "operator",
    "partial",
    "regrid",
    "autoselect_k",
    "find_neighbors",
    "build_weights",
    "set_host_device_count",
    "grid",
    "testing",
    "Interpolator",
    "interpolator_adjoint",
    "loocv",
    "StencilMatrix",
    "linsolve",
    "assemble",
    "dirichlet_rows",
    "interior_rows",
    "neumann_rows",
    "robin_rows",
    "optimize",
    "Problem",
]


def __getattr__(name: str):
    # ``ro.grid`` (independent of the RBF engine) and ``ro.sparse`` etc. load on first use.
    import importlib

    rooms = ("grid", "geometry", "nodes", "mesh", "studies", "fd", "interp", "sparse", "app")
    if name in rooms:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "NodeSet":
        return importlib.import_module(f"{__name__}.nodes").NodeSet
    if name in ("Dirichlet", "Neumann", "Robin"):
        return getattr(importlib.import_module(f"{__name__}.studies"), name)
    raise AttributeError(f"module 'rbfopt' has no attribute {name!r}")
