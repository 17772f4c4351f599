"""Global RBF-FD systems for boundary-value problems: interior and boundary rows.

Every node ``i`` owns one equation (row ``i`` of the global matrix), written on its
stencil ``adjl[i]`` (k nearest nodes, self first, as :func:`rbfopt.find_neighbors`
returns them):

* interior rows: ``sum_j W[i, j] u[adjl[i, j]] = rhs_i``, ``W`` the RBF-FD weights of
  any operator description (``build_weights``), e.g. the Laplacian;
* Dirichlet rows: ``u_i = g_i`` (the identity: weight 1 at the node itself);
* Neumann rows: ``n_i . grad u (x_i) = h_i``: weights of :class:`~rbfopt.Gradient`
  at ``x_i`` contracted with the given unit normal ``n_i`` (linearity of the
  weights in the operator), for every basis -- the kernels are differentiated by
  JAX, so no per-basis formulas are needed;
* Robin rows: ``alpha_i u_i + beta_i n_i . grad u (x_i) = h_i``.

All row builders are traceable: with ``adjl`` fixed, the rows (and
:func:`assemble`'s :class:`~rbfopt.StencilMatrix`) are differentiable
w.r.t. node positions, normals, ``alpha``, ``beta`` and ``basis.eps``, so
``jax.grad`` of a loss of ``linsolve(assemble(...), rhs)`` reaches the nodes.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._util import as_points, fmt_indices, is_tracer
from ..basis import PHS, RadialBasis
from ..operators import Gradient, Operator
from ..sparse.matrix import StencilMatrix
from ..stencils import autoselect_k, find_neighbors
from .weights import build_weights

__all__ = [
    "interior_rows",
    "dirichlet_rows",
    "neumann_rows",
    "robin_rows",
    "assemble",
    "self_positions",
]


def _rows_np(rows: Any, n: int, name: str) -> np.ndarray:
    r = np.asarray(rows)
    if r.ndim != 1 or (r.size and not np.issubdtype(r.dtype, np.integer)):
        raise ValueError(f"{name}: expected a 1-D array of node indices, got shape {r.shape}")
    r = r.astype(np.int64)
    bad = np.flatnonzero((r < 0) | (r >= n))
    if bad.size:
        raise ValueError(
            f"{name}: node indices out of range 0..{n - 1} at positions {fmt_indices(bad)}"
        )
    return r


def self_positions(rows: np.ndarray, adjl: Any) -> np.ndarray:
    """Position of node ``rows[r]`` within its own stencil ``adjl[rows[r]]``.

    Raises ValueError when a node is missing from its stencil (identity, Robin
    rows need it there).

    Examples:
      >>> import numpy as np
      >>> from rbfopt.fd.boundary import self_positions
      >>> adjl = np.array([[0, 1], [0, 1], [1, 2]])
      >>> self_positions(np.array([1, 2]), adjl)
      array([1, 1])
    """
    a = np.asarray(adjl)[rows]
    hit = a == rows[:, None]
    missing = np.flatnonzero(~hit.any(axis=1))
    if missing.size:
        raise ValueError(
            f"adjl: nodes {fmt_indices(rows[missing])} are not in their own stencils; build adjl "
            "with ro.find_neighbors(points, k) (self first)"
        )
    return np.argmax(hit, axis=1)


def interior_rows(
    op: Operator, points: jax.Array, rows: Any, adjl: Any, basis: RadialBasis
) -> jax.Array:
    """RBF-FD weights of a scalar operator at ``points[rows]``: (len(rows), k).

    Examples:
      >>> import numpy as np
      >>> import rbfopt as ro
      >>> t = np.linspace(0.0, 1.0, 5)
      >>> x = np.stack(np.meshgrid(t, t), -1).reshape(-1, 2)
      >>> adjl = ro.find_neighbors(x, 12)
      >>> ro.interior_rows(ro.Laplacian(), x, [6, 7, 8], adjl, ro.PHS(3)).shape
      (3, 12)
    """
    p = as_points(points)
    r = _rows_np(rows, p.shape[0], "rows")
    if op.out_shape(p.shape[1]):
        raise ValueError(
            f"op: interior rows need a scalar operator, got output shape {op.out_shape(p.shape[1])}"
        )
    if r.size == 0:
        return jnp.zeros((0, np.shape(adjl)[1]), p.dtype)
    return build_weights(op, p, p[r], np.asarray(adjl)[r], basis)


def dirichlet_rows(rows: Any, adjl: Any) -> jax.Array:
    """Identity rows ``u_i = g_i``: weight 1 at the node itself, 0 elsewhere.

    Examples:
      >>> import numpy as np
      >>> import rbfopt as ro
      >>> adjl = ro.find_neighbors(np.array([[0.0], [1.0], [3.0]]), 2)
      >>> ro.dirichlet_rows([0, 2], adjl)
      Array([[1., 0.],
             [1., 0.]], dtype=float64)
    """
    a = np.asarray(adjl)
    r = _rows_np(rows, a.shape[0], "rows")
    pos = self_positions(r, a)
    w = np.zeros((r.size, a.shape[1]))
    w[np.arange(r.size), pos] = 1.0
    return jnp.asarray(w)


def _normal_weights(points, r, normals, adjl, basis) -> jax.Array:
    p = as_points(points)
    d = p.shape[1]
    nrm = jnp.asarray(normals)
    if nrm.shape != (p.shape[0], d):
        raise ValueError(
            f"normals: expected one normal per node, shape ({p.shape[0]}, {d}), got {nrm.shape}"
        )
    if not is_tracer(normals) and r.size:
        nn = np.linalg.norm(np.asarray(normals)[r], axis=1)
        bad = np.flatnonzero(~(np.isfinite(nn) & (nn > 0)))
        if bad.size:
            raise ValueError(f"normals: zero or non-finite normals at nodes {fmt_indices(r[bad])}")
    g = build_weights(Gradient(), p, p[r], np.asarray(adjl)[r], basis)  # (n_r, k, d)
    return jnp.einsum("rkd,rd->rk", g, nrm[r])


def neumann_rows(
    points: jax.Array, rows: Any, normals: jax.Array, adjl: Any, basis: RadialBasis
) -> jax.Array:
    """Normal-derivative rows ``n_i . grad u(x_i)``: (len(rows), k).

    ``normals`` has one (outward, unit) normal per node, shape (N, d); only the
    entries of ``rows`` are read. Any basis: the Gradient weights come from JAX
    differentiation of the kernel.

    Examples:
      On the left edge ``x = 0`` (outward normal ``(-1, 0)``), ``u = 1 + 3 x`` has
      ``n . grad u = -3``:

      >>> import jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> t = np.linspace(0.0, 1.0, 5)
      >>> x = np.stack(np.meshgrid(t, t), -1).reshape(-1, 2)
      >>> adjl = ro.find_neighbors(x, 12)
      >>> normals = np.tile([-1.0, 0.0], (len(x), 1))
      >>> w = ro.neumann_rows(x, [5, 10], normals, adjl, ro.PHS(3))
      >>> u = 1 + 3 * x[:, 0]
      >>> jnp.round(jnp.sum(w * u[adjl[[5, 10]]], axis=1), 8)
      Array([-3., -3.], dtype=float64)
    """
    p = as_points(points)
    r = _rows_np(rows, p.shape[0], "rows")
    if r.size == 0:
        return jnp.zeros((0, np.shape(adjl)[1]), p.dtype)
    return _normal_weights(p, r, normals, adjl, basis)


def robin_rows(
    points: jax.Array,
    rows: Any,
    normals: jax.Array,
    alpha: Any,
    beta: Any,
    adjl: Any,
    basis: RadialBasis,
) -> jax.Array:
    """Robin rows ``alpha_i u_i + beta_i n_i . grad u(x_i)``: (len(rows), k).

    ``alpha`` and ``beta`` are scalars or per-node arrays of shape (N,).

    Examples:
      ``2 u + n . grad u`` of ``u = 1 + 3 x`` on the left edge: ``2 - 3``:

      >>> import jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> t = np.linspace(0.0, 1.0, 5)
      >>> x = np.stack(np.meshgrid(t, t), -1).reshape(-1, 2)
      >>> adjl = ro.find_neighbors(x, 12)
      >>> normals = np.tile([-1.0, 0.0], (len(x), 1))
      >>> w = ro.robin_rows(x, [5], normals, 2.0, 1.0, adjl, ro.PHS(3))
      >>> u = 1 + 3 * x[:, 0]
      >>> jnp.round(jnp.sum(w * u[adjl[[5]]], axis=1), 8)
      Array([-1.], dtype=float64)
    """
    p = as_points(points)
    n = p.shape[0]
    r = _rows_np(rows, n, "rows")
    if r.size == 0:
        return jnp.zeros((0, np.shape(adjl)[1]), p.dtype)
    pos = self_positions(r, adjl)

    def per_node(c, name):
        c = jnp.asarray(c, p.dtype)
        if c.ndim == 0:
            return jnp.broadcast_to(c, (r.size,))
        if c.shape != (n,):
            raise ValueError(f"{name}: expected a scalar or shape ({n},), got {c.shape}")
        return c[r]

    a, b = per_node(alpha, "alpha"), per_node(beta, "beta")
    w = b[:, None] * _normal_weights(p, r, normals, adjl, basis)
    return w.at[jnp.arange(r.size), pos].add(a)


def assemble(
    points: jax.Array,
    op: Operator,
    *,
    interior: Any,
    dirichlet: Any = (),
    neumann: Any = (),
    robin: Any = (),
    normals: jax.Array | None = None,
    alpha: Any = 1.0,
    beta: Any = 1.0,
    basis: RadialBasis | None = None,
    k: int | None = None,
    adjl: Any = None,
) -> StencilMatrix:
    """Assemble the global RBF-FD matrix of a boundary-value problem.

    Row ``i`` is node ``i``'s equation: ``op`` (any scalar operator description)
    on ``interior`` nodes, identity on ``dirichlet`` nodes, ``n . grad`` on
    ``neumann`` nodes and ``alpha u + beta n . grad u`` on ``robin`` nodes, with
    ``normals`` (N, d) given per node. The four index sets must partition
    ``0..N-1``. Stencils: ``adjl`` if given (makes assembly traceable w.r.t.
    ``points``), else ``find_neighbors(points, k)`` with ``k`` defaulting to
    ``autoselect_k(d, basis.poly_deg)``. Returns a :class:`StencilMatrix` for
    :func:`rbfopt.linsolve`; the right-hand side is the caller's (f on
    interior rows, g/h on boundary rows).

    Examples:
      Solve ``Laplacian u = 2`` with ``u = x^2`` on the boundary of the unit square:

      >>> import jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> t = np.linspace(0.0, 1.0, 7)
      >>> x = np.stack(np.meshgrid(t, t), -1).reshape(-1, 2)
      >>> edge = np.flatnonzero((x == 0).any(1) | (x == 1).any(1))
      >>> inner = np.setdiff1d(np.arange(len(x)), edge)
      >>> A = ro.assemble(x, ro.Laplacian(), interior=inner, dirichlet=edge)
      >>> A
      StencilMatrix(N=49, k=12)
      >>> rhs = np.full(len(x), 2.0)
      >>> rhs[edge] = x[edge, 0] ** 2
      >>> u = ro.linsolve(A, rhs)
      >>> bool(jnp.allclose(u, x[:, 0] ** 2))
      True
    """
    basis = PHS(3, poly_deg=2) if basis is None else basis
    p = as_points(points)
    n, d = p.shape
    if adjl is None:
        if is_tracer(points):
            raise ValueError(
                "adjl: stencils cannot be searched inside a trace; compute "
                "adjl = ro.find_neighbors(points, k) outside and pass it"
            )
        kk = autoselect_k(d, basis.poly_deg) if k is None else k
        adjl = find_neighbors(np.asarray(p), kk)
    adjl = np.asarray(adjl)
    if adjl.ndim != 2 or adjl.shape[0] != n:
        raise ValueError(f"adjl: expected shape ({n}, k), got {adjl.shape}")
    sets = {
        "interior": _rows_np(interior, n, "interior"),
        "dirichlet": _rows_np(dirichlet, n, "dirichlet"),
        "neumann": _rows_np(neumann, n, "neumann"),
        "robin": _rows_np(robin, n, "robin"),
    }
    allrows = np.concatenate(list(sets.values()))
    count = np.bincount(allrows, minlength=n)
    if np.any(count > 1):
        raise ValueError(
            f"interior/dirichlet/neumann/robin: nodes {fmt_indices(np.flatnonzero(count > 1))} are "
            "assigned more than one equation"
        )
    if np.any(count == 0):
        raise ValueError(
            f"interior/dirichlet/neumann/robin: nodes {fmt_indices(np.flatnonzero(count == 0))} "
            "have no equation (the system would be singular)"
        )
    if (sets["neumann"].size or sets["robin"].size) and normals is None:
        raise ValueError("normals: Neumann/Robin rows need per-node normals of shape (N, d)")
    k_ = adjl.shape[1]
    values = jnp.zeros((n, k_), p.dtype)
    blocks = [
        (sets["interior"], lambda r: interior_rows(op, p, r, adjl, basis)),
        (sets["dirichlet"], lambda r: dirichlet_rows(r, adjl)),
        (sets["neumann"], lambda r: neumann_rows(p, r, normals, adjl, basis)),
        (sets["robin"], lambda r: robin_rows(p, r, normals, alpha, beta, adjl, basis)),
    ]
    for rows, make in blocks:
        if rows.size:
            values = values.at[rows].set(make(rows).astype(p.dtype))
    return StencilMatrix(values, jnp.asarray(adjl, jnp.int32))
