"""Bad input raises ValueError naming the argument and the offending indices."""

from __future__ import annotations

import numpy as np
import pytest

import rbfopt.grid as grid

X = np.linspace(0.0, 1.0, 6)
F = np.sin(X)


def test_unsorted_grid():
    x = X.copy()
    x[[2, 3]] = x[[3, 2]]
    with pytest.raises(ValueError, match=r"x: grid not sorted.*\[2\]"):
        grid.cubic_interp(x, F)


def test_repeated_grid_points():
    x = X.copy()
    x[4] = x[3]
    with pytest.raises(ValueError, match=r"x: repeated grid points at indices \[3\]"):
        grid.linear_interp(x, F)


def test_repeated_points_on_second_axis_named():
    y = np.array([0.0, 0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match=r"x\[1\]: repeated grid points at indices \[1\]"):
        grid.cubic_adjoint((X, y), (np.array([0.1]), np.array([0.2])), bc=grid.Natural())


def test_too_few_points_for_bc():
    with pytest.raises(ValueError, match=r"x: .*NotAKnot.*needs at least 4 grid points, got 3"):
        grid.cubic_interp(X[:3], F[:3], bc=grid.NotAKnot())


def test_inclusive_periodic_ends_differ():
    f = np.stack([np.cos(2 * np.pi * X), np.sin(2 * np.pi * X) + X], axis=-1)
    with pytest.raises(ValueError, match=r"f: inclusive periodic data must have equal ends.*\[1\]"):
        grid.cubic_interp(X, f, bc=grid.Periodic())


def test_queries_outside_domain_under_noextrap():
    itp = grid.cubic_interp(X, F)
    with pytest.raises(ValueError, match=r"xq: queries outside the domain .* at indices \[0, 3\]"):
        itp(np.array([-0.1, 0.5, 1.0, 1.2]))


def test_nan_queries():
    itp = grid.cubic_interp(X, F, extrap=grid.ExtendExtrap())
    with pytest.raises(ValueError, match=r"xq: NaN queries at indices \[1\]"):
        itp(np.array([0.2, np.nan, 0.4]))


def test_nan_queries_in_adjoint_second_axis():
    with pytest.raises(ValueError, match=r"xq\[1\]: NaN queries at indices \[\(0, 1\)\]"):
        grid.linear_adjoint((X, X), (np.full((1, 2), 0.5), np.array([[0.1, np.nan]])))


def test_bad_deriv_and_mixed_periodic():
    with pytest.raises(ValueError, match="deriv"):
        grid.linear_interp(X, F)(np.array([0.5]), 2)
    # a fractional order is refused, not truncated (1.5 used to act as 1)
    with pytest.raises(ValueError, match="deriv: derivative order must be an integer"):
        grid.cubic_interp(X, F)(np.array([0.5]), 1.5)
    with pytest.raises(ValueError, match="bc"):
        grid.cubic_interp(X, F, bc=(grid.Periodic(), grid.Natural()))
