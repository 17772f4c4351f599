"""Test helpers shared across the suite: point sets and numeric comparisons.

Import as ``from helpers import scattered, rel_err`` (``tests/`` is on ``pythonpath``).
"""

from __future__ import annotations

import numpy as np


def halton(n: int, d: int, skip: int = 20) -> np.ndarray:
    """First ``n`` points (after ``skip``) of the Halton sequence in [0, 1)^d."""
    primes = (2, 3, 5)[:d]
    out = np.empty((n, d))
    for j, b in enumerate(primes):
        for i in range(n):
            k, f, x = i + skip + 1, 1.0, 0.0
            while k > 0:
                f /= b
                x += f * (k % b)
                k //= b
            out[i, j] = x
    return out


def scattered(n: int, d: int, seed: int = 0, lo: float = 0.0, hi: float = 1.0) -> np.ndarray:
    """``n`` quasi-uniform scattered points in [lo, hi]^d: a jittered Halton set.

    The jitter (a fraction of the typical spacing) keeps the set irregular while
    avoiding near-coincident points.
    """
    rng = np.random.default_rng(seed)
    h = n ** (-1.0 / d)
    x = halton(n, d) + 0.15 * h * rng.uniform(-1, 1, (n, d))
    return lo + (hi - lo) * x


def jittered_grid(m: int, d: int, seed: int = 0, jitter: float = 0.25) -> np.ndarray:
    """A tensor grid of ``m`` points per axis on [0, 1]^d, each node moved by up to
    ``jitter`` times the spacing in every coordinate."""
    rng = np.random.default_rng(seed)
    g = np.linspace(0.0, 1.0, m)
    x = np.stack(np.meshgrid(*([g] * d), indexing="ij"), axis=-1).reshape(-1, d)
    h = 1.0 / (m - 1)
    return x + jitter * h * rng.uniform(-1, 1, x.shape)


def rel_err(approx, exact, floor: float = 1.0) -> float:
    """max |approx - exact| / max(floor, max |exact|)."""
    approx, exact = np.asarray(approx, dtype=float), np.asarray(exact, dtype=float)
    return float(np.max(np.abs(approx - exact)) / max(floor, float(np.max(np.abs(exact)))))
