"""rbfopt.nodes.spatial_order: a Hilbert-curve permutation of a node set."""

import numpy as np
import pytest

import rbfopt as ro
from rbfopt.nodes import spatial_order
from rbfopt.nodes.order import _hilbert_keys


def _block_locality(points, k=18, blocks=8):
    # fraction of stencil entries whose neighbour is in the stencil's own index block
    adjl = ro.find_neighbors(points, k)
    size = -(-len(points) // blocks)
    block = np.arange(len(points)) // size
    return float(np.mean(block[adjl] == block[:, None]))


@pytest.mark.parametrize("d, bits", [(1, 5), (2, 4), (3, 3)])
def test_keys_walk_the_full_grid_in_unit_steps(d, bits):
    # the defining properties of a Hilbert curve on a 2^bits grid: every cell gets
    # its own index, and cells with consecutive indices are face neighbours
    axes = [np.arange(2**bits)] * d
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)
    keys = _hilbert_keys(grid.astype(np.uint64), bits)
    assert np.array_equal(np.sort(keys), np.arange(2 ** (bits * d)))
    steps = np.abs(np.diff(grid[np.argsort(keys)], axis=0)).sum(axis=1)
    assert np.all(steps == 1)


@pytest.mark.parametrize("d", [2, 3])
def test_permutation_raises_locality_of_a_random_cloud(d):
    x = np.random.default_rng(1).random((4000, d))
    perm = spatial_order(x)
    assert perm.dtype == np.int64
    assert np.array_equal(np.sort(perm), np.arange(len(x)))
    before, after = _block_locality(x), _block_locality(x[perm])
    assert before < 0.25  # random indices: about 1/8 plus the stencil's own centre
    assert after > 0.85


def test_ties_keep_their_order_and_one_dimension_sorts():
    x = np.array([[0.5, 0.5], [0.0, 0.0], [0.5, 0.5], [0.0, 0.0]])
    perm = spatial_order(x)
    assert perm.tolist() == [1, 3, 0, 2]
    t = np.random.default_rng(2).random((50, 1))
    assert np.array_equal(spatial_order(t), np.argsort(t[:, 0], kind="stable"))
    assert spatial_order(np.ones((3, 2))).tolist() == [0, 1, 2]  # one point, repeated


def test_bad_points_are_refused():
    with pytest.raises(ValueError, match="points"):
        spatial_order(np.ones((5, 4)))
    with pytest.raises(ValueError, match="points"):
        spatial_order(np.array([[0.0, np.nan]]))
