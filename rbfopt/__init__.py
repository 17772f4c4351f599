"""rbfopt: a differentiable RBF-FD engine in JAX, and gradient-based optimization of
node layouts, RBF shape parameters and field values.

Importing ``rbfopt`` enables float64 in JAX (``jax_enable_x64``): RBF-FD local
systems are too ill-conditioned for float32, and derivative checks need it.
"""

import jax

jax.config.update("jax_enable_x64", True)

from . import optimize, testing  # noqa: E402  (plotting/export/cli stay lazy)
from .basis import IMQ, MQ, PHS, Gaussian, RadialBasis  # noqa: E402
from .boundary import (  # noqa: E402
    assemble,
    dirichlet_rows,
    interior_rows,
    neumann_rows,
    robin_rows,
)
from .interpolation import Interpolator, interpolator_adjoint, loocv  # noqa: E402
from .linsolve import StencilMatrix, linsolve  # noqa: E402
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
from .optimize import Problem  # noqa: E402
from .polynomials import exponents, monomials, num_monomials  # noqa: E402
from .rbffd import (  # noqa: E402
    RBFOperator,
    directional,
    gradient,
    hessian,
    laplacian,
    mixed_partial,
    operator,
    partial,
    regrid,
)
from .stencils import autoselect_k, find_neighbors  # noqa: E402
from .weights import build_weights, set_host_device_count  # noqa: E402

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
    # ``ro.grid`` is imported on first use: it is independent of the RBF engine.
    if name == "grid":
        import importlib

        return importlib.import_module(".grid", __name__)
    raise AttributeError(f"module 'rbfopt' has no attribute {name!r}")
