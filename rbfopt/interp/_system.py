"""The saddle-point system of global RBF interpolation: checks, assembly, factorization.

Shared by :class:`~rbfopt.interp.Interpolator`, its adjoint and :func:`~rbfopt.interp.loocv`
(see :mod:`rbfopt.interp` for the maths and the derivative rules).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from scipy.spatial import cKDTree

from .._util import fmt_indices, is_tracer, pad_rows
from ..basis import RadialBasis
from ..operators import Operator
from ..polynomials import exponents, monomials, num_monomials
from ..stencils import check_points

RANK_TOL = 1e-10

#: Kernel-matrix entries per evaluation chunk (queries x centres): bounds memory.
_CHUNK_BUDGET = 1 << 22


# ----------------------------------------------------------------------------- checks


def check_basis(basis: Any, n: int | None = None) -> RadialBasis:
    """A basis whose ``eps`` is a scalar or one value per centre (checked once ``n``, the
    number of centres, is given)."""
    if not isinstance(basis, RadialBasis):
        raise ValueError(f"basis: expected a basis such as ro.PHS(3), got {basis!r}")
    if basis.eps is None or is_tracer(basis.eps) or np.ndim(basis.eps) == 0 or n is None:
        return basis
    if np.shape(basis.eps) != (n,):
        raise ValueError(
            f"basis: eps must be a scalar or one value per centre, shape ({n},); "
            f"got shape {np.shape(basis.eps)}"
        )
    return basis


def check_smoothing(smoothing: Any, n: int) -> Any:
    """``smoothing``: a scalar or one value per centre, finite and ``>= 0``."""
    if is_tracer(smoothing):
        return smoothing
    lam = np.asarray(smoothing, dtype=np.float64)
    if lam.ndim > 1 or (lam.ndim == 1 and lam.shape != (n,)):
        raise ValueError(
            f"smoothing: expected a scalar or shape ({n},) (one per centre), got {lam.shape}"
        )
    bad = np.flatnonzero(~(np.isfinite(lam.ravel()) & (lam.ravel() >= 0)))
    if bad.size:
        where = "" if lam.ndim == 0 else f" at indices {fmt_indices(bad)}"
        raise ValueError(f"smoothing: must be finite and >= 0{where}, got {lam.ravel()[bad[:5]]}")
    return jnp.asarray(lam)


def _poly_frame_np(x: np.ndarray) -> tuple[np.ndarray, float]:
    lo, hi = x.min(axis=0), x.max(axis=0)
    scale = float(np.max(hi - lo) / 2)
    return (lo + hi) / 2, (scale if scale > 0 else 1.0)


def check_poly_rank(points: np.ndarray, poly_deg: int, name: str = "points") -> None:
    """Raise ValueError when the polynomial block ``P`` of ``points`` is rank-deficient.

    ``P`` (monomials of degree ``<= poly_deg`` in bounding-box coordinates) must have
    full column rank for the saddle system to be nonsingular. Points on a line
    (``poly_deg >= 1`` in 2-D/3-D) or on a conic such as a circle (``poly_deg >= 2``)
    violate it; the message names the highest ``poly_deg`` that would work.

    Examples:
      >>> import numpy as np
      >>> from rbfopt.interp import check_poly_rank
      >>> on_a_line = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
      >>> check_poly_rank(on_a_line, 0)
      >>> check_poly_rank(on_a_line, 1)  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      ValueError: points: the polynomial block is rank-deficient for poly_deg=1 ...
    """
    x = np.asarray(points, dtype=np.float64)
    n, d = x.shape
    if poly_deg < 0:
        return
    m = num_monomials(d, poly_deg)
    if n < m:
        raise ValueError(
            f"{name}: {n} points are fewer than the {m} monomials of poly_deg={poly_deg} in "
            f"{d}-D; use more points or a lower poly_deg"
        )
    shift, scale = _poly_frame_np(x)

    def ratio(deg: int) -> float:
        # numpy, not jnp: this check also runs on concrete points inside a jit trace
        z = (x - shift) / scale
        e = exponents(d, deg)
        P = np.prod(z[:, None, :] ** e[None, :, :], axis=-1)
        s = np.linalg.svd(P, compute_uv=False)
        return float(s[-1] / s[0]) if s[0] > 0 else 0.0

    r = ratio(poly_deg)
    if r >= RANK_TOL:
        return
    ok = -1
    for deg in range(poly_deg - 1, -1, -1):
        if n >= num_monomials(d, deg) and ratio(deg) >= RANK_TOL:
            ok = deg
            break
    raise ValueError(
        f"{name}: the polynomial block is rank-deficient for poly_deg={poly_deg} "
        f"(singular value ratio {r:.1e} < {RANK_TOL:.0e}): the points lie on an algebraic "
        f"curve or surface of degree <= {poly_deg} (e.g. a line, or a circle for "
        f"poly_deg >= 2), so the polynomial part is not determined; use a lower poly_deg "
        f"(poly_deg={ok} works for these points)"
    )


def check_centres(points: Any, basis: RadialBasis) -> np.ndarray:
    x = check_points(points, "points")
    n = len(x)
    pairs = cKDTree(x).query_pairs(r=0.0, output_type="ndarray") if n > 1 else np.zeros((0, 2))
    if len(pairs):
        raise ValueError(
            f"points: duplicate centres at index pairs {np.asarray(pairs)[:10].tolist()} "
            f"({len(pairs)} in all); the interpolation matrix is singular: remove them"
        )
    check_poly_rank(x, basis.poly_deg, "points")
    return x


def check_values(values: Any, n: int, name: str = "values") -> np.ndarray:
    v = np.asarray(values)
    if v.ndim not in (1, 2) or v.shape[0] != n:
        raise ValueError(
            f"{name}: expected shape ({n},) or ({n}, m) to match {n} points, got {v.shape}"
        )
    if not np.issubdtype(v.dtype, np.number):
        raise ValueError(f"{name}: expected a numeric array, got dtype {v.dtype}")
    bad = np.flatnonzero(~np.all(np.isfinite(v.reshape(n, -1)), axis=1))
    if bad.size:
        raise ValueError(f"{name}: non-finite (NaN/inf) values at indices {fmt_indices(bad)}")
    return v.astype(np.float64, copy=False)


# ----------------------------------------------------------------------------- maths


def poly_frame(points: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Bounding-box centre and half-width of the centres (held constant under AD)."""
    p = lax.stop_gradient(points)
    lo, hi = jnp.min(p, axis=0), jnp.max(p, axis=0)
    scale = jnp.max(hi - lo) / 2
    return (lo + hi) / 2, jnp.where(scale > 0, scale, 1.0)


def kernel_matrix(basis: RadialBasis, x: jax.Array, y: jax.Array) -> jax.Array:
    """``phi(|x_i - y_j|)``, (n_x, n_y).

    Why ``basis.radial(s)`` with ``s = sum_i (x_i - y_i)^2`` summed per coordinate
    rather than ``basis.profile(x[:, None] - y[None])``: XLA on CPU evaluates the
    reduction over the short coordinate axis of the (n_x, n_y, d) difference array
    slower than a sum of d fused (n_x, n_y) terms (docs/performance.md). Same kernel
    definition, same NaN-free derivatives at ``r = 0`` (``radial`` is the one definition
    in :mod:`rbfopt.basis`).
    """
    s = sum((x[:, None, i] - y[None, :, i]) ** 2 for i in range(x.shape[1]))
    return basis.radial(s, basis.eps)


def saddle_matrix(points, basis, shift, scale, smoothing=0.0) -> jax.Array:
    """``[A + sign lam I, P; P', 0]``: ``sign`` (the basis's, -1 for MQ) makes ``lam``
    regularize the definite part, so it equals scipy's ``smoothing`` (whose MQ is
    ``-sqrt(1 + r^2)``)."""
    n = points.shape[0]
    A = kernel_matrix(basis, points, points)
    A = A + basis.sign * jnp.broadcast_to(smoothing, (n,)) * jnp.eye(n, dtype=A.dtype)
    P = monomials((points - shift) / scale, basis.poly_deg)
    M = P.shape[1]
    top = jnp.concatenate([A, P], axis=1)
    bot = jnp.concatenate([P.T, jnp.zeros((M, M), A.dtype)], axis=1)
    return jnp.concatenate([top, bot], axis=0)


def lu_factor(K: jax.Array):
    # factor the primal matrix only: the rules below never differentiate the LU
    lu, piv = jax.scipy.linalg.lu_factor(lax.stop_gradient(K))
    return lax.stop_gradient(lu), lax.stop_gradient(piv)


def solve_with(K: jax.Array, lu, rhs: jax.Array, transpose: bool = False) -> jax.Array:
    """Solve ``K x = rhs`` (or ``K' x = rhs``) with the given LU factors of ``K``.

    ``custom_linear_solve`` makes the derivative rules further solves with the same
    factors (tangent: ``K^-1 (drhs - dK x)``; cotangent: ``K^-T xbar``).
    """
    t0, t1 = (1, 0) if transpose else (0, 1)
    mv = (lambda x: K.T @ x) if transpose else (lambda x: K @ x)
    return lax.custom_linear_solve(
        mv,
        rhs,
        solve=lambda _, b: jax.scipy.linalg.lu_solve(lu, b, trans=t0),
        transpose_solve=lambda _, b: jax.scipy.linalg.lu_solve(lu, b, trans=t1),
    )


@jax.jit
def fit_coefficients(points, values2d, basis, smoothing=0.0):
    shift, scale = poly_frame(points)
    K = saddle_matrix(points, basis, shift, scale, smoothing)
    n = points.shape[0]
    M = K.shape[0] - n
    rhs = jnp.concatenate([values2d, jnp.zeros((M, values2d.shape[1]), values2d.dtype)])
    sol = solve_with(K, lu_factor(K), rhs)
    return sol[:n], sol[n:], shift, scale


def chunked(fn, x: jax.Array, chunk: int) -> jax.Array:
    """``fn`` over row-chunks of ``x`` (lax.map), memory O(chunk * N)."""
    nq = x.shape[0]
    if nq <= chunk:
        return fn(x)
    n_chunks = -(-nq // chunk)
    xp = pad_rows(x, n_chunks * chunk)
    out = lax.map(fn, xp.reshape((n_chunks, chunk) + x.shape[1:]))
    return out.reshape((n_chunks * chunk,) + out.shape[2:])[:nq]


def chunk_size(n_centres: int) -> int:
    return max(1, _CHUNK_BUDGET // max(n_centres, 1))


def design_rows(op: Operator | None, points, basis, shift, scale, xb):
    """``E = [L Phi(xb, points)  L P(xb)]`` for a chunk of queries: (B, *out, N + M)."""
    deg = basis.poly_deg
    if op is None:
        return jnp.concatenate(
            [kernel_matrix(basis, xb, points), monomials((xb - shift) / scale, deg)], axis=-1
        )

    def row(x):
        return jnp.concatenate(
            [basis.profile(x[None, :] - points, basis.eps), monomials((x - shift) / scale, deg)]
        )

    return jax.vmap(op(row))(xb)


@functools.partial(jax.jit, static_argnames=("op", "chunk"))
def evaluate(points, coef, pcoef, shift, scale, basis, x, op, chunk):
    cd = jnp.concatenate([coef, pcoef], axis=0)  # (N + M, m)

    def block(xb):
        return design_rows(op, points, basis, shift, scale, xb) @ cd

    return chunked(block, x, chunk)
