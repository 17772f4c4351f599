"""The query-baked, data-free adjoint ``W^T`` of global interpolation."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .._util import as_points, is_tracer, pad_rows
from ..basis import PHS, RadialBasis
from ..stencils import check_points
from ._system import (
    check_basis,
    check_centres,
    chunk_size,
    design_rows,
    lu_factor,
    poly_frame,
    saddle_matrix,
    solve_with,
)

__all__ = ["InterpolatorAdjoint", "interpolator_adjoint"]

# ----------------------------------------------------------------------------- adjoint


@functools.partial(jax.jit, static_argnames=("chunk",))
def _adjoint_apply(points, queries, K, lu, shift, scale, basis, ybar2d, chunk):
    n = points.shape[0]
    nq = queries.shape[0]
    n_chunks = -(-nq // chunk)
    pad = n_chunks * chunk - nq
    q = pad_rows(queries, n_chunks * chunk)
    yb = jnp.concatenate([ybar2d, jnp.zeros((pad, ybar2d.shape[1]), ybar2d.dtype)], axis=0)

    def body(acc, args):
        qb, ybb = args
        return acc + design_rows(None, points, basis, shift, scale, qb).T @ ybb, None

    acc0 = jnp.zeros((K.shape[0], ybar2d.shape[1]), ybar2d.dtype)
    et_y, _ = lax.scan(
        body, acc0, (q.reshape(n_chunks, chunk, -1), yb.reshape(n_chunks, chunk, -1))
    )
    return solve_with(K, lu, et_y, transpose=True)[:n]


@jax.jit
def _adjoint_setup(points, basis):
    shift, scale = poly_frame(points)
    K = saddle_matrix(points, basis, shift, scale)
    return K, lu_factor(K), shift, scale


@jax.tree_util.register_pytree_node_class
class InterpolatorAdjoint:
    """Query-baked, data-free transpose ``W'`` of ``f -> Interpolator(points, f)(queries)``.

    ``W = E M^-1 [I; 0]`` with ``E = [Phi(queries, points)  P(queries)]``, so
    ``W' ybar = (M^-T E' ybar)[:N]``: one accumulation of ``E' ybar`` over query
    chunks and one transposed solve with the factors computed at construction.
    ``adj(ybar)`` takes ``(Nq,)`` or ``(Nq, m)`` and returns ``(N,)`` or ``(N, m)``;
    it equals ``jax.grad`` of ``<ybar, itp(queries)>`` w.r.t. the values.

    Examples:
      >>> import jax, jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> x = np.linspace(0.0, 1.0, 8)[:, None]
      >>> q = np.array([[0.25], [0.5]])
      >>> adj = ro.interpolator_adjoint(x, q)
      >>> adj.shape, adj.matrix().shape
      ((8, 2), (8, 2))
      >>> ybar = jnp.array([1.0, -2.0])
      >>> g = jax.grad(lambda f: ybar @ ro.Interpolator(x, f)(q))(jnp.zeros(8))
      >>> bool(jnp.allclose(adj(ybar), g))
      True
    """

    def __init__(self, points, queries, basis, _state=None):
        self.points, self.queries, self.basis = points, queries, basis
        self.K, self.lu, self.shift, self.scale = _state

    def tree_flatten(self):
        return (
            self.points,
            self.queries,
            self.basis,
            self.K,
            self.lu,
            self.shift,
            self.scale,
        ), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        p, q, b, K, lu, s, c = children
        return cls(p, q, b, (K, lu, s, c))

    @property
    def shape(self) -> tuple[int, int]:
        """(N, Nq): the shape of ``W'``."""
        return (self.points.shape[0], self.queries.shape[0])

    def __call__(self, ybar: jax.Array) -> jax.Array:
        nq = self.queries.shape[0]
        ybar = jnp.asarray(ybar)
        if ybar.ndim not in (1, 2) or ybar.shape[0] != nq:
            raise ValueError(f"ybar: expected shape ({nq},) or ({nq}, m), got {ybar.shape}")
        out = _adjoint_apply(
            self.points,
            self.queries,
            self.K,
            self.lu,
            self.shift,
            self.scale,
            self.basis,
            ybar.reshape(nq, -1),
            min(chunk_size(self.points.shape[0]), nq),
        )
        return out[:, 0] if ybar.ndim == 1 else out

    def matrix(self) -> jax.Array:
        """Dense ``W'`` of shape (N, Nq) (small problems only)."""
        return self(jnp.eye(self.queries.shape[0]))


def interpolator_adjoint(
    points: jax.Array, queries: jax.Array, basis: RadialBasis | None = None
) -> InterpolatorAdjoint:
    """Build the data-free adjoint ``W'`` of global interpolation from ``points`` to
    ``queries`` (see :class:`InterpolatorAdjoint`). Checks as :class:`Interpolator`.

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> x = np.linspace(0.0, 1.0, 8)[:, None]
      >>> adj = ro.interpolator_adjoint(x, np.array([[0.25], [0.5]]))
      >>> adj(jnp.ones(2)).shape, adj(jnp.ones((2, 3))).shape
      ((8,), (8, 3))
    """
    basis = check_basis(PHS(3, poly_deg=2) if basis is None else basis)
    if not is_tracer(points):
        x = check_centres(points, basis)
        d = x.shape[1]
    else:
        d = points.shape[-1] if points.ndim == 2 else 1
    if not is_tracer(queries):
        check_points(queries, "queries", d)
    p, q = as_points(points), as_points(queries)
    return InterpolatorAdjoint(p, q, basis, _adjoint_setup(p, basis))
