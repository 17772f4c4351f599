"""Quality figures of a node set: separation, fill distance, mesh ratio, spacing CV."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from ._generate import _sdf
from ._spacing import as_spacing


def quality(
    points: Any, domain: Any, spacing: Any = None, *, samples: int = 200_000, seed: int = 0
) -> dict[str, float]:
    """Separation radius, fill distance, mesh ratio and spacing CV of ``points``.

    Args:
      points: (n, d) nodes (n >= 2).
      domain: the domain they fill (for the fill-distance sample).
      spacing: the target spacing (number or callable h(x)); when given, ``spacing_cv``
        is the CV of the nearest-neighbour distances divided by h at each node.
      samples: about how many sample points of the domain's bounding box the fill
        distance is measured on (a jittered grid, the points outside dropped).
      seed: seed of the jitter.

    Returns:
      dict with ``n``, ``separation`` (q: half the minimum pairwise distance),
      ``fill_distance`` (h: the largest distance from a sample point of the domain to
      its nearest node), ``mesh_ratio`` (h / q) and ``spacing_cv`` (std / mean of the
      nearest-neighbour distances, relative to the target spacing when given).

    Examples:
      >>> import numpy as np, rbfopt as ro
      >>> from rbfopt.nodes import quality
      >>> sq = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]])
      >>> g = np.stack(np.meshgrid(*[np.linspace(0, 1, 5)] * 2), -1).reshape(-1, 2)
      >>> q = quality(g, sq, samples=10_000)
      >>> q["separation"], q["spacing_cv"], round(q["fill_distance"], 2)
      (0.125, 0.0, 0.18)
    """
    x = np.asarray(points, dtype=np.float64)
    d = int(domain.dim)
    if x.ndim != 2 or x.shape[1] != d or x.shape[0] < 2:
        raise ValueError(f"points: expected shape (n >= 2, {d}), got {x.shape}")
    tree = cKDTree(x)
    nn, _ = tree.query(x, k=2, workers=-1)
    nn = nn[:, 1]
    q = 0.5 * float(nn.min())
    # fill distance on a jittered grid of the bounding box, inside points only
    lo, hi = np.asarray(domain.bounds, dtype=np.float64)
    ext = hi - lo
    step = (float(np.prod(ext)) / samples) ** (1 / d)
    axes = [np.arange(lo[k] + step / 2, hi[k], step) for k in range(d)]
    g = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)
    rng = np.random.default_rng(seed)
    g = g + (rng.random(g.shape) - 0.5) * step
    g = g[_sdf(domain, g) <= 0]
    fill = float(tree.query(g, workers=-1)[0].max()) if len(g) else float("nan")
    if spacing is None:
        r = nn
    else:
        hfun, _ = as_spacing(spacing, d)
        r = nn / hfun(x)
    return {
        "n": int(len(x)),
        "separation": q,
        "fill_distance": fill,
        "mesh_ratio": fill / q if q > 0 else float("inf"),
        "spacing_cv": float(np.std(r) / np.mean(r)),
    }
