"""Global RBF interpolation, its query-baked adjoint and Rippa's leave-one-out cost.

For centres ``x_1..x_N`` and values ``f`` (shape ``(N,)`` or ``(N, m)``) the
interpolant is ``s(x) = sum_j c_j phi(|x - x_j|) + sum_l d_l p_l(x)``, where
``(c, d)`` solve the symmetric saddle-point system::

    M [c; d] = [f; 0],      M = [A  P],   A_ij = phi(|x_i - x_j|),  P_il = p_l(x_i).
                                [P' 0]

The monomials ``p_l`` are evaluated in coordinates centred and scaled by the
bounding box of the centres, ``(x - shift) / scale``: the same span (so the same
interpolant) as plain monomials, but a far better conditioned ``P``. ``shift`` and
``scale`` are held fixed under differentiation (``stop_gradient``) for exactly
that reason: the interpolant does not depend on them.

Factorization and derivative rules. ``M`` is factored once by LU with partial
pivoting (the same code path for every kernel; ``M`` is symmetric indefinite), and
the solve is wrapped in ``jax.lax.custom_linear_solve`` whose ``solve`` and
``transpose_solve`` both reuse those factors. JAX then derives

* forward mode: ``d[c; d] = M^-1 ([df; 0] - dM [c; d])``, one more solve;
* reverse mode: ``[fbar; .] = M^-T [cbar; dbar]`` and ``Mbar = -[fbar; .] [c; d]'``,
  one more (transposed) solve; the gradient w.r.t. values thus costs one
  triangular solve pair on top of the forward;
* higher orders by nesting (the rules are again linear solves), so
  forward-over-reverse (``jax.hessian``, Hessian-vector products) works.

``dM`` w.r.t. centres and ``eps`` is ordinary AD of the kernel formulas, NaN-free at
``r = 0`` (:mod:`rbfopt.basis`), so queries may coincide with centres.

Adjoint. For fixed queries ``y_q`` the map ``f -> s(y_q)`` is linear:
``s(y) = E M^-1 [f; 0]`` with ``E = [Phi(y, x)  P(y)]``. Its transpose is
``W' ybar = (M^-T E' ybar)[:N]`` (:func:`interpolator_adjoint`), data-free and
query-baked.

Leave-one-out (Rippa 1999; with polynomial augmentation Fasshauer & Zhang 2007):
the error at ``x_i`` of the interpolant fitted without ``x_i`` is
``e_i = c_i / (M^-1)_ii``; :func:`loocv` returns ``sum_i e_i^2`` (summed over value
columns) from the same factorization.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from scipy.spatial import cKDTree

from .basis import PHS, RadialBasis
from .operators import Custom, Identity, Operator
from .polynomials import exponents, monomials, num_monomials
from .stencils import _fmt, check_points

__all__ = [
    "Interpolator",
    "InterpolatorAdjoint",
    "interpolator_adjoint",
    "loocv",
    "check_poly_rank",
    "RANK_TOL",
]

#: Polynomial blocks whose smallest/largest singular value ratio is below this are
#: reported as rank-deficient (the points lie on an algebraic curve/surface).
RANK_TOL = 1e-10

#: Kernel-matrix entries per evaluation chunk (queries x centres): bounds memory.
_CHUNK_BUDGET = 1 << 22


def _is_tracer(*xs: Any) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(xs))


# ----------------------------------------------------------------------------- checks


def _check_basis(basis: Any) -> RadialBasis:
    if not isinstance(basis, RadialBasis):
        raise ValueError(f"basis: expected a basis such as ro.PHS(3), got {basis!r}")
    if basis.eps is not None and not _is_tracer(basis.eps) and np.ndim(basis.eps) != 0:
        raise ValueError(
            f"basis: a global interpolant takes one scalar eps, got shape {np.shape(basis.eps)}"
        )
    return basis


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


def _check_centres(points: Any, basis: RadialBasis) -> np.ndarray:
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


def _check_values(values: Any, n: int, name: str = "values") -> np.ndarray:
    v = np.asarray(values)
    if v.ndim not in (1, 2) or v.shape[0] != n:
        raise ValueError(
            f"{name}: expected shape ({n},) or ({n}, m) to match {n} points, got {v.shape}"
        )
    if not np.issubdtype(v.dtype, np.number):
        raise ValueError(f"{name}: expected a numeric array, got dtype {v.dtype}")
    bad = np.flatnonzero(~np.all(np.isfinite(v.reshape(n, -1)), axis=1))
    if bad.size:
        raise ValueError(f"{name}: non-finite (NaN/inf) values at indices {_fmt(bad)}")
    return v.astype(np.float64, copy=False)


def _as_points(points: Any) -> jax.Array:
    if _is_tracer(points):
        p = jnp.asarray(points)
    else:
        p = jnp.asarray(np.asarray(points, dtype=np.float64))
    return p[:, None] if p.ndim == 1 else p


# ----------------------------------------------------------------------------- maths


def _frame(points: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Bounding-box centre and half-width of the centres (held constant under AD)."""
    p = lax.stop_gradient(points)
    lo, hi = jnp.min(p, axis=0), jnp.max(p, axis=0)
    scale = jnp.max(hi - lo) / 2
    return (lo + hi) / 2, jnp.where(scale > 0, scale, 1.0)


def _kernel_matrix(basis: RadialBasis, x: jax.Array, y: jax.Array) -> jax.Array:
    """``phi(|x_i - y_j|)``, (n_x, n_y).

    Why ``basis.radial(s)`` with ``s = sum_i (x_i - y_i)^2`` summed per coordinate
    rather than ``basis.profile(x[:, None] - y[None])``: XLA on CPU evaluates the
    reduction over the short coordinate axis of the (n_x, n_y, d) difference array
    ~5x slower than a sum of d fused (n_x, n_y) terms. Same kernel definition, same
    NaN-free derivatives at ``r = 0`` (``radial`` is the one definition in
    :mod:`rbfopt.basis`).
    """
    s = sum((x[:, None, i] - y[None, :, i]) ** 2 for i in range(x.shape[1]))
    return basis.radial(s, basis.eps)


def _saddle_matrix(points, basis, shift, scale) -> jax.Array:
    A = _kernel_matrix(basis, points, points)
    P = monomials((points - shift) / scale, basis.poly_deg)
    M = P.shape[1]
    top = jnp.concatenate([A, P], axis=1)
    bot = jnp.concatenate([P.T, jnp.zeros((M, M), A.dtype)], axis=1)
    return jnp.concatenate([top, bot], axis=0)


def _lu(K: jax.Array):
    # factor the primal matrix only: the rules below never differentiate the LU
    lu, piv = jax.scipy.linalg.lu_factor(lax.stop_gradient(K))
    return lax.stop_gradient(lu), lax.stop_gradient(piv)


def _solve_with(K: jax.Array, lu, rhs: jax.Array, transpose: bool = False) -> jax.Array:
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
def _fit(points, values2d, basis):
    shift, scale = _frame(points)
    K = _saddle_matrix(points, basis, shift, scale)
    n = points.shape[0]
    M = K.shape[0] - n
    rhs = jnp.concatenate([values2d, jnp.zeros((M, values2d.shape[1]), values2d.dtype)])
    sol = _solve_with(K, _lu(K), rhs)
    return sol[:n], sol[n:], shift, scale


def _chunked(fn, x: jax.Array, chunk: int) -> jax.Array:
    """``fn`` over row-chunks of ``x`` (lax.map), memory O(chunk * N)."""
    nq = x.shape[0]
    if nq <= chunk:
        return fn(x)
    n_chunks = -(-nq // chunk)
    pad = n_chunks * chunk - nq
    # pad by repeating the last query: padded rows stay finite in every AD mode
    xp = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)], axis=0)
    out = lax.map(fn, xp.reshape((n_chunks, chunk) + x.shape[1:]))
    return out.reshape((n_chunks * chunk,) + out.shape[2:])[:nq]


def _chunk_size(n_centres: int) -> int:
    return max(1, _CHUNK_BUDGET // max(n_centres, 1))


def _design_rows(op: Operator | None, points, basis, shift, scale, xb):
    """``E = [L Phi(xb, points)  L P(xb)]`` for a chunk of queries: (B, *out, N + M)."""
    deg = basis.poly_deg
    if op is None:
        return jnp.concatenate(
            [_kernel_matrix(basis, xb, points), monomials((xb - shift) / scale, deg)], axis=-1
        )

    def row(x):
        return jnp.concatenate(
            [basis.profile(x[None, :] - points, basis.eps), monomials((x - shift) / scale, deg)]
        )

    return jax.vmap(op(row))(xb)


@functools.partial(jax.jit, static_argnames=("op", "chunk"))
def _evaluate(points, coef, pcoef, shift, scale, basis, x, op, chunk):
    cd = jnp.concatenate([coef, pcoef], axis=0)  # (N + M, m)

    def block(xb):
        return _design_rows(op, points, basis, shift, scale, xb) @ cd

    return _chunked(block, x, chunk)


# ----------------------------------------------------------------------------- Interpolator


@jax.tree_util.register_pytree_node_class
class Interpolator:
    """Global RBF interpolant ``s(x) = sum_j c_j phi(|x - x_j|) + sum_l d_l p_l(x)``.

    Args:
      points: (N, d) centres (d in {1, 2, 3}; shape (N,) is read as (N, 1)).
      values: (N,) or (N, m) data at the centres.
      basis: kernel and polynomial degree (default ``PHS(3, poly_deg=2)``); ``eps``
        must be a scalar.

    Construction factors ``M = [A P; P' 0]`` once (LU) and solves for the
    coefficients; it is traceable and differentiable (forward and reverse, any
    order) w.r.t. ``values``, ``points`` and ``basis.eps`` (see the module
    docstring for the rules). ``itp(x)`` evaluates at (Nq, d) queries (or one
    point of shape (d,)) in chunks, differentiable w.r.t. ``x`` as well.

    With concrete inputs the constructor raises ValueError for mismatched lengths,
    NaN/inf, duplicate centres, and a rank-deficient polynomial block (suggesting a
    lower ``poly_deg``). Under ``jax.jit`` no check can run; validate eagerly once.
    """

    def __init__(
        self,
        points: jax.Array,
        values: jax.Array,
        basis: RadialBasis | None = None,
    ):
        basis = _check_basis(PHS(3, poly_deg=2) if basis is None else basis)
        if not _is_tracer(points):
            x = _check_centres(points, basis)
            n = len(x)
        else:
            n = points.shape[0]
        if not _is_tracer(values):
            values = _check_values(values, n)
        elif values.ndim not in (1, 2) or values.shape[0] != n:
            raise ValueError(
                f"values: expected shape ({n},) or ({n}, m) to match {n} points, got {values.shape}"
            )
        p = _as_points(points)
        v = jnp.asarray(values)
        self.points = p
        self.basis = basis
        self._vector = v.ndim == 2
        self.op = None
        self.coef, self.pcoef, self.shift, self.scale = _fit(p, v.reshape(n, -1), basis)
        if not _is_tracer(points, values, basis):
            bad = np.flatnonzero(~np.all(np.isfinite(np.asarray(self.coef)), axis=1))
            if bad.size:
                raise ValueError(
                    f"points: the interpolation matrix is numerically singular for {basis!r} "
                    f"(non-finite coefficients at centres {_fmt(bad)}); use a different eps "
                    "or a kernel/poly_deg pair that is conditionally positive definite"
                )

    # pytree protocol ------------------------------------------------------------------
    def tree_flatten(self):
        leaves = (self.points, self.coef, self.pcoef, self.shift, self.scale, self.basis)
        return leaves, (self._vector, self.op)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.points, obj.coef, obj.pcoef, obj.shift, obj.scale, obj.basis = children
        obj._vector, obj.op = aux
        return obj

    # evaluation -----------------------------------------------------------------------
    @property
    def d(self) -> int:
        return self.points.shape[1]

    def __call__(self, x: jax.Array) -> jax.Array:
        """Evaluate at queries ``x``: (Nq, d) -> (Nq[, *out][, m]); (d,) -> one point."""
        d = self.d
        single = False
        if not _is_tracer(x):
            x = jnp.asarray(np.asarray(x, dtype=np.float64))
        x = jnp.asarray(x)
        if x.ndim == 1 and d > 1:
            single, x = True, x[None]
        elif x.ndim == 1:
            x = x[:, None]
        elif x.ndim == 0 and d == 1:
            single, x = True, x.reshape(1, 1)
        if x.ndim != 2 or x.shape[1] != d:
            raise ValueError(f"x: expected queries of shape (Nq, {d}) or ({d},), got {x.shape}")
        if not _is_tracer(x):
            check_points(x, "x", d)
        y = _evaluate(
            self.points,
            self.coef,
            self.pcoef,
            self.shift,
            self.scale,
            self.basis,
            x,
            self.op,
            _chunk_size(self.points.shape[0]),
        )
        if not self._vector:
            y = y[..., 0]
        return y[0] if single else y

    def derivative(self, op: Operator) -> Interpolator:
        """The interpolant of ``L s``: apply an operator description to the kernel and
        the monomials, ``(L s)(x) = sum_j c_j L phi(|x - x_j|) + sum_l d_l L p_l(x)``.

        Vector operators (``Gradient``, ``Hessian``) give outputs ``(Nq, *out_shape)``.
        Derivatives of derivatives compose (scalar operators only).
        """
        if not isinstance(op, Operator):
            raise ValueError(f"op: expected an operator description, got {op!r}")
        op.validate(self.d)
        if isinstance(self.basis, PHS) and op.order is not None and op.order >= self.basis.order:
            raise ValueError(
                f"op: PHS order {self.basis.order} is not {op.order} times differentiable at "
                f"r = 0; use a PHS order > {op.order}"
            )
        new = self.op
        if isinstance(op, Identity):
            pass
        elif new is None:
            new = op
        else:
            if op.out_shape(self.d) or new.out_shape(self.d):
                raise ValueError("op: only scalar operators can be composed with a derivative")
            inner, outer = new, op
            new = Custom(lambda f: outer(inner(f)))
        leaves, (vec, _) = self.tree_flatten()
        return Interpolator.tree_unflatten((vec, new), leaves)

    def __repr__(self) -> str:
        n, d = self.points.shape
        return f"Interpolator(N={n}, d={d}, basis={self.basis!r}, op={self.op!r})"


# ----------------------------------------------------------------------------- adjoint


@functools.partial(jax.jit, static_argnames=("chunk",))
def _adjoint_apply(points, queries, K, lu, shift, scale, basis, ybar2d, chunk):
    n = points.shape[0]
    nq = queries.shape[0]
    n_chunks = -(-nq // chunk)
    pad = n_chunks * chunk - nq
    q = jnp.concatenate([queries, jnp.repeat(queries[-1:], pad, axis=0)], axis=0)
    yb = jnp.concatenate([ybar2d, jnp.zeros((pad, ybar2d.shape[1]), ybar2d.dtype)], axis=0)

    def body(acc, args):
        qb, ybb = args
        return acc + _design_rows(None, points, basis, shift, scale, qb).T @ ybb, None

    acc0 = jnp.zeros((K.shape[0], ybar2d.shape[1]), ybar2d.dtype)
    et_y, _ = lax.scan(
        body, acc0, (q.reshape(n_chunks, chunk, -1), yb.reshape(n_chunks, chunk, -1))
    )
    return _solve_with(K, lu, et_y, transpose=True)[:n]


@jax.jit
def _adjoint_setup(points, basis):
    shift, scale = _frame(points)
    K = _saddle_matrix(points, basis, shift, scale)
    return K, _lu(K), shift, scale


@jax.tree_util.register_pytree_node_class
class InterpolatorAdjoint:
    """Query-baked, data-free transpose ``W'`` of ``f -> Interpolator(points, f)(queries)``.

    ``W = E M^-1 [I; 0]`` with ``E = [Phi(queries, points)  P(queries)]``, so
    ``W' ybar = (M^-T E' ybar)[:N]``: one accumulation of ``E' ybar`` over query
    chunks and one transposed solve with the factors computed at construction.
    ``adj(ybar)`` takes ``(Nq,)`` or ``(Nq, m)`` and returns ``(N,)`` or ``(N, m)``;
    it equals ``jax.grad`` of ``<ybar, itp(queries)>`` w.r.t. the values.
    """

    def __init__(self, points, queries, basis, _state=None):
        self.points, self.queries, self.basis = points, queries, basis
        self.K, self.lu, self.shift, self.scale = _state

    def tree_flatten(self):
        return (
            self.points,
            self.queries,
            self.basis,
            self.K,
            self.lu,
            self.shift,
            self.scale,
        ), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        p, q, b, K, lu, s, c = children
        return cls(p, q, b, (K, lu, s, c))

    @property
    def shape(self) -> tuple[int, int]:
        """(N, Nq): the shape of ``W'``."""
        return (self.points.shape[0], self.queries.shape[0])

    def __call__(self, ybar: jax.Array) -> jax.Array:
        nq = self.queries.shape[0]
        ybar = jnp.asarray(ybar)
        if ybar.ndim not in (1, 2) or ybar.shape[0] != nq:
            raise ValueError(f"ybar: expected shape ({nq},) or ({nq}, m), got {ybar.shape}")
        out = _adjoint_apply(
            self.points,
            self.queries,
            self.K,
            self.lu,
            self.shift,
            self.scale,
            self.basis,
            ybar.reshape(nq, -1),
            min(_chunk_size(self.points.shape[0]), nq),
        )
        return out[:, 0] if ybar.ndim == 1 else out

    def matrix(self) -> jax.Array:
        """Dense ``W'`` of shape (N, Nq) (small problems only)."""
        return self(jnp.eye(self.queries.shape[0]))


def interpolator_adjoint(
    points: jax.Array, queries: jax.Array, basis: RadialBasis | None = None
) -> InterpolatorAdjoint:
    """Build the data-free adjoint ``W'`` of global interpolation from ``points`` to
    ``queries`` (see :class:`InterpolatorAdjoint`). Checks as :class:`Interpolator`."""
    basis = _check_basis(PHS(3, poly_deg=2) if basis is None else basis)
    if not _is_tracer(points):
        x = _check_centres(points, basis)
        d = x.shape[1]
    else:
        d = points.shape[-1] if points.ndim == 2 else 1
    if not _is_tracer(queries):
        check_points(queries, "queries", d)
    p, q = _as_points(points), _as_points(queries)
    return InterpolatorAdjoint(p, q, basis, _adjoint_setup(p, basis))


# ----------------------------------------------------------------------------- LOOCV


@jax.jit
def _loocv(points, values2d, basis):
    n = points.shape[0]
    shift, scale = _frame(points)
    K = _saddle_matrix(points, basis, shift, scale)
    M = K.shape[0] - n
    rhs = jnp.concatenate([values2d, jnp.zeros((M, values2d.shape[1]), values2d.dtype)])
    # one solve with [I_{:, :N} | f]: the first N columns give (M^-1)_ii, the rest c
    X = _solve_with(K, _lu(K), jnp.concatenate([jnp.eye(n + M, n, dtype=K.dtype), rhs], axis=1))
    dinv = jnp.diagonal(X[:n, :n])
    c = X[:n, n:]
    return jnp.sum((c / dinv[:, None]) ** 2)


def loocv(points: jax.Array, values: jax.Array, basis: RadialBasis | None = None) -> jax.Array:
    """Rippa's leave-one-out cost ``sum_i (c_i / (M^-1)_ii)^2`` (summed over columns).

    ``c_i / (M^-1)_ii`` is exactly ``f_i - s^(i)(x_i)``, the error at ``x_i`` of the
    interpolant fitted without ``x_i`` (polynomial augmentation included), so one
    factorization replaces N refits. Differentiable w.r.t. ``basis.eps``, ``values``
    and ``points`` in forward and reverse mode (``d M^-1 = -M^-1 dM M^-1`` comes from
    the same factors). Cost O((N + M)^3): for moderate N.
    """
    basis = _check_basis(PHS(3, poly_deg=2) if basis is None else basis)
    if not _is_tracer(points):
        n = len(_check_centres(points, basis))
    else:
        n = points.shape[0]
    if not _is_tracer(values):
        values = _check_values(values, n)
    v = jnp.asarray(values)
    return _loocv(_as_points(points), v.reshape(n, -1), basis)
