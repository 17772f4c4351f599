"""The target spacing: validation of a number or a callable h(x), and node-count estimates."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

Spacing = Callable[[np.ndarray], np.ndarray]


def as_spacing(spacing: Any, dim: int) -> tuple[Spacing, float | None]:
    """A checked host function h(x): (m, dim) -> (m,) and the constant value (or None).

    The callable's values are checked on every call (shape, finite, positive).
    """
    if callable(spacing):

        def h(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, dtype=np.float64).reshape(-1, dim)
            try:
                v = np.asarray(spacing(x), dtype=np.float64)
            except (TypeError, ValueError) as e:
                raise ValueError(f"spacing: the callable failed on points {x.shape}: {e}") from e
            if v.shape != (x.shape[0],):
                raise ValueError(
                    f"spacing: the callable must return shape ({x.shape[0]},) for points "
                    f"of shape {x.shape}, got {v.shape}"
                )
            bad = ~(np.isfinite(v) & (v > 0))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"spacing: the callable must return finite positive values; got {v[i]!r} "
                    f"at x = {x[i].tolist()} ({int(bad.sum())} bad values)"
                )
            return v

        return h, None
    try:
        c = float(spacing)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"spacing: expected a positive number or a callable, got {spacing!r}"
        ) from e
    if not (math.isfinite(c) and c > 0):
        raise ValueError(f"spacing: must be finite and positive, got {spacing!r}")
    return (lambda x: np.full(np.shape(x)[0], c)), c


# nodes per h^d at hexagonal (2-D) / face-centred cubic (3-D) packing
DENSITY = {1: 1.0, 2: 2 / math.sqrt(3), 3: math.sqrt(2)}
