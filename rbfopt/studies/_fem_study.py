"""A node-layout study whose discretization is finite elements: the mesh is the result.

The vertices move; the connectivity is a Delaunay triangulation (tetrahedralization in
3-D) of them inside the domain (:func:`rbfopt.mesh.triangulate`), rebuilt at each
restencil and fixed in between, so the mesh the loss sees is the mesh exported.
Lagrange P1 or P2 on triangles, P1 on tetrahedra (:mod:`rbfopt.fem`) solves the
study's PDE with Dirichlet data by lifting and Neumann / Robin data as facet terms.
The operator is ``L = k Laplacian - c`` with constant ``k > 0``, ``c >= 0``
(``-div(k grad u) + c u = -source``; :func:`coefficients`). The loss:

* ``objective="exact"``: ``h1_share ln |u_h - u|_H1 + (1 - h1_share) ln ||u_h - u||_L2``
  by quadrature;
* ``objective="energy"`` (no solution needed): the Ritz functional
  ``J = 1/2 a(u_h, u_h) - l(u_h)``, whose decrease is the decrease of the
  energy-norm error ``1/2 |u - u_h|_a^2`` (symmetric problems, exact Dirichlet
  data), over the scale ``J(start) - J(start refined once)``;

plus ``mu`` times a shape barrier that grows without bound as a cell flattens,
``sum_corners relu(theta_0 / theta - 1)^2`` with ``theta_0 = min_angle`` (the six
dihedral angles of tetrahedra, with a floor per cell: :meth:`FEStudy.floors`). A mesh
with an inverted or flat cell, a hole or a vertex no cell uses has loss ``inf``: the
driver rejects that step. The energy objective is built for triangles.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import nodes as _nodes
from .._operator_algebra import Scaled, Sum
from ..fd.conditions import Dirichlet, data_values
from ..fem import boundary as _facets
from ..fem.assemble import identity, lift, load, mass, stiffness
from ..fem.error import errors
from ..fem.space import Space, space
from ..mesh import quality as mesh_quality
from ..mesh import triangulate
from ..operators import Identity, Laplacian
from ..problem import Problem
from ..sparse.matrix import StencilMatrix
from ..sparse.solve import linsolve
from ._fem_terms import (
    GABRIEL_NEIGHBOURS,
    dihedral_angles,
    gabriel_barrier,
    gabriel_neighbours,
    refine,
    shape_barrier,
)
from ._movement import movement_for
from .options import LayoutOptions

DEGREES = {"p1": 1, "p2": 2}
#: The load's quadrature (:func:`rbfopt.fem.elements.conical_rule`, 25 points, degree
#: 8): with the 6-point rule, the energy objective lowers J by placing quadrature
#: points on a sharp source's peak while the true error grows 30x (measured).
LOAD_ORDER = 5


def coefficients(operator: Any) -> tuple[float, float]:
    """``(k, c)`` of an operator description ``k Laplacian - c Identity`` (sums and
    constant multiples of :class:`~rbfopt.operators.Laplacian` and
    :class:`~rbfopt.operators.Identity`); a ValueError naming ``operator`` otherwise.

    Examples:
      >>> import rbfopt as ro
      >>> coefficients(2 * ro.Laplacian() - 3 * ro.Identity())
      (2.0, 3.0)
    """
    terms = {"k": 0.0, "c": 0.0}

    def walk(op, scale):
        if isinstance(op, Sum):
            walk(op.a, scale)
            walk(op.b, scale)
        elif isinstance(op, Scaled):
            walk(op.op, scale * float(op.c))
        elif isinstance(op, Laplacian):
            terms["k"] += scale
        elif isinstance(op, Identity):
            terms["c"] -= scale
        else:
            raise ValueError(
                "operator: finite-element studies solve -div(k grad u) + c u, given as "
                f"k * ro.Laplacian() - c * ro.Identity() with constants; got {op!r}"
            )

    walk(operator, 1.0)
    if terms["k"] <= 0 or terms["c"] < 0:
        raise ValueError(f"operator: needs k > 0 and c >= 0 (a coercive form), got {terms}")
    return terms["k"], terms["c"]


def ritz(uh: jax.Array, K: Any, b: jax.Array) -> jax.Array:
    """The Ritz functional ``1/2 u' K u - b' u`` of the unlifted system at ``uh``."""
    return 0.5 * jnp.dot(uh, K @ uh) - jnp.dot(b, uh)


class FEMesh(NamedTuple):
    """The study's ``aux``: the triangulation as a padded :class:`~rbfopt.fem.Space`,
    which dofs are fixed (Dirichlet and padding) with each one's Dirichlet group, and
    the flux facets (Neumann / Robin) with their group and slots."""

    space: Space
    fixed: jax.Array  # (n_dofs,) bool
    dof_group: jax.Array  # (n_dofs,) index into the Dirichlet conditions, -1 free
    fdofs: jax.Array  # (F, 2 or 3) flux facets' dofs
    facet_group: jax.Array  # (F,) index into the flux conditions, -1 padding
    fslots: jax.Array  # (F, m, m) their matrix slots
    whole: jax.Array  # () bool: no hole (boundary facet at an interior node), no unused vertex
    gabriel: jax.Array  # (L, 3 + G) boundary facets (a, b, mask) and the vertices near them
    floor: jax.Array  # (E,) each cell's shape-barrier angle (radians)


class FEStudy:
    """The callables of a finite-element mesh study (see the module docstring)."""

    def __init__(self, domain, start, h, bcs, source, exact, objective: str, degree: int,
                 opts: LayoutOptions, movement: str = "nodes",
                 coefficients: tuple[float, float] = (1.0, 0.0)) -> None:  # fmt: skip
        self.domain, self.start, self.h, self.opts = domain, start, h, opts
        self.k, self.c = coefficients
        self.source, self.exact, self.objective, self.degree = source, exact, objective, degree
        names = tuple(domain.group_names)
        self.dirichlet = [(i, bcs[g]) for i, g in enumerate(names) if isinstance(bcs[g], Dirichlet)]
        self.flux = [(i, bcs[g]) for i, g in enumerate(names) if not isinstance(bcs[g], Dirichlet)]
        project = _nodes.projection(domain, start, margin=opts.margin * h)
        self.move = movement_for(movement, start, h, project, domain, opts.smooth_cells)
        self.pinned = None
        if objective == "energy":
            # the energy identity needs one Dirichlet trace for every mesh: vertices on
            # Dirichlet groups stay (a sliding vertex changes the interpolated data)
            on = np.isin(start.group, [g for g, _ in self.dirichlet]) & (start.kind != 0)
            self.pinned = jnp.asarray(on)[:, None]
        self.x0 = jnp.asarray(start.points)
        self.capacity = (0, 0, 0, 0, 0)
        self.energy_scale = None
        if objective == "energy":
            self.energy_scale = self._energy_scale()
        self.evaluate_jit = jax.jit(self.evaluate)

    # -- the mesh (host side) -------------------------------------------------------

    @property
    def min_quality(self) -> float:
        """Cells of boundary nodes peeled off the triangulation: measure / longest
        edge^d at most this. In 3-D only the flat ones (4 nodes of one face): a
        tetrahedron of nodes on two faces of an edge is a valid if poor cell, and
        peeling all of a vertex's cells would leave it out of the mesh."""
        return 1e-3 if self.domain.dim == 2 else 1e-9

    def triangulation(self, x: np.ndarray):
        """The tagged triangulation of the vertices ``x`` (a meshio Mesh). A mesh with
        a hole (a flat cell at an interior node peeled off) is not warned about: its
        :class:`FEMesh` is marked, and the loss rejects the step."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return triangulate(x, self.domain, kind=self.start.kind, min_quality=self.min_quality)

    def mesh_of(self, x: np.ndarray, mesh=None, capacity: tuple | None = None) -> FEMesh:
        """The padded :class:`FEMesh` of the vertices ``x`` (or of ``mesh``), padded to
        ``capacity`` (default the study's, which grows to fit)."""
        grow = capacity is None
        mesh = self.triangulation(x) if mesh is None else mesh
        cells, lines = mesh.cells[0].data, mesh.cells[1].data
        group = np.asarray(mesh.cell_data["group"][1])
        inner = np.zeros(len(lines), bool)
        if len(x) == len(self.start):  # (a refined mesh has no holes: its lines are kept)
            inner = np.any(np.asarray(self.start.kind)[lines] == 0, axis=1)
        group = np.where(inner, -1, group)  # a hole's facets carry no condition
        cap = self.capacity if grow else capacity
        sp = space(cells, len(x), self.degree, capacity=cap[:3])
        fdofs_all = lines if self.degree == 1 else np.c_[lines, sp.edge_dofs(lines)]
        fixed = ~np.asarray(sp.used)
        dof_group = np.full(sp.n_dofs, -1)
        for j, (g, _) in enumerate(self.dirichlet):
            on = fdofs_all[group == g].ravel()
            dof_group[on[dof_group[on] < 0]] = j
        fixed |= dof_group >= 0
        flux_of = {g: j for j, (g, _) in enumerate(self.flux)}
        keep = np.isin(group, list(flux_of))
        fdofs = fdofs_all[keep]
        fgroup = np.array([flux_of[g] for g in group[keep]], dtype=np.int64)
        n_f = max(cap[3], len(fdofs), 1)
        pad = n_f - len(fdofs)
        first = fdofs_all[:1]
        fdofs = np.concatenate([fdofs, np.repeat(first, pad, axis=0)])
        fgroup = np.concatenate([fgroup, np.full(pad, -1)])
        count = GABRIEL_NEIGHBOURS if self.domain.dim == 2 else 0  # (see _fem_terms)
        near = gabriel_neighbours(x, lines, max(cap[4], len(lines)), count)
        if grow:
            sizes = (*sp.capacity, n_f, len(near))
            self.capacity = tuple(max(a, b) for a, b in zip(cap, sizes, strict=True))
        slots = _facets.facet_slots(sp, fdofs)
        floor = self.floors(x, sp)
        # a vertex no cell uses (it met another: Delaunay keeps one of them) is no mesh
        # of the nodes either
        whole = not inner.any() and bool(np.asarray(sp.used)[: len(x)].all())
        arrays = (fixed, dof_group, fdofs, fgroup, slots, whole, near, floor)
        return FEMesh(jax.tree_util.tree_map(jnp.asarray, sp), *(jnp.asarray(a) for a in arrays))

    def floors(self, x: np.ndarray, sp: Space) -> np.ndarray:
        """Each cell's shape-barrier angle: ``min_angle`` for triangles; for tetrahedra
        ``min_dihedral`` or half the cell's smallest dihedral angle at ``x`` if less.
        Delaunay tetrahedra of any node set include slivers, which re-triangulation
        rebuilds: a fixed floor would fight them and outweigh the error term (see the
        guide); the relative one only keeps each cell from flattening further before
        the next re-triangulation."""
        if sp.dim == 2:
            return np.full(len(sp.cells), np.deg2rad(self.opts.min_angle))
        theta, _ = dihedral_angles(jnp.asarray(x), sp)
        return np.minimum(np.deg2rad(self.opts.min_dihedral), 0.5 * np.min(theta, axis=1))

    def restencil(self, p: dict) -> FEMesh:
        x = np.asarray(self.nodes(p))
        before = self.capacity
        m = self.mesh_of(x)
        if self.capacity != before:  # the first mesh, or one that outgrew the padding
            # slack, so that re-triangulations rarely recompile; tetrahedra vary more
            c, grow = self.capacity, 1.02 if self.domain.dim == 2 else 1.1
            self.capacity = (int(c[0] * grow) + 4, int(c[1] * 1.02) + 4, c[2] + 10,
                             int(c[3] * grow) + 4, int(c[4] * grow) + 4)  # fmt: skip
            m = self.mesh_of(x)
        return m

    # -- the discrete problem (traceable) -------------------------------------------

    def nodes(self, p: dict) -> jax.Array:
        x = self.move.nodes(p)
        return x if self.pinned is None else jnp.where(self.pinned, self.x0, x)

    def system(self, x: jax.Array, m: FEMesh):
        """The unlifted stiffness matrix and load vector (Neumann / Robin terms in),
        and the Dirichlet values at the dofs."""
        sp = m.space
        K = stiffness(sp, x)
        if (self.k, self.c) != (1.0, 0.0):  # -div(k grad u) + c u: one sparsity for both
            K = StencilMatrix(self.k * K.values + self.c * mass(sp, x).values, K.adjl)
        # L u = source with L = k Laplacian - c: -div(k grad u) + c u = -source
        b = load(sp, x, lambda p: -self.source(p), order=LOAD_ORDER)
        if self.flux:
            weight = jnp.zeros(len(m.facet_group))
            coef = jnp.zeros(len(m.facet_group))
            terms = []
            for j, (_, bc) in enumerate(self.flux):
                on = m.facet_group == j
                weight = jnp.where(on, 1.0 / bc.beta, weight)
                coef = jnp.where(on, bc.alpha / bc.beta, coef)
                terms.append((on, bc))

            def data(xq, nq):
                q = xq.shape[0] // len(m.facet_group)
                out = jnp.zeros(xq.shape[0])
                for on, bc in terms:
                    out = jnp.where(jnp.repeat(on, q), data_values(bc, xq, nq), out)
                return out

            b = b + _facets.facet_load(sp, x, m.fdofs, data, weight)
            if any(bc.alpha for _, bc in self.flux):
                K = _facets.facet_mass(sp, K, x, m.fdofs, m.fslots, coef)
        xd = sp.dof_points(x)
        g = jnp.zeros(sp.n_dofs)
        for j, (_, bc) in enumerate(self.dirichlet):
            g = jnp.where(m.dof_group == j, data_values(bc, xd, jnp.zeros_like(xd)), g)
        return K, b, g

    def solve(self, x: jax.Array, m: FEMesh):
        """The dof values u_h, and the unlifted system."""
        K, b, g = self.system(x, m)
        A, rhs = lift(K, b, m.fixed, g)
        # a flat cell (whose loss is inf) must not stop the run in the solver's check
        finite = jnp.all(jnp.isfinite(A.values)) & jnp.all(jnp.isfinite(rhs))
        A = StencilMatrix(jnp.where(finite, A.values, identity(A.adjl)), A.adjl)
        return linsolve(A, jnp.where(finite, rhs, 0.0), "direct"), K, b

    def evaluate(self, p: dict, m: FEMesh) -> tuple[jax.Array, dict, jax.Array]:
        """The loss, its metrics and u_h at the dofs."""
        x = self.nodes(p)
        uh, K, b = self.solve(x, m)
        metrics = {}
        if self.exact is not None:
            l2, h1 = errors(m.space, x, uh, self.exact)
            metrics.update(l2_error=l2, h1_error=h1)
        if self.objective == "exact":
            share = self.opts.h1_share
            value = share * jnp.log(h1) + (1.0 - share) * jnp.log(l2)
        else:
            energy = ritz(uh, K, b)
            metrics["energy"] = energy
            value = energy / self.energy_scale
        barrier, worst, valid = shape_barrier(x, m.space, m.floor)
        barrier = barrier + gabriel_barrier(x, m.gabriel)
        metrics.update(shape_barrier=barrier, min_angle=jnp.rad2deg(worst))
        value = jnp.where(valid & m.whole, value + self.opts.mu * barrier, jnp.inf)
        return value, metrics, uh

    def loss(self, p: dict, m: FEMesh):
        value, metrics, _ = self.evaluate(p, m)
        return value, metrics

    def _energy_scale(self) -> float:
        """``J(start) - J(start refined once)``: the energy-error scale of the start."""
        x0 = np.asarray(self.start.points)
        mesh = self.triangulation(x0)
        fine_x, fine_mesh = refine(x0, mesh)
        energies = []
        for x, msh in ((x0, mesh), (fine_x, fine_mesh)):
            m = self.mesh_of(x, msh, capacity=(0, 0, 0, 0, 0))
            energies.append(float(ritz(*self.solve(jnp.asarray(x), m))))
        return abs(energies[0] - energies[1])

    # -- the Problem ----------------------------------------------------------------

    def to_mesh(self, p: dict):
        """The triangulation the loss sees at ``p``, with u_h (and the error) at the
        vertices."""
        x = np.asarray(self.nodes(p))
        msh = self.triangulation(x)
        m = self.mesh_of(x, msh, self.capacity)
        _, _, uh = self.evaluate_jit(p, m)
        n = len(x)
        data = {"u_h": np.asarray(uh)[:n], "kind": self.start.kind, "group": self.start.group}
        if self.exact is not None:
            ue = np.asarray(jax.vmap(self.exact)(jnp.asarray(x)))
            data.update(u_exact=ue, error=data["u_h"] - ue)
        data["boundary"] = (self.start.kind != 0).astype(np.int32)
        msh.point_data.update(data)
        return msh

    def report(self, p: dict) -> dict[str, Any]:
        """Figures of the start and the optimized mesh ``p`` for ``summary.json``:
        the errors the study measures (L2, H1 when ``exact`` is known; the energy), the
        cell count and the triangles' shapes, and the factors start / optimized."""
        out: dict[str, Any] = {"discretization": f"p{self.degree}", "objective": self.objective,
                               "n_vertices": len(self.start), "h": self.h}  # fmt: skip
        for label, q in (("initial", self.move.init()), ("optimized", p)):
            x = np.asarray(self.nodes(q))
            msh = self.triangulation(x)
            _, metrics, _ = self.evaluate_jit(q, self.mesh_of(x, msh, self.capacity))
            for key in ("l2_error", "h1_error", "energy"):
                if key in metrics:
                    out[f"{key}_{label}"] = float(metrics[key])
            for key, v in mesh_quality(msh).items():
                out[f"{key}_{label}"] = v
        for key in ("l2_error", "h1_error"):
            if f"{key}_initial" in out:
                out[f"{key}_factor"] = out[f"{key}_initial"] / out[f"{key}_optimized"]
        return out

    def problem(self) -> Problem:
        return Problem(
            name=self.opts.name,
            init=self.move.init,
            loss=self.loss,
            project=self.move.project,
            restencil=self.restencil,
            to_mesh=self.to_mesh,
            report=self.report,
            inside=lambda pts: np.asarray(
                self.domain.contains(np.asarray(pts)[:, : self.domain.dim])
            ),
            domain=self.domain,
            loss_label=f"{self.objective} objective (P{self.degree}) + shape barrier",
        )
