"""Grid interpolants: :func:`linear_interp`, :func:`cubic_interp` (1-D and N-D).

The interpolant is a pytree whose leaves are the grids, the data ``f`` and any
boundary/fill values; the spline coefficients are recomputed from ``f`` on each call
(an O(n) tridiagonal solve per axis, fused into the same jitted computation), so
``jax.grad`` of ``itp(xq)`` w.r.t. ``itp.f`` — or of ``cubic_interp(x, f)(xq)``
w.r.t. ``f`` — is exactly the adjoint ``Wᵀȳ``: scatter-add of the basis weights,
transposed Hermite map, transposed tridiagonal solve (``custom_linear_solve``'s
``transpose_solve``), transposed right-hand-side operator.  Forward mode and higher
orders follow by linearity.  W.r.t. the queries the derivative is the derivative
evaluation (``∂/∂xq`` of the piece polynomial; no NaN at knots).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .axis import AxisQueries, Search, make_search, prepare_axis
from .bc import CubicFit, Periodic, normalize_bc
from .extrap import FillExtrap, NoExtrap, normalize_extrap
from .nd import OnGrid, axis_knots, combine_weights, contract, outside_mask, tensor_coefs
from .validate import check_deriv, check_grid, check_periodic_ends, check_queries, is_concrete

# Defaults as module-level singletons (immutable).
_NO_EXTRAP = NoExtrap()
_CUBIC_FIT = CubicFit()

__all__ = ["GridInterpolant", "linear_interp", "cubic_interp"]


def _as_grids(x) -> tuple[tuple[jax.Array, ...], tuple[np.ndarray | None, ...]]:
    """``x`` (1-D array) or a tuple of 1-D arrays → (float arrays, their concrete numpy
    values or ``None`` when traced).  The numpy copies drive validation and the choice of
    search even inside ``jit`` (where constants may already be staged as tracers)."""
    grids = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    out, conc = [], []
    for g in grids:
        c = None if not is_concrete(g) else np.asarray(g)
        g = jnp.asarray(g)
        if not jnp.issubdtype(g.dtype, jnp.floating):
            g = g.astype(jnp.result_type(float))
            c = None if c is None else c.astype(g.dtype)
        out.append(g)
        conc.append(c)
    return tuple(out), tuple(conc)


def _np_knots(kind: str, x: np.ndarray, bc) -> np.ndarray:
    """numpy twin of :func:`.nd.axis_knots` (for choosing the search)."""
    start = bc[0]
    if kind == "cubic" and isinstance(start, Periodic) and start.endpoint == "exclusive":
        p = start.period if start.period is not None else x[-1] - x[0] + (x[1] - x[0])
        return np.concatenate([x, np.asarray([x[0] + p], x.dtype)])
    return x


def _grid_names(d: int) -> list[str]:
    return ["x"] if d == 1 else [f"x[{a}]" for a in range(d)]


def _normalize_bcs(bc, d: int):
    if d == 1:
        return (normalize_bc(bc),)
    # N-D: a tuple is per axis (give an axis' (start, end) pair as a nested tuple).
    if isinstance(bc, (tuple, list)):
        if len(bc) != d:
            raise ValueError(f"bc: expected one condition or a tuple of {d}, got {bc!r}")
        return tuple(normalize_bc(b, f"bc[{a}]") for a, b in enumerate(bc))
    return (normalize_bc(bc),) * d


def _split_queries(xq, d: int) -> tuple[tuple[jax.Array, ...], tuple[int, ...]]:
    """Queries → (per-axis flat arrays, query shape).  1-D: any shape; N-D: a tuple of
    d broadcastable arrays or one array of shape (..., d)."""
    if d == 1:
        q = jnp.asarray(xq)
        return (q.reshape(-1),), q.shape
    if isinstance(xq, (tuple, list)):
        if len(xq) != d:
            raise ValueError(f"xq: expected {d} coordinate arrays, got {len(xq)}")
        qs = jnp.broadcast_arrays(*[jnp.asarray(a) for a in xq])
    else:
        q = jnp.asarray(xq)
        if q.ndim < 1 or q.shape[-1] != d:
            raise ValueError(f"xq: expected shape (..., {d}), got {q.shape}")
        qs = [q[..., a] for a in range(d)]
    shape = qs[0].shape
    return tuple(a.reshape(-1) for a in qs), shape


def _offset(qs: tuple[AxisQueries, ...], extraps, deriv, dtype):
    """Data-independent part outside the domain: fill value (value, not derivatives),
    NaN for NoExtrap under tracing.  First masking axis wins."""
    off = None
    for q, e in zip(reversed(qs), reversed(extraps), strict=True):
        if q.outside is None:
            continue
        if isinstance(e, FillExtrap):
            value_query = all(dd == 0 for dd in deriv)
            v = jnp.asarray(e.value, dtype) if value_query else jnp.zeros((), dtype)
        else:
            v = jnp.asarray(jnp.nan, dtype)
        cur = jnp.zeros((), dtype) if off is None else off
        off = jnp.where(q.outside, v, cur)
    return off


@jax.tree_util.register_pytree_node_class
class GridInterpolant(OnGrid):
    """Linear or cubic tensor-product interpolant on a rectilinear grid.

    Leaves: ``grids`` (one 1-D array per axis), ``f`` (shape (n_1, …, n_d, *batch)),
    and the boundary conditions / extrapolation rules (their values are leaves).
    Static: ``kind`` (``"linear"`` | ``"cubic"``) and per axis a :class:`.axis.Search`
    (grid-only interval-search tables, tied to the grid given at construction).

    ``itp(xq, deriv=0)``: 1-D ``xq`` of any shape → ``xq.shape + batch``; N-D ``xq`` a
    tuple of d arrays or an array (..., d) → ``query shape + batch``.  ``deriv``: the
    derivative order (1-D int) or one order per axis (mixed partials), cubic ≤ 3,
    linear ≤ 1.

    Examples:
      The data ``f`` is a leaf, so a loss of ``itp`` differentiates w.r.t. it:

      >>> import jax, jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> itp = grid.cubic_interp(x, x ** 3)
      >>> itp.grid_shape, itp.ndim
      ((5,), 1)
      >>> jax.grad(lambda f: grid.cubic_interp(x, f)(0.3))(x ** 3)
      Array([-0.04266667,  0.84266667,  0.248     , -0.05333333,  0.00533333], dtype=float64)
    """

    def __init__(self, kind: str, grids, f, bcs, extraps, searches):
        self.kind = kind
        self.grids = tuple(grids)
        self.f = f
        self.bcs = tuple(bcs)
        self.extraps = tuple(extraps)
        self.searches = tuple(searches)

    # pytree ---------------------------------------------------------------------
    def tree_flatten(self):
        return (self.grids, self.f, self.bcs, self.extraps, self.searches), self.kind

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(aux, *children)

    # properties -----------------------------------------------------------------
    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(jnp.shape(self.f)[self.ndim :])

    def knots(self) -> tuple[jax.Array, ...]:
        """Per-axis knot vectors of the pieces (exclusive periodic axes are extended)."""
        return tuple(axis_knots(self.kind, g, b) for g, b in zip(self.grids, self.bcs, strict=True))

    def coefficients(self, homogeneous: bool = False):
        """Power-basis table (N_1, …, N_d, k_1, …, k_d, *batch) (see :mod:`.nd`)."""
        f2 = jnp.reshape(self.f, self.grid_shape + (-1,))
        c = tensor_coefs(self.kind, self.grids, self.bcs, f2, homogeneous)
        return c.reshape(c.shape[:-1] + self.batch_shape)

    def checked_knots(self, flat: tuple, qshape: tuple[int, ...]) -> tuple[jax.Array, ...]:
        """The knot vectors, after checking concrete per-axis queries against them."""
        knots = self.knots()
        names = ["xq"] if self.ndim == 1 else [f"xq[{a}]" for a in range(self.ndim)]
        for a in range(self.ndim):
            if is_concrete(flat[a]):
                check_queries(
                    flat[a].reshape(qshape),
                    knots[a][0],
                    knots[a][-1],
                    names[a],
                    isinstance(self.extraps[a], NoExtrap),
                )
        return knots

    # evaluation -----------------------------------------------------------------
    def __call__(self, xq, deriv: int | tuple[int, ...] = 0) -> jax.Array:
        d = self.ndim
        deriv = check_deriv(deriv, d, 1 if self.kind == "linear" else 3)
        flat, qshape = _split_queries(xq, d)
        self.checked_knots(flat, qshape)
        y = _evaluate(self, flat, deriv)
        return y.reshape(qshape + self.batch_shape)


@partial(jax.jit, static_argnames=("deriv",))
def _evaluate(itp: GridInterpolant, flat, deriv):
    dtype = jnp.result_type(*itp.grids)
    f2 = jnp.reshape(itp.f, itp.grid_shape + (-1,))
    table = tensor_coefs(itp.kind, itp.grids, itp.bcs, f2)
    qs = tuple(
        prepare_axis(k, q.astype(dtype), e, u)
        for k, q, e, u in zip(itp.knots(), flat, itp.extraps, itp.searches, strict=True)
    )
    w = {k: v.astype(dtype) for k, v in combine_weights(qs, itp.kind, deriv).items()}
    y = contract(table, qs, w)
    out = outside_mask(qs)
    if out is not None:
        off = _offset(qs, itp.extraps, deriv, y.dtype)
        y = jnp.where(out[:, None], off[:, None], y)
    return y


def _build(kind: str, x, f, bc, extrap) -> GridInterpolant:
    grids, concrete = _as_grids(x)
    d = len(grids)
    f = jnp.asarray(f)
    if not jnp.issubdtype(f.dtype, jnp.inexact):
        f = f.astype(jnp.result_type(float))
    names = _grid_names(d)
    if f.ndim < d:
        raise ValueError(f"f: expected at least {d} axes (grid shape first), got shape {f.shape}")
    bcs = _normalize_bcs(bc, d) if kind == "cubic" else ((None, None),) * d
    extraps = normalize_extrap(extrap, d)
    for a, g in enumerate(grids):
        gc = g if concrete[a] is None else concrete[a]
        if kind == "linear":
            check_grid(gc, names[a], 2, "linear interpolation")
        else:
            need = max(b.min_points for b in bcs[a])
            check_grid(gc, names[a], need, f"boundary condition {bcs[a]!r}")
        if f.shape[a] != g.shape[0]:
            raise ValueError(
                f"f: axis {a} has length {f.shape[a]} but {names[a]} has {g.shape[0]} points"
            )
        start = bcs[a][0]
        if isinstance(start, Periodic) and start.endpoint == "inclusive":
            check_periodic_ends(f, a, "f")
            if start.period is not None and concrete[a] is not None:
                p = float(concrete[a][-1] - concrete[a][0])
                if abs(p - float(start.period)) > 1e-9 * abs(p):
                    raise ValueError(
                        f"period: {start.period} differs from {names[a]}[-1] - {names[a]}[0] = {p}"
                    )
    searches = tuple(
        Search("bisect") if c is None else make_search(_np_knots(kind, c, b))
        for c, b in zip(concrete, bcs, strict=True)
    )
    return GridInterpolant(kind, grids, f, bcs, extraps, searches)


def linear_interp(x: Any, f: Any, extrap: Any = _NO_EXTRAP) -> GridInterpolant:
    """Piecewise-(multi)linear interpolant of ``f`` on the grid ``x``.

    ``x``: a sorted 1-D array (n,), or a tuple of d of them; ``f``: shape
    (n_1, …, n_d, *batch), real or complex.  ``extrap``: one rule or one per axis.
    Equals ``numpy.interp`` in 1-D (inside the domain).

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> itp = grid.linear_interp(x, x ** 2)
      >>> itp(jnp.array([0.1, 0.5]))
      Array([0.025, 0.25 ], dtype=float64)
      >>> itp(jnp.array([0.1]), deriv=1)
      Array([0.25], dtype=float64)
      >>> itp2 = grid.linear_interp((x, x), x[:, None] + 2 * x[None, :])
      >>> itp2(jnp.array([[0.3, 0.6]]))
      Array([1.5], dtype=float64)
    """
    return _build("linear", x, f, None, extrap)


def cubic_interp(x: Any, f: Any, bc: Any = _CUBIC_FIT, extrap: Any = _NO_EXTRAP) -> GridInterpolant:
    """Cubic-spline (C², tensor-product in N-D) interpolant of ``f`` on the grid ``x``.

    ``bc``: 1-D: a condition for both ends or a ``(start, end)`` pair; N-D: one
    condition for all axes or a tuple with one entry (condition or pair) per axis.
    ``extrap``: one rule or one per axis.  See :mod:`rbfopt.grid.bc` for the systems.

    Examples:
      The default end condition (:class:`~rbfopt.grid.CubicFit`) reproduces cubics:

      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> s = grid.cubic_interp(x, x ** 3)
      >>> s(jnp.array([0.3, 0.7]))
      Array([0.027, 0.343], dtype=float64)
      >>> s(jnp.array([0.3]), deriv=2)
      Array([1.8], dtype=float64)
    """
    return _build("cubic", x, f, bc, extrap)
