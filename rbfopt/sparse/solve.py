"""Differentiable sparse solves of global RBF-FD systems.

A global system is stored like an RBF-FD operator: row ``i`` has ``k`` entries
``values[i, j]`` in columns ``adjl[i, j]`` (:class:`StencilMatrix`; repeated
columns within a row add up). :func:`linsolve` solves ``A x = b`` with a SuperLU
factorization (``scipy.sparse.linalg.splu``) called from JAX through a host callback,
so it runs under ``jax.jit`` (on CPU; on an accelerator the arrays travel to the host
and back).

Host callback. The callback is a primitive of its own (``_host_solve_p``) lowered like
``jax.pure_callback`` (one call on whole arrays, gathered to one device, in a program
partitioned over several; batched by ``vmap`` one solve after another) that hands
SuperLU the operands XLA gives it: ``jax.pure_callback`` first copies them onto CPU
device 0 and waits for that copy, which never completes when node arrays are split
over several CPU devices (what was tried: docs/performance.md, "Sparse solves").

Derivative rules. The solve is wrapped in ``jax.lax.custom_linear_solve``: the
matrix-vector product ``A x`` (gather + row dot) is ordinary JAX code, and
``solve`` / ``transpose_solve`` are host callbacks that use the *same* SuperLU
factors (``lu.solve(b)`` and ``lu.solve(b, trans="T")``). JAX derives

* forward mode: ``dx = A^-1 (db - dA x)``, one more solve;
* reverse mode: ``bbar = A^-T xbar`` (one transposed solve with the cached factors)
  and ``Abar[i, j] = -bbar[i] x[adjl[i, j]]`` (gather);
* higher orders by nesting, since each rule is again a linear solve.

Factor cache. The factors live in a host-side LRU cache keyed by a hash of
``(values, adjl)`` (blake2b of the raw bytes; hashing is O(nnz), negligible next
to the factorization), bounded by memory (``CACHE_BYTES`` of factors) and by count
(``CACHE_SIZE``), the newest always kept. A reverse pass (or any later solve with
the same matrix) thus finds the factors of its forward pass instead of refactoring;
if they were evicted meanwhile the callback simply refactors. :func:`clear_cache`
empties it (for honest timings).

Near matrices. ``linsolve(A, b, "direct", near=A0)`` with ``A0`` close to ``A`` (e.g.
another discretization of the same PDE on the same nodes) runs GMRES
(``scipy.sparse.linalg.gmres``) on ``A`` preconditioned by the cached factors of
``A0`` (``A^T`` with ``A0``'s transposed factors in the transposed solves) to a true
relative residual ``tol`` (``adjoint_tol`` in the transposed solves; or 8x its
rounding floor ``eps | |A| |x| + |b| | / |b|``, as the Krylov solve) within
``NEAR_MAXITER`` iterations; if it misses, ``A`` itself is factored (and cached) and
solved directly, so the residual never exceeds the target. A family of matrices
sharing one ``A0`` thus factors it once per step instead of factoring each member.
``A0`` is only a preconditioner: no derivative flows into it, and the derivative
rules are those above. ``A`` is checked
(indices, finiteness) but not factored up front, so a singular ``A`` is reported only
when GMRES misses and the fallback factors it.

Checks. With concrete inputs :func:`linsolve` validates shapes, indices and
finiteness and factors eagerly, so a singular system raises ``ValueError`` naming
the cause (zero rows, columns with no entries, exactly singular or numerically
singular pivots). Under ``jax.jit`` the same ValueError is raised inside the host
callback and surfaces as JAX's runtime error carrying the message; never a silent
NaN.
"""

from __future__ import annotations

import hashlib
import inspect
import threading
from collections import OrderedDict
from functools import partial
from typing import Any

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import scipy.sparse.linalg as spla
from jax.interpreters import batching, mlir

from .._compat import callback_op_sharding
from .._util import check_int, fmt_indices, is_tracer
from .amg import AMG, stencil_fingerprint
from .krylov import _krylov, default_maxiter, krylov, raise_if_failed
from .matrix import StencilMatrix, _csr

__all__ = [
    "linsolve",
    "clear_cache",
    "SINGULAR_TOL",
    "CACHE_SIZE",
    "CACHE_BYTES",
    "AUTO_DIRECT_MAX",
    "NEAR_MAXITER",
    "NEAR_RESTART",
]

#: Systems whose smallest/largest |U_ii| pivot ratio is below this are reported as
#: numerically singular.
SINGULAR_TOL = 1e-13

#: Factorizations kept on the host: at most ``CACHE_SIZE`` of them holding at most
#: ``CACHE_BYTES`` of factors (12 bytes per stored L/U entry plus the permutations),
#: the newest always kept. Bounded by memory rather than by a small count because a
#: family of discretizations solved per step must find its forward factors in the
#: reverse pass.
CACHE_SIZE = 16
CACHE_BYTES = 2 * 2**30

#: ``near`` solves: GMRES, preconditioned by the near matrix's factors, must reach a
#: true relative residual ``|b - A x| / |b| <= tol`` (or 8x its rounding floor,
#: when that is larger: a direct solve's residual is at that floor too) within
#: ``NEAR_MAXITER`` iterations (restarted every ``NEAR_RESTART``; rounded up to whole
#: restart cycles), else ``A`` is factored and solved directly.
NEAR_MAXITER = 60
NEAR_RESTART = 30

#: ``method="auto"`` solves systems up to this size directly when the default backend
#: is the CPU and no ``precond`` is given, where SuperLU beats Jacobi-preconditioned
#: BiCGStab (figures: docs/performance.md, "Sparse solves"). The bound (not measured)
#: keeps SuperLU's fill from exhausting memory; with an AMG ``precond``, or on an
#: accelerator, "auto" is Krylov.
AUTO_DIRECT_MAX = 200_000

_CACHE: OrderedDict[bytes, tuple[Any, int]] = OrderedDict()  # key -> (factors, bytes)
_LOCK = threading.Lock()  # guards _CACHE and _FACTORING
_FACTORING: dict[bytes, threading.Lock] = {}  # keys being factored -> their lock

# scipy < 1.12 names gmres's relative tolerance ``tol``
_GMRES_RTOL = "rtol" if "rtol" in inspect.signature(spla.gmres).parameters else "tol"


def clear_cache() -> None:
    """Drop all cached factorizations.

    Examples:
      >>> from rbfopt.sparse import clear_cache
      >>> clear_cache()
    """
    _CACHE.clear()


def _key(values: np.ndarray, adjl: np.ndarray) -> bytes:
    h = hashlib.blake2b(digest_size=20)
    h.update(np.asarray(values.shape, np.int64).tobytes())
    h.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(adjl, dtype=np.int64).tobytes())
    return h.digest()


def _check_matrix(values: np.ndarray, adjl: np.ndarray, name: str = "A") -> None:
    n, k = values.shape
    if not np.issubdtype(adjl.dtype, np.integer):
        raise ValueError(f"{name}.adjl: expected integer column indices, got dtype {adjl.dtype}")
    bad = np.flatnonzero(np.any((adjl < 0) | (adjl >= n), axis=1))
    if bad.size:
        raise ValueError(
            f"{name}.adjl: column indices out of range 0..{n - 1} in rows {fmt_indices(bad)}"
        )
    bad = np.flatnonzero(~np.all(np.isfinite(values), axis=1))
    if bad.size:
        raise ValueError(f"{name}.values: non-finite (NaN/inf) entries in rows {fmt_indices(bad)}")


def _factor(values: np.ndarray, adjl: np.ndarray, name: str = "A"):
    """SuperLU factors of the stencil matrix, from the cache when possible; ``name``
    (the argument it came from) heads the error messages."""
    values = np.asarray(values, dtype=np.float64)
    adjl = np.asarray(adjl)
    key = _key(values, adjl)
    # XLA runs independent host callbacks concurrently (a family's members' solves,
    # all preconditioned by one near matrix): the second caller of a key waits for the
    # first one's factors instead of factoring the same matrix again
    with _LOCK:
        lock = _FACTORING.setdefault(key, threading.Lock())
    with lock:
        with _LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                _CACHE.move_to_end(key)
                return hit[0]
        _check_matrix(values, adjl, name)
        lu = _splu(_csr(values, adjl), name)
        with _LOCK:
            _FACTORING.pop(key, None)
            _CACHE[key] = (lu, 12 * lu.nnz + lu.perm_r.nbytes + lu.perm_c.nbytes)
            while len(_CACHE) > 1 and (
                len(_CACHE) > CACHE_SIZE or sum(nb for _, nb in _CACHE.values()) > CACHE_BYTES
            ):
                _CACHE.popitem(last=False)
    return lu


def _splu(A, name: str):
    """``splu`` of the CSR matrix ``A``, with the singular cases named (ValueError)."""
    A.eliminate_zeros()
    n = A.shape[0]
    zero_rows = np.flatnonzero(np.diff(A.indptr) == 0)
    if zero_rows.size:
        raise ValueError(
            f"{name}: singular system: rows {fmt_indices(zero_rows)} are zero "
            "(those equations are empty)"
        )
    empty_cols = np.flatnonzero(np.bincount(A.indices, minlength=n) == 0)
    if empty_cols.size:
        raise ValueError(
            f"{name}: singular system: unknowns {fmt_indices(empty_cols)} appear in no "
            "equation (their columns are zero)"
        )
    try:
        lu = spla.splu(A.tocsc())
    except RuntimeError as e:  # SuperLU: "Factor is exactly singular"
        raise ValueError(f"{name}: singular system: SuperLU reports {e}") from None
    piv = np.abs(lu.U.diagonal())
    ratio = piv.min() / piv.max() if piv.max() > 0 else 0.0
    if not ratio >= SINGULAR_TOL:
        small = lu.perm_c[np.flatnonzero(piv < SINGULAR_TOL * piv.max())]
        raise ValueError(
            f"{name}: numerically singular system: pivot ratio {ratio:.1e} < "
            f"{SINGULAR_TOL:.0e} (near-dependent unknowns around columns "
            f"{fmt_indices(np.sort(small))}); e.g. a pure Neumann problem needs a Dirichlet "
            "row or a constraint"
        )
    return lu


def _host_solve(values, adjl, b, trans: bool):
    lu = _factor(values, adjl)
    b = np.asarray(b, dtype=np.float64)
    x = lu.solve(np.ascontiguousarray(b), trans="T" if trans else "N")
    return np.asarray(x, dtype=np.float64).reshape(b.shape)


def _host_near_solve(values, adjl, b, values0, adjl0, trans: bool, rtol: float):
    """``A x = b`` (``A^T x = b``) by GMRES preconditioned with the factors of the near
    matrix (transposed), column by column; by ``A``'s own factors if one misses."""
    lu0 = _factor(values0, adjl0, "near")
    values = np.asarray(values, dtype=np.float64)
    _check_matrix(values, adjl)
    A = _csr(values, adjl)
    A, t = (A.T.tocsr(), "T") if trans else (A, "N")
    M = spla.LinearOperator(A.shape, lambda v: lu0.solve(np.ascontiguousarray(v), trans=t))
    b = np.asarray(b, dtype=np.float64)
    B = b[:, None] if b.ndim == 1 else b
    X, absA = np.empty_like(B), abs(A)
    for j in range(B.shape[1]):
        x = _gmres(A, absA, M, B[:, j], rtol)
        if x is None:
            return _host_solve(values, adjl, b, trans)
        X[:, j] = x
    return X.reshape(b.shape)


def _gmres(A, absA, M, b: np.ndarray, rtol: float) -> np.ndarray | None:
    """GMRES's solution of ``A x = b`` if its true relative residual is within
    ``max(rtol, 8 * floor)`` after at most ``NEAR_MAXITER`` iterations, else None;
    ``floor = eps | |A| |x| + |b| | / |b|`` is the residual's rounding level (that of
    a direct solve too), estimated from ``M b`` for GMRES's own stopping test."""
    nb = np.linalg.norm(b)
    if nb == 0:
        return np.zeros_like(b)

    def target(x):
        floor = np.finfo(np.float64).eps * np.linalg.norm(absA @ np.abs(x) + np.abs(b)) / nb
        return max(rtol, 8 * floor)

    restart = min(NEAR_RESTART, NEAR_MAXITER)
    x, _ = spla.gmres(
        A,
        b,
        M=M,
        atol=target(M @ b) * nb / 2,
        restart=restart,
        maxiter=-(-NEAR_MAXITER // restart),
        **{_GMRES_RTOL: rtol},
    )
    return x if np.linalg.norm(b - A @ x) <= target(x) * nb else None


def _host_call(trans: bool, rtol: float, *args):
    # the host side of _host_solve_p: numpy in, numpy out; two more operands (the
    # near matrix's values and adjl) for a near solve
    values, adjl, b, *near = (np.asarray(a) for a in args)
    if near:
        return (_host_near_solve(values, adjl, b, *near, trans, rtol).astype(b.dtype),)
    return (_host_solve(values, adjl, b, trans).astype(b.dtype),)


#: The SuperLU solve as a host callback of its own (``jax.pure_callback`` puts its
#: operands on CPU device 0 before calling back, see the module docstring); operands
#: ``(values, adjl, b)``, or ``(values, adjl, b, values0, adjl0)`` for a near solve.
_host_solve_p = jax.extend.core.Primitive("rbfopt_superlu_solve")


@_host_solve_p.def_impl
def _host_solve_impl(*args, trans, rtol):
    return jnp.asarray(_host_call(trans, rtol, *args)[0])


@_host_solve_p.def_abstract_eval
def _host_solve_abstract(values, adjl, b, *near, trans, rtol):
    return jax.core.ShapedArray(b.shape, b.dtype)


def _host_solve_lowering(ctx, *args, trans, rtol):
    # one call on the whole arrays (the operands gathered to one device) in a
    # partitioned program, one per device inside a shard_map: as jax.pure_callback
    sharding = callback_op_sharding(ctx)
    result, _, _ = mlir.emit_python_callback(
        ctx,
        partial(_host_call, trans, rtol),
        None,
        list(args),
        ctx.avals_in,
        ctx.avals_out,
        has_side_effect=False,
        returns_token=False,
        sharding=sharding,
    )
    return result


def _host_solve_batch(args, dims, *, trans, rtol):
    # vmap: one solve per batch element, in sequence (pure_callback's "sequential")
    size = next(a.shape[d] for a, d in zip(args, dims, strict=True) if d is not None)
    args = [
        jnp.broadcast_to(a, (size,) + a.shape) if d is None else jnp.moveaxis(a, d, 0)
        for a, d in zip(args, dims, strict=True)
    ]
    out = jax.lax.map(lambda xs: _host_solve_p.bind(*xs, trans=trans, rtol=rtol), tuple(args))
    return out, 0


mlir.register_lowering(_host_solve_p, _host_solve_lowering, cacheable=False)
batching.primitive_batchers[_host_solve_p] = _host_solve_batch


def _callback_solve(
    A: StencilMatrix, b: jax.Array, trans: bool, near: StencilMatrix | None, rtol: float
) -> jax.Array:
    ops = (jax.lax.stop_gradient(A.values), A.adjl, b)
    if near is not None:
        ops += (near.values, near.adjl)
    return _host_solve_p.bind(*ops, trans=trans, rtol=rtol)


def linsolve(
    A: StencilMatrix,
    b: jax.Array,
    method: str = "auto",
    *,
    tol: float = 1e-10,
    maxiter: int | None = None,
    precond: AMG | None = None,
    adjoint_tol: float | None = None,
    advice: str | None = None,
    near: StencilMatrix | None = None,
) -> jax.Array:
    """Solve ``A x = b`` for a sparse :class:`StencilMatrix` ``A``; b (N,) or (N, m).

    * ``"direct"``: SuperLU on the host (exact to rounding; ``tol``/``adjoint_tol`` only
      for ``near`` solves, ``maxiter`` unused).
    * ``"krylov"``: preconditioned BiCGStab in JAX (:mod:`rbfopt.sparse.krylov`), to a
      true relative residual ``|b - A x| / |b| <= tol`` (or 8x its rounding floor, when
      that is larger) within ``maxiter`` iterations (default
      :func:`~rbfopt.sparse.krylov.default_maxiter`); ``precond`` an
      :class:`~rbfopt.sparse.AMG` from :func:`rbfopt.sparse.amg`, else Jacobi.
      Identity (Dirichlet) rows are lifted out first: a right-hand side on them alone
      does not break BiCGStab down. ``adjoint_tol`` (default ``tol``) is the target of
      the transposed solves of reverse mode (a gradient needs fewer digits).
    * ``"auto"`` (default): ``"direct"`` when the default backend is the CPU, no
      ``precond`` is given and ``N <= AUTO_DIRECT_MAX``; ``"krylov"`` otherwise.

    ``near`` (``"direct"`` only): a :class:`StencilMatrix` of the same N close to ``A``
    (e.g. another discretization of the same PDE on the same nodes, any stencil
    width), whose cached factors precondition GMRES on ``A`` (``A^T`` in reverse mode)
    instead of factoring ``A``, to ``tol`` (``adjoint_tol`` in reverse mode) as the
    Krylov solve; if GMRES misses it in ``NEAR_MAXITER`` iterations, ``A`` is factored
    after all. A family of matrices sharing one ``near`` factors it once. No derivative
    flows into ``near``.

    ``advice``: the sentence that replaces the default advice (naming this function's
    arguments) in the Krylov non-convergence error, for callers whose users choose
    the solve through options of other names.

    Differentiable w.r.t. ``A.values`` and ``b`` in forward and reverse mode (and
    their compositions), under ``jax.jit``, through ``jax.lax.custom_linear_solve``
    with the JAX product ``A x``: forward ``dx = A^-1 (db - dA x)``; reverse
    ``bbar = A^-T xbar``, ``Abar[i, j] = -bbar[i] x[adjl[i, j]]``, with ``A^-T`` the
    cached SuperLU factors' transposed solve or BiCGStab on ``A^T`` with the
    transposed preconditioner. Raises ValueError for bad arguments, mismatched shapes,
    non-finite entries, singular systems (``"direct"``) and a Krylov solve that misses
    ``tol`` (naming residual and iterations; under ``jax.jit`` a runtime error).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> import rbfopt as ro
      >>> values = jnp.array([[2.0, -1.0], [2.0, -1.0], [1.0, 0.0]])
      >>> A = ro.StencilMatrix(values, jnp.array([[0, 1], [1, 2], [2, 0]]))
      >>> ro.linsolve(A, jnp.ones(3))
      Array([1., 1., 1.], dtype=float64)
      >>> jax.grad(lambda b: jnp.sum(ro.linsolve(A, b)))(jnp.ones(3))  # A^-T 1
      Array([0.5 , 0.75, 1.75], dtype=float64)
      >>> jax.grad(lambda v: ro.linsolve(ro.StencilMatrix(v, A.adjl), jnp.ones(3))[0])(values)
      Array([[-0.5 , -0.5 ],
             [-0.25, -0.25],
             [-0.25, -0.25]], dtype=float64)
      >>> x = ro.linsolve(A, jnp.array([0.0, 0.0, 4.0]), "krylov", tol=1e-12)  # row 2 only
      >>> bool(jnp.allclose(x, jnp.array([1.0, 2.0, 4.0]), rtol=1e-10))
      True
      >>> ro.linsolve(A, jnp.ones(3), "krylov", maxiter=1, advice="try solver='direct'")
      ... # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ...
      ValueError: linsolve: the Krylov solve (BiCGStab) did not converge: ... try solver='direct'
      >>> D = ro.StencilMatrix(jnp.array([[2.0], [2.0], [1.0]]), jnp.array([[0], [1], [2]]))
      >>> ro.linsolve(A, jnp.ones(3), "direct", near=D)  # GMRES, preconditioned by D
      Array([1., 1., 1.], dtype=float64)
    """
    tols, maxiter = _check_options(method, tol, adjoint_tol, maxiter, advice)
    _check_precond(A, precond, method)
    b = _check_rhs(b, n := A.shape[0])
    if method == "auto":
        cpu = jax.default_backend() == "cpu"
        method = "direct" if cpu and precond is None and n <= AUTO_DIRECT_MAX else "krylov"
    _check_near(near, n, method)
    if method == "krylov":
        maxiter = default_maxiter(n) if maxiter is None else maxiter
        if not is_tracer(A.values, A.adjl):
            _check_matrix(np.asarray(A.values), np.asarray(A.adjl))
        if not is_tracer(A.values, A.adjl, b):
            # nothing to differentiate: solve once and raise a plain ValueError on failure
            res = krylov(A, b, tol=tols[0], maxiter=maxiter, precond=precond)
            return raise_if_failed(res, tols[0], maxiter, advice=advice)
        return _linsolve_krylov(A, b, tols, maxiter, precond, advice)
    # factor eagerly (with near: check A, factor near): errors surface here as
    # ValueError, and the callbacks below then find the factors in the cache
    if not is_tracer(A.values, A.adjl):
        if near is None:
            _factor(np.asarray(A.values), np.asarray(A.adjl))
        else:
            _check_matrix(np.asarray(A.values, dtype=np.float64), np.asarray(A.adjl))
    if near is not None and not is_tracer(near.values, near.adjl):
        _factor(np.asarray(near.values), np.asarray(near.adjl), "near")
    return _linsolve(A, b, near, tols)


def _check_options(method, tol, adjoint_tol, maxiter, advice) -> tuple[tuple, int | None]:
    """Checks of :func:`linsolve`'s options: ``((tol, adjoint_tol), maxiter)``."""
    if method not in ("auto", "direct", "krylov"):
        raise ValueError(f"method: expected 'auto', 'direct' or 'krylov', got {method!r}")
    adjoint_tol = tol if adjoint_tol is None else adjoint_tol
    for name, t in (("tol", tol), ("adjoint_tol", adjoint_tol)):
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1:
            raise ValueError(f"{name}: expected a relative residual in (0, 1), got {t!r}")
    maxiter = check_int("maxiter", maxiter, 1, allow_none=True)
    if advice is not None and not (isinstance(advice, str) and advice.strip()):
        raise ValueError(f"advice: expected a non-empty sentence (str) or None, got {advice!r}")
    return (float(tol), float(adjoint_tol)), maxiter


def _check_precond(A, precond, method: str) -> None:
    """Checks of ``A`` and of ``precond`` against it."""
    if not isinstance(A, StencilMatrix):
        raise ValueError(f"A: expected a StencilMatrix(values, adjl), got {type(A).__name__}")
    if precond is None:
        return
    n = A.shape[0]
    if not isinstance(precond, AMG):
        raise ValueError(
            f"precond: expected an AMG from rbfopt.sparse.amg(A) or None, "
            f"got {type(precond).__name__}"
        )
    if precond.n != n:
        raise ValueError(f"precond: built for N = {precond.n}, but A is {n}x{n}")
    if not is_tracer(A.adjl, precond.stencils) and stencil_fingerprint(np.asarray(A.adjl)) != int(
        precond.stencils
    ):
        raise ValueError(
            "precond: built for other stencils (A.adjl differs); rebuild it with "
            "rbfopt.sparse.amg(A) after a restencil"
        )
    if method == "direct":
        raise ValueError("precond: only used by method='krylov' (or 'auto'), not 'direct'")


def _check_near(near, n: int, method: str) -> None:
    """Checks of ``near`` against the size of ``A`` and the resolved ``method``."""
    if near is None:
        return
    if not isinstance(near, StencilMatrix):
        raise ValueError(
            f"near: expected a StencilMatrix(values, adjl) or None, got {type(near).__name__}"
        )
    if near.shape[0] != n:
        raise ValueError(f"near: expected a matrix of A's size {n}x{n}, got {near.shape}")
    if method != "direct":
        raise ValueError(
            f"near: only used by the direct solve, but method resolved to {method!r} "
            "(pass method='direct')"
        )


def _check_rhs(b, n: int) -> jax.Array:
    """``b`` as a float64 JAX array of shape (n,) or (n, m), finite when concrete."""
    b = jnp.asarray(b) if is_tracer(b) else jnp.asarray(np.asarray(b, dtype=np.float64))
    if b.ndim not in (1, 2) or b.shape[0] != n:
        raise ValueError(
            f"b: expected shape ({n},) or ({n}, m) to match A ({n}x{n}), got {b.shape}"
        )
    if not is_tracer(b):
        bad = np.flatnonzero(~np.all(np.isfinite(np.asarray(b).reshape(n, -1)), axis=1))
        if bad.size:
            raise ValueError(f"b: non-finite (NaN/inf) entries at rows {fmt_indices(bad)}")
    return b


@partial(jax.jit, static_argnums=3)
def _linsolve(
    A: StencilMatrix, b: jax.Array, near: StencilMatrix | None, tols: tuple[float, float]
) -> jax.Array:
    # near is a preconditioner only: cut its derivative here, outside the solve (a
    # tangent only on custom_linear_solve's solve operands trips its JVP rule)
    near = jax.tree_util.tree_map(jax.lax.stop_gradient, near)
    return jax.lax.custom_linear_solve(
        A.matvec,
        b,
        solve=lambda _, r: _callback_solve(A, r, False, near, tols[0]),
        transpose_solve=lambda _, r: _callback_solve(A, r, True, near, tols[1]),
    )


@partial(jax.jit, static_argnums=(2, 3, 5))
def _linsolve_krylov(
    A: StencilMatrix,
    b: jax.Array,
    tols: tuple[float, float],
    maxiter: int,
    precond: AMG | None,
    advice: str | None,
) -> jax.Array:
    def solve(r: jax.Array, transpose: bool) -> jax.Array:
        tol = tols[1] if transpose else tols[0]
        res = _krylov(A, r, tol, maxiter, precond, transpose)
        return raise_if_failed(res, tol, maxiter, advice=advice)

    return jax.lax.custom_linear_solve(
        A.matvec,
        b,
        solve=lambda _, r: solve(r, False),
        transpose_solve=lambda _, r: solve(r, True),
    )
