"""Move RBF-FD nodes in 3-D: Poisson in a box with a spherical hole (a node_layout study).

Problem. In ``Omega = (-1, 1)^3`` minus the ball of radius 0.4 at the origin solve
``Delta u = f`` with ``u = exp(-|x - c|^2 / (2 w^2)) + x y`` (a peak of width ``w`` at
``c = (0.55, 0.55, 0.55)``, between the hole and a corner): Dirichlet ``u = g`` on the
box (group ``box``), Neumann ``n . grad u = g`` on the hole (group ``hole``).

The boundary is a triangle surface (the box's 12 triangles and an icosphere's 320),
read through :func:`rbfopt.geometry.from_mesh` as a user's STL or Gmsh file would be;
about ``n`` nodes from :func:`rbfopt.nodes.generate`; PHS3 + quadratics; the exact
objective by default, ``-O objective=reference`` for one that needs no solution.

``-O discretization=p1``: the same problem as a finite-element mesh study, P1 on the
Delaunay tetrahedra of the nodes (the exported ``mesh.msh`` is the optimized mesh;
``scripts/fem_check.py --degree 1`` solves it with scikit-fem). Run it with
``-O n=2000 --steps 300 --lr 0.02`` (``results/poisson_box_hole_p1``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import meshio
import numpy as np

import rbfopt as ro
from rbfopt.problem import Problem

DEFAULTS = {**ro.studies.DEFAULTS, "steps": 60, "lr": 0.03}

HOLE_RADIUS = 0.4


def _icosphere(level: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices on the unit sphere and outward triangles of a subdivided icosahedron."""
    p = (1 + 5**0.5) / 2
    v = np.array([[-1, p, 0], [1, p, 0], [-1, -p, 0], [1, -p, 0], [0, -1, p], [0, 1, p],
                  [0, -1, -p], [0, 1, -p], [p, 0, -1], [p, 0, 1], [-p, 0, -1], [-p, 0, 1]],
                 float)  # fmt: skip
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9],
                  [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2],
                  [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10],
                  [8, 6, 7], [9, 8, 1]])  # fmt: skip
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    for _ in range(level):
        e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        uniq, inv = np.unique(e, axis=0, return_inverse=True)
        mid = v[uniq].mean(axis=1)
        v = np.concatenate([v, mid / np.linalg.norm(mid, axis=1, keepdims=True)])
        m = len(v) - len(uniq) + inv.ravel().reshape(3, -1).T
        a, b, c = f.T
        f = np.concatenate([np.stack([a, m[:, 0], m[:, 2]], 1), np.stack([b, m[:, 1], m[:, 0]], 1),
                            np.stack([c, m[:, 2], m[:, 1]], 1), m])  # fmt: skip
    return v, f


def boundary_mesh() -> meshio.Mesh:
    """The box and the hole's sphere as one triangle mesh with cell sets ``box``, ``hole``."""
    box = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    box_tri = np.array([t for a, b, c, d in quads for t in ([a, b, c], [a, c, d])])
    sv, sf = _icosphere(2)
    pts = np.concatenate([box, HOLE_RADIUS * sv])
    tri = np.concatenate([box_tri, sf + len(box)])
    sets = {"box": [np.arange(len(box_tri))], "hole": [np.arange(len(box_tri), len(tri))]}
    return meshio.Mesh(pts, [("triangle", tri)], cell_sets=sets)


DOMAIN = ro.geometry.from_mesh(boundary_mesh())


def exact_fn(width: float = 0.25):
    c = jnp.array([0.55, 0.55, 0.55])

    def u(x):
        return jnp.exp(-jnp.sum((x - c) ** 2) / (2 * width**2)) + x[0] * x[1]

    return u


def spec(width: float = 0.25) -> dict:
    """The PDE of the study: source, conditions per group, exact solution."""
    u = exact_fn(width)
    flux = lambda x, nrm: jnp.dot(jax.grad(u)(x), nrm)  # noqa: E731
    return dict(
        source=lambda x: jnp.trace(jax.hessian(u)(x)),
        bcs={"box": ro.Dirichlet(u), "hole": ro.Neumann(flux)},
        exact=u,
    )


def problem(
    n: int = 3000,
    objective: str = "exact",
    width: float = 0.25,
    blend: int = 0,
    family: str = "",
    solver: str = "auto",
    discretization: str = "rbf-fd",
    movement: str = "nodes",
    min_dihedral: float = 10.0,
    smooth_cells: float = 3.0,
    margin: float = 0.25,
    h1_share: float = 1.0,
    seed: int = 0,
) -> Problem:
    """The study with about ``n`` nodes; ``objective``: "exact" or "reference"; ``blend``,
    ``family``, ``solver``, ``movement``: see :func:`rbfopt.studies.node_layout` (the
    family's weights: 0 plain k-nearest; its stencil sizes as "24,28"; the global solve;
    the parameters); ``discretization``: "rbf-fd", or "p1" for a finite-element mesh
    study of P1 tetrahedra (``movement`` "multiscale" unless given; ``min_dihedral``,
    ``smooth_cells``, ``margin``, ``h1_share``: see :class:`rbfopt.studies.LayoutOptions`)."""
    if width <= 0:
        raise ValueError(f"width: must be > 0, got {width}")
    if discretization != "rbf-fd":
        movement = "multiscale" if movement == "nodes" else movement
        prob = ro.studies.node_layout(
            DOMAIN, **spec(width), n=n, objective=objective, seed=seed,
            discretization=discretization, movement=movement, min_dihedral=min_dihedral,
            smooth_cells=smooth_cells, margin=margin, h1_share=h1_share,
            name="poisson_box_hole",
        )  # fmt: skip
        prob.options = dict(n=n, objective=objective, width=width, movement=movement,
                            discretization=discretization, min_dihedral=min_dihedral,
                            smooth_cells=smooth_cells, margin=margin, h1_share=h1_share,
                            seed=seed)  # fmt: skip
        return prob
    prob = ro.studies.node_layout(
        DOMAIN,
        **spec(width),
        n=n,
        objective=objective,
        seed=seed,
        name="poisson_box_hole",
        reference_refine=2.0,
        blend=blend,
        discretizations=ro.studies.sizes_from_text(family),
        solver=solver,
        movement=movement,
    )
    prob.options = dict(
        n=n, objective=objective, width=width, blend=blend, family=family, solver=solver,
        movement=movement, seed=seed,
    )  # fmt: skip
    return prob
