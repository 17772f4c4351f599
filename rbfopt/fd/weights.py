"""RBF-FD stencil weights: batched local saddle-point solves and their derivative rules.

For evaluation point ``c`` with stencil points ``x_1..x_k`` the weights ``w`` of a
linear operator ``L`` solve::

    [Phi P] [w]   [L phi(c - x_j)]       Phi_ij = phi(x_i - x_j)
    [P'  0] [l] = [L p_m(c)      ]       P_jm   = p_m((x_j - c) / h)

with monomials ``p_m`` in local coordinates (centre ``c``, radius ``h``: better
conditioning, same span, same weights). Operator actions come from JAX
differentiation of the kernel and monomials (:mod:`rbfopt.operators`).

Derivative rules. The local solve is wrapped in ``jax.lax.custom_linear_solve``: the
factorization of each stencil (Householder QR of ``P``, Cholesky of the projected
kernel block, see :mod:`rbfopt.fd._saddle`) is computed once from the primal values;
the forward-mode tangent ``dw = K^-1 (db - dK w)`` and the reverse-mode cotangent
``bbar = K^-1 wbar`` (``K`` symmetric) are further solves with the same factors.
No tape of the elimination is kept, and since the rules are linear solves JAX nests
them for higher orders (``jax.hessian``, Hessian-vector products). Derivatives of
``K`` and ``b`` w.r.t. positions and ``eps`` are ordinary AD of the kernel
formulas, NaN-free at ``r = 0`` (:mod:`rbfopt.basis`).

Checks. With concrete inputs, :func:`build_weights` validates shapes, finiteness,
stencil indices, ``k`` against the number of monomials, ``eps`` and the kernel
order, and raises ``ValueError`` for degenerate stencils (non-unisolvent points,
coincident points) with their row indices. Under ``jax.jit`` no Python check can
run: a degenerate stencil then yields NaN weights in its row (rows whose factorization
quality is below :data:`DEGENERATE_TOL` are masked; never an error deep inside a
solver, never finite garbage); validate once outside jit with :func:`check_inputs` or by
calling :func:`build_weights` eagerly on the same stencils.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._util import fmt_indices, is_tracer, pad_rows
from ..basis import PHS, RadialBasis
from ..operators import Operator
from ..polynomials import monomials, num_monomials
from ..stencils import check_points, check_stencils
from . import _saddle

__all__ = [
    "build_weights",
    "check_inputs",
    "local_weights",
    "DEGENERATE_TOL",
    "COMPILER_OPTIONS",
    "set_host_device_count",
]

#: Stencils whose factorization quality falls below this are reported as degenerate.
DEGENERATE_TOL = 1e-11

#: XLA options large weight builds (>= :data:`LARGE_BUILD` stencils) are compiled with
#: (pass them to your own ``jax.jit`` around code that builds many weights:
#: ``jax.jit(f, compiler_options=COMPILER_OPTIONS)``).
#: jaxlib >= 0.8 hands reductions and small contractions on CPU to YNNPACK fusions; for
#: the batch-last (k, k, B) blocks of the local solves XLA's own loops are ~1.7x faster
#: (N = 100 000, k = 30: build 3.4 s -> 2.0 s, scripts/bench_weights.py). XLA:CPU emits
#: 256-bit vectors by default; 512-bit ones, where the CPU has them (AVX-512), build
#: ~1.15x faster (N = 100 000, in-process A/B). Older jaxlibs without these options
#: compile without them.
COMPILER_OPTIONS: dict[str, Any] = {
    "xla_cpu_experimental_ynn_fusion_type": "",
    "xla_cpu_prefer_vector_width": 512,
}


def _on_cpu() -> bool:
    # COMPILER_OPTIONS name XLA:CPU flags; other backends reject unknown options
    return jax.default_backend() == "cpu"


#: Elements of one chunk's (k, k, chunk) kernel block the default CPU chunk aims at,
#: by dimension (3-D stencils carry more per-stencil work besides the block).
_CPU_CHUNK_ELEMENTS = {1: 180_000, 2: 180_000, 3: 110_000}


def _default_chunk(k: int, d: int) -> int:
    """Stencils per chunk when ``chunk_size`` is not given.

    On GPUs wide batches are what fill the device (65 536). On CPU, chunks keep the
    (k, k, chunk) blocks of the local solves near the size of a core's L2 cache:
    about 180 000 elements (110 000 in 3-D; k = 30 in 2-D: 200 stencils), a multiple
    of 8 and never a power of two.
    Power-of-two chunks make the rows of the batch-last blocks alias in the caches:
    measured (``scripts/bench_weights.py`` setup, min of 4-5 builds, 2-core AMD EPYC)
    at N = 100 000, 2-D, k = 30, PHS3/2: chunk 128: 0.60-0.64 s, 120: 0.54 s,
    136: 0.55 s, 168-216: 0.51-0.52 s, 240: 0.52 s, 256: 0.73 s, 296-600:
    0.57-0.61 s; 3-D, k = 40 (N = 50 000): 128: 1.00 s, 96: 0.88 s, 64-80: 0.78 s;
    2-D, k = 50, PHS5/3 (N = 40 000): 128: 1.65 s, 96: 1.29 s, 56-72: 1.05-1.10 s.
    Near the optimum the time is flat (2-D k = 40: 0.66 s for 64-120; 2-D k = 20:
    0.47-0.50 s for 200-440).
    """
    if not _on_cpu():
        return 65536
    target = _CPU_CHUNK_ELEMENTS.get(d, _CPU_CHUNK_ELEMENTS[3])
    chunk = min(1000, max(8, 8 * round(target / (8 * k * k))))
    if chunk & (chunk - 1) == 0:
        chunk += 8
    return chunk


@jax.custom_jvp
def _pairwise_sq_dists(Xt: jax.Array) -> jax.Array:
    """s[i, j, b] = |X[i, :, b] - X[j, :, b]|^2 for Xt of shape (k, d, B)."""
    s = 0.0
    for i in range(Xt.shape[1]):
        diff = Xt[:, None, i, :] - Xt[None, :, i, :]
        s = s + diff * diff
    return s


@_pairwise_sq_dists.defjvp
def _pairwise_sq_dists_jvp(primals, tangents):
    r"""ds_ij = 2 (x_i - x_j).(dx_i - dx_j) = u_ij + u_ji with u_ij = 2 (x_i - x_j).dx_i.

    u is stacked from its k columns u[:, j] = 2 (x - x_j).dx, so that the transpose
    (reverse mode), ``xbar = 2 sum_j (x - x_j) (sbar + sbar')[:, j]``, is a sum of k
    static slices, i.e. elementwise work over (k, d, B). Any broadcast of dx along j
    transposes to a reduction, which XLA:CPU fuses into the cotangent's consumer and
    then emits as scalar code (3 ms per chunk of 128, the largest item of a gradient).
    """
    (Xt,), (dXt,) = primals, tangents
    k, d, _ = Xt.shape
    cols = []
    for j in range(k):
        diff = Xt - Xt[j : j + 1]  # (k, d, B)
        cols.append(sum(diff[:, i] * dXt[:, i] for i in range(d)))
    u = jnp.stack(cols, axis=1)  # (k, k, B)
    return _pairwise_sq_dists(Xt), 2.0 * (u + jnp.swapaxes(u, 0, 1))


def local_weights(
    op: Operator,
    X: jax.Array,
    c: jax.Array,
    basis: RadialBasis,
    eps: jax.Array | None,
    solver: str = "implicit",
) -> tuple[jax.Array, jax.Array]:
    """Weights for a batch of stencils (batch-first inputs).

    X: (B, k, d) stencil points, c: (B, d) evaluation points, eps: (B,) or None.
    Returns (weights (B, k, n_out), quality (B,)).
    """
    return _local_weights_t(op, jnp.moveaxis(X, 0, -1), c, basis, eps, solver)


def _rhs(op, X, c, basis, eps):
    """Per-stencil scale and right-hand sides (batch-first).

    X: (B, k, d), c: (B, d), eps: (B,) or None. Returns h (B,), the stencil radius that
    scales the monomials; f (B, k, n_out), the operator applied to the kernels; g
    (B, M, n_out), the operator applied to the monomials. Elementwise work over the
    stencils: chunked builds compute it for all stencils at once, before the chunk loop
    (inside it, XLA:CPU fused this batch-first computation and its move to batch-last
    into each reduction that reads it, recomputing it there as scalar code).

    Operators with a closed form on radial kernels (``Operator.of_radial``: the
    Laplacian, Identity, their sums and multiples) evaluate it on the squared
    distances; the others differentiate the kernel (one nested ``jvp`` per coordinate
    and derivative). Measured at N = 100 000, k = 30, PHS3/2, Laplacian (in-process
    A/B): build 0.507 -> 0.473 s, gradient 1.252 -> 1.125 s.
    """
    B, k, d = X.shape
    out_shape = op.out_shape(d)
    n_out = int(np.prod(out_shape)) if out_shape else 1
    c0 = lax.stop_gradient(c)
    z = c[:, None, :] - X
    s = jnp.sum(z * z, axis=-1)  # (B, k) squared distances to the evaluation point
    h = lax.stop_gradient(jnp.sqrt(jnp.max(s, axis=1)))
    h = jnp.where(h > 0, h, 1.0)

    e_col = None if eps is None else eps[:, None]
    closed = op.of_radial(lambda sq: basis.radial(sq, e_col), s, d)
    if closed is not None:  # elementwise (B, k): e.g. the Laplacian, 2 d phi' + 4 s phi''
        f = closed.reshape(B, k, n_out)
    else:

        def rhs_kernel(Xb, cb, e):
            def one(xj):
                return op(lambda x: basis.profile(x - xj, e))(cb)

            return jax.vmap(one)(Xb)  # (k, *out)

        e_b = eps if eps is not None else jnp.zeros((B,), X.dtype)
        f = jax.vmap(rhs_kernel)(X, c, e_b).reshape(B, k, n_out)

    def rhs_poly(cb, c0b, hb):
        g = op(lambda x: monomials((x - c0b) / hb, basis.poly_deg))(cb)  # (*out, M)
        return g.reshape(n_out, -1).T

    return h, f, jax.vmap(rhs_poly)(c, c0, h)


def _local_weights_t(op, Xt, c, basis, eps, solver, large=False, rhs=None):
    # Xt: (k, d, B), the stencil points batch-last. Taking them in this layout keeps
    # the cotangent of the points batch-last in reverse mode: the assembly's cotangent
    # is a reduction over the stencil's columns, and XLA:CPU fuses it into whatever
    # consumes it; fused into a batch-first transpose it ran as scalar code (3 ms per
    # chunk of 128, the largest item of the gradient).
    # rhs: (h (B,), f (k, n_out, B), g (M, n_out, B)) when computed ahead (_rhs).
    k = Xt.shape[0]
    if rhs is None:
        h, f, g = _rhs(op, jnp.moveaxis(Xt, -1, 0), c, basis, eps)
        f_t, g_t = jnp.moveaxis(f, 0, -1), jnp.moveaxis(g, 0, -1)
    else:
        h, f_t, g_t = rhs

    # The k x k kernel blocks dominate the cost: assemble them batch-last from
    # squared distances summed coordinate by coordinate (a reduction over a short
    # trailing axis is several times slower on CPU).
    s = _pairwise_sq_dists(Xt)
    A_t = basis.radial(s, None if eps is None else eps[None, None, :])  # (k, k, B)
    c0 = lax.stop_gradient(c).T  # (d, B)
    P_t = monomials((Xt - c0[None]) / h, basis.poly_deg, axis=1)  # (k, M, B)
    if solver not in ("implicit", "traced", "dense"):
        raise ValueError(f"solver: unknown solver {solver!r}; use 'implicit', 'traced' or 'dense'")
    # The null-space solver needs 0 < M < k (its loops index the polynomial block and
    # the projected kernel block); no polynomial (poly_deg = -1) or k == M go dense.
    M = P_t.shape[1]
    if solver == "dense" or not basis.definite or M == 0 or M == k:
        w, _, q = _saddle.solve_dense(A_t, P_t, f_t, g_t)
    elif solver == "implicit":
        w, _, q = _saddle.solve_differentiable(A_t, P_t, f_t, g_t, basis.sign, large)
    elif solver == "traced":
        w, _, q = _saddle.solve_traced(A_t, P_t, f_t, g_t, basis.sign, large)
    else:
        raise ValueError(f"solver: unknown solver {solver!r}; use 'implicit', 'traced' or 'dense'")
    return jnp.moveaxis(w, -1, 0), q


def set_host_device_count(n: int) -> None:
    """Expose ``n`` CPU devices to JAX, so the weight build runs on ``n`` cores.

    One XLA:CPU device runs the many small operations of a build one after another
    (only large loops are split over cores); with ``n`` host devices
    :func:`build_weights` splits its stencil chunks over them (``jax.shard_map``).
    Must be called before JAX initializes its backends (before the first array is
    created); it sets ``--xla_force_host_platform_device_count`` in ``XLA_FLAGS``
    (like ``numpyro.set_host_device_count``). Has no effect on GPU runs.

    Measured (2 cores, N = 100 000, k = 30, ``scripts/bench_weights.py --devices 2``,
    a noisy machine): build 0.31-0.34 s (one device: 0.43-0.45 s), the reverse-mode
    gradient of a loss of the weights 0.75 s (one device: 1.02-1.05 s); operator
    application on weights split over devices is slower (2.0x CSR instead of 1.0x;
    on another machine 1.2-2.0x instead of 0.7-1.1x). Computations that mix the
    build with host callbacks (:func:`rbfopt.linsolve`) inside one ``jit`` are not
    supported on several devices.

    Raises:
      RuntimeError: if JAX's CPU backend is already initialized with another count.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: must be a positive integer, got {n!r}")
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        have = jax.local_device_count("cpu")
        if have != n:
            raise RuntimeError(
                f"set_host_device_count({n}): JAX is already initialized with {have} CPU "
                "device(s); call it before any JAX computation"
            )
        return
    flag = "--xla_force_host_platform_device_count"
    flags = re.sub(flag + r"=\S+", "", os.environ.get("XLA_FLAGS", ""))
    os.environ["XLA_FLAGS"] = f"{flags} {flag}={int(n)}".strip()


def _shard_devices() -> list | None:
    # Split the build over several CPU devices only when the user asked for them
    # (set_host_device_count); one device is the default and what tests run on.
    devs = jax.local_devices()
    if len(devs) > 1 and devs[0].platform == "cpu":
        return devs
    return None


#: Builds with at least this many stencils are compiled with :data:`COMPILER_OPTIONS`
#: and use the loop variants that run faster but compile slower (``_saddle.factor``'s
#: ``large``). Both take longer to compile (a gradient of a small build: 6.0 -> 7.3 s
#: for the options), which only pays off when the run time dominates.
LARGE_BUILD = 16384


def _is_large(n_eval: int) -> bool:
    # COMPILER_OPTIONS are XLA:CPU flags; the unrolled loops gain nothing on GPU (H100,
    # N = 100 000: 0.024 s either way) and cost compile time there (3.9 -> 8.7 s)
    return n_eval >= LARGE_BUILD and _on_cpu()


def _jit_build(fn):
    # The compiler options are a property of the build, not of the caller: when the
    # build is inlined into a caller's jit (traced arguments; JAX accepts options only
    # on a top-level jit) the caller's options apply.
    static = ("op", "chunk_size", "solver", "large")
    fast = jax.jit(fn, static_argnames=static, compiler_options=COMPILER_OPTIONS)
    plain = jax.jit(fn, static_argnames=static)
    state = {"fast": True}

    @functools.wraps(fn)
    def call(op, data, eval_points, adjl, basis, chunk_size, solver, large=None):
        args = (op, data, eval_points, adjl, basis, chunk_size, solver, large)
        traced = is_tracer(data, eval_points, adjl, basis)
        if state["fast"] and not traced and _is_large(np.shape(adjl)[0]):
            try:
                return fast(*args)
            except Exception as err:  # an older jaxlib without the options
                if "compile option" not in str(err).lower():
                    raise
                state["fast"] = False
        return plain(*args)

    call.__wrapped__ = fn
    return call


@_jit_build
def _build(op, data, eval_points, adjl, basis, chunk_size, solver, large=None):
    n_eval = adjl.shape[0]
    if large is None:
        large = _is_large(n_eval)
    eps = basis.eps
    if eps is not None:
        eps = jnp.broadcast_to(jnp.asarray(eps, data.dtype), (n_eval,))
    n_chunks = -(-n_eval // chunk_size)
    if n_chunks <= 1:
        return _mask_degenerate(*local_weights(op, data[adjl], eval_points, basis, eps, solver))
    devices = _shard_devices()
    if devices is not None and n_chunks >= 2 * len(devices):
        n_chunks = -(-n_chunks // len(devices)) * len(devices)
    else:
        devices = None

    # Rematerialized in reverse mode: the backward pass recomputes one chunk's kernel
    # blocks and factors instead of storing them for all chunks (N = 30 000: peak
    # memory 2.45 -> 0.63 GB and the gradient 1.4x faster, less memory traffic).
    @jax.checkpoint
    def body(args):
        Xc, cc, ec, rhs = jax.tree_util.tree_map(_materialized, args)
        out = _local_weights_t(op, Xc, cc, basis, ec, solver, large, rhs)
        return jax.tree_util.tree_map(_materialized_cotangent, out)

    def run(data, eval_points, adjl, eps):
        # the stencils of one device: gather, right-hand sides and the chunk loop
        X = data[adjl]  # (n, k, d)
        h, f, g = _rhs(op, X, eval_points, basis, eps)

        def chunked(a):
            return a.reshape((-1, chunk_size) + a.shape[1:])

        xs = (
            jnp.moveaxis(chunked(X), 1, -1),  # (chunks, k, d, chunk): see _local_weights_t
            chunked(eval_points),
            None if eps is None else chunked(eps),
            (chunked(h), jnp.moveaxis(chunked(f), 1, -1), jnp.moveaxis(chunked(g), 1, -1)),
        )
        return lax.map(body, xs)

    n_pad = n_chunks * chunk_size
    args = tuple(None if a is None else pad_rows(a, n_pad) for a in (eval_points, adjl, eps))
    if devices is None:
        w, q = run(data, *args)
    else:
        from jax.sharding import Mesh, PartitionSpec

        spec = PartitionSpec("stencils")
        # Each device gathers its own stencils from a copy of the nodes; in reverse mode
        # the nodes' cotangents of the devices are summed (shard_map transposes an
        # unsplit input to a psum).
        w, q = jax.shard_map(
            run,
            mesh=Mesh(np.array(devices), ("stencils",)),
            in_specs=(PartitionSpec(), spec, spec, spec),
            out_specs=(spec, spec),
            check_vma=False,
        )(data, *args)
    w = w.reshape((n_chunks * chunk_size,) + w.shape[2:])[:n_eval]
    q = q.reshape(-1)[:n_eval]
    return _mask_degenerate(w, q)


def _materialized(a: jax.Array) -> jax.Array:
    """``a``, passed through a reduction (``a + 0``) so that XLA:CPU writes it to a buffer.

    The chunk loop (``lax.map``) reads each chunk's inputs by a dynamic slice at the
    loop index, and so does the loop that reverse mode runs over the chunks (JAX's
    transpose of the chunk loop, reading the residuals of the forward loop). XLA:CPU
    fuses such a slice into every consumer and emits it as scalar code: the kernel
    assembly (~3x slower than on a materialized input), its transpose and that of the
    monomials. A reduction is not fused into its consumers, so only this copy of the
    chunk (k x d x B values) runs as scalar code. ``lax.optimization_barrier`` does not
    do this on CPU (removed before fusion). Measured at N = 100 000, in one process:
    gradient 2.87 -> 2.47 s (build 0.93 s); forward mode and the build unchanged. The
    forward loop used to carry the next chunk's slice in as a loop parameter (a rotated
    copy of all inputs ahead of the loop); with this copy plain ``lax.map`` runs as fast
    (chunk 200, in-process A/B on another machine: build 0.473 vs 0.475 s, gradient
    1.083 vs 1.054 s) without the rotated copy.

    Also measured: a reverse-mode loop of our own that maps ``vjp`` of the chunk body
    with a loop that carried each chunk's slice in (handed to JAX as the transposed solve of a
    ``lax.custom_linear_solve`` in a ``custom_jvp`` rule, so that higher orders stay
    exact) ran the gradient in 2.35 s, but a ``custom_jvp`` rule cannot tell forward
    from reverse mode inside ``jit`` (JAX traces the rule before it decides to
    linearize), so forward mode would then run the build and a separate tangent loop
    (a jvp 2.31 -> 3.16 s, another run).
    """
    return jnp.sum(jnp.stack([a, jnp.zeros_like(a)]), axis=0)


def _materialized_cotangent(a: jax.Array) -> jax.Array:
    """``a``, as row 0 of a broadcast: in reverse mode its cotangent passes a reduction.

    The transposed chunk loop also reads the cotangents of each chunk's outputs by a
    dynamic slice (see :func:`_materialized`); the transpose of a broadcast is a sum
    over the broadcast axis, so that read lands in one small reduction instead of the
    reductions of the transposed solve. The primal and forward mode are unchanged (XLA
    folds the broadcast and the slice: the compiled build is the same). Measured at
    N = 100 000, in-process A/B: gradient 2.41 -> 2.27 s and 2.81 -> 2.68 s.
    """
    return jnp.broadcast_to(a, (2,) + a.shape)[0]


def _mask_degenerate(w, q):
    # A non-unisolvent stencil does not always produce non-finite numbers (a
    # rank-deficient P gives an R with a round-off-sized pivot, and finite garbage
    # weights); make the documented behaviour under jit hold: NaN rows.
    ok = q > DEGENERATE_TOL
    return jnp.where(ok.reshape((-1,) + (1,) * (w.ndim - 1)), w, jnp.nan), q


def check_inputs(
    op: Operator,
    data: Any,
    eval_points: Any,
    adjl: Any,
    basis: RadialBasis,
) -> None:
    """Validate concrete inputs of :func:`build_weights`; raise ValueError naming the cause."""
    if not isinstance(op, Operator):
        raise ValueError(f"op: expected an operator description (e.g. ro.Laplacian()), got {op!r}")
    if not isinstance(basis, RadialBasis):
        raise ValueError(f"basis: expected a basis such as ro.PHS(3), got {basis!r}")
    x = check_points(data, "data")
    n, d = x.shape
    y = check_points(eval_points, "eval_points", d)
    op.validate(d)
    m = num_monomials(d, basis.poly_deg)
    check_stencils(adjl, n, len(y), min_k=max(m, 1))
    if isinstance(basis, PHS) and op.order is not None and op.order >= basis.order:
        raise ValueError(
            f"basis: PHS order {basis.order} is not {op.order} times differentiable at r = 0; "
            f"use PHS order > {op.order}"
        )
    if basis.eps is not None and not is_tracer(basis.eps):
        e = np.asarray(basis.eps)
        if e.ndim == 1 and e.shape[0] != len(y):
            raise ValueError(
                f"eps: per-stencil shape parameters must have shape ({len(y)},), got {e.shape}"
            )
        if e.ndim > 1:
            raise ValueError(f"eps: must be a scalar or shape ({len(y)},), got {e.shape}")
        bad = np.flatnonzero(~(np.isfinite(e.ravel()) & (e.ravel() > 0)))
        if bad.size:
            raise ValueError(
                f"eps: shape parameter must be finite and > 0 at indices {fmt_indices(bad)}"
            )


def build_weights(
    op: Operator,
    data: jax.Array,
    eval_points: jax.Array | None,
    adjl: jax.Array,
    basis: RadialBasis,
    *,
    chunk_size: int | None = None,
    solver: str = "implicit",
) -> jax.Array:
    """RBF-FD weights of ``op`` for every stencil.

    Args:
      op: operator description (``ro.Laplacian()``, ``ro.Partial(1, 0)``, ...).
      data: (N, d) node positions.
      eval_points: (N_eval, d) evaluation points, or ``None`` for ``data``.
      adjl: (N_eval, k) int stencil indices into ``data`` (``ro.find_neighbors``).
      basis: kernel and polynomial degree; ``basis.eps`` scalar or shape (N_eval,).
      chunk_size: stencils per batched solve (memory stays O(chunk_size k^2)); by
        default about 180 000 / k^2 on CPU (cache-sized blocks), 65 536 on GPU.
      solver: ``"implicit"`` (default: custom rules reusing the factorization),
        ``"traced"`` (AD traces through the elimination; a reference for tests) or
        ``"dense"`` (LU of the full system; used automatically when the kernel's
        projected matrix is not guaranteed definite, e.g. PHS(5) with poly_deg < 2).

    Returns:
      (N_eval, k) weights, or (N_eval, k, n_out) for vector operators (Gradient:
      n_out = d; Hessian: n_out = d*d, row-major). Differentiable w.r.t. ``data``,
      ``eval_points`` and ``basis.eps`` in forward and reverse mode, under jit/vmap.
    """
    if eval_points is None:
        eval_points = data
    concrete = not is_tracer(data, eval_points, adjl, basis)
    if concrete:
        check_inputs(op, data, eval_points, adjl, basis)
        data = jnp.asarray(np.asarray(data, dtype=np.float64).reshape(len(data), -1))
        eval_points = jnp.asarray(
            np.asarray(eval_points, dtype=np.float64).reshape(len(eval_points), -1)
        )
    adjl = jnp.asarray(adjl, dtype=jnp.int32)
    if chunk_size is not None and (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or chunk_size < 1
    ):
        raise ValueError(f"chunk_size: must be a positive integer, got {chunk_size!r}")
    k, d = adjl.shape[1], data.shape[1]
    chunk = int(_default_chunk(k, d) if chunk_size is None else chunk_size)
    w, q = _build(op, data, eval_points, adjl, basis, chunk, solver)
    if concrete:
        bad = np.flatnonzero(
            ~(np.asarray(q) > DEGENERATE_TOL)
            | ~np.all(np.isfinite(np.asarray(w)).reshape(len(q), -1), axis=1)
        )
        if bad.size:
            raise ValueError(
                f"adjl: degenerate stencils at evaluation points {fmt_indices(bad)}: their points "
                f"are not unisolvent for poly_deg={basis.poly_deg} (e.g. collinear, or on a "
                "conic) or contain coincident points, or the local system is numerically "
                "singular (smooth kernels near the flat limit: eps times the stencil radius "
                "too small); use a larger k, a lower poly_deg, a larger eps, or fix the nodes"
            )
    if not op.out_shape(data.shape[1]):
        w = w[..., 0]
    return w
