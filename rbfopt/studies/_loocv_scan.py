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
    if basis.poly_deg >= 0:
        P = np.asarray(monomials(jnp.asarray((x - shift) / scale), basis.poly_deg))
        Q, _ = np.linalg.qr(P, mode="complete")
        Q2 = Q[:, P.shape[1] :]
    else:
        Q2 = np.eye(n)
    sq = np.sum((x[:, None, :] - x[None, :, :]) ** 2, axis=-1)
    out = np.full((len(eps_grid), len(lam_grid)), np.inf)
    for i, eps in enumerate(eps_grid):
        A = basis.sign * np.asarray(basis.radial(jnp.asarray(sq), float(eps)))
        mu, U = np.linalg.eigh(Q2.T @ A @ Q2)
        V = Q2 @ U
        g = V.T @ f.reshape(n, -1)  # (n', m)
        den = mu[:, None] + lam_grid[None, :]  # (n', L)
        ok = np.all(den > 1e-14 * max(abs(mu).max(), 1.0), axis=0)
        inv = 1.0 / np.where(den > 0, den, np.inf)
        diag = (V * V) @ inv  # (n, L)
        for j in np.flatnonzero(ok):
            c = V @ (g * inv[:, j : j + 1])  # (n, m)
            out[i, j] = np.sum((c / diag[:, j : j + 1]) ** 2)
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
