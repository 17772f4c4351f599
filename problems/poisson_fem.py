"""Move the vertices of a finite-element mesh to lower the P2 error on the L-shape.

The default study's PDE and solution (:mod:`poisson_nodes`: a sharp peak plus the
re-entrant-corner singularity ``r^(2/3) sin(2 theta / 3)``), discretized by Lagrange
P2 elements on a Delaunay triangulation of about ``n`` vertices
(:func:`rbfopt.studies.node_layout` with ``discretization="p2"``; see
:mod:`rbfopt.studies._fem_study`). ``objective="exact"`` (default) lowers
``(ln ||u_h - u||_L2 + ln |u_h - u|_H1) / 2``; ``objective="energy"`` uses no solution
(the Ritz functional). The run's ``mesh.msh`` is the optimized triangulation itself,
``initial.msh`` the start's: ``python scripts/fem_check.py RUN`` solves both with
scikit-fem.
"""

from __future__ import annotations

import rbfopt as ro
from rbfopt.app.catalog import load_module
from rbfopt.problem import Problem

#: A coarse field moves vertices far (toward the peak and the corner) in few steps; 800
#: steps at lr 0.02 (units of h) leave the loss flat (docs/guides/fem_meshes.md).
DEFAULTS = {**ro.studies.DEFAULTS, "steps": 800, "lr": 0.02}


def _base():
    """The default study's module (its domain and solution)."""
    return load_module("poisson_nodes")[0]


#: The L-shape of the default study.
DOMAIN = _base().DOMAIN


def spec(width: float = 0.08) -> dict:
    """The PDE: ``source``, ``bcs`` and ``exact`` (those of :mod:`poisson_nodes`)."""
    return _base().spec(width)


def problem(
    n: int = 1000,
    objective: str = "exact",
    discretization: str = "p2",
    width: float = 0.08,
    mu: float = 10.0,
    min_angle: float = 22.0,
    margin: float = 0.05,
    movement: str = "multiscale",
    smooth_cells: float = 6.0,
    h1_share: float = 1.0,
    seed: int = 0,
) -> Problem:
    """The study with about ``n`` vertices; ``objective``: "exact" or "energy";
    ``discretization``: "p1" or "p2"; ``width``: of the solution's peak; ``mu``: weight
    of the shape barrier, active below ``min_angle`` degrees; ``margin``: least depth
    of interior vertices, in units of h; ``movement``: "multiscale" (a displacement
    field on a grid of ``smooth_cells`` h plus per-vertex offsets), "nodes" or
    "smooth"; ``h1_share``: the H1 term's weight in the exact objective (the rest
    L2)."""
    prob = ro.studies.node_layout(
        DOMAIN, **spec(width), n=n, objective=objective, seed=seed,
        discretization=discretization, movement=movement, mu=mu, min_angle=min_angle,
        margin=margin, smooth_cells=smooth_cells, h1_share=h1_share, name="poisson_fem",
    )  # fmt: skip
    prob.options = dict(
        n=n, objective=objective, discretization=discretization, width=width, mu=mu,
        min_angle=min_angle, margin=margin, movement=movement, smooth_cells=smooth_cells,
        h1_share=h1_share, seed=seed,
    )  # fmt: skip
    return prob
