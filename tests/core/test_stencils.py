"""Stencils: k-nearest neighbours against brute force, self first, autoselect_k."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import scattered

import rbfopt as ro


@pytest.mark.parametrize("d", [1, 2, 3])
def test_find_neighbors_matches_brute_force(d):
    x = scattered(80, d, seed=d)
    k = 9
    adjl = ro.find_neighbors(x, k)
    assert adjl.shape == (80, k) and adjl.dtype == np.int32
    np.testing.assert_array_equal(adjl[:, 0], np.arange(80))  # self first
    dist = np.linalg.norm(x[:, None] - x[None], axis=-1)
    ref = np.argsort(dist, axis=1, kind="stable")[:, :k]
    for i in range(80):
        # same set, and sorted by distance
        assert set(adjl[i]) == set(ref[i])
        assert np.all(np.diff(dist[i, adjl[i]]) >= 0)


def test_find_neighbors_eval_points():
    x = scattered(60, 2)
    y = scattered(15, 2, seed=7, lo=0.1, hi=0.9)
    adjl = ro.find_neighbors(x, 6, y)
    assert adjl.shape == (15, 6)
    dist = np.linalg.norm(y[:, None] - x[None], axis=-1)
    np.testing.assert_allclose(
        np.take_along_axis(dist, adjl.astype(np.int64), 1), np.sort(dist, axis=1)[:, :6]
    )


def test_self_first_on_a_regular_grid_with_ties():
    g = np.linspace(0, 1, 6)
    x = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    adjl = ro.find_neighbors(x, 5)
    np.testing.assert_array_equal(adjl[:, 0], np.arange(len(x)))


def test_one_dimensional_input_is_a_column():
    adjl = ro.find_neighbors(np.linspace(0, 1, 10), 3)
    assert adjl.shape == (10, 3)
    assert set(adjl[4]) == {3, 4, 5}


@pytest.mark.parametrize(
    "d, deg, k", [(1, 2, 6), (2, 2, 12), (3, 2, 20), (2, 0, 5), (1, 0, 3), (3, 0, 7), (2, 4, 30)]
)
def test_autoselect_k(d, deg, k):
    assert ro.autoselect_k(d, deg) == k
