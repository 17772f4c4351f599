"""Piecewise-linear coefficients along one grid axis.

Data ``f`` (shape (n, K)) ↦ coefficients ``c`` (shape (n-1, 2, K)) with
``p_j(t) = c_{j0} + c_{j1} t``, ``c_{j0} = f_j``, ``c_{j1} = (f_{j+1} - f_j) / h_j``
on ``t = x - x_j ∈ [0, h_j]``.  Linear in ``f``; its transpose scatters
``c̄_{j0} - c̄_{j1}/h_j`` to ``f_j`` and ``c̄_{j1}/h_j`` to ``f_{j+1}``.
"""

from __future__ import annotations

import jax.numpy as jnp

__all__ = ["linear_coefs"]


def linear_coefs(x, f):
    """Coefficients (n-1, 2, K) of the piecewise-linear interpolant of ``(x, f)``."""
    h = jnp.diff(x)
    return jnp.stack([f[:-1], jnp.diff(f, axis=0) / h[:, None]], axis=1)
