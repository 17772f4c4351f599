"""Errors of a finite-element solution against a known solution, by quadrature.

With the element map ``x = x0 + J s`` (:mod:`rbfopt.fem.assemble`) and a rule of
weights ``w_q`` summing to 1 (:func:`rbfopt.fem.elements.conical_rule`):

    ||u_h - u||^2_L2   = sum_T |T| sum_q w_q (u_h(x_q) - u(x_q))^2
    |u_h - u|^2_H1     = sum_T |T| sum_q w_q |grad u_h(x_q) - grad u(x_q)|^2

``u`` is a JAX function of one point (its gradient by autodiff). Traceable w.r.t. the
vertices and the dof values in both modes: the objective of a mesh study.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from .assemble import _geometry
from .elements import conical_rule, shape_gradients, shape_values
from .space import Space

__all__ = ["errors"]


def errors(
    sp: Space, points: jax.Array, uh: jax.Array, exact: Callable, order: int = 4
) -> tuple[jax.Array, jax.Array]:
    """The L2 error and the H1-seminorm error of the dof values ``uh`` against ``exact``,
    with :func:`~rbfopt.fem.elements.conical_rule` ``(order)`` on every cell (exact to
    degree ``2 order - 2`` on triangles, ``2 order - 3`` on tetrahedra).

    Examples:
      >>> import numpy as np, jax.numpy as jnp, rbfopt as ro
      >>> x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
      >>> sp = ro.fem.space(np.array([[0, 1, 2], [1, 3, 2]]), 4, degree=2)
      >>> u = lambda p: p[0] ** 2 + p[1]                 # in P2: no error
      >>> l2, h1 = ro.fem.errors(sp, x, jax.vmap(u)(sp.dof_points(x)), u)
      >>> bool(l2 < 1e-14 and h1 < 1e-14)
      True
    """
    bary, w = conical_rule(order, sp.dim)
    x = jnp.asarray(points)
    inv_t, area = _geometry(sp, x)
    weight = jnp.asarray(w)[None] * (area * jnp.asarray(sp.active))[:, None]  # (E, q)
    local = jnp.asarray(uh)[sp.dofs]  # (E, m)
    phi = jnp.asarray(shape_values(sp.degree, bary))
    dphi = jnp.asarray(shape_gradients(sp.degree, bary))
    xq = jnp.einsum("qv,evd->eqd", jnp.asarray(bary), x[sp.cells])
    value = jnp.einsum("qa,ea->eq", phi, local)
    grad = jnp.einsum("eij,qaj,ea->eqi", inv_t, dphi, local)
    u = jax.vmap(jax.vmap(jax.value_and_grad(exact)))
    u_q, du_q = u(xq)
    l2 = jnp.sum(weight * (value - u_q) ** 2)
    h1 = jnp.sum(weight * jnp.sum((grad - du_q) ** 2, axis=-1))
    return _root(l2), _root(h1)


def _root(s: jax.Array) -> jax.Array:
    # sqrt has no derivative at 0 (an exactly reproduced solution)
    return jnp.where(s > 0, jnp.sqrt(jnp.where(s > 0, s, 1.0)), 0.0)
