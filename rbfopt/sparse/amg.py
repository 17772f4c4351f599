"""Algebraic multigrid preconditioner: set up on the host with pyamg, applied in JAX.

:func:`amg` builds a smoothed-aggregation hierarchy (``pyamg.smoothed_aggregation_solver``
with its nonsymmetric settings) from a concrete :class:`StencilMatrix` and keeps the
level operators ``A_l``, prolongations ``P_l`` and restrictions ``R_l`` as padded
row-gather arrays (ELL: ``y[i] = sum_j vals[i, j] x[cols[i, j]]``, no scatter) and the
coarsest operator as a dense inverse. Applying it (:meth:`AMG.apply`) is one V-cycle
in JAX: ``sweeps`` damped-Jacobi sweeps ``x += (omega / rho) D^-1 (b - A x)`` before
and after the coarse correction ``x += P V_{l+1}(R (b - A x))``.

Why these choices: on 2-D RBF-FD Poisson matrices, smoothed aggregation with
Jacobi-smoothed prolongators (``weighting="diagonal"``) and two Jacobi sweeps needed
the fewest BiCGStab iterations for its cost, where air, classical Ruge-Stuben and
``weighting="local"`` did worse (figures: docs/performance.md, "Sparse solves").
Jacobi (not Gauss-Seidel) smoothing because it is a gather and an elementwise product
on any device.

Reuse. The hierarchy is built once per stencil set (outside ``jax.jit``) and serves
many solves whose values differ a little from the ones it was built from: the finest
level always uses the *current* matrix (its product and diagonal), only the coarse
levels are frozen. A stale hierarchy costs iterations, never accuracy (the Krylov
method checks the true residual).

Linearity. The V-cycle is a fixed linear map ``M`` of its right-hand side (fixed sweep
counts, a zero initial guess), as Krylov methods require (in float32, the default
arithmetic, up to single-precision rounding, which costs no iterations: the Krylov
method and its residual are float64). Its transpose ``M^T``
(:meth:`AMG.apply_transpose`, for adjoint solves with ``A^T``) is the V-cycle of ``A^T``
with the roles of ``P`` and ``R`` swapped (restriction ``P_l^T``, prolongation
``R_l^T``) and the transposed coarse inverse: from the error propagator
``I - M A = S^nu (I - P M_c R A) S^nu`` with ``S = I - w D^-1 A`` one gets
``I - A^T M^T = (I - A^T w D^-1)^nu (I - A^T R^T M_c^T P^T) (I - A^T w D^-1)^nu``,
a V-cycle of the same shape because the pre- and post-sweep counts are equal.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from .._util import check_int, is_tracer
from .matrix import StencilMatrix, _csr

__all__ = ["AMG", "amg"]

#: pyamg options used unless overridden in :func:`amg`'s keyword arguments.
DEFAULT_OPTIONS: dict[str, Any] = {
    "symmetry": "nonsymmetric",
    "smooth": ("jacobi", {"omega": 4.0 / 3.0, "weighting": "diagonal"}),
    "max_coarse": 500,
}


def _bucket(n: int) -> int:
    """``n`` rounded up to the grid ``ceil(2^(j/4))``: shapes that a slightly changed
    matrix most likely shares, so a rebuilt hierarchy does not recompile the jitted
    step (at most 19 % padding)."""
    if n <= 4:
        return max(n, 1)
    j = int(np.ceil(4 * np.log2(n) - 1e-9))
    return max(int(np.ceil(2 ** (j / 4) - 1e-9)), n)


def _ell(
    M: sp.spmatrix,
    shape: tuple[int, int] | None = None,
    width: int | None = None,
    headroom: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Padded rows of a sparse matrix, zero-padded to ``shape``: (vals, cols), both
    (rows, ``width``; default the max row nnz with ``headroom``, bucketed). Raises
    :class:`MisfitError` if a row has more entries than ``width``."""
    M = sp.csr_matrix(M)
    if shape is not None:
        M.resize(shape)
    M.sum_duplicates()
    counts = np.diff(M.indptr)
    need = max(int(counts.max(initial=0)), 1)
    w = _widen(headroom)(need) if width is None else width
    if need > w:
        raise MisfitError(f"a row of {need} entries, wider than {w}")
    n = M.shape[0]
    vals = np.zeros((n, w))
    cols = np.zeros((n, w), np.int32)
    pos = np.arange(M.nnz) - np.repeat(M.indptr[:-1], counts)
    rows = np.repeat(np.arange(n), counts)
    vals[rows, pos] = M.data
    cols[rows, pos] = M.indices
    return vals, cols


class MisfitError(ValueError):
    """A hierarchy that does not fit the shapes asked for (``amg(..., like=)``)."""


def _ell_apply(m: tuple[jax.Array, jax.Array], x: jax.Array) -> jax.Array:
    vals, cols = m
    return jnp.sum(vals * _barrier(x)[cols], axis=1)


def _barrier(x: jax.Array) -> jax.Array:
    """``x``, materialized before it is gathered (on CPU).

    XLA's CPU fusion puts the producer of a gathered vector, a row reduction included,
    into the gather and recomputes it once per gathered entry, so chained products
    nest that recomputation (figures: docs/performance.md, "Sparse solves").
    ``optimization_barrier`` is stripped before fusion on CPU; a conditional's result
    is a fusion boundary.
    Its branches must differ and both compute (an identity branch, or two equal ones,
    gave wrong, run-to-run varying results in jaxlib 0.10.2); the ``-y`` branch runs
    only when ``x[0]`` is NaN, where the solve has failed anyway. Not used on
    accelerators, where a conditional waits for its predicate on the host.
    """
    if jax.default_backend() != "cpu":
        return x
    return jax.lax.cond(jnp.isnan(x[0]), lambda y: -y, lambda y: y + 0.0, x)


def _rho(A: sp.csr_matrix, dinv: np.ndarray, iters: int = 30) -> float:
    """|lambda|_max of D^-1 A by power iteration (the Jacobi damping's scale)."""

    def norm(v: np.ndarray) -> float:
        # not np.linalg.norm: a BLAS dot, whose threads stall on a loaded host
        return float(np.sqrt(np.sum(v * v)))

    rng = np.random.default_rng(0)
    v = rng.standard_normal(A.shape[0])
    v /= norm(v)
    lam = 1.0
    for _ in range(iters):
        w = dinv * (A @ v)
        lam = norm(w)
        v = w / lam
    # power iteration underestimates; a slightly larger rho only damps a little more
    return 1.1 * lam


@jax.tree_util.register_pytree_node_class
class AMG:
    """A multigrid hierarchy as JAX arrays; see :func:`amg`.

    ``apply(A, r)`` is one V-cycle ``M r ~ A^-1 r`` and ``apply_transpose(A, r)`` its
    exact transpose ``M^T r``, both linear in ``r`` and traceable; ``A`` is the
    current fine matrix (its values may differ from the ones the hierarchy was built
    from, on the same stencils ``adjl``). ``sizes`` lists the level sizes from fine
    to coarse, the coarse ones padded to a geometric grid of sizes (as are the gather
    widths) so that hierarchies rebuilt after a restencil mostly share their shapes and
    a jitted step taking the hierarchy as an argument does not recompile.
    """

    def __init__(
        self,
        omega0,
        fine_t,
        levels,
        coarse_inv,
        stencils,
        sweeps: int,
        sizes: tuple[int, ...],
        dtype: str = "float64",
    ):
        self.omega0 = omega0  # damping / rho on the fine level
        self.fine_t = fine_t  # (pos, rows): A^T as a gather from the stencil layout
        self.levels = levels  # per level l: dict of ELL pairs and dinv (coarse levels)
        self.coarse_inv = coarse_inv
        self.sweeps = sweeps
        self.sizes = sizes
        # fingerprint of the adjl it was built for: a leaf, not static, so that a
        # rebuilt hierarchy of the same (bucketed) shapes reuses the compiled step
        self.stencils = stencils
        self.dtype = dtype  # of the V-cycle's arithmetic

    def tree_flatten(self):
        children = (self.omega0, self.fine_t, self.levels, self.coarse_inv, self.stencils)
        return children, (self.sweeps, self.sizes, self.dtype)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children, *aux)

    @property
    def n(self) -> int:
        return self.sizes[0]

    def __repr__(self) -> str:
        return f"AMG(sizes={list(self.sizes)}, sweeps={self.sweeps})"

    def with_stencils(self, adjl: Any) -> AMG:
        """This hierarchy for new stencils ``adjl`` of the same nodes (after a
        restencil), in the same shapes.

        Only the transpose gather depends on the stencils; the coarse levels were built
        from the old matrix and stay (a stale hierarchy costs iterations, never
        accuracy). Raises ValueError if a node sits in more stencils than the
        hierarchy's transpose gather holds (rebuild it then, with ``headroom``).
        """
        adjl = np.asarray(adjl)
        if adjl.shape[0] != self.n:
            raise ValueError(f"adjl: stencils of {adjl.shape[0]} nodes, the hierarchy has {self.n}")
        fine_t = _transpose_gather(adjl, self.fine_t[0].shape[1])
        stamp = jnp.asarray(stencil_fingerprint(adjl), jnp.int64)
        return AMG(
            self.omega0, fine_t, self.levels, self.coarse_inv, stamp, self.sweeps, self.sizes,
            self.dtype,
        )  # fmt: skip

    def transpose(self, A: StencilMatrix) -> StencilMatrix:
        """``A^T`` in stencil form (rows padded with zeros), for the stencils the
        hierarchy was built on: its product is a gather, not a scatter-add.

        Row ``j`` of ``A^T`` collects the entries ``values[i, s]`` with
        ``adjl[i, s] == j``; their flat positions ``i * k + s`` are fixed by ``adjl``, so
        the current values are gathered from them (once per solve).
        """
        pos, rows = self.fine_t
        flat = jnp.concatenate([jnp.ravel(A.values), jnp.zeros(1, A.values.dtype)])
        return StencilMatrix(flat[pos], rows)

    def apply(self, A: StencilMatrix, r: jax.Array) -> jax.Array:
        """One V-cycle: an approximation of ``A^-1 r`` (linear in r)."""
        return self._vcycle(A, r, transpose=False)

    def apply_transpose(self, A: StencilMatrix, r: jax.Array) -> jax.Array:
        """The transpose of :meth:`apply`: an approximation of ``A^-T r``."""
        return self._vcycle(self.transpose(A), r, transpose=True)

    def _vcycle(self, A: StencilMatrix, r: jax.Array, transpose: bool) -> jax.Array:
        """The V-cycle of ``A`` (``transpose=False``) or of ``A^T``, then given as
        ``A`` in the stencil form of :meth:`transpose`."""
        out_dtype = r.dtype
        r = r.astype(self.dtype)
        # a no-op when the caller (krylov) already cast the values once per solve
        values = jax.lax.stop_gradient(A.values).astype(self.dtype)
        fine = StencilMatrix(values, A.adjl)
        dinv0 = self.omega0 / _diagonal(fine)

        def fine_mv(x):
            return fine.matvec(_barrier(x))

        ops = [(fine_mv, dinv0)][: len(self.levels)]
        for lev in self.levels[1:]:
            m = lev["At"] if transpose else lev["A"]
            ops.append((lambda x, m=m: _ell_apply(m, x), lev["dinv"]))
        inv = self.coarse_inv.T if transpose else self.coarse_inv

        def cycle(level: int, b: jax.Array) -> jax.Array:
            if level == len(ops):  # coarsest level (the only one for a tiny system)
                return inv @ b
            mv, dinv = ops[level]
            lev = self.levels[level]
            restrict = lev["Pt"] if transpose else lev["R"]
            prolong = lev["Rt"] if transpose else lev["P"]
            x = dinv * b
            for _ in range(self.sweeps - 1):
                x = x + dinv * (b - mv(x))
            x = x + _ell_apply(prolong, cycle(level + 1, _ell_apply(restrict, b - mv(x))))
            for _ in range(self.sweeps):
                x = x + dinv * (b - mv(x))
            return x

        return cycle(0, r).astype(out_dtype)


def _diagonal(A: StencilMatrix) -> jax.Array:
    n = A.shape[0]
    own = A.adjl == jnp.arange(n, dtype=A.adjl.dtype)[:, None]
    return jnp.sum(jnp.where(own, A.values, 0.0), axis=1)


def stencil_fingerprint(adjl: np.ndarray) -> int:
    """A checksum of the stencils (the column layout an :class:`AMG` is tied to)."""
    a = np.asarray(adjl, np.int64).ravel()
    weights = 1 + np.arange(a.size, dtype=np.int64) % 7919
    return int((a.size * 1_000_003 + np.sum(a * weights)) % (2**61 - 1))


def _transpose_gather(
    adjl: np.ndarray, width: int | None = None, headroom: float = 1.0
) -> tuple[jax.Array, jax.Array]:
    """(pos, rows), (N, ``width``; default the max column count with ``headroom``):
    ``A^T y = sum(values.flat[pos] * y[rows], 1)``; padding points at an appended zero
    value (position ``N * k``) and row 0. Raises :class:`MisfitError` if a column has more
    entries than ``width``."""
    n, k = adjl.shape
    # the flat positions grouped by column, in row order (a stable sort by column):
    # scipy's CSR -> CSC conversion is a counting sort, faster than np.argsort
    flat = sp.csr_matrix(
        (np.arange(n * k, dtype=np.int64), adjl.ravel(), np.arange(0, n * k + 1, k)), shape=(n, n)
    ).tocsc()
    order, starts = flat.data, flat.indptr  # flat.indices: each entry's stencil row
    counts = np.diff(starts)
    need = max(int(counts.max(initial=0)), 1)
    w = _widen(headroom)(need) if width is None else width
    if need > w:
        raise MisfitError(f"a node in {need} stencils, more than {w}")
    col = np.repeat(np.arange(n), counts)
    slot = np.arange(n * k) - starts[col]
    pos = np.full((n, w), n * k, np.int32)
    rows = np.zeros((n, w), np.int32)
    pos[col, slot] = order
    rows[col, slot] = flat.indices
    return jnp.asarray(pos), jnp.asarray(rows)


def amg(
    A: StencilMatrix,
    *,
    sweeps: int = 2,
    omega: float = 4.0 / 3.0,
    dtype: str = "float32",
    headroom: float = 1.0,
    like: AMG | None = None,
    **pyamg_options,
) -> AMG:
    """Set up an algebraic multigrid preconditioner for ``A`` (on the host, with pyamg).

    Args:
      A: a concrete :class:`StencilMatrix` (not traced: the setup runs outside jit).
      sweeps: damped-Jacobi sweeps before and after each coarse correction.
      omega: Jacobi damping, divided by an estimate of ``rho(D^-1 A)`` per level.
      dtype: arithmetic of the V-cycle, ``"float32"`` (default) or ``"float64"``. A
        preconditioner only steers the iteration (the Krylov method works and checks
        the residual in float64), and single precision halves the memory traffic of
        the gathers: 25% faster solves at N = 1e5 with the same iteration counts.
      headroom: coarse level sizes and gather widths are padded to at least this
        factor (>= 1) times what this matrix needs, so that hierarchies of later,
        slightly different matrices fit the same shapes (``like=``).
      like: a hierarchy whose shapes (level count, level sizes, gather widths) the
        new one takes, so that a function jitted on one takes the other without
        recompiling; ``sweeps`` and ``dtype`` come from it. Raises ValueError if this
        matrix's hierarchy does not fit them.
      pyamg_options: passed to ``pyamg.smoothed_aggregation_solver``, overriding
        :data:`DEFAULT_OPTIONS` (nonsymmetric, Jacobi-smoothed prolongators,
        ``max_coarse=500``).

    Returns an :class:`AMG` pytree of JAX arrays for ``linsolve(A, b,
    method="krylov", precond=...)``; build it once per stencil set and reuse it while
    the values change (:meth:`AMG.with_stencils` carries it over to new stencils).
    The set-up is deterministic: pyamg's random spectral-radius start is seeded.
    Raises ValueError for traced input or a zero diagonal.

    Examples:
      >>> import jax, jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> n = 200
      >>> adjl = np.stack([np.arange(n), (np.arange(n) + 1) % n, (np.arange(n) - 1) % n], 1)
      >>> A = ro.StencilMatrix(np.tile([2.5, -1.0, -1.0], (n, 1)), adjl)
      >>> M = ro.sparse.amg(A, max_coarse=20, headroom=1.5)
      >>> M.sizes[0], len(M.sizes) > 1
      (200, True)
      >>> x = ro.linsolve(A, jnp.ones(n), method="krylov", precond=M)
      >>> bool(jnp.allclose(x, 2.0))
      True
      >>> A2 = ro.StencilMatrix(np.tile([2.6, -1.0, -1.1], (n, 1)), adjl)
      >>> M2 = ro.sparse.amg(A2, like=M, max_coarse=20)  # the same shapes as M
      >>> jax.tree_util.tree_structure(M2) == jax.tree_util.tree_structure(M)
      True
    """
    S = _check_setup(A, sweeps, omega, dtype, headroom, like)
    if like is not None:
        sweeps, dtype = like.sweeps, like.dtype
        pyamg_options = {"max_levels": len(like.sizes), **pyamg_options}
    ml = _pyamg_hierarchy(S, pyamg_options)
    try:
        plan = _Plan.of(ml, S.shape[0], headroom, like)
        levels, omega0 = _levels(ml, plan, omega, dtype)
        fine_t = _transpose_gather(np.asarray(A.adjl), plan.width(("fine_t",)), headroom)
    except MisfitError as e:
        raise MisfitError(
            f"like: the hierarchy of A does not fit its shapes ({e}); "
            "set it up without like=, or build the first one with more headroom"
        ) from None
    Ac = np.asarray(ml.levels[-1].A.toarray())
    inv = np.zeros((plan.sizes[-1], plan.sizes[-1]))
    inv[: Ac.shape[0], : Ac.shape[0]] = np.linalg.inv(Ac)
    stamp = jnp.asarray(stencil_fingerprint(np.asarray(A.adjl)), jnp.int64)
    return AMG(omega0, fine_t, levels, jnp.asarray(inv, dtype), stamp, sweeps, plan.sizes, dtype)


def _pyamg_hierarchy(S: sp.csr_matrix, options: dict):
    """pyamg's smoothed-aggregation hierarchy of ``S``, deterministic: its
    spectral-radius estimates start from the legacy global generator, seeded here (and
    restored), so that every process of a run builds the same hierarchy."""
    import pyamg  # host-only setup dependency

    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(0)  # noqa: NPY002
        return pyamg.smoothed_aggregation_solver(S, **{**DEFAULT_OPTIONS, **options})
    finally:
        np.random.set_state(state)  # noqa: NPY002


def _check_setup(A, sweeps, omega, dtype, headroom, like) -> sp.csr_matrix:
    """Argument checks of :func:`amg`; returns ``A`` as a scipy matrix."""
    if not isinstance(A, StencilMatrix):
        raise ValueError(f"A: expected a StencilMatrix(values, adjl), got {type(A).__name__}")
    if is_tracer(A.values, A.adjl):
        raise ValueError("A: amg() needs a concrete matrix; set it up outside jax.jit")
    check_int("sweeps", sweeps, 1)
    if not omega > 0:
        raise ValueError(f"omega: expected a positive damping, got {omega!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype: expected 'float32' or 'float64', got {dtype!r}")
    if not headroom >= 1:
        raise ValueError(f"headroom: expected a factor >= 1, got {headroom!r}")
    if like is not None and not isinstance(like, AMG):
        raise ValueError(f"like: expected an AMG hierarchy, got {type(like).__name__}")
    if like is not None and like.n != A.shape[0]:
        raise ValueError(f"like: a hierarchy for {like.n} unknowns, A has {A.shape[0]}")
    S = _csr(np.asarray(A.values), np.asarray(A.adjl))
    d = S.diagonal()
    if np.any(d == 0):
        raise ValueError(
            "A: zero diagonal entries at rows "
            f"{np.flatnonzero(d == 0)[:10].tolist()}; Jacobi smoothing needs a nonzero diagonal"
        )
    return S


def _widen(headroom: float):
    """The padded size of ``n`` entries: bucketed, with ``headroom``."""
    return lambda n: _bucket(int(np.ceil(headroom * max(n, 1))))


class _Plan:
    """The shapes of a hierarchy: level sizes, and the width of each gather array
    (``(level, key)`` -> width), fixed by ``like``; ``widths=None``: whatever each
    matrix needs, with ``headroom``."""

    def __init__(self, sizes: tuple[int, ...], widths: dict | None, headroom: float):
        self.sizes = sizes
        self.widths = widths
        self.headroom = headroom

    @classmethod
    def of(cls, ml, n: int, headroom: float, like: AMG | None) -> _Plan:
        if like is None:
            pad = _widen(headroom)
            return cls((n, *(pad(lev.A.shape[0]) for lev in ml.levels[1:])), None, headroom)
        sizes = tuple(like.sizes)
        got = [lev.A.shape[0] for lev in ml.levels]
        if len(got) != len(sizes) or any(g > c for g, c in zip(got, sizes, strict=True)):
            raise MisfitError(f"level sizes {got} do not fit {list(sizes)}")
        widths = {("fine_t",): like.fine_t[0].shape[1]}
        for i, lev in enumerate(like.levels):
            pairs = {key: v for key, v in lev.items() if key != "dinv"}
            widths.update({(i, key): pair[0].shape[1] for key, pair in pairs.items()})
        return cls(sizes, widths, headroom)

    def width(self, key: tuple) -> int | None:
        """The width ``like`` fixed for ``key``, or None (the matrix's own)."""
        return None if self.widths is None else self.widths[key]

    def ell(self, M, shape, key) -> tuple[np.ndarray, np.ndarray]:
        return _ell(M, shape, self.width(key), self.headroom)


def _levels(ml, plan: _Plan, omega: float, dtype: str):
    """The JAX arrays of every level but the coarsest, and the fine level's damping."""
    m = plan.sizes
    levels = []
    omega0 = None
    for i, lev in enumerate(ml.levels[:-1]):
        Al = sp.csr_matrix(lev.A)
        dinv = 1.0 / Al.diagonal()
        w = omega / _rho(Al, dinv)
        pieces = {"P": (lev.P, (m[i], m[i + 1])), "R": (lev.R, (m[i + 1], m[i]))}
        pieces.update(Pt=(lev.P.T, (m[i + 1], m[i])), Rt=(lev.R.T, (m[i], m[i + 1])))
        if i > 0:
            pieces.update(A=(Al, (m[i], m[i])), At=(Al.T, (m[i], m[i])))
        entry: dict[str, Any] = {
            key: plan.ell(M, shape, (i, key)) for key, (M, shape) in pieces.items()
        }
        if i == 0:
            omega0 = jnp.asarray(w, dtype)
        else:
            entry["dinv"] = np.pad(w * dinv, (0, m[i] - dinv.size))
        levels.append(
            jax.tree_util.tree_map(
                lambda a: jnp.asarray(a, dtype if np.issubdtype(a.dtype, np.floating) else None),
                entry,
            )
        )
    if omega0 is None:  # one level: the preconditioner is the exact inverse
        omega0 = jnp.asarray(0.0, dtype)
    return tuple(levels), omega0
