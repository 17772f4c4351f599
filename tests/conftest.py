"""Shared pytest fixtures. Helpers live in ``helpers.py``.

Importing ``rbfopt`` enables float64 in JAX, which every numeric test relies on.
"""

from __future__ import annotations

import numpy as np
import pytest

import rbfopt  # noqa: F401  (enables jax_enable_x64)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
