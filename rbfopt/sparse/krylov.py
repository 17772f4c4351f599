"""Matrix-free Krylov solves of :class:`StencilMatrix` systems, JAX-native.

The iteration is BiCGStab (van der Vorst's, as in ``lineax.BiCGStab`` and
``jax.scipy``) on the stencil product ``A x`` (a gather and a row dot,
:meth:`StencilMatrix.matvec`) with right preconditioning by Jacobi (``D^-1``, the
default) or an :class:`~rbfopt.sparse.AMG` V-cycle, written here as one
``jax.lax.while_loop`` so that a breakdown ends the loop with the last iterate
instead of a NaN (lineax divides by zero, and also after exact convergence when its
step-size test asks for one more step). BiCGStab because it tests convergence at every
step at two products per step (the comparison with GMRES: docs/performance.md,
"Sparse solves"). Everything runs under ``jax.jit`` on any device and on sharded
arrays; no host callback runs inside the iteration.

Identity rows (the lift). A Dirichlet row ``i`` has one non-zero entry, its diagonal
``a_ii``. BiCGStab's shadow residual is its first residual, ``r_hat = b``; when ``b``
lives on identity rows only (every Laplace problem with zero source), the first step
makes the residual exactly zero on those rows (Jacobi; nearly so under the V-cycle) and
``<r_hat, r>`` vanishes: ``alpha = 0 / 0``, a NaN after 2 steps (or after a few hundred,
with the V-cycle). So the known part of the solution is taken out first. With ``D``
the identity rows (detected from the values under ``jax.jit``: rows whose off-diagonal
entries are all zero and whose diagonal is not), ``F`` the others, and
``w = b_D / a_DD`` on ``D`` (zero on ``F``):

* ``A x = b``: ``x = w + y`` with ``A y = c``, ``c = b - A w`` on ``F`` and ``c_D = 0``
  (set exactly), whose solution has ``y_D = 0``. ``c`` lives on ``F``, the shadow
  residual too, and on ``F`` the iteration is BiCGStab on ``A_FF`` (right
  preconditioning by Jacobi leaves ``D`` rows at zero).
* ``A^T z = b`` (reverse mode): in the ordering ``(F, D)``,
  ``A = [[A_FF, A_FD], [0, a_DD]]`` and ``A^T = [[A_FF^T, 0], [A_FD^T, a_DD]]``, so
  ``A^T w`` is ``b_D`` on ``D`` and exactly zero on ``F``: ``z = w + y`` with
  ``A^T y = c``, ``c = b`` on ``F`` and ``c_D = 0``. Here ``y_D = -A_FD^T y_F / a_DD`` is
  not zero, but the shadow residual ``c`` lives on ``F``, whose rows of ``A^T`` do not
  see ``y_D`` (``A_FF^T y_F = b_F``): ``<r_hat, r>`` follows the residual of the coupled
  unknowns instead of vanishing with the identity rows'. A right-hand side on identity
  rows alone is solved by the lift exactly (``c = 0``, no iteration).

The lift is linear in ``b`` and uses no derivative (the values are
``stop_gradient``), so the derivative rules of :func:`rbfopt.linsolve` are unchanged.

Convergence and restarts. The loop stops on its recursive residual
``|c - A y| <= tol |b|``, or on a breakdown (``<r_hat, r> = 0``, ``<r_hat, A M p> = 0``
or ``omega = 0``, after a minimal-residual step). :func:`krylov` then computes the
true relative residual ``|b - A x| / |b|`` of the original system (one more product)
and, should it exceed the target while iterations are left, restarts from the last
iterate, whose residual is the new shadow residual, up to :data:`MAX_RESTARTS`
times. The target is ``max(tol, 8 * floor)`` with
``floor = eps | |A| |x| + |b| | / |b|`` the rounding level of the residual itself (no
float64 solution, direct ones included, has a smaller computed residual; on large
RBF-FD Laplacians it exceeds 1e-11). A solve that still misses the target is an error
naming the residual reached and the iteration count: a ``ValueError`` for concrete
input, and under ``jax.jit`` a JAX runtime error with the same message, raised from a
host callback that runs only after the iteration (:func:`raise_if_failed`).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._util import check_int, is_tracer
from .amg import AMG, _barrier, _diagonal
from .matrix import StencilMatrix

__all__ = [
    "DEFAULT_ADVICE",
    "KrylovResult",
    "krylov",
    "default_maxiter",
    "failed",
    "raise_if_failed",
]


class KrylovResult(NamedTuple):
    """``x`` (N,) or (N, m); per right-hand side the ``iterations`` (BiCGStab steps,
    each two products and two preconditioner applications), the true relative
    ``residual`` ``|b - A x| / |b|`` and its rounding ``floor``
    ``eps | |A| |x| + |b| | / |b|``."""

    x: jax.Array
    iterations: jax.Array
    residual: jax.Array
    floor: jax.Array


def default_maxiter(n: int) -> int:
    """The iteration cap when ``maxiter=None``: ``min(max(n, 100), 5000)``.

    Examples:
      >>> from rbfopt.sparse.krylov import default_maxiter
      >>> default_maxiter(60), default_maxiter(10**6)
      (100, 5000)
    """
    return min(max(n, 100), 5000)


def _two_norm(v: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.sum(v * v))


#: Restarts of BiCGStab (from its last iterate, with a new shadow residual) after a
#: breakdown or a recursive residual that drifted from the true one.
MAX_RESTARTS = 3


def _identity_rows(A: StencilMatrix) -> tuple[jax.Array, jax.Array]:
    """Rows whose only non-zero entry is a non-zero diagonal (Dirichlet rows), and A's
    diagonal. Traceable; cancelling off-diagonal duplicates count as entries (such a row
    is merely not lifted)."""
    own = A.adjl == jnp.arange(A.shape[0], dtype=A.adjl.dtype)[:, None]
    diag = jnp.sum(jnp.where(own, A.values, 0.0), axis=1)
    off = jnp.any(~own & (A.values != 0), axis=1)
    return ~off & (diag != 0), diag


def _bicgstab(mv, pc, c, y0, atol, maxiter):
    """Right-preconditioned BiCGStab on ``A y = c`` from ``y0`` (shadow residual
    ``c - A y0``) until the recursive residual is ``<= atol``, ``maxiter`` steps, or a
    breakdown: (y, steps). A breakdown (``<r_hat, r> = 0`` or ``<r_hat, A M p> = 0``,
    or ``omega = 0``) ends the loop after a minimal-residual step instead of dividing
    by zero; the caller restarts from ``y`` with a new shadow residual."""
    dot = jnp.vdot
    r_hat = c - mv(y0)

    def cond(st):
        _, r, *_, k, going = st
        return going & (k < maxiter) & (_two_norm(r) > atol)

    def body(st):
        y, r, p, v, rho, alpha, omega, k, _ = st
        rho_new = dot(r_hat, r)
        beta = (rho_new / rho) * (alpha / omega)
        p = r + beta * (p - omega * v)
        ph = pc(p)
        v = mv(ph)
        sigma = dot(r_hat, v)
        ok = (rho_new != 0) & (sigma != 0) & jnp.isfinite(beta)
        alpha = jnp.where(ok, rho_new / jnp.where(sigma != 0, sigma, 1.0), 0.0)
        s = r - alpha * v
        sh = pc(s)
        t = mv(sh)
        tt = dot(t, t)
        omega = jnp.where(tt > 0, dot(t, s) / jnp.where(tt > 0, tt, 1.0), 0.0)
        y = y + alpha * ph + omega * sh
        r = s - omega * t
        going = ok & (omega != 0) & jnp.isfinite(omega)
        return y, r, p, v, rho_new, alpha, omega, k + 1, going

    one = jnp.ones((), c.dtype)
    zero = jnp.zeros_like(c)
    init = (y0, r_hat, zero, zero, one, one, one, jnp.zeros((), jnp.int_), jnp.array(True))
    y, *_, k, _ = jax.lax.while_loop(cond, body, init)
    return y, k


def _preconditioner(A: StencilMatrix, fine: StencilMatrix, precond, transpose: bool):
    if precond is None:
        dinv = 1.0 / _diagonal(A)
        return lambda r: dinv * r
    Ap = StencilMatrix(fine.values.astype(precond.dtype), fine.adjl)  # cast once per solve
    return lambda r: precond._vcycle(Ap, r, transpose)


def _solve1(A: StencilMatrix, b, tol, maxiter, precond, transpose):
    # the operator is always A's own product; the hierarchy only preconditions, so a
    # stale or mismatched one costs iterations, never correctness
    fine = A
    if transpose and precond is not None:
        # A^T's products and V-cycle run on its gather form: a scatter-add (rmatvec)
        # made an adjoint iteration several times the cost of a forward one on CPU
        fine = precond.transpose(A)
    mv_ = A.rmatvec if transpose and precond is None else fine.matvec

    def mv(x):
        return mv_(_barrier(x))

    pc = _preconditioner(A, fine, precond, transpose)
    # the lift (module docstring): x = w + y with w = b / a_ii on the identity rows,
    # and y solves for what is left, a right-hand side that is zero on those rows
    ident, diag = _identity_rows(A)
    w = jnp.where(ident, b / jnp.where(ident, diag, 1.0), 0.0)
    c = jnp.where(ident, 0.0, b if transpose else b - mv(w))
    bnorm = _two_norm(b)
    scale = jnp.where(bnorm > 0, bnorm, 1.0)
    atol = tol * bnorm

    def residual(y):
        return _two_norm(b - mv(w + y)) / scale

    def floor(y):
        absA = StencilMatrix(jnp.abs(A.values), A.adjl)
        ax = absA.rmatvec(jnp.abs(w + y)) if transpose else absA.matvec(jnp.abs(w + y))
        return jnp.finfo(b.dtype).eps * _two_norm(ax + jnp.abs(b)) / scale

    def done(y, it, res):
        return (res <= jnp.maximum(tol, 8 * floor(y))) | (it >= maxiter)

    def step(st):
        # the first run, then restarts from y: after a breakdown, or where the
        # recursive residual drifted from the true one
        y, it, res, n = st
        y, k = _bicgstab(mv, pc, c, y, atol, maxiter - it)
        return y, it + k, residual(y), n + 1

    def again(st):
        y, it, res, n = st
        return (n == 0) | ((n <= MAX_RESTARTS) & ~done(y, it, res))

    # c = 0 (b = 0, or b on identity rows only, transposed) takes no step: |r| = 0
    y = jnp.zeros_like(c)
    start = (y, jnp.zeros((), jnp.int_), residual(y), jnp.zeros((), jnp.int_))
    y, it, res, _ = jax.lax.while_loop(again, step, start)
    return w + y, it, res, floor(y)


def krylov(
    A: StencilMatrix,
    b: jax.Array,
    *,
    tol: float = 1e-10,
    maxiter: int | None = None,
    precond: AMG | None = None,
    transpose: bool = False,
) -> KrylovResult:
    """Solve ``A x = b`` (or ``A^T x = b``) by preconditioned BiCGStab, with statistics.

    No derivative rule and no convergence check (see :func:`rbfopt.linsolve` for
    both): the building block that ``linsolve(..., method="krylov")`` wraps, useful to
    read iteration counts. ``b`` (N,) or (N, m) (columns solved independently).

    Examples:
      >>> import jax.numpy as jnp
      >>> import rbfopt as ro
      >>> from rbfopt.sparse.krylov import krylov
      >>> values = jnp.array([[2.0, -1.0], [2.0, -1.0], [1.0, 0.0]])
      >>> A = ro.StencilMatrix(values, jnp.array([[0, 1], [1, 2], [2, 0]]))
      >>> res = krylov(A, jnp.ones(3))
      >>> res.x, int(res.iterations) <= 4, bool(res.residual < 1e-10)
      (Array([1., 1., 1.], dtype=float64), True, True)
    """
    maxiter = check_int("maxiter", maxiter, 1, allow_none=True)
    maxiter = default_maxiter(A.shape[0]) if maxiter is None else maxiter
    return _krylov(A, b, tol, maxiter, precond, transpose)


@partial(jax.jit, static_argnums=(3, 5))
def _krylov(A, b, tol, maxiter, precond, transpose):
    A = StencilMatrix(jax.lax.stop_gradient(A.values), A.adjl)
    b = jax.lax.stop_gradient(b)
    one = lambda r: _solve1(A, r, tol, maxiter, precond, transpose)  # noqa: E731
    if b.ndim == 1:
        return KrylovResult(*one(b))
    return KrylovResult(*jax.vmap(one, in_axes=1, out_axes=(1, 0, 0, 0))(b))


#: The advice of the non-convergence error unless the caller gives its own (``advice=``).
DEFAULT_ADVICE = "pass precond=rbfopt.sparse.amg(A), raise maxiter, or use method='direct'"


def _message(residual: float, iterations: int, tol: float, maxiter: int, advice: str) -> str:
    return (
        f"linsolve: the Krylov solve (BiCGStab) did not converge: relative residual "
        f"{residual:.2e} > tol {tol:.1e} (and > 8x its rounding floor) after {iterations} "
        f"iterations (maxiter {maxiter}); {advice}"
    )


def failed(res: KrylovResult, tol: float) -> jax.Array:
    """True where the solve missed ``max(tol, 8 * floor)`` (or produced NaN)."""
    return jnp.any(~(res.residual <= jnp.maximum(tol, 8 * res.floor)))


def raise_if_failed(
    res: KrylovResult, tol: float, maxiter: int, *, advice: str | None = None
) -> jax.Array:
    """``res.x``, or an error naming the residual and iterations if ``tol`` was missed.

    ``advice`` (default :data:`DEFAULT_ADVICE`) is the message's last sentence: what
    the caller can change. Concrete input raises ``ValueError`` here; traced input gets
    a host callback, run only on failure (under ``jax.vmap`` for every batch entry,
    which then checks itself), that raises the same ``ValueError`` inside the
    computation, so it surfaces as JAX's runtime error carrying the message.
    """
    advice = DEFAULT_ADVICE if advice is None else advice
    bad = failed(res, tol)
    worst = jnp.max(res.residual)
    its = jnp.max(res.iterations)
    if not is_tracer(bad):
        if bool(bad):
            raise ValueError(_message(float(worst), int(its), tol, maxiter, advice))
        return res.x

    def host(bad_, worst_, its_):
        if bool(np.any(bad_)):
            raise ValueError(
                _message(float(np.max(worst_)), int(np.max(its_)), tol, maxiter, advice)
            )
        return np.zeros((), np.float64)

    def report(x):
        zero = jax.pure_callback(
            host,
            jax.ShapeDtypeStruct((), x.dtype),
            bad,
            worst,
            its,
            vmap_method="sequential",
        )
        return x + zero  # data dependence keeps the callback

    return jax.lax.cond(bad, report, lambda x: x, res.x)
