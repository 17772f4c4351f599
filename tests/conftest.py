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


@pytest.fixture(autouse=True)
def _no_compilation_cache(monkeypatch):
    """In-process ``rbfopt run`` calls (tests/app, tests/studies) leave the user's
    compilation cache alone; the cache itself is tested in subprocesses with a cache
    folder of their own (tests/core/test_config.py, tests/app/test_compile_cache.py)."""
    monkeypatch.setenv("RBFOPT_COMPILATION_CACHE", "0")
