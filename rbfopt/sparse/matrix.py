"""Square sparse matrices in stencil form, the global systems of RBF-FD.

Row ``i`` holds ``k`` entries ``values[i, j]`` in columns ``adjl[i, j]``, the layout
of an RBF-FD operator's weights, so interior operator rows and boundary rows stack
into one matrix without a format change; repeated columns within a row add up.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from .._util import is_tracer

__all__ = ["StencilMatrix"]


@jax.tree_util.register_pytree_node_class
class StencilMatrix:
    """Square sparse matrix in stencil form: ``A[i, adjl[i, j]] += values[i, j]``.

    Args:
      values: (N, k) float entries (a pytree leaf: differentiable).
      adjl: (N, k) int column indices in ``0..N-1``.

    ``A @ x`` / ``A.matvec(x)`` and ``A.rmatvec(y)`` are JAX code; ``A.to_scipy()``
    gives a CSR matrix.

    Examples:
      >>> import jax.numpy as jnp
      >>> import rbfopt as ro
      >>> values = jnp.array([[2.0, -1.0], [2.0, -1.0], [1.0, 0.0]])
      >>> A = ro.StencilMatrix(values, jnp.array([[0, 1], [1, 2], [2, 0]]))
      >>> A
      StencilMatrix(N=3, k=2)
      >>> A.to_scipy().toarray()
      array([[ 2., -1.,  0.],
             [ 0.,  2., -1.],
             [ 0.,  0.,  1.]])
      >>> A @ jnp.ones(3), A.rmatvec(jnp.ones(3))
      (Array([1., 1., 1.], dtype=float64), Array([2., 1., 0.], dtype=float64))
    """

    def __init__(self, values: jax.Array, adjl: jax.Array):
        if not is_tracer(values):
            values = jnp.asarray(np.asarray(values, dtype=np.float64))
        if not is_tracer(adjl):
            adjl = jnp.asarray(np.asarray(adjl), dtype=jnp.int32)
        if values.ndim != 2 or adjl.shape != values.shape:
            raise ValueError(
                f"values: expected shape (N, k) equal to adjl's shape {tuple(adjl.shape)}, "
                f"got {tuple(values.shape)}"
            )
        self.values = values
        self.adjl = adjl

    def tree_flatten(self):
        return (self.values, self.adjl), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.values, obj.adjl = children
        return obj

    @property
    def shape(self) -> tuple[int, int]:
        n = self.values.shape[0]
        return (n, n)

    def matvec(self, x: jax.Array) -> jax.Array:
        """``A x`` for x of shape (N,) or (N, m)."""
        xg = x[self.adjl]  # (N, k[, m])
        if x.ndim == 1:
            return jnp.sum(self.values * xg, axis=1)
        return jnp.einsum("nk,nkm->nm", self.values, xg)

    __matmul__ = matvec

    def rmatvec(self, y: jax.Array) -> jax.Array:
        """``A' y`` (scatter-add over the stencil columns)."""
        contrib = self.values[..., None] * y[:, None] if y.ndim == 2 else self.values * y[:, None]
        return jnp.zeros(y.shape, contrib.dtype).at[self.adjl].add(contrib)

    def to_scipy(self) -> sp.csr_matrix:
        """scipy CSR matrix (duplicates summed)."""
        return _csr(np.asarray(self.values), np.asarray(self.adjl))

    def __repr__(self) -> str:
        n, k = self.values.shape
        return f"StencilMatrix(N={n}, k={k})"


def _csr(values: np.ndarray, adjl: np.ndarray) -> sp.csr_matrix:
    n, k = values.shape
    indptr = np.arange(0, n * k + 1, k)
    A = sp.csr_matrix(
        (values.ravel().astype(np.float64), adjl.ravel().astype(np.int64), indptr), shape=(n, n)
    )
    A.sum_duplicates()
    return A
