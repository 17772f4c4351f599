"""Local systems of the RBF-FD weights: right-hand sides, kernel and monomial blocks.

For a batch of stencils (batch axis last, see :mod:`rbfopt.fd._saddle`) this assembles
the kernel block ``Phi``, the monomial block ``P`` in local coordinates and the
right-hand sides (the operator applied to the kernels and the monomials), and solves
the saddle systems with the factorization and rules of :mod:`rbfopt.fd._saddle`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..basis import RadialBasis
from ..operators import Operator
from ..polynomials import monomials
from . import _nested, _saddle


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
    static slices, i.e. elementwise work over (k, d, B): a broadcast of dx along j
    would transpose to a reduction that XLA:CPU fuses into its consumer as scalar code.
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
    local_solve: str = "implicit",
    last: jax.Array | None = None,
    sizes: tuple[int, ...] | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Weights for a batch of stencils (batch-first inputs).

    X: (B, k, d) stencil points, c: (B, d) evaluation points, eps: (B,) or None,
    last: (B,) taper in [0, 1] of each stencil's last point (:func:`taper_last`) or
    None. Returns (weights (B, k, n_out), quality (B,)). No checks, no chunking: the
    per-batch solve under :func:`rbfopt.build_weights`. ``sizes``: the weights of
    the first ``k_s`` points for each ``k_s`` (:func:`_family_solve`), stacked as
    (B, k, n_out * S).

    Examples:
      >>> import jax.numpy as jnp, numpy as np, rbfopt as ro
      >>> from rbfopt.fd.weights import local_weights
      >>> X = jnp.asarray(np.random.default_rng(0).random((4, 12, 2)))  # 4 stencils
      >>> w, q = local_weights(ro.Identity(), X, X[:, 0], ro.PHS(3), None)
      >>> w.shape, bool(jnp.allclose(w[:, 0, 0], 1.0))  # interpolation at a node
      ((4, 12, 1), True)
    """
    Xt = jnp.moveaxis(X, 0, -1)
    return _local_weights_t(op, Xt, c, basis, eps, local_solve, last=last, sizes=sizes)


def _rhs(op, X, c, basis, eps):
    """Per-stencil scale and right-hand sides (batch-first).

    X: (B, k, d), c: (B, d), eps: (B,) or None. Returns h (B,), the stencil radius that
    scales the monomials; f (B, k, n_out), the operator applied to the kernels; g
    (B, M, n_out), the operator applied to the monomials. Elementwise work over the
    stencils: chunked builds compute it for all stencils at once, before the chunk loop
    (inside it, XLA:CPU fuses it into each reduction that reads it, as scalar code).

    Operators with a closed form on radial kernels (``Operator.of_radial``: the
    Laplacian, Identity, their sums and multiples) evaluate it on the squared
    distances, which is cheaper than differentiating the kernel (one nested ``jvp`` per
    coordinate and derivative, what the other operators do).
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


#: ``c`` of :func:`taper_last` in units of the kernel block's RMS: the default study's
#: starting error was lowest at 0.01 of 1, 0.1, 0.01, 1e-4 (docs/performance.md).
TAPER_SCALE = 0.01


def taper_last(A, P, f, t, sign):
    r"""The saddle system of a stencil whose last point enters with taper ``t`` (B,).

    With ``T = diag(1, ..., 1, t)`` and ``c`` the RMS of the kernel block times
    :data:`TAPER_SCALE`, the system
    ``[T A T + sign (1 - t^2) c e e', T P; (T P)', 0] [v; l] = [T f; g]`` gives the
    weights ``w = T v``. For ``t > 0`` they solve ``[A + sign mu e e', P; P', 0] [w; l]
    = [f; g]`` with ``mu = c (1 - t^2) / t^2``: RBF-FD weights whose last point is held
    back by a penalty. ``t = 1`` gives the plain weights on all ``k`` points, ``t = 0``
    those on the first ``k - 1`` (``v_k = 0``), and ``P' w = g`` holds for every ``t``:
    polynomials are reproduced exactly. ``sign mu >= 0`` keeps ``sign`` times the
    projected kernel block positive definite. Returns ``(A, P, f, s)``, ``s = diag T``
    as (k, B), for batch-last ``A`` (k, k, B), ``P`` (k, M, B), ``f`` (k, n, B).
    """
    k = A.shape[0]
    s = jnp.concatenate([jnp.ones((k - 1,) + t.shape, t.dtype), t[None]], axis=0)
    c = TAPER_SCALE * jnp.sqrt(jnp.mean(A * A, axis=(0, 1)))
    A = (A * s[:, None] * s[None]).at[k - 1, k - 1].add(sign * (1.0 - t * t) * c)
    return A, P * s[:, None], f * s[:, None], s


def _local_weights_t(
    op, Xt, c, basis, eps, local_solve, large=False, rhs=None, last=None, sizes=None
):
    # Xt: (k, d, B), the stencil points batch-last. Taking them in this layout keeps
    # the cotangent of the points batch-last in reverse mode (fused into a batch-first
    # transpose, that reduction runs as scalar code on XLA:CPU).
    # rhs: (h (B,), f (k, n_out, B), g (M, n_out, B)) when computed ahead (_rhs).
    # last: (B,) taper of the last stencil point (taper_last), or None.
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
    if last is not None:
        A_t, P_t, f_t, scale = taper_last(A_t, P_t, f_t, last, basis.sign)
    if local_solve not in ("implicit", "traced", "dense"):
        raise ValueError(
            f"local_solve: unknown local solve {local_solve!r}; use 'implicit', 'traced' or 'dense'"
        )
    if sizes is not None:
        w, q = _family_solve(A_t, P_t, f_t, g_t, basis, local_solve, large, sizes)
        return jnp.moveaxis(w, -1, 0), q
    w, q = _solve(A_t, P_t, f_t, g_t, basis, local_solve, large)
    if last is not None:
        w = w * scale[:, None]
    return jnp.moveaxis(w, -1, 0), q


def _solve(A_t, P_t, f_t, g_t, basis, local_solve, large):
    """One batch of saddle systems by ``local_solve``: (w (k, n, B), quality (B,))."""
    # The null-space solver needs 0 < M < k (its loops index the polynomial block and
    # the projected kernel block); no polynomial (poly_deg = -1) or k == M go dense.
    k, M = P_t.shape[:2]
    if local_solve == "dense" or not basis.definite or M == 0 or M == k:
        w, _, q = _saddle.solve_dense(A_t, P_t, f_t, g_t)
    elif local_solve == "implicit":
        w, _, q = _saddle.solve_differentiable(A_t, P_t, f_t, g_t, basis.sign, large)
    else:
        w, _, q = _saddle.solve_traced(A_t, P_t, f_t, g_t, basis.sign, large)
    return w, q


def _family_solve(A_t, P_t, f_t, g_t, basis, local_solve, large, sizes):
    """The weights of the first ``k_s`` points for each ``k_s`` of ``sizes``, zero past
    ``k_s`` and stacked member-major: (K, n * S, B), and the worst quality (B,).

    Nested stencils share one factorization (:mod:`rbfopt.fd._nested`) where the
    null-space solve applies; otherwise each size is solved on its own."""
    K, M = P_t.shape[:2]
    if local_solve == "implicit" and basis.definite and 0 < M < min(sizes):
        ws, q = _nested.solve_nested_differentiable(A_t, P_t, f_t, g_t, basis.sign, sizes, large)
    else:
        solved = [
            _solve(A_t[:k, :k], P_t[:k], f_t[:k], g_t, basis, local_solve, large) for k in sizes
        ]
        ws, q = [w for w, _ in solved], jnp.min(jnp.stack([q for _, q in solved]), axis=0)
    ws = [jnp.pad(w, ((0, K - w.shape[0]), (0, 0), (0, 0))) for w in ws]
    return jnp.concatenate(ws, axis=1), q
