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

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._util import as_points, fmt_indices, is_tracer
from ..basis import PHS, RadialBasis
from ..operators import Gradient, Operator
from ..sparse.matrix import StencilMatrix
from ..stencils import autoselect_k, find_neighbors
from .conditions import Condition, data_values
from .weights import build_weights

__all__ = [
    "condition_rows",
    "right_hand_side",
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
    op: Operator,
    points: jax.Array,
    rows: Any,
    adjl: Any,
    basis: RadialBasis,
    weights: Callable = build_weights,
) -> jax.Array:
    """RBF-FD weights of a scalar operator at ``points[rows]``: (len(rows), k), built by
    ``weights`` (``build_weights``' signature, e.g. a blended build); ``adjl`` may be
    traced.

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
    a = adjl if is_tracer(adjl) else np.asarray(adjl)
    return weights(op, p, p[r], a[r], basis)


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
    return condition_rows(jnp.zeros((a.shape[0], 1)), r, None, 1.0, 0.0, a, None)


def _self_positions(rows: np.ndarray, adjl: Any) -> Any:
    """Each row's column of its own node: checked (numpy) for concrete stencils, found
    by a traced comparison otherwise."""
    if is_tracer(adjl):
        return jnp.argmax(adjl[rows] == jnp.asarray(rows)[:, None], axis=1)
    return self_positions(rows, adjl)


def _check_normals(normals: Any, rows: np.ndarray, n: int, d: int) -> jax.Array:
    if normals is None:
        raise ValueError("normals: Neumann/Robin rows need per-node normals of shape (N, d)")
    nrm = jnp.asarray(normals)
    if nrm.shape != (n, d):
        raise ValueError(
            f"normals: expected one normal per node, shape ({n}, {d}), got {nrm.shape}"
        )
    if not is_tracer(normals) and rows.size:
        nn = np.linalg.norm(np.asarray(normals)[rows], axis=1)
        bad = np.flatnonzero(~(np.isfinite(nn) & (nn > 0)))
        if bad.size:
            raise ValueError(
                f"normals: zero or non-finite normals at nodes {fmt_indices(rows[bad])}"
            )
    return nrm


def condition_rows(
    points: jax.Array,
    rows: np.ndarray,
    normals: Any,
    alpha: Any,
    beta: Any,
    adjl: Any,
    basis: RadialBasis,
    weights: Callable = build_weights,
) -> jax.Array:
    """Rows ``alpha_i u_i + beta_i n_i . grad u(x_i)`` at the nodes ``rows``: (len(rows), k).

    The one builder of every boundary row: Dirichlet is ``(1, 0)``, Neumann ``(0, 1)``,
    Robin ``(alpha, beta)``. ``alpha``/``beta`` are numbers or arrays of one value per
    row; a ``beta`` that is the number 0 builds no gradient weights. ``weights`` builds
    the Gradient weights (``build_weights``' signature, e.g. a blended build).
    ``adjl`` may be traced (each node is then found in its own stencil by comparison).
    """
    p = as_points(points)
    m = rows.size
    pos = _self_positions(rows, adjl)
    if isinstance(beta, (int, float)) and beta == 0:
        w = jnp.zeros((m, adjl.shape[1]), p.dtype)
    else:
        nrm = _check_normals(normals, rows, p.shape[0], p.shape[1])
        g = weights(Gradient(), p, p[rows], adjl[rows], basis)  # (m, k, d)
        b = jnp.asarray(beta, p.dtype)
        w = (b[:, None] if b.ndim else b) * jnp.einsum("mkd,md->mk", g, nrm[rows])
    return w.at[jnp.arange(m), pos].add(alpha)


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
    return condition_rows(p, r, normals, 0.0, 1.0, np.asarray(adjl), basis)


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
    a, b = (_per_row(c, name, r, n, p.dtype) for c, name in ((alpha, "alpha"), (beta, "beta")))
    return condition_rows(p, r, normals, a, b, np.asarray(adjl), basis)


def _per_row(c: Any, name: str, rows: np.ndarray, n: int, dtype: Any) -> jax.Array:
    """A scalar, or one value per node (N,) read at ``rows``."""
    c = jnp.asarray(c, dtype)
    if c.ndim == 0:
        return jnp.broadcast_to(c, (rows.size,))
    if c.shape != (n,):
        raise ValueError(f"{name}: expected a scalar or shape ({n},), got {c.shape}")
    return c[rows]


def assemble(
    points: jax.Array,
    op: Operator,
    *,
    interior: Any,
    dirichlet: Any = (),
    neumann: Any = (),
    robin: Any = (),
    conditions: Sequence[tuple[Condition, Any]] = (),
    normals: jax.Array | None = None,
    alpha: Any = 1.0,
    beta: Any = 1.0,
    basis: RadialBasis | None = None,
    k: int | None = None,
    adjl: Any = None,
    weights: Callable | None = None,
) -> StencilMatrix:
    """Assemble the global RBF-FD matrix of a boundary-value problem.

    Row ``i`` is node ``i``'s equation: ``op`` (any scalar operator description)
    on ``interior`` nodes, identity on ``dirichlet`` nodes, ``n . grad`` on
    ``neumann`` nodes and ``alpha u + beta n . grad u`` on ``robin`` nodes (``alpha``,
    ``beta`` scalars or per-node arrays (N,)), and each ``(condition, rows)`` pair of
    ``conditions`` (:class:`~rbfopt.Dirichlet`, :class:`~rbfopt.Neumann`,
    :class:`~rbfopt.Robin`) on its rows, with ``normals`` (N, d) given per node. The
    index sets must partition ``0..N-1``. Stencils: ``adjl`` if given (then assembly
    is traceable w.r.t. ``points``, ``normals`` and ``adjl`` itself), else
    ``find_neighbors(points, k)`` with ``k`` defaulting to
    ``autoselect_k(d, basis.poly_deg)``. ``weights`` builds the stencil weights
    (default :func:`~rbfopt.build_weights`; e.g. :func:`~rbfopt.fd.blended_weights`
    for weights continuous in the nodes). Returns a :class:`StencilMatrix` for
    :func:`rbfopt.linsolve`; :func:`right_hand_side` gives the matching right-hand side.

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
      >>> bc = ro.Dirichlet(lambda p: p[0] ** 2)
      >>> rhs = ro.fd.right_hand_side(x, 2.0, interior=inner, conditions=[(bc, edge)])
      >>> u = ro.linsolve(A, rhs)
      >>> bool(jnp.allclose(u, x[:, 0] ** 2))
      True
    """
    basis = PHS(3, poly_deg=2) if basis is None else basis
    build = build_weights if weights is None else weights
    p = as_points(points)
    n = p.shape[0]
    adjl = _stencils(points, p, adjl, k, basis)
    inner, blocks = _row_sets(n, interior, dirichlet, neumann, robin, conditions, alpha, beta)
    values = jnp.zeros((n, adjl.shape[1]), p.dtype)
    if inner.size:
        w = interior_rows(op, p, inner, adjl, basis, build)
        values = values.at[inner].set(w.astype(p.dtype))
    for rows, a, b in blocks:
        w = condition_rows(p, rows, normals, a, b, adjl, basis, build)
        values = values.at[rows].set(w.astype(p.dtype))
    return StencilMatrix(values, jnp.asarray(adjl, jnp.int32))


def _stencils(points: Any, p: jax.Array, adjl: Any, k: int | None, basis: RadialBasis) -> Any:
    """The given stencils (checked when concrete), or a search on concrete points."""
    n, d = p.shape
    if adjl is None:
        if is_tracer(points):
            raise ValueError(
                "adjl: stencils cannot be searched inside a trace; compute "
                "adjl = ro.find_neighbors(points, k) outside and pass it"
            )
        kk = autoselect_k(d, basis.poly_deg) if k is None else k
        adjl = find_neighbors(np.asarray(p), kk)
    if np.ndim(adjl) != 2 or np.shape(adjl)[0] != n:
        raise ValueError(f"adjl: expected shape ({n}, k), got {np.shape(adjl)}")
    return adjl if is_tracer(adjl) else np.asarray(adjl)


def _row_sets(n, interior, dirichlet, neumann, robin, conditions, alpha, beta):
    """The interior rows and the boundary blocks ``(rows, alpha, beta)``, checked to
    partition ``0..n-1``."""
    inner = _rows_np(interior, n, "interior")
    blocks = [
        (_rows_np(dirichlet, n, "dirichlet"), 1.0, 0.0),
        (_rows_np(neumann, n, "neumann"), 0.0, 1.0),
    ]
    r = _rows_np(robin, n, "robin")
    blocks.append(
        (r, *(_per_row(c, nm, r, n, jnp.float64) for c, nm in ((alpha, "alpha"), (beta, "beta"))))
    )
    for i, (bc, rows) in enumerate(conditions):
        if not isinstance(bc, Condition):
            raise ValueError(
                f"conditions[{i}]: expected (ro.Dirichlet/Neumann/Robin, rows), "
                f"got {type(bc).__name__}"
            )
        blocks.append((_rows_np(rows, n, f"conditions[{i}]"), bc.alpha, bc.beta))
    blocks = [b for b in blocks if b[0].size]
    count = np.bincount(np.concatenate([inner, *(b[0] for b in blocks)]), minlength=n)
    sets = "interior/dirichlet/neumann/robin/conditions"
    if np.any(count > 1):
        raise ValueError(
            f"{sets}: nodes {fmt_indices(np.flatnonzero(count > 1))} are assigned more than "
            "one equation"
        )
    if np.any(count == 0):
        raise ValueError(
            f"{sets}: nodes {fmt_indices(np.flatnonzero(count == 0))} have no equation (the "
            "system would be singular)"
        )
    return inner, blocks


def right_hand_side(
    points: jax.Array,
    source: Any,
    *,
    interior: Any,
    conditions: Sequence[tuple[Condition, Any]],
    normals: jax.Array | None = None,
) -> jax.Array:
    """The right-hand side matching :func:`assemble`'s rows: ``source`` (a number or a
    JAX function of one point) on ``interior`` rows, each condition's data ``g``
    (:func:`data_values`) on its rows, zero elsewhere. Traceable w.r.t. ``points`` and
    ``normals``.

    Examples:
      >>> import numpy as np, rbfopt as ro
      >>> x = np.array([[0.0, 0.0], [0.5, 0.0], [1.0, 0.0]])
      >>> ro.fd.right_hand_side(x, lambda p: 2.0, interior=[1],
      ...                       conditions=[(ro.Dirichlet(lambda p: p[0]), [0, 2])])
      Array([0., 2., 1.], dtype=float64)
    """
    p = as_points(points)
    n = p.shape[0]
    nrm = jnp.zeros_like(p) if normals is None else jnp.asarray(normals)
    rhs = jnp.zeros(n, p.dtype)
    r = _rows_np(interior, n, "interior")
    if r.size:
        f = jax.vmap(source)(p[r]) if callable(source) else jnp.full(r.size, source, p.dtype)
        rhs = rhs.at[r].set(f)
    for i, (bc, rows) in enumerate(conditions):
        rows = _rows_np(rows, n, f"conditions[{i}]")
        rhs = rhs.at[rows].set(data_values(bc, p[rows], nrm[rows]))
    return rhs
