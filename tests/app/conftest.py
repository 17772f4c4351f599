"""Fixtures of the application tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_compilation_cache(monkeypatch):
    """In-process ``rbfopt run`` calls leave the user's compilation cache alone (the
    cache itself is tested in subprocesses with a cache folder of their own)."""
    monkeypatch.setenv("RBFOPT_COMPILATION_CACHE", "0")
