"""``node_layout``: a node-layout study on any domain, operator and boundary conditions.

The study solves **L u = source** in the domain with one boundary condition per group
(for the Laplacian, the Poisson problem -Δu = f has ``source = -f``): an
:class:`rbfopt.Problem` that moves the nodes of an RBF-FD discretization of

    L u = source  in the domain,     B_g u = g  on each boundary group g,

to lower the error of the discrete solution ``u_h``, carried by local RBF
interpolation to a fixed evaluation set ``Y``. The loss combines a *family* of
discretizations of the same problem on the same nodes (:mod:`rbfopt.studies.family`;
by default plain k-nearest stencils of sizes k - 4 .. k + 14, 12 to 30 in 2-D, whose
weights come from one nested build, :func:`rbfopt.fd.nested_weights`, and whose
solves share one factorization, ``linsolve(..., near=)``):

    1/M sum_m log rms_Y(R(X) u_h^(m)(X) - u*) + mu sum_{i, j} relu(1 - d_ij / (floor s_i))^2

with ``R`` the first member's interpolation (every member's solution is read through
it: the members differ in how they solve the PDE), ``s_i`` the local spacing of node i
(the mean distance to its 2 d + 2 nearest neighbours) and ``floor = spacing_floor``: a
barrier against collapsing pairs at any grading. A layout tuned to one stencil set
learns its cancellations and may be worse for any other; tuned to the family, it keeps
what every member gains (the report checks a held-out family,
:mod:`rbfopt.studies._robustness`). Parameters
(``movement``): all node positions in units of the starting spacing ``h`` (features
fixed, boundary nodes sliding along the boundary, interior nodes inside,
:func:`rbfopt.nodes.projection`), or a smooth displacement field on a coarse grid
(:mod:`rbfopt.studies._movement`). The target ``u*`` set by ``objective``:

* ``"exact"``: the given solution ``exact`` on a regular grid of spacing ``h / fine``;
* ``"reference"``: no solution needed: a reference solution computed once on a finer
  generated node set (spacing ``h / reference_refine``) with a higher-order basis
  (PHS5 + degree 4 by default), on its own nodes. The report estimates how far the
  reference is from converged by a second, finer reference, and says in words whether
  that carries the claimed factor (:mod:`rbfopt.studies._report`).

With ``mesh_weight > 0`` (2-D), the loss adds ``mesh_weight`` times a penalty on
Delaunay triangles of radius ratio below ``mesh_ratio_floor`` (``_mesh_term``), for
users who hand the nodes to a finite-element code.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

from .. import nodes as _nodes
from ..basis import IMQ, MQ, PHS, Gaussian
from ..fd.boundary import assemble, right_hand_side
from ..operators import Laplacian
from ..problem import Problem
from ..sparse.amg import amg
from ..stencils import autoselect_k, find_neighbors
from . import _checks
from ._fem_study import DEGREES, FEStudy, coefficients
from ._mixed import MixedStudy
from ._precond import has_flux_rows, method_for, solve
from ._problem import LayoutStudy, Target
from .family import family
from .options import LayoutOptions

#: Driver settings of a node-layout study, for a problem file's ``DEFAULTS``. Positions
#: are in units of h, so ``lr`` is a fraction of the spacing at any node count. Stencils
#: are refreshed every step, the driver's own default (``ro.optimize.DEFAULTS``).
DEFAULTS = {
    "steps": 400,
    "optimizer": "adam",
    "lr": 0.037,
    "schedule": "cosine",
}


def node_layout(
    domain: Any,
    *,
    source: Any,
    bcs: dict,
    operator: Any = None,
    n: int | None = None,
    spacing: Any = None,
    basis: Any = None,
    k: int | None = None,
    objective: str = "reference",
    exact: Any = None,
    seed: int = 0,
    discretizations: Any = None,
    discretization: str = "rbf-fd",
    movement: str = "nodes",
    eps: str | None = None,
    solver: str = "auto",
    **options: Any,
) -> Problem:
    """Build a study of ``L u = source`` with ``bcs`` whose nodes move to lower the
    error of the RBF-FD solution (see the module docstring).

    Args:
      domain: a :mod:`rbfopt.geometry` domain.
      source: the right-hand side of ``L u = source``, a JAX function of one point
        ``x`` (d,) -> scalar. For the Laplacian, ``-Δu = f`` means ``source = -f``.
      bcs: maps every boundary group name to :class:`~rbfopt.Dirichlet`,
        :class:`~rbfopt.Neumann` or :class:`~rbfopt.Robin`.
      operator: the scalar operator ``L`` (any :mod:`rbfopt.operators` description,
        sums and ``Custom`` included); default the Laplacian.
      n: about how many nodes (default 1000); or ``spacing``: a number or h(x).
      basis: RBF-FD basis (default PHS3 + quadratics); ``k``: stencil size of the
        first member of the default family (default ``autoselect_k + 4``: 16 in 2-D).
      objective: ``"reference"`` (no solution needed) or ``"exact"`` (needs ``exact``).
      exact: the solution u(x) when known; reported as the true error, and checked
        against ``source`` and ``bcs`` (a mismatch far above the discretization level
        is an error that states the form solved).
      seed: seed of the starting node set.
      discretizations: the family whose mean log error is the loss
        (:func:`rbfopt.studies.family`): stencil sizes, dicts or
        :class:`~rbfopt.studies.Discretization` objects; default stencil sizes
        ``k + (0, -4, 4, 8, 14)`` (those of at least ``autoselect_k``) with ``blend`` /
        ``blend_kind`` weights (plain k-nearest by default). ``[k]`` is one
        discretization (a layout tuned to it may be worse for any other).
      movement: ``"nodes"`` (every position a parameter) or ``"smooth"`` (a
        displacement field on a grid of spacing ``smooth_cells * h``); see
        :mod:`rbfopt.studies._movement`.
      eps: ``None`` (the basis as given: one fixed ε) or ``"per_stencil"``: with an
        :class:`~rbfopt.IMQ`, :class:`~rbfopt.Gaussian` or :class:`~rbfopt.MQ` basis,
        ln ε of every node's stencil is a parameter (``p["log_eps"]``, shape (N,),
        starting at the basis's ε) optimized with the positions; every member of the
        family built on the study's basis uses it (a member with its own basis keeps
        that basis), and a stencil of an evaluation point takes its nearest node's ε.
        ``project`` keeps ε h within ``[eps_h_min, eps_h_max]`` (options, default
        [0.2, 3], where the local weight solves keep at least 6 digits in float64);
        the basis's ε h must start inside. The report adds the optimized layout's
        error at the best common ε of a scan over that range (``best_common_eps``,
        ``error_best_common_eps``) beside its per-stencil error (``error_per_stencil``).
        RBF-FD only: a PHS basis or a finite-element discretization is an error.
      solver: the global solve, ``"direct"`` (SuperLU), ``"krylov"`` (BiCGStab
        preconditioned by AMG) or ``"auto"`` (Krylov from 20 000 unknowns on the CPU,
        always on accelerators, for systems of Dirichlet and interior rows; SuperLU
        whenever a group has a Neumann or Robin condition, on whose rows BiCGStab
        stalls), resolved once per system.
      **options: the fields of :class:`~rbfopt.studies.LayoutOptions` (barrier,
        margins, evaluation sets, ``blend``, Krylov tolerances, ``name``, ...).

    Raises:
      ValueError: naming the argument: ``eps="per_stencil"`` without a smooth basis
        or with finite elements, a condition for an unknown group, a group
        without one, only Neumann conditions, a source or data that is not finite or
        of the wrong shape, an ``exact`` that does not solve ``L u = source`` or its
        conditions, a reference set over ``max_reference_nodes``, unknown options.

    Examples:
      >>> import jax.numpy as jnp, rbfopt as ro
      >>> sq = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]])
      >>> u = lambda x: jnp.sin(x[0]) * jnp.exp(x[1])          # Laplacian u = 0
      >>> prob = ro.studies.node_layout(
      ...     sq, source=lambda x: 0.0, bcs={"outer": ro.Dirichlet(u)},
      ...     n=200, objective="exact", exact=u)
      >>> res = ro.optimize.run(prob, "adam", 3, lr=0.02, progress=False)
      >>> bool(res.history[-1]["rms_error"] < 1e-3)
      True
    """
    opts = LayoutOptions.of(solver=solver, **options)
    weights = discretization_weights(discretization)
    fe = [d for d in weights if d != "rbf-fd"]
    _check_eps(eps, basis, fe)
    args = (domain, source, bcs, operator, n, spacing, objective, exact, seed)
    if "rbf-fd" not in weights:
        return _fem_layout(*args, fe[0], movement, opts).problem()
    study = _rbf_layout(*args, basis, k, discretizations, movement, opts, eps)
    if not fe:
        return study.problem()
    if objective != "exact":
        raise ValueError("objective: a mix of RBF-FD and finite elements needs 'exact'")
    mesh = _fem_layout(*args, fe[0], movement, opts)
    mesh.move = study.move  # one set of parameters moves both
    return MixedStudy(study, mesh, weights["rbf-fd"], weights[fe[0]]).problem()


def _rbf_layout(domain, source, bcs, operator, n, spacing, objective, exact, seed, basis, k,
                discretizations, movement, opts, eps=None) -> LayoutStudy:  # fmt: skip
    """The RBF-FD study (:mod:`rbfopt.studies._problem`)."""
    if opts.mesh_weight > 0 and domain.dim != 2:
        raise ValueError("mesh_weight: the mesh-quality term is for 2-D studies (triangles)")
    operator = Laplacian() if operator is None else operator
    basis = PHS(3, poly_deg=2) if basis is None else basis
    rows_of = _checks.conditions(domain, bcs)
    start, h = _start(domain, n, spacing, seed)
    if eps is not None and not opts.eps_h_min <= basis.eps * h <= opts.eps_h_max:
        raise ValueError(
            f"eps: 'per_stencil' keeps eps * h in [{opts.eps_h_min:g}, {opts.eps_h_max:g}] "
            f"(options eps_h_min, eps_h_max); the basis starts at eps * h = "
            f"{basis.eps * h:.3g} (eps={basis.eps:g}, h={h:.3g}): pick eps in "
            f"[{opts.eps_h_min / h:.3g}, {opts.eps_h_max / h:.3g}]"
        )
    kk = k if k else autoselect_k(domain.dim, basis.poly_deg) + 4
    _checks.stencil_size(kk, len(start))
    least = autoselect_k(domain.dim, basis.poly_deg)
    members = family(discretizations, kk, opts.blend, opts.blend_kind, least)
    _checks.members(members, basis, len(start), domain.dim)
    rows = rows_of(start)
    _checks.data(source, rows, start)
    if exact is not None:
        _checks.pde_form(operator, source, rows, start, exact, basis, members[0].k)
    target = _target(domain, operator, source, rows_of, objective, exact, h, opts, seed)
    method = method_for(opts.solver, len(start), has_flux_rows(rows))
    study = LayoutStudy(domain, start, h, rows, operator, source, basis, members, target,
                        exact, opts, method, movement, eps)  # fmt: skip
    return study


#: Bases whose shape parameter ``eps="per_stencil"`` optimizes.
SMOOTH_BASES = (IMQ, Gaussian, MQ)


def _check_eps(eps: Any, basis: Any, fe: list) -> None:
    """``eps``: None or "per_stencil" with a smooth basis of one scalar ε, RBF-FD only."""
    if eps is None:
        return
    if not isinstance(eps, str) or eps != "per_stencil":
        raise ValueError(f"eps: expected None or 'per_stencil', got {eps!r}")
    if fe:
        raise ValueError(
            f"eps: 'per_stencil' tunes the shape parameter of RBF-FD stencils; the "
            f"finite-element discretization {fe[0]!r} has none (use discretization='rbf-fd')"
        )
    if not isinstance(basis, SMOOTH_BASES):
        got = "the default PHS(order=3, poly_deg=2)" if basis is None else repr(basis)
        raise ValueError(
            f"eps: 'per_stencil' needs a basis with a shape parameter (ro.IMQ, ro.Gaussian "
            f"or ro.MQ), got {got}"
        )
    e = basis.eps
    if isinstance(e, jax.core.Tracer) or np.ndim(e) != 0:
        raise ValueError(
            f"eps: 'per_stencil' starts every stencil at the basis's eps, which must be one "
            f"number, got shape {np.shape(e)}"
        )


def discretization_weights(discretization: Any) -> dict[str, float]:
    """``discretization`` as a dict kind -> weight: "rbf-fd", "p1", "p2" or a dict of
    positive weights with at most one finite-element kind."""
    kinds = ("rbf-fd", *DEGREES)
    if isinstance(discretization, str):
        discretization = {discretization: 1.0}
    if not isinstance(discretization, dict) or not discretization:
        raise ValueError(f"discretization: expected one of {kinds} or a dict of weights, "
                         f"got {discretization!r}")  # fmt: skip
    bad = [d for d in discretization if d not in kinds]
    if bad:
        raise ValueError(f"discretization: unknown kinds {bad}; expected {kinds}")
    w = {d: float(v) for d, v in discretization.items()}
    if any(not np.isfinite(v) or v <= 0 for v in w.values()):
        raise ValueError(f"discretization: weights must be positive and finite, got {w}")
    if sum(d != "rbf-fd" for d in w) > 1:
        raise ValueError(f"discretization: at most one finite-element kind, got {sorted(w)}")
    return w


def _fem_layout(domain, source, bcs, operator, n, spacing, objective, exact, seed,
                discretization, movement, opts) -> FEStudy:  # fmt: skip
    """The finite-element study (:mod:`rbfopt.studies._fem_study`)."""
    if domain.dim == 3 and discretization != "p1":
        raise ValueError(f"discretization: 3-D meshes are P1 tetrahedra ('p1'), "
                         f"not {discretization!r}")  # fmt: skip
    coef = coefficients(Laplacian() if operator is None else operator)
    if objective not in ("exact", "energy"):
        raise ValueError(f"objective: expected 'exact' or 'energy', got {objective!r}")
    if objective == "energy" and domain.dim == 3:
        raise ValueError("objective: 'energy' scales by a refined mesh, built for triangles "
                         "only; 3-D studies take 'exact'")  # fmt: skip
    if objective == "exact" and exact is None:
        raise ValueError("exact: objective='exact' needs the solution u(x)")
    rows_of = _checks.conditions(domain, bcs)
    start, h = _start(domain, n, spacing, seed)
    _checks.data(source, rows_of(start), start)
    return FEStudy(domain, start, h, bcs, source, exact, objective, DEGREES[discretization],
                   opts, movement, coef)  # fmt: skip


def _start(domain, n, spacing, seed):
    """The generated starting nodes and their characteristic spacing h."""
    if n is not None and spacing is not None:
        raise ValueError("n, spacing: give one of them, not both")
    if spacing is None:
        spacing = _nodes.spacing_for(domain, 1000 if n is None else n)
    start = _nodes.generate(domain, spacing, seed=seed)
    # along a Hilbert curve: index blocks are compact patches, so node arrays split over
    # devices keep most stencils on their own device, and gathers stay cache-local
    start = start.take(_nodes.spatial_order(start.points))
    if callable(spacing):
        h = float(np.median(cKDTree(start.points).query(start.points, k=2)[0][:, 1]))
    else:
        h = float(spacing)
    return start, h


def _target(domain, operator, source, rows_of, objective, exact, h, opts, seed):
    """The evaluation points Y, the values u* there, and u(Y) when ``exact`` is known."""
    if objective not in ("reference", "exact"):
        raise ValueError(f"objective: expected 'reference' or 'exact', got {objective!r}")
    if objective == "exact" and exact is None:
        raise ValueError("exact: objective='exact' needs the solution u(x)")
    if objective == "exact":
        y = _grid(domain, h / opts.fine, opts.max_eval_points, seed)
        u_y = jax.vmap(exact)(jnp.asarray(y))
        return Target(y, u_y, u_y, "exact")

    def reference(h_ref):
        return reference_solution(domain, operator, source, rows_of, h_ref, opts, seed + 1)

    ref = reference(h / opts.reference_refine)
    pick = _subsample(len(ref["points"]), opts.max_eval_points, seed)
    y, u_y = ref["points"][pick], ref["u"][pick]
    true = None if exact is None else jax.vmap(exact)(jnp.asarray(y))
    return Target(y, u_y, true, "reference", ref, reference)


def reference_solution(
    domain, operator, source, rows_of, h_ref: float, opts: LayoutOptions, seed: int
) -> dict:
    """The solution on a generated node set at spacing ``h_ref`` with the reference
    basis, by the global solve resolved for its size."""
    try:
        ref = _nodes.generate(domain, h_ref, seed=seed, max_nodes=opts.max_reference_nodes)
    except ValueError as e:
        raise ValueError(
            f"reference: the reference node set at spacing {h_ref:.4g} is too large ({e}); "
            "raise max_reference_nodes, lower reference_refine or use fewer nodes"
        ) from e
    basis = opts.reference_basis
    kr = autoselect_k(domain.dim, basis.poly_deg) + 4
    x, nrm = jnp.asarray(ref.points), jnp.asarray(ref.normals)
    adjl = find_neighbors(ref.points, kr)
    rows = rows_of(ref)
    sets = {"interior": rows.interior, "conditions": rows.boundary}
    A = assemble(x, operator, **sets, normals=nrm, basis=basis, adjl=adjl)
    rhs = right_hand_side(x, source, **sets, normals=nrm)
    method = method_for(opts.solver, len(ref), has_flux_rows(rows))
    u = solve(A, rhs, method, opts, amg(A) if method == "krylov" else None)
    return {
        "points": ref.points,
        "u": np.asarray(u),
        "n": len(ref),
        "h": h_ref,
        "basis": basis,
        "k": kr,
    }


def _grid(domain, step, limit, seed) -> np.ndarray:
    lo, hi = np.asarray(domain.bounds)
    axes = [np.arange(a + step / 2, b, step) for a, b in zip(lo, hi, strict=True)]
    y = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, domain.dim)
    y = y[np.asarray(domain.contains(y))]
    return y[_subsample(len(y), limit, seed)]


def _subsample(m: int, limit: int, seed: int) -> np.ndarray:
    if m <= limit:
        return np.arange(m)
    return np.sort(np.random.default_rng(seed).choice(m, limit, replace=False))
