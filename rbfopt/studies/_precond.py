"""The global solve of a study: direct (SuperLU) or Krylov with an AMG kept across restencils.

A study restencils every step, and an AMG set-up (pyamg, on the host) costs more than a
step at N = 1e5. So :class:`Hierarchy` builds one at the first restencil, with
``headroom`` in its shapes, and then only carries it over to the new stencils
(:meth:`rbfopt.sparse.AMG.with_stencils`); every ``every`` restencils it is set up
again from the current matrix, in the same shapes (``amg(..., like=)``), so the
driver's jitted step never recompiles. A stale hierarchy costs iterations, never
accuracy: the Krylov solve checks its true residual.
"""

from __future__ import annotations

from typing import Any

import jax

from ..sparse.amg import AMG, MisfitError, amg
from ..sparse.solve import linsolve
from .options import SOLVERS, LayoutOptions

#: ``solver="auto"`` takes the Krylov path from this many nodes (on the CPU; always on
#: accelerators): below it SuperLU's factorization is the faster step.
KRYLOV_FROM = 20_000


#: What a study's Krylov non-convergence error advises (the study's option names, not
#: :func:`rbfopt.linsolve`'s).
ADVICE = (
    "pass solver='direct' to the study (on the command line: -O solver=direct), or "
    "loosen solver_tol / adjoint_tol"
)


def method_for(solver: str, n: int, flux_rows: bool = False) -> str:
    """The global solve of a system of ``n`` unknowns, resolved once: ``"direct"`` or
    ``"krylov"`` (``solver``: one of those, or ``"auto"``).

    ``"auto"`` takes SuperLU for systems with Neumann or Robin rows (``flux_rows``):
    their one-sided derivative rows are far from diagonally dominant, and BiCGStab
    with the AMG V-cycle stalls on them (docs/performance.md, "Sparse solves").

    Examples:
      >>> from rbfopt.studies._precond import method_for
      >>> method_for("auto", 1000), method_for("auto", 10**6), method_for("krylov", 10)
      ('direct', 'krylov', 'krylov')
      >>> method_for("auto", 10**6, flux_rows=True)
      'direct'
    """
    if solver not in SOLVERS:
        raise ValueError(f"solver: expected 'auto', 'direct' or 'krylov', got {solver!r}")
    if solver != "auto":
        return solver
    if flux_rows:
        return "direct"
    return "krylov" if n >= KRYLOV_FROM or jax.default_backend() != "cpu" else "direct"


def has_flux_rows(rows: Any) -> bool:
    """Whether a study's :class:`~rbfopt.studies._system.Rows` hold Neumann or Robin
    rows (a condition with a normal-derivative term)."""
    return any(bc.beta != 0 for bc, _ in rows.boundary)


def solve(
    A: Any, rhs: Any, method: str, opts: LayoutOptions, precond: AMG | None = None, near: Any = None
) -> Any:
    """``A^-1 rhs`` by the resolved ``method``: ``"direct"`` is SuperLU whatever the size
    or device (``near``: another member's matrix, whose factors precondition GMRES
    to the study's tolerances instead of factoring ``A``; see :func:`rbfopt.linsolve`);
    ``"krylov"`` is BiCGStab
    with ``precond`` to ``opts.solver_tol`` (its transposed solves to
    ``opts.adjoint_tol``), its failure naming the study's options."""
    if method == "direct":
        tols = {} if near is None else dict(tol=opts.solver_tol, adjoint_tol=opts.adjoint_tol)
        return linsolve(A, rhs, "direct", near=near, **tols)
    return linsolve(
        A, rhs, "krylov", precond=precond, tol=opts.solver_tol,
        adjoint_tol=opts.adjoint_tol, advice=ADVICE,
    )  # fmt: skip


class Hierarchy:
    """The AMG of a study's matrix, kept across restencils (see the module docstring).

    ``matrix(x, adjl)`` assembles the (concrete) matrix at nodes ``x`` with stencils
    ``adjl``; calling the object with them returns the hierarchy for those stencils.
    """

    def __init__(self, matrix, every: int, headroom: float = 1.25):
        self.matrix = matrix
        self.every = every
        self.headroom = headroom
        self.current: AMG | None = None
        self.age = 0

    def __call__(self, x: Any, adjl: Any) -> AMG:
        if self.current is not None and self.age < self.every:
            self.age += 1
            self.current = self.current.with_stencils(adjl)
            return self.current
        A = self.matrix(x, adjl)
        if self.current is None:
            self.current = amg(A, headroom=self.headroom)
        else:
            try:
                self.current = amg(A, like=self.current)
            except MisfitError:  # the matrix outgrew the shapes: keep the stale one
                self.current = self.current.with_stencils(adjl)
        self.age = 0
        return self.current
