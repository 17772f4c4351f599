"""Argument checks of the study builders: each failure a ValueError naming the argument."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._util import fmt_indices, point_values
from ..fd.conditions import Condition, Neumann, data_values
from ..fd.weights import build_weights
from ..polynomials import num_monomials
from ..stencils import find_neighbors
from ._system import Rows


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
        raise ValueError(f"bcs: groups {bad} need ro.Dirichlet, ro.Neumann or ro.Robin")
    if all(isinstance(c, Neumann) or c.alpha == 0 for c in bcs.values()):
        raise ValueError(
            "bcs: every group has a Neumann condition, so u is fixed only up to a constant "
            "(the system is singular); give one group a Dirichlet or Robin condition"
        )

    def rows_of(nodes) -> Rows:
        kind, group = np.asarray(nodes.kind), np.asarray(nodes.group)
        group = np.where(kind != 0, group, -1)
        blocks = [(g, bcs[g], np.flatnonzero(group == i)) for i, g in enumerate(names)]
        blocks = [b for b in blocks if b[2].size]
        return Rows(
            interior=np.flatnonzero(kind == 0),
            boundary=tuple((bc, r) for _, bc, r in blocks),
            names=tuple(g for g, _, _ in blocks),
        )

    return rows_of


def stencil_size(k: int, n: int) -> None:
    if not (isinstance(k, (int, np.integer)) and 1 < k <= n):
        raise ValueError(f"k: the stencil size must be an integer in 2..{n} (the nodes), got {k}")


def members(family: Any, basis: Any, n: int, dim: int) -> None:
    """Every member's stencils fit the nodes and carry its polynomial."""
    for i, m in enumerate(family):
        b = basis if m.basis is None else m.basis
        need = num_monomials(dim, b.poly_deg) if b.poly_deg >= 0 else 1
        if m.width > n:
            raise ValueError(f"discretizations[{i}]: {m.label} reads {m.width} neighbours, "
                             f"more than the {n} nodes")  # fmt: skip
        if m.k < need:
            raise ValueError(f"discretizations[{i}]: k={m.k} is below the {need} terms of "
                             f"its degree-{b.poly_deg} polynomial")  # fmt: skip


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


#: A known solution whose residual in the PDE exceeds this many times the
#: discretization's own consistency error is taken to solve another PDE.
FORM_FACTOR = 10.0

#: A boundary condition whose data differ from the known solution's by more than this
#: relative RMS (normals of curved boundaries are only approximate) is another condition.
CONDITION_RTOL = 0.05

FORM = (
    "the study solves L u = source in the domain (L the operator, {op}) with each group's "
    "condition; for the Laplacian, -Δu = f means source = -f"
)


def pde_form(
    operator: Any, source: Callable, rows: Rows, nodes: Any, exact: Callable, basis: Any, k: int
) -> None:
    """Check that ``exact`` solves ``L u = source`` and each condition, where it can be
    checked: ``L u_exact`` against ``source`` at the interior nodes (a mismatch far above
    the RBF-FD consistency error of L on u_exact there is an error), and each
    condition applied to ``u_exact`` against its data on its group's boundary nodes
    (corner features excluded: their normal is a convention)."""
    x = jnp.asarray(nodes.points)
    form = FORM.format(op=operator)
    u = np.asarray(jax.vmap(exact)(x))
    r = rows.interior
    if r.size:
        lu = point_values("exact", jax.vmap(operator(exact)), x[r])
        f = point_values("source", jax.vmap(source), x[r])
        adjl = find_neighbors(nodes.points, k)[r]
        w = np.asarray(build_weights(operator, x, x[r], adjl, basis))
        level = _rms(np.sum(w * u[adjl], axis=1) - lu)
        miss = _rms(lu - f)
        if miss > FORM_FACTOR * level + 1e-10 * max(_rms(lu), _rms(f)):
            raise ValueError(
                f"source: L u_exact differs from source at the interior nodes by an RMS of "
                f"{miss:.3g} ({miss / max(_rms(f), _rms(lu)):.3g} relative), far above the "
                f"discretization level {level:.3g}; {form}. Largest mismatch at nodes "
                f"{r[np.argsort(-np.abs(lu - f))[:5]].tolist()}"
            )
    nrm = jnp.asarray(nodes.normals)
    for name, (bc, rr) in zip(rows.names, rows.boundary, strict=True):
        # features (corners) have no one normal: their rows are a choice, not the data
        rr = rr[np.asarray(nodes.kind)[rr] == 1]
        if not rr.size:
            continue
        got = np.asarray(jax.vmap(bc.applied_to(exact))(x[rr], nrm[rr]))
        want = np.asarray(data_values(bc, x[rr], nrm[rr]))
        miss, scale = _rms(got - want), max(_rms(got), _rms(want))
        if miss > CONDITION_RTOL * scale and miss > 1e-10 * max(1.0, _rms(u)):
            raise ValueError(
                f"bcs[{name!r}]: the {type(bc).__name__} condition applied to exact differs "
                f"from its data g by a relative RMS of {miss / scale:.3g} on the group's "
                f"nodes; {form}"
            )


def _rms(v: Any) -> float:
    v = np.asarray(v)
    return float(np.sqrt(np.mean(v**2))) if v.size else 0.0
