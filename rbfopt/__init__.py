"""rbfopt: a differentiable RBF-FD engine in JAX, and gradient-based optimization of
node layouts, RBF shape parameters and field values.

Importing ``rbfopt`` enables float64 in JAX (``jax_enable_x64``): RBF-FD local
systems are too ill-conditioned for float32, and derivative checks need it. It also
appends the weight build's XLA:CPU options to ``XLA_FLAGS``. These process-wide
settings, and how to opt out of each, are in :mod:`rbfopt._config`.
"""

# _config first: float64 and XLA_FLAGS are set before anything starts JAX.
from ._config import set_host_device_count  # isort: skip
from . import app as optimize  # ro.optimize: the application's public name
from . import testing
from .basis import IMQ, MQ, PHS, Gaussian, RadialBasis
from .fd import (
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
)
from .fd.operator import operator
from .interp import Interpolator, interpolator_adjoint, local_loocv, loocv
from .operators import (
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
from .polynomials import exponents, monomials, num_monomials
from .problem import Problem
from .sparse import StencilMatrix, linsolve
from .stencils import autoselect_k, find_neighbors

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
    "local_loocv",
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

    rooms = ("grid", "geometry", "nodes", "mesh", "studies", "fd", "fem", "interp", "sparse", "app")
    if name in rooms:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "NodeSet":
        return importlib.import_module(f"{__name__}.nodes").NodeSet
    if name in ("Dirichlet", "Neumann", "Robin"):
        return getattr(importlib.import_module(f"{__name__}.studies"), name)
    raise AttributeError(f"module 'rbfopt' has no attribute {name!r}")
