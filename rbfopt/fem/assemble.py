"""Finite-element matrices and load vectors assembled in JAX from vertex positions.

For element ``T`` with vertices ``x0 .. xd`` the affine map ``x = x0 + J s``,
``J = [x1 - x0, .., xd - x0]``, carries the reference shape functions ``phi`` over;
physical gradients are ``J^-T grad_s phi`` and ``dx = det J ds``. In 3-D the rows of
``J^-1`` are ``(J_1 x J_2, J_2 x J_0, J_0 x J_1) / det J`` (cross products of the
columns), differentiable wherever ``det J != 0``. With the rule of
:func:`rbfopt.fem.elements.quadrature` (weights ``w_q`` summing to 1 over the measure
``|T| = det J / d!``):

    K_ab = sum_q w_q |T| grad phi_a . grad phi_b        (stiffness)
    M_ab = sum_q w_q |T| phi_a phi_b                     (mass)
    b_a  = sum_q w_q |T| f(x_q) phi_a                    (load)

exact for P2 stiffness and mass and for a quadratic ``f`` on triangles, for P1
stiffness and mass and a linear ``f`` on tetrahedra. Everything is JAX code of
``points`` (the vertices): value and derivatives in both modes, under jit; the
connectivity (:class:`~rbfopt.fem.space.Space`) is fixed. Matrices come as
:class:`~rbfopt.sparse.StencilMatrix` for :func:`rbfopt.linsolve`.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..sparse.matrix import StencilMatrix
from .elements import conical_rule, quadrature, shape_gradients, shape_values
from .space import Space

__all__ = ["stiffness", "mass", "load", "areas", "identity", "lift", "lift_dirichlet"]


def _geometry(sp: Space, points: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per element: the inverse-transposed Jacobian (E, d, d) and the signed measure (E,)."""
    x = jnp.asarray(points)[sp.cells]  # (E, d + 1, d)
    cols = [x[:, k] - x[:, 0] for k in range(1, x.shape[1])]
    if len(cols) == 3:
        inv_rows = [jnp.cross(cols[1], cols[2]), jnp.cross(cols[2], cols[0]),
                    jnp.cross(cols[0], cols[1])]  # fmt: skip
        det = jnp.sum(cols[0] * inv_rows[0], axis=1)
        return jnp.stack(inv_rows, axis=2) / det[:, None, None], det / 6.0
    (a, c), (b, d) = (cols[0][:, 0], cols[0][:, 1]), (cols[1][:, 0], cols[1][:, 1])
    det = a * d - b * c
    inv_t = jnp.stack([jnp.stack([d, -c], 1), jnp.stack([-b, a], 1)], 1) / det[:, None, None]
    return inv_t, 0.5 * det


def areas(sp: Space, points: jax.Array) -> jax.Array:
    """Signed element areas (volumes for tetrahedra) (E,): positive for counter-clockwise
    triangles and positively oriented tetrahedra."""
    return _geometry(sp, points)[1]


def scatter(values: jax.Array, dofs: jax.Array, slots: jax.Array, local: jax.Array) -> jax.Array:
    """``values`` (padded rows) plus the local matrices ``local`` (E, m, m) of the
    elements (or facets) with dofs ``dofs`` (E, m), entry (a, b) at row ``dofs[a]``,
    slot ``slots[a, b]``."""
    e, m = dofs.shape
    rows = jnp.broadcast_to(jnp.asarray(dofs)[:, :, None], (e, m, m))
    return values.at[rows, slots].add(local)


def _matrix(sp: Space, local: jax.Array) -> StencilMatrix:
    """Scatter element matrices (E, m, m) into the space's padded rows."""
    local = local * jnp.asarray(sp.active)[:, None, None]
    values = scatter(jnp.zeros(sp.adjl.shape, local.dtype), sp.dofs, sp.slots, local)
    return StencilMatrix(values, jnp.asarray(sp.adjl, jnp.int32))


def stiffness(sp: Space, points: jax.Array) -> StencilMatrix:
    """The stiffness matrix ``int grad phi_a . grad phi_b`` (see the module docstring).

    Examples:
      >>> import numpy as np, rbfopt as ro
      >>> x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
      >>> K = ro.fem.stiffness(ro.fem.space(np.array([[0, 1, 2]]), 3), x)
      >>> K.to_scipy().toarray()
      array([[ 1. , -0.5, -0.5],
             [-0.5,  0.5,  0. ],
             [-0.5,  0. ,  0.5]])
    """
    bary, w = quadrature(sp.dim)
    dphi = jnp.asarray(shape_gradients(sp.degree, bary))  # (q, m, d)
    inv_t, area = _geometry(sp, points)
    g = jnp.einsum("eij,qmj->eqmi", inv_t, dphi)  # physical gradients
    local = jnp.einsum("q,eqai,eqbi->eab", jnp.asarray(w), g, g) * area[:, None, None]
    return _matrix(sp, local)


def mass(sp: Space, points: jax.Array) -> StencilMatrix:
    """The mass matrix ``int phi_a phi_b``."""
    bary, w = quadrature(sp.dim)
    phi = shape_values(sp.degree, bary)  # (q, m)
    ref = jnp.asarray(np.einsum("q,qa,qb->ab", w, phi, phi))
    return _matrix(sp, ref[None] * _geometry(sp, points)[1][:, None, None])


def load(
    sp: Space, points: jax.Array, source: Callable | float, order: int | None = None
) -> jax.Array:
    """The load vector ``int f phi_a`` (n_dofs,); ``source`` a number or a JAX function
    of one point. ``order``: None for :func:`~rbfopt.fem.elements.quadrature` (exact
    for a quadratic ``f`` on triangles), or n for
    :func:`~rbfopt.fem.elements.conical_rule` ``(n)`` (exact to degree 2 n - 2 on
    triangles, 2 n - 3 on tetrahedra): a sharp source needs more points, and an objective
    that reads the load (the Ritz energy) would otherwise learn where the few points
    sit."""
    bary, w = quadrature(sp.dim) if order is None else conical_rule(order, sp.dim)
    x = jnp.asarray(points)
    phi = jnp.asarray(shape_values(sp.degree, bary))  # (q, m)
    area = _geometry(sp, x)[1]
    xq = jnp.einsum("qv,evd->eqd", jnp.asarray(bary), x[sp.cells])  # (E, q, d)
    f = jax.vmap(jax.vmap(source))(xq) if callable(source) else jnp.full(xq.shape[:2], source)
    local = jnp.einsum("q,eq,qa->ea", jnp.asarray(w), f, phi) * (area * sp.active)[:, None]
    return jnp.zeros(sp.n_dofs, local.dtype).at[sp.dofs].add(local)


def lift_dirichlet(
    A: StencilMatrix, b: jax.Array, rows: np.ndarray, values: jax.Array
) -> tuple[StencilMatrix, jax.Array]:
    """Impose ``u[rows] = values`` by lifting: the rows become identity rows with
    right-hand side ``values``, and their columns move to the other rows' right-hand
    side (``b_i -= A_ij g_j``), which keeps the other rows' block symmetric. Traceable
    w.r.t. ``A.values``, ``b`` and ``values``; ``rows`` concrete.

    Examples:
      >>> import numpy as np, jax.numpy as jnp, rbfopt as ro
      >>> x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
      >>> sp = ro.fem.space(np.array([[0, 1, 2], [1, 3, 2]]), 4)
      >>> K, b = ro.fem.stiffness(sp, x), jnp.zeros(4)
      >>> K, b = ro.fem.lift_dirichlet(K, b, np.array([0, 3]), jnp.array([0.0, 1.0]))
      >>> ro.linsolve(K, b)  # the linear function x + y over 2, exactly
      Array([0. , 0.5, 0.5, 1. ], dtype=float64)
    """
    n = A.shape[0]
    rows = np.asarray(rows)
    fixed = np.zeros(n, bool)
    fixed[rows] = True
    return lift(A, b, fixed, jnp.zeros(n, A.values.dtype).at[rows].set(values))


def lift(
    A: StencilMatrix, b: jax.Array, fixed: jax.Array, g: jax.Array
) -> tuple[StencilMatrix, jax.Array]:
    """:func:`lift_dirichlet` with the fixed dofs as a mask ``fixed`` (n,) and their
    values in ``g`` (n,): traceable in all arguments (a study's mesh changes at each
    restencil without a recompile)."""
    adjl = jnp.asarray(A.adjl)
    col_fixed = fixed[adjl]
    b = b - jnp.sum(jnp.where(col_fixed, A.values * g[adjl], 0.0), axis=1)
    vals = jnp.where(fixed[:, None], identity(A.adjl), jnp.where(col_fixed, 0.0, A.values))
    return StencilMatrix(vals, A.adjl), jnp.where(fixed, g, b)


def identity(adjl: jax.Array) -> jax.Array:
    """The identity's values in the padded rows ``adjl`` (n, width): padded rows repeat
    the diagonal column, so each of its slots holds 1 / (its count).

    Examples:
      >>> import numpy as np
      >>> from rbfopt.fem.assemble import identity
      >>> identity(np.array([[0, 1], [1, 1]]))  # row 1 is padded with its diagonal
      Array([[1. , 0. ],
             [0.5, 0.5]], dtype=float64)
    """
    adjl = jnp.asarray(adjl)
    diag = adjl == jnp.arange(adjl.shape[0])[:, None]
    return diag / jnp.sum(diag, axis=1, keepdims=True)
