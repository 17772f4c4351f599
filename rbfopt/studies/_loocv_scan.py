"""Brute-force scans of the leave-one-out cost over (eps, smoothing) grids.

Dense: for one ``eps`` and the scipy-signed kernel matrix ``A`` (positive definite on
the null space of ``P'``), let ``Q2`` span that null space and
``Q2' A Q2 = U diag(mu) U'``. Then for every ``lam``

    c = V diag(1 / (mu + lam)) V' f,   (M^-1)_ii = sum_k V_ik^2 / (mu_k + lam),  V = Q2 U,

so one symmetric eigendecomposition per ``eps`` gives Rippa's cost on a whole
``lam`` grid in O(N^2) per value: an evaluation independent of the LU path that
:func:`rbfopt.interp.loocv` takes.

Local: :func:`rbfopt.interp.local_loocv` on every grid point (jit once per shape).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from ..basis import RadialBasis
from ..interp import local_loocv
from ..interp._system import _poly_frame_np
from ..polynomials import monomials


def dense_scan(
    x: np.ndarray, f: np.ndarray, basis: RadialBasis, eps_grid: np.ndarray, lam_grid: np.ndarray
) -> np.ndarray:
    """Rippa's cost ``sum_i e_i^2`` on the grid, shape (len(eps_grid), len(lam_grid));
    ``inf`` where the projected matrix plus ``lam`` is not positive."""
    shift, scale = _poly_frame_np(x)
    n = len(x)
    m = 0
    if basis.poly_deg >= 0:
        P = np.asarray(monomials(jnp.asarray((x - shift) / scale), basis.poly_deg))
        (house, tau), _ = scipy.linalg.qr(P, mode="raw")
        m = P.shape[1]
    sq = jnp.asarray(np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1))
    radial = jax.jit(basis.radial)  # one compile for the whole grid
    out = np.full((len(eps_grid), len(lam_grid)), np.inf)
    for i, eps in enumerate(eps_grid):
        A = basis.sign * np.asarray(radial(sq, jnp.asarray(eps, jnp.float64)))
        if m:  # Q' A Q by the Householder reflectors, O(n^2 m) instead of two products
            A = _apply_q(house, tau, _apply_q(house, tau, A, "L", "T"), "R", "N")
        # MRRR (evr): 2-10x faster here than divide and conquer (numpy's evd)
        mu, U = scipy.linalg.eigh(A[m:, m:], driver="evr", check_finite=False)
        V = _apply_q(house, tau, np.vstack([np.zeros((m, n - m)), U]), "L", "N") if m else U
        g = V.T @ f.reshape(n, -1)  # (n', k)
        den = mu[:, None] + lam_grid[None, :]  # (n', L)
        ok = np.all(den > 1e-14 * max(abs(mu).max(), 1.0), axis=0)
        inv = 1.0 / np.where(den > 0, den, np.inf)
        diag = (V * V) @ inv  # (n, L): (M^-1)_ii for every lam
        c = np.einsum("ij,jkl->ikl", V, g[:, :, None] * inv[:, None, :])  # (n, k, L)
        cost = np.sum((c / diag[:, None, :]) ** 2, axis=(0, 1))
        out[i] = np.where(ok & np.isfinite(cost), cost, np.inf)
    return out


def _apply_q(house, tau, c, side: str, trans: str) -> np.ndarray:
    """``Q c``, ``Q' c`` or ``c Q`` for the ``Q`` of a raw QR (LAPACK ``dormqr``)."""
    work = max(1, 64 * max(c.shape))
    out, _, info = scipy.linalg.lapack.dormqr(side, trans, house, tau, np.asfortranarray(c), work)
    if info != 0:
        raise RuntimeError(f"dormqr failed (info={info})")
    return out


def local_scan(
    x: np.ndarray,
    f: np.ndarray,
    basis: RadialBasis,
    eps_grid: np.ndarray,
    lam_grid: np.ndarray,
    rows: np.ndarray,
    adjl: np.ndarray,
) -> np.ndarray:
    """:func:`~rbfopt.interp.local_loocv` on the grid, (len(eps_grid), len(lam_grid))."""
    X, F, R, A = jnp.asarray(x), jnp.asarray(f), jnp.asarray(rows), jnp.asarray(adjl)

    @jax.jit
    def row(eps):
        b = basis if basis.eps is None else basis.replace(eps=eps)
        return jax.vmap(lambda lam: local_loocv(X, F, b, lam, rows=R, adjl=A))(lam_grid)

    out = np.stack([np.asarray(row(jnp.asarray(e))) for e in eps_grid])
    return np.where(np.isfinite(out), out, np.inf)
