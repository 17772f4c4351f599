"""Argument checks of the study builders: each failure a ValueError naming the argument."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._util import fmt_indices, point_values
from ._precond import method_for
from ._system import Rows
from .conditions import Condition, Neumann, data_values


def tuning(given: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` updated by ``given``; unknown keys are an error."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"tuning: unknown options {unknown}; known: {sorted(defaults)}")
    opts = {**defaults, **given}
    ranges = {
        "mu": (0, np.inf, True),
        "spacing_floor": (0, 1, False),
        "margin": (0, 0.5, False),
        "fine": (0, np.inf, False),
        "reference_refine": (1, np.inf, False),
        "mesh_weight": (0, np.inf, True),
        "mesh_ratio_floor": (0, 1, False),
        "blend_taper": (0, np.inf, False),
        "solver_tol": (0, 1, False),
        "adjoint_tol": (0, 1, False),
    }
    for key, (lo, hi, closed) in ranges.items():
        v = opts[key]
        ok = isinstance(v, (int, float)) and (lo <= v if closed else lo < v) and v < hi
        if not ok:
            brackets = "[" if closed else "("
            raise ValueError(f"{key}: must be in {brackets}{lo}, {hi}), got {v!r}")
    b = opts["blend"]
    if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 0 <= b <= 8:
        raise ValueError(
            f"blend: number of blended stencil sizes must be an integer in 0..8, got {b!r}"
        )
    kind = opts["blend_kind"]
    if kind not in ("sizes", "taper"):
        raise ValueError(f"blend_kind: expected 'sizes' or 'taper', got {kind!r}")
    if kind == "taper" and b not in (0, 2):
        raise ValueError(f"blend_kind: 'taper' spans two stencil sizes (blend=2), got blend={b}")
    every = opts["amg_every"]
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"amg_every: must be an integer >= 1, got {every!r}")
    method_for(opts["solver"], 0)  # raises for an unknown solver
    return opts


def conditions(domain: Any, bcs: Any) -> Callable[[Any], Rows]:
    """Check ``bcs`` against the domain's groups; return node set -> :class:`Rows`."""
    if not isinstance(bcs, Mapping):
        raise ValueError(f"bcs: expected a dict group name -> condition, got {type(bcs).__name__}")
    names = tuple(domain.group_names)
    unknown = [g for g in bcs if g not in names]
    if unknown:
        raise ValueError(f"bcs: unknown boundary groups {unknown}; the domain's groups: {names}")
    missing = [g for g in names if g not in bcs]
    if missing:
        raise ValueError(f"bcs: no condition for the boundary groups {missing}")
    bad = [g for g, c in bcs.items() if not isinstance(c, Condition)]
    if bad:
        raise ValueError(f"bcs: groups {bad} need ro.studies.Dirichlet, Neumann or Robin")
    if all(isinstance(c, Neumann) or c.alpha == 0 for c in bcs.values()):
        raise ValueError(
            "bcs: every group has a Neumann condition, so u is fixed only up to a constant "
            "(the system is singular); give one group a Dirichlet or Robin condition"
        )
    order = [(bcs[g], i) for i, g in enumerate(names)]

    def rows_of(nodes) -> Rows:
        kind, group = np.asarray(nodes.kind), np.asarray(nodes.group)
        group = np.where(kind != 0, group, -1)
        blocks = ((bc, np.flatnonzero(group == i)) for bc, i in order)
        return Rows(
            interior=np.flatnonzero(kind == 0), boundary=tuple(b for b in blocks if b[1].size)
        )

    return rows_of


def stencil_size(k: int, n: int) -> None:
    if not (isinstance(k, (int, np.integer)) and 1 < k <= n):
        raise ValueError(f"k: the stencil size must be an integer in 2..{n} (the nodes), got {k}")


def data(source: Callable, rows: Rows, nodes: Any) -> None:
    """The source on the interior nodes and each condition's data on its nodes: one
    finite value per node."""
    x = jnp.asarray(nodes.points)
    _values("source", lambda p: jax.vmap(source)(p), x[rows.interior], rows.interior)
    nrm = jnp.asarray(nodes.normals)
    for bc, r in rows.boundary:
        name = f"bcs ({type(bc).__name__}.g)"
        _values(name, lambda p, r=r, bc=bc: data_values(bc, p, nrm[r]), x[r], r)


def _values(name: str, fn: Callable, x: jax.Array, idx: np.ndarray) -> None:
    v = point_values(name, fn, x)
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        raise ValueError(f"{name}: NaN or inf at nodes {fmt_indices(idx[bad])}")
