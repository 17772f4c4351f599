"""The :class:`rbfopt.Problem` of a node-layout study: loss, constraints, stencils, mesh."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import nodes as _nodes
from ..fd.boundary import assemble, right_hand_side
from ..mesh import node_cloud
from ..operators import Identity
from ..problem import Problem
from ..sparse.amg import AMG
from ..sparse.krylov import krylov as krylov_stats
from ..sparse.matrix import StencilMatrix
from ..stencils import find_neighbors
from . import _mesh_term, _report
from ._movement import movement_for
from ._precond import Hierarchy, solve
from ._system import Rows, SharedWeights, weights_for, with_eps
from .family import Discretization
from .options import LayoutOptions


class Stencils(NamedTuple):
    """A study's ``aux``, refreshed by ``restencil``: what the loss reads besides the
    parameters. Shapes never change between restencils, so the driver's jitted step
    never recompiles; a ``None`` field is an empty pytree node."""

    adjl: jax.Array  # (N, widest member) stencils of the nodes, self first
    adjl_eval: jax.Array  # (M, first member) stencils of the evaluation points
    precond: tuple[AMG, ...] | None = None  # the Krylov path's AMG, one per member
    cells: jax.Array | None = None  # mesh term: triangles, padded to 2 N rows
    cell_mask: jax.Array | None = None  # ... and which of them are real


class Target(NamedTuple):
    """The evaluation points ``y``, the objective's values ``u`` there, the solution
    ``exact`` there when known, and for ``kind="reference"`` the reference solve."""

    y: np.ndarray
    u: Any
    exact: Any
    kind: str
    ref: dict | None = None
    refine_again: Any = None


class LayoutStudy:
    """The callables of a node-layout study around its starting node set ``start``.
    ``members`` is the family of discretizations the loss combines (the first one's
    solution is the exported ``u_h``); ``method`` is the global solve resolved once for
    the study's size (``"direct"`` or ``"krylov"``); ``movement`` "nodes" or "smooth"
    (:mod:`rbfopt.studies._movement`). ``eps="per_stencil"``: the parameters carry
    ``log_eps``, ln ε of each node's stencil (shape (N,)), which the members of the
    study's basis build their systems with (the solutions are read at the evaluation
    points with the basis's own ε); ``project`` clips ε h to
    ``[opts.eps_h_min, opts.eps_h_max]``."""

    def __init__(self, domain, start, h, rows: Rows, operator, source, basis,
                 members: tuple[Discretization, ...], target: Target, exact,
                 opts: LayoutOptions, method: str, movement: str = "nodes",
                 eps: str | None = None) -> None:  # fmt: skip
        self.domain, self.start, self.h, self.rows = domain, start, h, rows
        self.operator, self.source, self.basis = operator, source, basis
        self.members, self.k = members, members[0].k
        self.target, self.exact, self.opts, self.method = target, exact, opts, method
        self.y, self.u_y = jnp.asarray(target.y), jnp.asarray(target.u)
        self.x0 = jnp.asarray(start.points)
        self.on_bnd = np.flatnonzero(start.kind == 1)
        self.project_x = _nodes.projection(domain, start, margin=opts.margin * h)
        self.move = movement_for(movement, start, h, self.project_x, domain, opts.smooth_cells)
        self.per_stencil = eps == "per_stencil"
        # ln ε bounds of eps="per_stencil": ε h in [eps_h_min, eps_h_max]
        self.log_eps_range = (float(np.log(opts.eps_h_min / h)), float(np.log(opts.eps_h_max / h)))
        self.builders = tuple(
            weights_for(m.blend, opts.blend_taper, m.blend_kind, per_node=self.per_stencil)
            for m in members
        )
        self.bases = tuple(basis if m.basis is None else m.basis for m in members)
        self.k_stencil = max(m.width for m in members)
        # plain members of the study's basis: one nested weight build serves them all
        shared = tuple(i for i, m in enumerate(members) if m.blend == 0 and m.basis is None)
        self.shared = shared if len(shared) > 1 else ()
        names = [f"rms_k{m.k}" + (f"_{m.blend_kind}" if m.blend else "") for m in members]
        self.metric_names = [n if names.count(n) == 1 else f"{n}_{i}" for i, n in enumerate(names)]
        self.hierarchies = None
        if method == "krylov":
            # the AMG preconditioner of eps="per_stencil" is set up at the basis's own ε
            self.hierarchies = tuple(
                Hierarchy(jax.jit(lambda x, adjl, i=i: self.system(x, adjl, i)[0]), opts.amg_every)
                for i in range(len(members))
            )  # fmt: skip
        self.solve_stats_at = jax.jit(self._solve_stats)
        # the report evaluates two layouts: one compile instead of two eager traces
        self.evaluate_jit = jax.jit(self.evaluate)

    def nodes(self, p: dict) -> jax.Array:
        return self.move.nodes(p)

    def eps(self, p: dict) -> jax.Array | None:
        """ε per node of ``eps="per_stencil"`` (shape (N,)), else None (the basis's)."""
        return jnp.exp(p["log_eps"]) if self.per_stencil else None

    def basis_of(self, member: int, eps: Any = None) -> Any:
        """Member ``member``'s basis, with the per-node ``eps`` when given and the member
        uses the study's basis (a member with its own basis keeps it)."""
        if eps is None or self.members[member].basis is not None:
            return self.bases[member]
        return with_eps(self.basis, eps)

    def normals(self, x: jax.Array) -> jax.Array:
        # boundary nodes slide: their normals follow; features keep theirs
        nrm = jnp.asarray(self.start.normals)
        if self.on_bnd.size:
            nrm = nrm.at[self.on_bnd].set(self.domain.closest(x[self.on_bnd])[1])
        return nrm

    def system(
        self, x: jax.Array, adjl: jax.Array, member: int = 0, eps: Any = None
    ) -> tuple[Any, jax.Array]:
        """The global matrix and right-hand side of family ``member`` at nodes ``x``
        (``adjl``: the shared stencils; the member reads its first columns; ``eps``: ε
        per node of ``eps="per_stencil"``)."""
        width = self.members[member].width
        basis = self.basis_of(member, eps)
        return self.system_with(x, adjl[:, :width], basis, self.builders[member])

    def system_with(self, x: jax.Array, adjl: jax.Array, basis: Any, weights: Any):
        """The global matrix and right-hand side of the study's problem at nodes ``x``
        for any discretization: stencils ``adjl``, ``basis``, weight builder ``weights``."""
        nrm = self.normals(x)
        rows = {"interior": self.rows.interior, "conditions": self.rows.boundary}
        A = assemble(x, self.operator, **rows, normals=nrm, basis=basis, adjl=adjl,
                     weights=weights)  # fmt: skip
        return A, right_hand_side(x, self.source, **rows, normals=nrm)

    def systems(
        self, x: jax.Array, adjl: jax.Array, eps: Any = None
    ) -> list[tuple[Any, jax.Array]]:
        """Every member's :meth:`system` at nodes ``x``; the plain members of the study's
        basis share one nested weight build per row set (:class:`SharedWeights`)."""
        out = [None] * len(self.members)
        if len(self.shared) > 1:
            sizes = tuple(self.members[i].k for i in self.shared)
            build = SharedWeights(sizes, per_node=self.per_stencil)
            basis = self.basis if eps is None else with_eps(self.basis, eps)
            for s, i in enumerate(self.shared):
                A, rhs = self.system_with(x, adjl, basis, build.member(s))
                width = self.members[i].k
                out[i] = (StencilMatrix(A.values[:, :width], A.adjl[:, :width]), rhs)
        for i in range(len(self.members)):
            if out[i] is None:
                out[i] = self.system(x, adjl, i, eps)
        return out

    def u_h(self, x: jax.Array, aux: Stencils, member: int = 0, eps: Any = None) -> jax.Array:
        precond = None if aux.precond is None else aux.precond[member]
        return solve(*self.system(x, aux.adjl, member, eps), self.method, self.opts, precond)

    def _solve_stats(self, p: dict, aux: Stencils) -> dict[str, jax.Array]:
        """Iterations of the first member's forward and adjoint Krylov solves at ``p``."""
        A, rhs = self.system(self.nodes(p), aux.adjl, 0, self.eps(p))
        its = [
            krylov_stats(A, rhs, tol=tol, precond=aux.precond[0], transpose=t)
            for tol, t in ((self.opts.solver_tol, False), (self.opts.adjoint_tol, True))
        ]
        return {"solve_iterations": its[0].iterations, "adjoint_iterations": its[1].iterations}

    def at_targets(self, x: jax.Array, uhs: list, aux: Stencils) -> list[jax.Array]:
        """Every member's nodal solution read at the targets through one interpolation:
        the first (exported) member's. The members differ in how they solve the PDE;
        reading them through one interpolant measures that (the interpolation part of
        the error moves every member's by at most ~9 % on the default study), at the
        cost of one weight build instead of one per member (docs/performance.md). With
        ``eps="per_stencil"`` the reading keeps the basis's own ε: the stencils' ε tune
        how the PDE is discretized, not an interpolation that could be tuned to the
        evaluation points themselves."""
        adjl = aux.adjl_eval
        w = self.builders[0](Identity(), x, self.y, adjl, self.bases[0])
        return [jnp.sum(w * uh[adjl], axis=1) for uh in uhs]

    def solutions(self, x: jax.Array, aux: Stencils, eps: Any = None) -> list[jax.Array]:
        """Every member's solution u_h at nodes ``x``. Direct solves factor the first
        member's matrix only: the others' solves are preconditioned by its factors (a
        few GMRES steps cost less than a factorization; docs/performance.md)."""
        systems = self.systems(x, aux.adjl, eps)
        out = []
        for i, (A, rhs) in enumerate(systems):
            precond = None if aux.precond is None else aux.precond[i]
            near = systems[0][0] if i and self.method == "direct" else None
            out.append(solve(A, rhs, self.method, self.opts, precond, near))
        return out

    def evaluate(self, p: dict, aux: Stencils) -> tuple[jax.Array, dict, jax.Array]:
        """The loss value, its metrics and the first member's solution u_h at the nodes."""
        opts, x, eps = self.opts, self.nodes(p), self.eps(p)
        errs, trues = [], []
        uhs = self.solutions(x, aux, eps)
        first = uhs[0]
        for u_eval in self.at_targets(x, uhs, aux):
            errs.append(jnp.sqrt(jnp.mean((u_eval - self.u_y) ** 2)))
            if self.target.exact is not None:
                trues.append(jnp.sqrt(jnp.mean((u_eval - self.target.exact) ** 2)))
        log_err = jnp.mean(jnp.log(jnp.stack(errs)))
        barrier, spacing = separation(x, aux.adjl[:, 1:], opts.spacing_floor)
        # the geometric mean of the members' errors: exp of the loss's error term
        metrics = {"objective_rms": jnp.exp(log_err), "barrier": barrier, **spacing}
        if len(self.members) > 1:
            metrics.update(dict(zip(self.metric_names, errs, strict=True)))
        if trues:
            metrics["rms_error"] = jnp.exp(jnp.mean(jnp.log(jnp.stack(trues))))
        value = log_err + opts.mu * barrier
        if opts.mesh_weight > 0:
            shape, worst = _mesh_term.penalty(x, aux.cells, aux.cell_mask, opts.mesh_ratio_floor)
            metrics.update(mesh_penalty=shape, min_radius_ratio=worst)
            value = value + opts.mesh_weight * shape
        return value, metrics, first

    def loss(self, p: dict, aux: Stencils) -> tuple[jax.Array, dict]:
        value, metrics, _ = self.evaluate(p, aux)
        return value, metrics

    def restencil(self, p: dict) -> Stencils:
        x = np.asarray(self.nodes(p))
        adjl = find_neighbors(x, self.k_stencil)
        adjl_eval = find_neighbors(x, self.members[0].width, np.asarray(self.y))
        cells = mask = None
        if self.opts.mesh_weight > 0:
            cells, mask = (jnp.asarray(a) for a in _mesh_term.cells(x, self.domain))
        # the hierarchy keeps host arrays: no copy back from the device
        precond = None
        if self.hierarchies is not None:
            precond = tuple(
                h(x, adjl[:, : m.width])
                for h, m in zip(self.hierarchies, self.members, strict=True)
            )
        return Stencils(jnp.asarray(adjl), jnp.asarray(adjl_eval), precond, cells, mask)

    def init(self) -> dict:
        # positions (or displacements) in units of h: the learning rate is a fraction of
        # the spacing; ln ε: a step of lr changes ε by a share lr
        p = self.move.init()
        if self.per_stencil:
            p["log_eps"] = jnp.full(len(self.start), float(np.log(self.basis.eps)))
        return p

    def project(self, p: dict) -> dict:
        q = self.move.project({key: v for key, v in p.items() if key != "log_eps"})
        if self.per_stencil:
            q = {**q, "log_eps": jnp.clip(p["log_eps"], *self.log_eps_range)}
        return q

    def to_mesh(self, p: dict) -> Any:
        x = self.nodes(p)
        uh = np.asarray(self.u_h(x, self.restencil(p), eps=self.eps(p)))
        kind = self.start.kind
        data = {"u_h": uh, "kind": kind, "group": self.start.group}
        if self.per_stencil:
            data["eps"] = np.asarray(self.eps(p))
        if self.exact is not None:
            ue = np.asarray(jax.vmap(self.exact)(x))
            data.update(u_exact=ue, error=uh - ue)
        return node_cloud(np.asarray(x), data, boundary=(kind != 0).astype(np.int32))

    def loss_label(self) -> str:
        """The loss in words, for the convergence plot's axis."""
        label = f"ln(RMS error vs {self.target.kind}) + barrier"
        return label + " + mesh term" if self.opts.mesh_weight > 0 else label

    def problem(self) -> Problem:
        prob = Problem(
            name=self.opts.name,
            init=self.init,
            loss=self.loss,
            project=self.project,
            restencil=self.restencil,
            to_mesh=self.to_mesh,
            inside=lambda pts: np.asarray(
                self.domain.contains(np.asarray(pts)[:, : self.domain.dim])
            ),
            report=lambda p: _report.report(self, p),
            domain=self.domain,
            loss_label=self.loss_label(),
        )
        if self.hierarchies is not None:  # read by scripts/bench_scale.py
            prob.solve_stats = lambda p: self.solve_stats_at(p, self.restencil(p))
        return prob


def _local_count(dim: int) -> int:
    """Neighbours whose mean distance is a node's local spacing (6 in 2-D)."""
    return 2 * dim + 2


def separation(x: jax.Array, nb: jax.Array, floor: float) -> tuple[jax.Array, dict]:
    """The barrier against collapsing pairs, relative to the local spacing.

    With ``s_i`` the mean distance from node i to its ``2 d + 2`` nearest neighbours
    (its local spacing, graded or not) and ``d_ij`` its distances to the neighbours
    ``nb`` (sorted, self excluded):

        barrier = sum_i sum_j relu(1 - d_ij / (floor s_i))^2,

    a sum, not a mean: one pair closer than ``floor s_i`` costs as much at any N.
    Returns it and the metrics ``min_spacing`` (min d_ij) and ``min_spacing_ratio``
    (min_i d_i1 / s_i).
    """
    d2 = jnp.sum((x[:, None, :] - x[nb]) ** 2, axis=-1)
    # coincident pairs (a projection can land two nodes on one spot) get a finite
    # gradient: sqrt is not differentiable at 0
    d = jnp.where(d2 > 0, jnp.sqrt(jnp.where(d2 > 0, d2, 1.0)), 0.0)
    s = jnp.mean(d[:, : _local_count(x.shape[1])], axis=1)
    barrier = jnp.sum(jax.nn.relu(1.0 - d / (floor * s[:, None])) ** 2)
    return barrier, {"min_spacing": jnp.min(d), "min_spacing_ratio": jnp.min(d[:, 0] / s)}
