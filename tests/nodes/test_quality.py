"""quality() against brute-force numpy/scipy figures."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

import rbfopt as ro
from rbfopt.nodes import quality


@pytest.fixture(scope="module")
def square():
    return ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]])


def test_against_brute_force(square):
    rng = np.random.default_rng(7)
    x = rng.random((60, 2))
    q = quality(x, square, samples=40_000)
    d = cdist(x, x)
    np.fill_diagonal(d, np.inf)
    nn = d.min(axis=1)
    assert q["n"] == 60
    assert q["separation"] == pytest.approx(pdist(x).min() / 2, rel=1e-12)
    assert q["spacing_cv"] == pytest.approx(nn.std() / nn.mean(), rel=1e-12)
    # fill distance: a dense grid by brute force; the sample spacing bounds the error
    g = np.stack(np.meshgrid(*[np.linspace(0, 1, 401)] * 2), -1).reshape(-1, 2)
    fill = cdist(g, x).min(axis=1).max()
    assert q["fill_distance"] <= fill + 1e-12
    assert q["fill_distance"] >= fill - 2 * (1 / 40_000) ** 0.5
    assert q["mesh_ratio"] == pytest.approx(q["fill_distance"] / q["separation"])


def test_relative_to_spacing(square):
    rng = np.random.default_rng(8)
    x = rng.random((40, 2))

    def h(p):
        return 0.05 + p[:, 0]

    q = quality(x, square, h, samples=2_000)
    d = cdist(x, x)
    np.fill_diagonal(d, np.inf)
    r = d.min(axis=1) / h(x)
    assert q["spacing_cv"] == pytest.approx(r.std() / r.mean(), rel=1e-12)


def test_bad_points(square):
    with pytest.raises(ValueError, match="points"):
        quality(np.zeros((5, 3)), square)
