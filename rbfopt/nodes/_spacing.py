"""The target spacing: validation of a number or a callable h(x), and node-count estimates."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._util import check_int, point_values

Spacing = Callable[[np.ndarray], np.ndarray]


def as_spacing(spacing: Any, dim: int) -> tuple[Spacing, float | None]:
    """A checked host function h(x): (m, dim) -> (m,) and the constant value (or None).

    The callable's values are checked on every call (shape, finite, positive).
    """
    if callable(spacing):

        def h(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, dtype=np.float64).reshape(-1, dim)
            v = point_values("spacing", spacing, x)
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

# fraction of that density which generate() reaches at spacing h (its nearest-neighbour
# distances average h; measured on the L-shape and the unit cube, N = 10^4 - 10^6)
PACKING = 0.85


def spacing_for(domain: Any, n: int) -> float:
    """The constant spacing at which :func:`rbfopt.nodes.generate` gives about ``n`` nodes.

    From the domain's measure and the density of the generator's packing (about 0.85 of
    the hexagonal / face-centred cubic density at nearest-neighbour distance h).

    Examples:
      >>> import rbfopt as ro
      >>> sq = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]])
      >>> h = ro.nodes.spacing_for(sq, 2000)
      >>> bool(0.9 < len(ro.nodes.generate(sq, h)) / 2000 < 1.1)
      True
    """
    n = check_int("n", n, 1, what="node count")
    d = int(domain.dim)
    return float((domain.measure * PACKING * DENSITY[d] / n) ** (1 / d))
