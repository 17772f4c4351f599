"""Move RBF-FD nodes on a plate with two holes and mixed Dirichlet/Neumann groups.

Problem. On ``Omega = (0, 2) x (0, 1)`` minus a square hole (group ``square``) and a
12-sided round hole (group ``round``) solve ``Delta u = f`` with the manufactured
``u = exp(-|x - c|^2 / (2 w^2)) + 0.5 x y`` (a peak of width ``w`` at ``c = (1.45, 0.3)``,
near the round hole): Neumann ``n . grad u = g`` on the left edge (``inlet``) and on
the round hole, Dirichlet ``u = g`` on the rest of the outer boundary and on the square
hole. About ``n`` nodes, PHS3 + quadratics; ``objective`` "exact" (default) or
"reference" (no solution used).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import rbfopt as ro
from rbfopt.problem import Problem

DEFAULTS = dict(ro.studies.DEFAULTS)

PEAK = (1.45, 0.3)
_ANGLES = 2 * np.pi * np.arange(12) / 12
DOMAIN = ro.geometry.Polygon(
    [[0, 0], [2, 0], [2, 1], [0, 1]],
    holes=[
        [[0.4, 0.35], [0.7, 0.35], [0.7, 0.65], [0.4, 0.65]],
        np.stack([1.3 + 0.15 * np.cos(_ANGLES), 0.6 + 0.15 * np.sin(_ANGLES)], 1),
    ],
    groups={"inlet": [3], "square": [4, 5, 6, 7], "round": list(range(8, 20))},
)


def exact_fn(width: float = 0.08):
    c = jnp.asarray(PEAK)

    def u(x):
        return jnp.exp(-jnp.sum((x - c) ** 2) / (2 * width**2)) + 0.5 * x[0] * x[1]

    return u


def spec(width: float = 0.08) -> dict:
    """The PDE: ``source``, ``bcs`` and ``exact`` for :func:`rbfopt.studies.node_layout`."""
    if width <= 0:
        raise ValueError(f"width: must be > 0, got {width}")
    u = exact_fn(width)
    flux = ro.Neumann(lambda x, nrm: jnp.dot(jax.grad(u)(x), nrm))
    return dict(
        source=lambda x: jnp.trace(jax.hessian(u)(x)),
        bcs={"inlet": flux, "round": flux, "square": ro.Dirichlet(u), "outer": ro.Dirichlet(u)},
        exact=u,
    )


def problem(
    n: int = 1000,
    objective: str = "exact",
    width: float = 0.08,
    k: int = 0,
    blend: int = 0,
    family: str = "",
    movement: str = "nodes",
    solver: str = "auto",
    discretization: str = "rbf-fd",
    seed: int = 0,
) -> Problem:
    """The study with about ``n`` nodes; ``objective``: "exact" or "reference"; ``k``:
    the smallest stencil of the default family (0: automatic, 16; on the start, the
    Neumann rows on the round hole, a concave boundary, make the k = 16 and 24 solves
    5-20x less accurate than k = 20, which the family's optimization repairs);
    ``blend``, ``family``, ``movement``, ``solver``: see :func:`rbfopt.studies.node_layout`
    (the family's weights, its stencil sizes as "16,20,24,30", the parameters, the
    global solve); ``discretization``: "rbf-fd", or "p1" / "p2" for a finite-element
    mesh study (``movement="multiscale"``, 800 steps at lr 0.02 as ``poisson_fem``)."""
    if discretization != "rbf-fd":
        return _fem(n, objective, width, movement, discretization, seed)
    prob = ro.studies.node_layout(
        DOMAIN, **spec(width), n=n, k=k or None, objective=objective, seed=seed, blend=blend,
        discretizations=ro.studies.sizes_from_text(family), movement=movement,
        solver=solver, name="poisson_holes",
    )  # fmt: skip
    prob.options = dict(
        n=n, objective=objective, width=width, k=k, blend=blend, family=family,
        movement=movement, solver=solver, seed=seed,
    )  # fmt: skip
    return prob


def _fem(n, objective, width, movement, discretization, seed) -> Problem:
    movement = "multiscale" if movement == "nodes" else movement
    prob = ro.studies.node_layout(
        DOMAIN, **spec(width), n=n, objective=objective, seed=seed,
        discretization=discretization, movement=movement, margin=0.05, smooth_cells=6.0,
        name="poisson_holes",
    )  # fmt: skip
    prob.options = dict(n=n, objective=objective, width=width, movement=movement,
                        discretization=discretization, seed=seed)  # fmt: skip
    return prob
