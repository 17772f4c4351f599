"""What a node layout is worth to discretizations its study's loss never saw.

The held-out family: plain k-nearest weights (as most RBF-FD codes build them) at
stencil sizes inside the default family's range and outside it (12, 14, 18, 22, 27, 34), and
the study's kernel with a polynomial one degree higher at a stencil that carries it;
members of the study's own family are left out. Each is solved on the start and on the
optimized layout with a direct solve, carried to the points the report judges on (the
check points when the solution is known, else the reference's evaluation points) by its
own stencils, and compared: the factor is start error / optimized error (> 1: better).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..fd.weights import build_weights
from ..operators import Identity
from ..polynomials import num_monomials
from ..sparse import linsolve
from ..stencils import find_neighbors
from .family import Discretization

#: Plain stencil sizes of the held-out family.
HELD_OUT_K = (12, 14, 18, 22, 27, 34)


def held_out(basis: Any, dim: int, n: int, members: tuple = ()) -> tuple[Discretization, ...]:
    """The held-out family of a study with ``basis`` in ``dim`` dimensions, ``n`` nodes
    and the family ``members`` (left out).

    Examples:
      >>> import rbfopt as ro
      >>> [d.label for d in held_out(ro.PHS(3, poly_deg=2), 2, 1000)][-2:]
      ['k=34 plain', 'k=24 plain PHS(order=3, poly_deg=3)']
    """
    deg = basis.poly_deg + 1
    higher = basis.replace(poly_deg=deg)
    k_high = max(24, 2 * num_monomials(dim, deg))
    sizes = [k for k in HELD_OUT_K if num_monomials(dim, basis.poly_deg) < k <= n]
    out = [Discretization(k, 0) for k in sizes]
    if k_high <= n:
        out.append(Discretization(k_high, 0, basis=higher))
    own = {(m.k, m.blend, m.basis or basis) for m in members}
    return tuple(m for m in out if (m.k, m.blend, m.basis or basis) not in own)


def error(x: np.ndarray, y: np.ndarray, u_y: Any, k: int, fn: Any) -> float:
    """RMS error at ``y`` against ``u_y`` of the solution on nodes ``x`` with stencils
    of ``k`` (host search), by a member's jitted ``fn`` (:func:`_error`)."""
    adjl, ay = (jnp.asarray(find_neighbors(x, k, q)) for q in (None, y))
    return float(fn(jnp.asarray(x), adjl, jnp.asarray(y), ay, u_y))


def _error(study: Any, member: Discretization):
    """The jitted error of one member (one compile, not one per eager operation)."""
    basis = study.basis if member.basis is None else member.basis

    @jax.jit
    def err(x, adjl, y, ay, u_y):
        uh = linsolve(*study.system_with(x, adjl, basis, build_weights), "direct")
        u = jnp.sum(build_weights(Identity(), x, y, ay, basis) * uh[ay], axis=1)
        return jnp.sqrt(jnp.mean((u - u_y) ** 2))

    return err


def table(study: Any, x0: np.ndarray, x1: np.ndarray, y: np.ndarray, u_y: Any) -> dict:
    """Errors of the held-out family on the start ``x0`` and the layout ``x1``."""
    members = held_out(study.basis, study.domain.dim, len(x0), study.members)
    u_y = jnp.asarray(u_y)
    before, after = [], []
    for m in members:  # one compile per member, for both layouts
        fn = _error(study, m)
        before.append(error(x0, y, u_y, m.k, fn))
        after.append(error(x1, y, u_y, m.k, fn))
    factors = [b / a for b, a in zip(before, after, strict=True)]
    return {
        "discretizations": [m.label for m in members],
        "initial": before,
        "optimized": after,
        "factor": factors,
        "geomean_factor": float(np.exp(np.mean(np.log(factors)))) if factors else None,
        "worst_factor": min(factors) if factors else None,
    }
