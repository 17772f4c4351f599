"""Move RBF-FD nodes to minimize the Poisson solution error on an L-shaped domain (default study).

Problem. On the L-shaped domain ``Omega = (-1, 1)^2 minus [0, 1] x [-1, 0]`` solve

    Delta u = f  in Omega,      u = g  on the boundary,

with the manufactured solution ``u(x) = exp(-|x - c|^2 / (2 w^2)) + r^(2/3) sin(2 theta / 3)``
(a sharp Gaussian peak of width ``w`` at ``c`` plus the re-entrant-corner
singularity, polar coordinates about the corner ``(0, 0)``); ``f = Delta u`` and
``g = u`` by JAX autodiff.

A study built by :func:`rbfopt.studies.node_layout` (see there for the loss, the
constraints and the objectives): about ``n`` nodes generated on the
:class:`rbfopt.geometry.Polygon`, PHS3 + quadratics, positions in units of the
starting spacing ``h``. ``objective="exact"`` (default) measures the error against u
on a fixed grid of spacing ``h / 2``; ``-O objective=reference`` uses no solution:
a reference computed on 9x the nodes with PHS5 + quartics. Runs at any size
(``-O n=100000``). ``-O basis=imq`` (or ``gaussian``, ``mq``) discretizes with a smooth
kernel of shape parameter ``eps_h / h``; ``-O eps=per_stencil`` then optimizes one ε
per stencil with the nodes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import rbfopt as ro
from rbfopt.problem import Problem

DEFAULTS = dict(ro.studies.DEFAULTS)

#: Corners of the L-shape, counter-clockwise.
CORNERS = np.array([[-1.0, -1.0], [0.0, -1.0], [0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [-1.0, 1.0]])
DOMAIN = ro.geometry.Polygon(CORNERS)

#: ``basis`` option -> the kernel class (PHS3 + quadratics, or a smooth kernel of
#: shape parameter eps_h / h, with quadratics).
BASES = {"phs3": ro.PHS, "imq": ro.IMQ, "gaussian": ro.Gaussian, "mq": ro.MQ}

#: Default ε h of the smooth bases: about the best common ε of the IMQ start at n = 400
#: (0.24; at n = 1000 the best is the flattest allowed, 0.2: scripts/compare_eps_stencil.py
#: scans it).
EPS_H = 0.25


def exact_fn(center=(-0.4, 0.4), width=0.08):
    """The manufactured solution u(x) for one point x of shape (2,)."""
    c = jnp.asarray(center)

    def u(x):
        bump = jnp.exp(-jnp.sum((x - c) ** 2) / (2 * width**2))
        # corner singularity r^(2/3) sin(2 theta / 3), theta in (0, 3 pi / 2) measured
        # from the positive x-axis counter-clockwise (the domain's opening angle).
        r2 = jnp.sum(x**2)
        safe = r2 > 1e-30
        r = jnp.sqrt(jnp.where(safe, r2, 1.0))
        th = jnp.arctan2(x[1], x[0])
        th = jnp.where(th < -0.5 * jnp.pi, th + 2 * jnp.pi, th)  # (-pi/2, 3pi/2]
        th = jnp.where(th < 0.0, th + 2 * jnp.pi, th)  # the cut quadrant is outside
        sing = jnp.where(safe, r ** (2.0 / 3.0) * jnp.sin(2.0 * th / 3.0), 0.0)
        return bump + sing

    return u


def spec(width: float = 0.08) -> dict:
    """The PDE: ``source``, ``bcs`` and ``exact`` for :func:`rbfopt.studies.node_layout`."""
    if width <= 0:
        raise ValueError(f"width: must be > 0, got {width}")
    u = exact_fn(width=width)
    return dict(
        source=lambda x: jnp.trace(jax.hessian(u)(x)), bcs={"outer": ro.Dirichlet(u)}, exact=u
    )


def problem(
    n: int = 1000,
    objective: str = "exact",
    width: float = 0.08,
    k: int = 0,
    mu: float = 10.0,
    spacing_floor: float = 0.6,
    margin: float = 0.25,
    fine: float = 2.0,
    mesh_weight: float = 0.0,
    blend: int = 0,
    blend_kind: str = "taper",
    family: str = "",
    movement: str = "nodes",
    reference_refine: float = 4.0,
    solver: str = "auto",
    fem_weight: float = 0.0,
    basis: str = "phs3",
    eps: str = "",
    eps_h: float = EPS_H,
    seed: int = 0,
) -> Problem:
    """The study with about ``n`` nodes; ``objective``: "exact" or "reference"; ``width``:
    of the solution's peak; ``k``: stencil size (0: automatic); ``mu``,
    ``spacing_floor``, ``margin``, ``fine``, ``mesh_weight`` (> 0: keep the triangles
    fit for finite elements), ``blend`` (the family's weights: 0 plain k-nearest, > 0
    blended sizes, continuous in the positions), ``blend_kind`` ("taper": one local
    solve per stencil instead of one per blended size), ``family`` (stencil sizes of the
    discretizations the loss combines, e.g. "16,20,24,30"; "" the default k + (0, -4, 4,
    8, 14)), ``movement`` ("nodes" or "smooth"), ``reference_refine``
    (objective="reference": the reference's spacing is h / reference_refine), ``solver``
    (the global solve: "direct", "krylov" or "auto", Krylov from 20 000 nodes),
    ``fem_weight`` (> 0: the loss adds this weight times the P2 mesh objective of
    ``poisson_fem``, ``discretization={"rbf-fd": 1, "p2": fem_weight}``, and
    ``mesh.msh`` is that P2 mesh), ``basis`` ("phs3", or "imq", "gaussian", "mq" with
    shape parameter ε = ``eps_h`` / h, h the starting spacing), ``eps`` ("": one fixed
    ε; "per_stencil": ln ε of every stencil optimized with the nodes, a smooth basis
    only): see :func:`rbfopt.studies.node_layout`."""
    tuning = dict(
        mu=mu, spacing_floor=spacing_floor, margin=margin, fine=fine, mesh_weight=mesh_weight,
        blend=blend, blend_kind=blend_kind, reference_refine=reference_refine, solver=solver,
    )  # fmt: skip
    mix = {"rbf-fd": 1.0, "p2": fem_weight} if fem_weight > 0 else "rbf-fd"
    prob = ro.studies.node_layout(
        DOMAIN, **spec(width), n=n, k=k, objective=objective, seed=seed,
        discretizations=ro.studies.sizes_from_text(family), movement=movement,
        discretization=mix, name="poisson_nodes", basis=make_basis(basis, eps_h, n),
        eps=_eps_option(eps), **tuning,
    )  # fmt: skip
    prob.options = dict(n=n, objective=objective, width=width, k=k, seed=seed, family=family,
                        movement=movement, fem_weight=fem_weight, basis=basis, eps=eps,
                        eps_h=eps_h, **tuning)  # fmt: skip
    return prob


def make_basis(name: str, eps_h: float, n: int):
    """The ``basis`` option's kernel, with quadratics: PHS3, or a smooth kernel of
    ε = ``eps_h`` / h at the starting spacing h of about ``n`` nodes."""
    if name not in BASES:
        raise ValueError(f"basis: expected one of {sorted(BASES)}, got {name!r}")
    if name == "phs3":
        return ro.PHS(3, poly_deg=2)
    if not eps_h > 0:
        raise ValueError(f"eps_h: must be > 0, got {eps_h!r}")
    return BASES[name](eps=eps_h / ro.nodes.spacing_for(DOMAIN, n), poly_deg=2)


def _eps_option(eps: str):
    """The ``eps`` option as :func:`rbfopt.studies.node_layout` takes it: "" is None."""
    return None if eps in ("", "none", "None") else eps
