"""rbfopt: a differentiable RBF-FD engine in JAX, and gradient-based optimization of
node layouts, RBF shape parameters and field values.

Importing ``rbfopt`` enables float64 in JAX (``jax_enable_x64``): RBF-FD local
systems are too ill-conditioned for float32, and derivative checks need it.
"""

import jax

jax.config.update("jax_enable_x64", True)

from . import testing  # noqa: E402

__version__ = "0.1.0"

__all__ = ["testing"]
