"""Matrix-free Krylov solves of :class:`StencilMatrix` systems, JAX-native.

The iteration is ``lineax.BiCGStab`` on the stencil product ``A x`` (a gather and a
row dot, :meth:`StencilMatrix.matvec`) with right preconditioning by Jacobi
(``D^-1``, the default) or an :class:`~rbfopt.sparse.AMG` V-cycle. BiCGStab
because, of the maintained JAX solvers, it alone tests convergence at every step and
reports its iteration count (lineax's GMRES tests only once per 20-step restart cycle,
``jax.scipy``'s GMRES and BiCGStab report no count); on RBF-FD Poisson matrices with
the AMG V-cycle it needs 40 steps (80 V-cycles) at N = 1e4 and 1e5, where GMRES(20)
with a per-step test would need ~48 V-cycles (pyamg's GMRES, same hierarchy), a saving
lineax's per-cycle test would give back. Everything runs under ``jax.jit`` on
any device; no host callback runs inside the iteration.

Convergence. lineax stops on its recursive residual; :func:`krylov` then computes the
true relative residual ``|b - A x| / |b|`` (one more product) and, should it exceed
the target while iterations are left, continues from ``x`` once. The target is
``max(tol, 8 * floor)`` with ``floor = eps | |A| |x| + |b| | / |b|`` the rounding level
of the residual itself (no float64 solution, direct ones included, has a smaller
computed residual): for the RBF-FD Laplacian at N = 1e6 the floor is ~1e-11, so a
``tol = 1e-10`` is met only with that allowance. A solve that still misses the target
is an error naming the residual reached and the iteration count: a
``ValueError`` for concrete input, and under ``jax.jit`` a JAX runtime error with the
same message, raised from a host callback that runs only after the iteration
(:func:`raise_if_failed`).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

from .._util import is_tracer
from .amg import AMG, _barrier, _diagonal
from .matrix import StencilMatrix

__all__ = ["KrylovResult", "krylov", "default_maxiter", "failed", "raise_if_failed"]


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


def _bicgstab(mv, pc, b, x0, tol, maxiter):
    n = b.shape[0]
    struct = jax.ShapeDtypeStruct((n,), b.dtype)
    bnorm = _two_norm(b)
    # rtol = 0 and atol = tol |b| with the 2-norm: lineax's scaled test becomes
    # |r| <= tol |b| (and the step |dx| <= tol |b|)
    solver = lx.BiCGStab(rtol=0.0, atol=tol * bnorm, norm=_two_norm, max_steps=maxiter)
    sol = lx.linear_solve(
        lx.FunctionLinearOperator(mv, struct),
        b,
        solver,
        options={"preconditioner": lx.FunctionLinearOperator(pc, struct), "y0": x0},
        throw=False,
    )
    x = sol.value
    res = _two_norm(b - mv(x)) / jnp.where(bnorm > 0, bnorm, 1.0)
    return x, jnp.asarray(sol.stats["num_steps"]), res


def _solve1(A: StencilMatrix, b, tol, maxiter, precond, transpose):
    # the operator is always A's own product; the hierarchy only preconditions, so a
    # stale or mismatched one costs iterations, never correctness
    fine = A
    if transpose and precond is not None:
        # A^T's products and V-cycle run on its gather form: a scatter-add (rmatvec)
        # made an adjoint iteration ~3x the cost of a forward one on CPU
        fine = precond.transpose(A)
    mv_ = A.rmatvec if transpose and precond is None else fine.matvec

    def mv(x):
        return mv_(_barrier(x))

    def floor(x):
        absA = StencilMatrix(jnp.abs(A.values), A.adjl)
        ax = absA.rmatvec(jnp.abs(x)) if transpose else absA.matvec(jnp.abs(x))
        bnorm = _two_norm(b)
        eps = jnp.finfo(b.dtype).eps
        return eps * _two_norm(ax + jnp.abs(b)) / jnp.where(bnorm > 0, bnorm, 1.0)

    if precond is None:
        dinv = 1.0 / _diagonal(A)

        def pc(r):
            return dinv * r
    else:
        Ap = StencilMatrix(fine.values.astype(precond.dtype), fine.adjl)  # cast once per solve

        def pc(r):
            return precond._vcycle(Ap, r, transpose)

    x, it, res = _bicgstab(mv, pc, b, jnp.zeros_like(b), tol, maxiter)

    # the recursive residual can drift from the true one: one restart from x
    def restart(args):
        x, it, res = args
        x2, it2, res2 = _bicgstab(mv, pc, b, x, tol, jnp.maximum(maxiter - it, 1))
        return x2, it + it2, res2

    x, it, res = jax.lax.cond(
        (res > jnp.maximum(tol, 8 * floor(x))) & (it < maxiter), restart, lambda a: a, (x, it, res)
    )
    return x, it, res, floor(x)


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
    n = A.shape[0]
    maxiter = default_maxiter(n) if maxiter is None else maxiter
    return _krylov(A, b, tol, maxiter, precond, transpose)


@partial(jax.jit, static_argnums=(3, 5))
def _krylov(A, b, tol, maxiter, precond, transpose):
    A = StencilMatrix(jax.lax.stop_gradient(A.values), A.adjl)
    b = jax.lax.stop_gradient(b)
    one = lambda r: _solve1(A, r, tol, maxiter, precond, transpose)  # noqa: E731
    if b.ndim == 1:
        return KrylovResult(*one(b))
    return KrylovResult(*jax.vmap(one, in_axes=1, out_axes=(1, 0, 0, 0))(b))


def _message(residual: float, iterations: int, tol: float, maxiter: int) -> str:
    return (
        f"linsolve: the Krylov solve (BiCGStab) did not converge: relative residual "
        f"{residual:.2e} > tol {tol:.1e} (and > 8x its rounding floor) after {iterations} "
        f"iterations (maxiter {maxiter}); "
        "pass precond=rbfopt.sparse.amg(A), raise maxiter, or use method='direct'"
    )


def failed(res: KrylovResult, tol: float) -> jax.Array:
    """True where the solve missed ``max(tol, 8 * floor)`` (or produced NaN)."""
    return jnp.any(~(res.residual <= jnp.maximum(tol, 8 * res.floor)))


def raise_if_failed(res: KrylovResult, tol: float, maxiter: int) -> jax.Array:
    """``res.x``, or an error naming the residual and iterations if ``tol`` was missed.

    Concrete input raises ``ValueError`` here; traced input gets a host callback, run
    only on failure (under ``jax.vmap`` for every batch entry, which then checks
    itself), that raises the same ``ValueError`` inside the computation, so it surfaces
    as JAX's runtime error carrying the message.
    """
    bad = failed(res, tol)
    worst = jnp.max(res.residual)
    its = jnp.max(res.iterations)
    if not is_tracer(bad):
        if bool(bad):
            raise ValueError(_message(float(worst), int(its), tol, maxiter))
        return res.x

    def host(bad_, worst_, its_):
        if bool(np.any(bad_)):
            raise ValueError(_message(float(np.max(worst_)), int(np.max(its_)), tol, maxiter))
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
