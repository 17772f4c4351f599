"""Tensor-product machinery shared by interpolants and adjoints (1-D is d = 1).

With per-axis coefficient maps ``C_a`` (:mod:`.linear`, :mod:`.cubic`) the
tensor-product coefficients are ``c = (C_1 ⊗ … ⊗ C_d) f``: apply ``C_a`` along axis
``a`` in turn.  The table is laid out as (N_1, …, N_d, k_1, …, k_d, K) so one query
gathers one contiguous block ``c[j_1, …, j_d]`` of ``k_1⋯k_d`` rows (fused gather).

A query ``q`` then evaluates ``y_q = Σ_{k} c[j(q), k] Π_a φ^{(d_a)}_{k_a}(t_a(q))``;
its adjoint scatters ``ȳ_q Π_a φ_{k_a}`` into ``c̄[j(q)]`` (scatter-add) and applies
``(C_1 ⊗ … ⊗ C_d)ᵀ`` — the per-axis transposes (for cubic axes: the transposed
Hermite map, the transposed tridiagonal solve ``A⁻ᵀ`` and the transposed RHS operator
``Bᵀ``), obtained exactly by :func:`jax.linear_transpose` of the linear part.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .axis import AxisQueries, basis_weights
from .cubic import cubic_coefs, cubic_knots
from .linear import linear_coefs


class OnGrid:
    """Shape queries of objects defined on a rectilinear grid (``self.grids``: one
    sorted 1-D array per axis)."""

    grids: tuple

    @property
    def ndim(self) -> int:
        return len(self.grids)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(g.shape[0] for g in self.grids)


__all__ = ["axis_knots", "tensor_coefs", "contract", "scatter", "combine_weights", "degree"]


def degree(kind: str) -> int:
    return 1 if kind == "linear" else 3


def axis_knots(kind: str, x, bc):
    return x if kind == "linear" else cubic_knots(x, bc)


def _axis_coefs(kind, x, f2, bc, homogeneous):
    if kind == "linear":
        return linear_coefs(x, f2)
    return cubic_coefs(x, f2, bc, homogeneous)


def tensor_coefs(kind: str, grids, bcs, f, homogeneous: bool = False):
    """``f`` (n_1, …, n_d, K) ↦ table (N_1, …, N_d, k_1, …, k_d, K)."""
    d = len(grids)
    c = f
    for a in range(d):
        pos = 2 * a  # processed axes sit in front as (N, k) pairs
        cm = jnp.moveaxis(c, pos, 0)
        rest = cm.shape[1:]
        out = _axis_coefs(kind, grids[a], cm.reshape(cm.shape[0], -1), bcs[a], homogeneous)
        out = out.reshape(out.shape[:2] + rest)
        c = jnp.moveaxis(out, (0, 1), (pos, pos + 1))
    perm = [2 * a for a in range(d)] + [2 * a + 1 for a in range(d)] + [2 * d]
    return jnp.transpose(c, perm)


def combine_weights(qs: tuple[AxisQueries, ...], kind: str, deriv: tuple[int, ...]) -> dict:
    """Per-query tensor-product weights ``{(k_1, …, k_d): w (m,)}``, omitting the
    identically-zero ones (derivative orders kill low powers)."""
    w = {(): None}
    for a, q in enumerate(qs):
        wa = basis_weights(q, degree(kind), deriv[a])
        w = {
            key + (k,): (wk if wprev is None else wprev * wk)
            for key, wprev in w.items()
            for k, wk in enumerate(wa)
            if wk is not None
        }
    return w


def outside_mask(qs: tuple[AxisQueries, ...]):
    """Queries outside a Fill/NoExtrap axis (``None`` if no axis masks)."""
    m = None
    for q in qs:
        if q.outside is not None:
            m = q.outside if m is None else (m | q.outside)
    return m


def _index(qs):
    return tuple(q.index for q in qs)


def contract(table, qs: tuple[AxisQueries, ...], w: dict):
    """``y_q = Σ_k table[j(q), k] w_k(q)`` → (m, K): one fused gather of the
    ``k_1⋯k_d`` block per query, then elementwise multiply-adds."""
    block = table.at[_index(qs)].get(mode="promise_in_bounds")  # (m, k_1..k_d, K)
    y = None
    for key, wk in w.items():
        term = block[(slice(None),) + key] * wk[:, None]
        y = term if y is None else y + term
    if y is None:  # every weight vanishes (e.g. deriv above the degree)
        y = jnp.zeros((block.shape[0], block.shape[-1]), table.dtype)
    return y


def scatter(table_shape, qs: tuple[AxisQueries, ...], w: dict, ybar):
    """Adjoint of :func:`contract` in the table: ``c̄[j(q), k] += ȳ_q w_k(q)``.

    Written as the exact transpose of :func:`contract` (JAX turns its fused gather into
    a single scatter-add of the weighted ``k_1⋯k_d`` blocks), faster on CPU than
    per-column scatters.
    """
    spec = jax.ShapeDtypeStruct(table_shape, ybar.dtype)
    (cbar,) = jax.linear_transpose(lambda t: contract(t, qs, w), spec)(ybar)
    return cbar


def transpose_coefs(kind: str, grids, bcs, table_bar, f_shape, dtype):
    """``(C_1 ⊗ … ⊗ C_d)ᵀ c̄`` — adjoint of the linear part of :func:`tensor_coefs`."""
    lin = lambda f: tensor_coefs(kind, grids, bcs, f, homogeneous=True)  # noqa: E731
    (fbar,) = jax.linear_transpose(lin, jax.ShapeDtypeStruct(f_shape, dtype))(table_bar)
    return fbar
