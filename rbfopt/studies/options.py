"""The typed options of a node-layout study: one frozen dataclass that checks itself."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .._util import check_int
from ..basis import PHS, RadialBasis
from .family import check_blend

__all__ = ["LayoutOptions", "SOLVERS"]

#: The global solves a study can use (``solver``).
SOLVERS = ("auto", "direct", "krylov")

# name -> (low, high, brackets): the real-valued options' ranges, "[" / "]" where the
# bound is included
_RANGES = {
    "mu": (0.0, np.inf, "[)"),
    "spacing_floor": (0.0, 1.0, "()"),
    "margin": (0.0, 0.5, "()"),
    "fine": (0.0, np.inf, "()"),
    "reference_refine": (1.0, np.inf, "()"),
    "mesh_weight": (0.0, np.inf, "[)"),
    "mesh_ratio_floor": (0.0, 1.0, "()"),
    "min_angle": (0.0, 60.0, "()"),
    "min_dihedral": (0.0, 70.0, "()"),
    "h1_share": (0.0, 1.0, "[]"),
    "smooth_cells": (0.0, np.inf, "()"),
    "blend_taper": (0.0, np.inf, "()"),
    "solver_tol": (0.0, 1.0, "()"),
    "adjoint_tol": (0.0, 1.0, "()"),
    "eps_h_min": (0.0, np.inf, "()"),
    "eps_h_max": (0.0, np.inf, "()"),
}


@dataclasses.dataclass(frozen=True)
class LayoutOptions:
    """Options of :func:`rbfopt.studies.node_layout` beyond the PDE and the node count.

    Every field is checked when the object is made (a ValueError naming the field);
    :meth:`of` builds one from keyword arguments and refuses unknown names.

    Attributes:
      mu: weight of the barrier against collapsing nodes.
      spacing_floor: barrier distance as a share of a node's local spacing (the mean
        distance to its 2 d + 2 nearest neighbours).
      margin: interior depth and corner gap of the projection, in units of h.
      fine: ``objective="exact"``: the evaluation grid's spacing is h / fine.
      reference_refine: ``objective="reference"``: the reference's spacing is
        h / reference_refine.
      reference_basis: basis of the reference solve (PHS5 + quartics).
      max_reference_nodes: refuse a reference node set larger than this.
      max_eval_points: at most this many evaluation (and check) points.
      blend: weights of the family members given as a stencil size (and of the
        default family): 0 plain k-nearest weights (as other codes build them; the
        loss jumps where neighbour lists change), or sizes k..k+blend-1 blended,
        continuous in the positions.
      blend_taper: taper of :func:`rbfopt.fd.blended_weights`.
      blend_kind: ``"taper"`` (:func:`rbfopt.fd.tapered_weights`, one local solve;
        blend=2) or ``"sizes"`` (:func:`rbfopt.fd.blended_weights`, one per size).
      smooth_cells: ``movement="smooth"``: the displacement grid's spacing in units of h.
      held_out: the report solves the held-out family on the start and the optimized
        layout (:mod:`rbfopt.studies._robustness`; a few seconds of compiles per member).
      mesh_weight: > 0 adds the triangle-shape term for finite-element users (2-D).
      mesh_ratio_floor: radius ratio 2 r / R below which triangles are penalized.
      min_angle: finite-element discretizations: the shape barrier's angle (degrees)
        below which a triangle's corners are penalized, without bound as they flatten.
      min_dihedral: the same for tetrahedra's dihedral angles (degrees), lowered for
        each cell to half its smallest dihedral angle when the mesh is built: Delaunay
        tetrahedra include slivers (dihedral angles near 0 and 180 degrees) that
        re-triangulation rebuilds, so the barrier keeps cells from flattening between
        re-triangulations and the objective sees what slivers cost the solution.
      h1_share: finite elements, ``objective="exact"``: the weight of
        ``ln |u_h - u|_H1`` in the loss, ``1 - h1_share`` that of ``ln ||u_h - u||_L2``.
      solver: the global solve: ``"direct"`` (SuperLU), ``"krylov"`` (BiCGStab + AMG)
        or ``"auto"`` (Krylov from 20 000 unknowns on the CPU, always on accelerators;
        SuperLU for systems with Neumann or Robin rows, on which BiCGStab stalls).
      solver_tol: relative residual of the Krylov solves.
      adjoint_tol: relative residual of their transposed solves (the gradient's).
      amg_every: restencils between AMG set-ups (the hierarchy is carried over between).
      eps_h_min, eps_h_max: ``eps="per_stencil"``: the range of ε h (h the starting
        spacing) that ``project`` keeps every stencil's ε in. Below 0.2 the local
        systems of 30-node stencils (the default family's widest, 2-D, quadratics)
        near the flat limit lose more than 6 digits of their weights in float64
        (measured against 60-digit solves: IMQ 2e-9, Gaussian 9e-7, MQ 1e-7 relative
        at ε h = 0.2; 5e-4 for Gaussian at 0.13 and singular by 0.05); above 3 the
        kernels are so peaked that neighbours barely couple. Wider stencils need a
        larger ``eps_h_min``.
      name: the study's name (runs, plots).

    Examples:
      >>> from rbfopt.studies import LayoutOptions
      >>> LayoutOptions.of(mu=5.0).mu, LayoutOptions().solver
      (5.0, 'auto')
      >>> LayoutOptions.of(barrier=1.0)  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      ValueError: options: unknown study options ['barrier']; known: ...
    """

    mu: float = 10.0
    spacing_floor: float = 0.6
    margin: float = 0.25
    fine: float = 2.0
    reference_refine: float = 4.0
    reference_basis: RadialBasis = dataclasses.field(default_factory=lambda: PHS(5, poly_deg=4))
    max_reference_nodes: int = 400_000
    max_eval_points: int = 20_000
    blend: int = 0
    blend_taper: float = 0.3
    blend_kind: str = "taper"
    smooth_cells: float = 3.0
    held_out: bool = True
    mesh_weight: float = 0.0
    mesh_ratio_floor: float = 0.6
    min_angle: float = 22.0
    min_dihedral: float = 10.0
    h1_share: float = 1.0
    solver: str = "auto"
    solver_tol: float = 1e-10
    adjoint_tol: float = 1e-6
    amg_every: int = 20
    eps_h_min: float = 0.2
    eps_h_max: float = 3.0
    name: str = "node_layout"

    @classmethod
    def of(cls, **given: Any) -> LayoutOptions:
        """Options from keyword arguments; unknown names are an error naming them."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f"options: unknown study options {unknown}; known: {sorted(known)}")
        return cls(**given)

    def __post_init__(self) -> None:
        for key, (lo, hi, brackets) in _RANGES.items():
            v = getattr(self, key)
            real = isinstance(v, (int, float, np.floating)) and not isinstance(v, bool)
            above = lo <= v if brackets[0] == "[" else lo < v
            below = v <= hi if brackets[1] == "]" else v < hi
            if not (real and above and below):
                raise ValueError(
                    f"{key}: must be in {brackets[0]}{lo:g}, {hi:g}{brackets[1]}, got {v!r}"
                )
        check_blend(self.blend, self.blend_kind)
        if self.eps_h_min >= self.eps_h_max:
            raise ValueError(
                f"eps_h_min, eps_h_max: need eps_h_min < eps_h_max, got "
                f"{self.eps_h_min!r} >= {self.eps_h_max!r}"
            )
        check_int("amg_every", self.amg_every, 1, what="restencils between AMG set-ups")
        check_int("max_reference_nodes", self.max_reference_nodes, 1)
        check_int("max_eval_points", self.max_eval_points, 1)
        if not isinstance(self.held_out, bool):
            raise ValueError(f"held_out: expected True or False, got {self.held_out!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver: expected 'auto', 'direct' or 'krylov', got {self.solver!r}")
        if not isinstance(self.reference_basis, RadialBasis):
            raise ValueError(
                f"reference_basis: expected an rbfopt basis (e.g. ro.PHS(5, poly_deg=4)), "
                f"got {type(self.reference_basis).__name__}"
            )
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")

    def as_dict(self) -> dict[str, Any]:
        """The options as a plain dict (for ``Problem.options`` and summaries)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **changes: Any) -> LayoutOptions:
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)
