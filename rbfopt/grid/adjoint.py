"""Query-baked, data-free adjoints ``Wᵀ`` of grid interpolation.

For fixed queries ``xq`` the interpolant is ``y = W f + y₀`` (``y₀``: prescribed
``Deriv`` values, fill values).  :func:`linear_adjoint` / :func:`cubic_adjoint` locate
the queries once (interval indices, offsets, masks: O(m)) and then apply

    f̄ = Wᵀ ȳ = (C_1 ⊗ … ⊗ C_d)ᵀ S(ȳ)

without forming ``W``: ``S`` accumulates ``ȳ_q Π_a φ^{(d_a)}_{k_a}(t_a(q))`` into
the coefficient rows ``j(q)`` by scatter-add (O(m); ȳ is read in order and the
table is small, so this beats regrouping the queries by cell, which turns the
reads into random gathers), and ``C_aᵀ`` is, per axis, the transposed
Hermite-to-power map, the transposed tridiagonal (or cyclic, Sherman–Morrison) solve
``A⁻ᵀ`` on the same grid-only bands, and the transposed right-hand-side operator
``Bᵀ`` (O(n)).  Queries masked by ``FillExtrap``/``NoExtrap`` contribute nothing; for
affine boundary conditions (non-zero ``Deriv1``/``Deriv2`` values) this is the adjoint
of the linear part.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from .axis import prepare_axis
from .bc import CubicFit
from .extrap import NoExtrap
from .interpolant import _as_grids, _build, _split_queries
from .nd import OnGrid, axis_knots, combine_weights, degree, outside_mask, scatter, transpose_coefs
from .validate import check_deriv

# Defaults as module-level singletons (immutable).
_NO_EXTRAP = NoExtrap()
_CUBIC_FIT = CubicFit()

__all__ = ["GridAdjoint", "linear_adjoint", "cubic_adjoint"]


@jax.tree_util.register_pytree_node_class
class GridAdjoint(OnGrid):
    """``Wᵀ`` for fixed queries: ``adj(ybar, deriv=0)`` → ``f̄`` of shape
    ``grid_shape + batch`` for ``ybar`` of shape ``query_shape + batch``.

    ``adj.matrix(deriv)`` materializes ``Wᵀ`` as a dense (n_1⋯n_d, m) array (for
    checks); ``adj.shape == (n_1⋯n_d, m)``.

    Examples:
      ``adj(ybar)`` is the gradient of ``<ybar, itp(xq)>`` w.r.t. the data, without data:

      >>> import jax, jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 5)
      >>> xq = jnp.array([0.3, 0.7])
      >>> adj = grid.cubic_adjoint(x, xq)
      >>> adj.shape, adj.matrix().shape
      ((5, 2), (5, 2))
      >>> ybar = jnp.array([1.0, -2.0])
      >>> g = jax.grad(lambda f: ybar @ grid.cubic_interp(x, f)(xq))(jnp.zeros(5))
      >>> bool(jnp.allclose(adj(ybar), g))
      True
    """

    def __init__(self, kind, grids, bcs, extraps, qs, query_shape):
        self.kind = kind
        self.grids = tuple(grids)
        self.bcs = tuple(bcs)
        self.extraps = tuple(extraps)
        self.qs = tuple(qs)
        self.query_shape = tuple(query_shape)

    def tree_flatten(self):
        return (self.grids, self.bcs, self.extraps, self.qs), (
            self.kind,
            self.query_shape,
        )

    @classmethod
    def tree_unflatten(cls, aux, children):
        grids, bcs, extraps, qs = children
        return cls(aux[0], grids, bcs, extraps, qs, aux[1])

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of ``Wᵀ``: (grid points, queries)."""
        return (math.prod(self.grid_shape), math.prod(self.query_shape))

    def __call__(self, ybar, deriv: int | tuple[int, ...] = 0) -> jax.Array:
        deriv = check_deriv(deriv, self.ndim, 1 if self.kind == "linear" else 3)
        ybar = jnp.asarray(ybar)
        nq = len(self.query_shape)
        if ybar.shape[:nq] != self.query_shape:
            raise ValueError(
                f"ybar: expected leading shape {self.query_shape} (the queries), got {ybar.shape}"
            )
        batch = ybar.shape[nq:]
        fbar = _apply(self, ybar.reshape((math.prod(self.query_shape), -1)), deriv)
        return fbar.reshape(self.grid_shape + batch)

    def matrix(self, deriv: int | tuple[int, ...] = 0) -> jax.Array:
        """Dense ``Wᵀ`` (n_1⋯n_d, m): the adjoint applied to the identity."""
        m = self.shape[1]
        eye = jnp.eye(m, dtype=jnp.result_type(*self.grids))
        return self(eye.reshape(self.query_shape + (m,)), deriv).reshape(self.shape)


@partial(jax.jit, static_argnames=("deriv",))
def _apply(adj: GridAdjoint, ybar, deriv):
    dtype = jnp.result_type(ybar.dtype, *adj.grids)
    ybar = ybar.astype(dtype)
    out = outside_mask(adj.qs)
    if out is not None:
        ybar = jnp.where(out[:, None], 0, ybar)
    k = degree(adj.kind) + 1
    n_int = tuple(q_knots.shape[0] - 1 for q_knots in _knots(adj))
    table_shape = n_int + (k,) * adj.ndim + (ybar.shape[1],)
    w = combine_weights(adj.qs, adj.kind, deriv)
    cbar = scatter(table_shape, adj.qs, w, ybar)
    return transpose_coefs(
        adj.kind, adj.grids, adj.bcs, cbar, adj.grid_shape + (ybar.shape[1],), dtype
    )


def _knots(adj: GridAdjoint):
    return tuple(axis_knots(adj.kind, g, b) for g, b in zip(adj.grids, adj.bcs, strict=True))


def _make(kind: str, x, xq, bc, extrap) -> GridAdjoint:
    grids, concrete = _as_grids(x)
    d = len(grids)
    # Reuse the interpolant's argument checks (grid, BC, point counts) and its choice
    # of interval search on dummy data.
    given = tuple(g if c is None else c for g, c in zip(grids, concrete, strict=True))
    proto = _build(kind, given, jnp.zeros(tuple(g.shape[0] for g in grids)), bc, extrap)
    flat, qshape = _split_queries(xq, d)
    knots = proto.checked_knots(flat, qshape)
    dtype = jnp.result_type(*grids)
    qs = _prepare(knots, tuple(q.astype(dtype) for q in flat), proto.extraps, proto.searches)
    return GridAdjoint(kind, grids, proto.bcs, proto.extraps, qs, qshape)


@jax.jit
def _prepare(knots, flat, extraps, searches):
    """Locate the queries once (the query-baked part of the adjoint)."""
    return tuple(
        prepare_axis(k, q, e, s) for k, q, e, s in zip(knots, flat, extraps, searches, strict=True)
    )


def linear_adjoint(x: Any, xq: Any, extrap: Any = _NO_EXTRAP) -> GridAdjoint:
    """Data-free ``Wᵀ`` of :func:`~rbfopt.grid.linear_interp` on grid ``x`` at ``xq``.

    ``Wᵀȳ``: each query scatters ``ȳ (1 - t/h_j)`` to ``f_j`` and ``ȳ t/h_j`` to
    ``f_{j+1}`` (value), or ``∓ȳ/h_j`` (derivative); tensor products in N-D.

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> adj = grid.linear_adjoint(jnp.linspace(0.0, 1.0, 5), jnp.array([0.1]))
      >>> adj(jnp.array([1.0]))
      Array([0.6, 0.4, 0. , 0. , 0. ], dtype=float64)
      >>> adj.matrix(deriv=1).ravel()
      Array([-4.,  4.,  0.,  0.,  0.], dtype=float64)
    """
    return _make("linear", x, xq, None, extrap)


def cubic_adjoint(x: Any, xq: Any, bc: Any = _CUBIC_FIT, extrap: Any = _NO_EXTRAP) -> GridAdjoint:
    """Data-free ``Wᵀ`` of :func:`~rbfopt.grid.cubic_interp` on grid ``x`` at ``xq``:
    scatter of basis weights, then ``G_fᵀ + Bᵀ A⁻ᵀ G_sᵀ`` per axis (module docstring).

    Examples:
      Weights sum to one (constants are reproduced):

      >>> import jax.numpy as jnp
      >>> from rbfopt import grid
      >>> x = jnp.linspace(0.0, 1.0, 6)
      >>> adj = grid.cubic_adjoint(x, jnp.array([0.15, 0.5, 0.95]), bc=grid.Natural())
      >>> adj.shape
      (6, 3)
      >>> jnp.round(adj.matrix().sum(axis=0), 12)
      Array([1., 1., 1.], dtype=float64)
    """
    return _make("cubic", x, xq, bc, extrap)
