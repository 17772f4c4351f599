"""RBFOperator: stencil weights next to stencil indices; apply, adjoint, scipy export.

``op(u)`` computes ``(W u)_e = sum_j W[e, j] u[adjl[e, j]]`` (gather + row dot);
``op.adjoint(ybar)`` computes ``W^T ybar`` by a scatter-add over the stencil
indices. Both are linear in their argument and in ``op.weights``, so JAX
differentiates them w.r.t. the field values and w.r.t. the weights (and through the
weights w.r.t. node positions and ``eps``).

Constructors (:func:`laplacian`, :func:`partial`, ...) find stencils with scipy when
``adjl`` is not given (outside any trace) and build the weights with
:func:`rbfopt.fd.weights.build_weights`; with ``adjl`` given, construction is
traceable, so ``jax.grad(lambda p: loss(laplacian(p, adjl=adjl)(u)))(points)``
differentiates w.r.t. node positions.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from .._util import as_points, is_tracer
from ..basis import PHS, RadialBasis
from ..operators import (
    Gradient,
    Hessian,
    Identity,
    Laplacian,
    MixedPartial,
    Operator,
    Partial,
)
from ..stencils import autoselect_k, find_neighbors
from .weights import build_weights

__all__ = [
    "RBFOperator",
    "operator",
    "laplacian",
    "partial",
    "gradient",
    "hessian",
    "mixed_partial",
    "directional",
    "regrid",
]


@jax.tree_util.register_pytree_node_class
class RBFOperator:
    """A discrete RBF-FD operator: ``weights`` (N_eval, k[, n_out]) and ``adjl`` (N_eval, k).

    ``n_data`` (static) is the number of data nodes; ``out_shape`` (static) is ``()``
    for scalar operators, ``(d,)`` for gradients, ``(d, d)`` for Hessians.

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> x = np.random.default_rng(0).random((30, 2))
      >>> L = ro.laplacian(x)
      >>> L
      RBFOperator(N_eval=30, N=30, k=12, out_shape=())
      >>> L.weights.shape, L.adjl.shape, L.shape
      ((30, 12), (30, 12), (30, 30))
      >>> bool(jnp.allclose(L(x[:, 0] ** 2 + x[:, 1] ** 2), 4.0))
      True
      >>> L.adjoint(jnp.ones(30)).shape, L.to_scipy().shape
      ((30,), (30, 30))
    """

    def __init__(self, weights: jax.Array, adjl: jax.Array, n_data: int, out_shape=()):
        self.weights = weights
        self.adjl = adjl
        self.n_data = int(n_data)
        self.out_shape = tuple(out_shape)

    def tree_flatten(self):
        return (self.weights, self.adjl), (self.n_data, self.out_shape)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.weights, obj.adjl = children
        obj.n_data, obj.out_shape = aux
        return obj

    @property
    def shape(self) -> tuple[int, int]:
        """(N_eval, N) of the (scalar) sparse matrix."""
        return (self.adjl.shape[0], self.n_data)

    def _w3(self) -> jax.Array:
        w = self.weights
        return w[..., None] if not self.out_shape else w

    def __call__(self, u: jax.Array) -> jax.Array:
        """Apply to field values ``u`` of shape (N,) or (N, m).

        Returns (N_eval,) + out_shape [+ (m,)].
        """
        u = jnp.asarray(u)
        if u.ndim not in (1, 2) or u.shape[0] != self.n_data:
            raise ValueError(
                f"u: expected shape ({self.n_data},) or ({self.n_data}, m), got {u.shape}"
            )
        # mode="clip" (indices are validated at construction) lets XLA fuse the
        # gather into the row dot, which u[adjl] does not (docs/performance.md).
        ug = jnp.take(u, self.adjl, axis=0, mode="clip")  # (E, k[, m])
        if not self.out_shape and u.ndim == 1:
            return jnp.sum(self.weights * ug, axis=1)
        w = self._w3()  # (E, k, n_out)
        if u.ndim == 1:
            y = jnp.einsum("ekn,ek->en", w, ug)
        else:
            y = jnp.einsum("ekn,ekm->enm", w, ug)
        return y.reshape((y.shape[0],) + self.out_shape + y.shape[2:])

    def adjoint(self, ybar: jax.Array) -> jax.Array:
        """``W^T ybar``: ybar of shape (N_eval,) + out_shape [+ (m,)] -> (N,) [+ (m,)]."""
        ybar = jnp.asarray(ybar)
        n_eval = self.adjl.shape[0]
        lead = (n_eval,) + self.out_shape
        if ybar.shape[: len(lead)] != lead or ybar.ndim > len(lead) + 1:
            raise ValueError(f"ybar: expected shape {lead} or {lead + ('m',)}, got {ybar.shape}")
        w = self._w3()
        yb = ybar.reshape((n_eval, w.shape[-1]) + ybar.shape[len(lead) :])
        if yb.ndim == 2:
            contrib = jnp.einsum("ekn,en->ek", w, yb)
        else:
            contrib = jnp.einsum("ekn,enm->ekm", w, yb)
        out = jnp.zeros((self.n_data,) + contrib.shape[2:], contrib.dtype)
        return out.at[self.adjl].add(contrib)

    def to_scipy(self) -> sp.csr_matrix | tuple[sp.csr_matrix, ...]:
        """scipy CSR matrix (N_eval, N); a tuple of them (row-major) for vector operators."""
        adjl = np.asarray(self.adjl)
        n_eval, k = adjl.shape
        indptr = np.arange(0, n_eval * k + 1, k)
        w = np.asarray(self._w3())
        mats = tuple(
            sp.csr_matrix((w[:, :, i].ravel(), adjl.ravel(), indptr), shape=self.shape)
            for i in range(w.shape[-1])
        )
        return mats if self.out_shape else mats[0]

    def __repr__(self) -> str:
        return (
            f"RBFOperator(N_eval={self.adjl.shape[0]}, N={self.n_data}, k={self.adjl.shape[1]}, "
            f"out_shape={self.out_shape})"
        )


def operator(
    data: jax.Array,
    op: Operator,
    *,
    basis: RadialBasis | None = None,
    k: int | None = None,
    eval_points: jax.Array | None = None,
    adjl: Any = None,
    chunk_size: int | None = None,
) -> RBFOperator:
    """Discretize any operator description on ``data`` (evaluated at ``eval_points``).

    ``basis`` defaults to ``PHS(3, poly_deg=2)``; ``k`` to ``autoselect_k(d, poly_deg)``.
    Pass ``adjl`` (from :func:`rbfopt.find_neighbors`) to make construction traceable.

    Examples:
      Any operator description; with ``adjl`` fixed, differentiate w.r.t. the nodes:

      >>> import jax, jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> x = np.random.default_rng(0).random((30, 2))
      >>> op = ro.operator(x, ro.Laplacian() + 2.0 * ro.Partial(1, 0))
      >>> bool(jnp.allclose(op(x[:, 0] ** 2), 2.0 + 4.0 * x[:, 0]))
      True
      >>> adjl = ro.find_neighbors(x, 12)
      >>> loss = lambda p: jnp.sum(ro.operator(p, ro.Laplacian(), adjl=adjl)(jnp.sin(p[:, 0])))
      >>> jax.grad(loss)(jnp.asarray(x)).shape
      (30, 2)
    """
    basis = PHS(3, poly_deg=2) if basis is None else basis
    if adjl is None:
        if is_tracer(data, eval_points):
            raise ValueError(
                "adjl: stencils cannot be searched inside a trace (jit/grad); compute "
                "adjl = ro.find_neighbors(data, k, eval_points) outside and pass it"
            )
        d = np.asarray(data).reshape(len(data), -1).shape[1]
        k = autoselect_k(d, basis.poly_deg) if k is None else k
        adjl = find_neighbors(data, k, eval_points)
    data_arr = as_points(data)
    if eval_points is not None:
        eval_points = as_points(eval_points)
    w = build_weights(op, data_arr, eval_points, adjl, basis, chunk_size=chunk_size)
    return RBFOperator(
        w, jnp.asarray(adjl, jnp.int32), data_arr.shape[0], op.out_shape(data_arr.shape[1])
    )


def laplacian(data, **kw) -> RBFOperator:
    """Laplacian ``sum_i d^2/dx_i^2``. Keywords as :func:`operator`.

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> x = np.random.default_rng(0).random((30, 2))
      >>> L = ro.laplacian(x)
      >>> bool(jnp.allclose(L(x[:, 0] * x[:, 1]), 0.0, atol=1e-8))
      True
    """
    return operator(data, Laplacian(), **kw)


def partial(data, order: int, dim: int, **kw) -> RBFOperator:
    """``d^order / dx_dim^order`` (dim 0-based). Keywords as :func:`operator`.

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> x = np.random.default_rng(0).random((30, 2))
      >>> bool(jnp.allclose(ro.partial(x, 1, 0)(x[:, 0] ** 2), 2 * x[:, 0]))
      True
    """
    return operator(data, Partial(order, dim), **kw)


def mixed_partial(data, i: int, j: int, **kw) -> RBFOperator:
    """``d^2 / (dx_i dx_j)``. Keywords as :func:`operator`.

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> x = np.random.default_rng(0).random((30, 2))
      >>> bool(jnp.allclose(ro.mixed_partial(x, 0, 1)(x[:, 0] * x[:, 1]), 1.0))
      True
    """
    return operator(data, MixedPartial(i, j), **kw)


def gradient(data, **kw) -> RBFOperator:
    """Gradient (out_shape (d,)). Keywords as :func:`operator`.

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> x = np.random.default_rng(0).random((30, 2))
      >>> g = ro.gradient(x)(x[:, 0] + 2 * x[:, 1])
      >>> g.shape, bool(jnp.allclose(g, jnp.array([1.0, 2.0])))
      ((30, 2), True)
    """
    return operator(data, Gradient(), **kw)


def hessian(data, **kw) -> RBFOperator:
    """Hessian (out_shape (d, d)). Keywords as :func:`operator`.

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> x = np.random.default_rng(0).random((30, 2))
      >>> H = ro.hessian(x)(x[:, 0] ** 2)
      >>> H.shape
      (30, 2, 2)
      >>> bool(jnp.allclose(H, jnp.array([[2.0, 0.0], [0.0, 0.0]]), atol=1e-8))
      True
    """
    return operator(data, Hessian(), **kw)


def regrid(data, eval_points, **kw) -> RBFOperator:
    """Local RBF interpolation from ``data`` to ``eval_points``. Keywords as :func:`operator`.

    Examples:
      >>> import numpy as np
      >>> import rbfopt as ro
      >>> x = np.random.default_rng(0).random((30, 2))
      >>> R = ro.regrid(x, np.array([[0.5, 0.5]]))
      >>> R(1 + x[:, 0] - x[:, 1])
      Array([1.], dtype=float64)
    """
    return operator(data, Identity(), eval_points=eval_points, **kw)


def directional(data, v, **kw) -> RBFOperator:
    """Directional derivative ``v . grad``; ``v`` of shape (d,) or one per evaluation point.

    By linearity of the weights in the operator, per-node directions contract the
    gradient weights: ``W_v[e, j] = sum_i v[e, i] W_grad[e, j, i]``.

    Examples:
      >>> import jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> x = np.random.default_rng(0).random((30, 2))
      >>> Dv = ro.directional(x, jnp.array([0.6, 0.8]))
      >>> bool(jnp.allclose(Dv(x[:, 0] + x[:, 1]), 1.4))
      True
    """
    g = gradient(data, **kw)
    v = jnp.asarray(v, dtype=g.weights.dtype)
    n_eval, _, d = g.weights.shape
    if v.shape not in ((d,), (n_eval, d)):
        raise ValueError(f"v: expected shape ({d},) or ({n_eval}, {d}), got {v.shape}")
    vv = jnp.broadcast_to(v, (n_eval, d))
    return RBFOperator(jnp.einsum("ekd,ed->ek", g.weights, vv), g.adjl, g.n_data, ())
