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
from ..stencils import find_neighbors
from . import _mesh_term, _report
from ._precond import Hierarchy, solve
from ._system import Rows, weights_for
from .options import LayoutOptions


class Stencils(NamedTuple):
    """A study's ``aux``, refreshed by ``restencil``: what the loss reads besides the
    parameters. Shapes never change between restencils, so the driver's jitted step
    never recompiles; a ``None`` field is an empty pytree node."""

    adjl: jax.Array  # (N, k + blend) stencils of the nodes, self first
    adjl_eval: jax.Array  # (M, k + blend) stencils of the evaluation points
    precond: AMG | None = None  # the Krylov path's AMG hierarchy
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
    """The callables of a node-layout study around its starting node set ``start``
    (positions are parameters in units of the spacing ``h``). ``method`` is the global
    solve resolved once for the study's size (``"direct"`` or ``"krylov"``)."""

    def __init__(self, domain, start, h, rows: Rows, operator, source, basis, k: int,
                 target: Target, exact, opts: LayoutOptions, method: str) -> None:  # fmt: skip
        self.domain, self.start, self.h, self.rows = domain, start, h, rows
        self.operator, self.source, self.basis, self.k = operator, source, basis, k
        self.target, self.exact, self.opts, self.method = target, exact, opts, method
        self.y, self.u_y = jnp.asarray(target.y), jnp.asarray(target.u)
        self.x0 = jnp.asarray(start.points)
        self.fixed = jnp.asarray(start.kind == 2)[:, None]
        self.on_bnd = np.flatnonzero(start.kind == 1)
        self.project_x = _nodes.projection(domain, start, margin=opts.margin * h)
        self.weights = weights_for(opts.blend, opts.blend_taper, opts.blend_kind)
        self.k_stencil = k + opts.blend
        self.hierarchy = None
        if method == "krylov":
            matrix = jax.jit(lambda x, adjl: self.system(x, adjl)[0])
            self.hierarchy = Hierarchy(matrix, opts.amg_every)
        self.solve_stats_at = jax.jit(self._solve_stats)

    def nodes(self, p: dict) -> jax.Array:
        return jnp.where(self.fixed, self.x0, p["points"] * self.h)

    def normals(self, x: jax.Array) -> jax.Array:
        # boundary nodes slide: their normals follow; features keep theirs
        nrm = jnp.asarray(self.start.normals)
        if self.on_bnd.size:
            nrm = nrm.at[self.on_bnd].set(self.domain.closest(x[self.on_bnd])[1])
        return nrm

    def system(self, x: jax.Array, adjl: jax.Array) -> tuple[Any, jax.Array]:
        """The global matrix and right-hand side at nodes ``x`` with stencils ``adjl``."""
        nrm = self.normals(x)
        rows = {"interior": self.rows.interior, "conditions": self.rows.boundary}
        A = assemble(x, self.operator, **rows, normals=nrm, basis=self.basis, adjl=adjl,
                     weights=self.weights)  # fmt: skip
        return A, right_hand_side(x, self.source, **rows, normals=nrm)

    def u_h(self, x: jax.Array, aux: Stencils) -> jax.Array:
        return solve(*self.system(x, aux.adjl), self.method, self.opts, aux.precond)

    def _solve_stats(self, p: dict, aux: Stencils) -> dict[str, jax.Array]:
        """Iterations of the forward and adjoint Krylov solves at ``p``."""
        A, rhs = self.system(self.nodes(p), aux.adjl)
        its = [
            krylov_stats(A, rhs, tol=tol, precond=aux.precond, transpose=t)
            for tol, t in ((self.opts.solver_tol, False), (self.opts.adjoint_tol, True))
        ]
        return {"solve_iterations": its[0].iterations, "adjoint_iterations": its[1].iterations}

    def evaluate(self, p: dict, aux: Stencils) -> tuple[jax.Array, dict, jax.Array]:
        """The loss value, its metrics and the discrete solution u_h at the nodes."""
        opts, x = self.opts, self.nodes(p)
        uh = self.u_h(x, aux)
        w = self.weights(Identity(), x, self.y, aux.adjl_eval, self.basis)
        u_eval = jnp.sum(w * uh[aux.adjl_eval], axis=1)
        nb = aux.adjl[:, 1:]
        d = jnp.sqrt(jnp.sum((x[:, None, :] - x[nb]) ** 2, axis=-1))
        barrier = jnp.sum(jax.nn.relu(1.0 - d / (opts.spacing_floor * self.h)) ** 2) / x.shape[0]
        err = jnp.sqrt(jnp.mean((u_eval - self.u_y) ** 2))
        metrics = {"objective_rms": err, "barrier": barrier, "min_spacing": jnp.min(d)}
        if self.target.exact is not None:
            metrics["rms_error"] = jnp.sqrt(jnp.mean((u_eval - self.target.exact) ** 2))
        value = jnp.log(err) + opts.mu * barrier
        if opts.mesh_weight > 0:
            shape, worst = _mesh_term.penalty(x, aux.cells, aux.cell_mask, opts.mesh_ratio_floor)
            metrics.update(mesh_penalty=shape, min_radius_ratio=worst)
            value = value + opts.mesh_weight * shape
        return value, metrics, uh

    def loss(self, p: dict, aux: Stencils) -> tuple[jax.Array, dict]:
        value, metrics, _ = self.evaluate(p, aux)
        return value, metrics

    def restencil(self, p: dict) -> Stencils:
        x = np.asarray(self.nodes(p))
        adjl = find_neighbors(x, self.k_stencil)
        adjl_eval = find_neighbors(x, self.k_stencil, np.asarray(self.y))
        cells = mask = None
        if self.opts.mesh_weight > 0:
            cells, mask = (jnp.asarray(a) for a in _mesh_term.cells(x, self.domain))
        # the hierarchy keeps host arrays: no copy back from the device
        precond = None if self.hierarchy is None else self.hierarchy(x, adjl)
        return Stencils(jnp.asarray(adjl), jnp.asarray(adjl_eval), precond, cells, mask)

    def init(self) -> dict:
        # positions in units of h: the learning rate is a fraction of the spacing
        return {"points": self.x0 / self.h}

    def project(self, p: dict) -> dict:
        return {"points": self.project_x(p["points"] * self.h) / self.h}

    def to_mesh(self, p: dict) -> Any:
        x = self.nodes(p)
        uh = np.asarray(self.u_h(x, self.restencil(p)))
        kind = self.start.kind
        data = {"u_h": uh, "kind": kind, "group": self.start.group}
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
        if self.hierarchy is not None:  # read by scripts/bench_scale.py
            prob.solve_stats = lambda p: self.solve_stats_at(p, self.restencil(p))
        return prob
