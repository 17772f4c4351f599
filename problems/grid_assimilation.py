"""Fit cubic-spline grid values to scattered noisy observations (gradients via cubic_adjoint).

Model. A tensor-product cubic spline ``s_F`` (``rbfopt.grid.cubic_interp``, CubicFit
ends) with values ``F`` on an ``nx x ny`` grid of the unit square. Observations
``y_m = g(x_m) + noise`` at ``M`` scattered RBF nodes (Halton points), with
``g(x, y) = sin(2 pi x) cos(pi y) + 0.5 exp(-10|x - (0.6, 0.4)|^2)`` and Gaussian
noise of standard deviation ``noise``.

Loss. ``J(F) = (1/M) sum_m (s_F(x_m) - y_m)^2``: the spline evaluation is linear,
``s_F(x_m) = (W F)_m``, and its gradient ``(2/M) W^T r`` is supplied by the
query-baked, data-free adjoint ``W^T`` of :func:`rbfopt.grid.cubic_adjoint` (a
``custom_vjp``: forward by ``cubic_interp``, backward by the adjoint).

Reference. The closed-form least-squares solution ``F* = argmin |W F - y|`` with the
dense ``W`` (``adj.matrix().T``, checked against the forward interpolant) by
``numpy.linalg.lstsq``. The report states both values of ``J`` (their square roots
are RMS residuals, to compare with the noise level), ``|F - F*| / |F*|``, and the RMS
error of both splines against ``g`` on a fine grid.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import qmc

import rbfopt as ro
from rbfopt.mesh import node_cloud
from rbfopt.problem import Problem

DEFAULTS = {"steps": 150, "optimizer": "lbfgs"}


def g_true(p: np.ndarray) -> np.ndarray:
    """The field behind the observations."""
    x, y = p[:, 0], p[:, 1]
    return np.sin(2 * np.pi * x) * np.cos(np.pi * y) + 0.5 * np.exp(
        -10 * ((x - 0.6) ** 2 + (y - 0.4) ** 2)
    )


def problem(
    nx: int = 12, ny: int = 12, m: int = 400, noise: float = 0.02, seed: int = 0
) -> Problem:
    """Build the study. ``nx``, ``ny``: grid size; ``m``: observation nodes;
    ``noise``: noise standard deviation."""
    if nx < 4 or ny < 4:
        raise ValueError(f"nx, ny: cubic splines need at least 4 grid points, got {nx}, {ny}")
    if m < nx * ny:
        raise ValueError(f"m: need at least nx*ny={nx * ny} observations for a unique fit, got {m}")
    if not (noise >= 0 and np.isfinite(noise)):
        raise ValueError(f"noise: must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    gx, gy = np.linspace(0, 1, nx), np.linspace(0, 1, ny)
    X = qmc.Halton(d=2, scramble=True, seed=seed).random(m)
    y = g_true(X) + noise * rng.standard_normal(m)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    adj = ro.grid.cubic_adjoint((gx, gy), Xj)

    @jax.custom_vjp
    def predict(F):
        return ro.grid.cubic_interp((gx, gy), F)(Xj)

    def predict_fwd(F):
        return predict(F), None

    def predict_bwd(_, ybar):
        return (adj(ybar).reshape(nx, ny),)

    predict.defvjp(predict_fwd, predict_bwd)

    def misfit(p):
        return jnp.mean((predict(p["F"]) - yj) ** 2)

    fine = np.stack(np.meshgrid(np.linspace(0, 1, 101), np.linspace(0, 1, 101)), -1).reshape(-1, 2)
    g_fine = g_true(fine)
    fine_j = jnp.asarray(fine)

    def fine_error(F):
        return jnp.sqrt(jnp.mean((ro.grid.cubic_interp((gx, gy), F)(fine_j) - g_fine) ** 2))

    def loss(p):
        # metrics from the same evaluation: the residual is not computed twice
        J = misfit(p)
        return J, {"rms_residual": jnp.sqrt(J), "rms_error_vs_truth": fine_error(p["F"])}

    cache: dict[str, np.ndarray] = {}

    def reference() -> np.ndarray:
        if "F" not in cache:
            W = np.asarray(adj.matrix()).T  # (m, nx*ny)
            Ft = rng.standard_normal((nx, ny))
            gap = np.abs(W @ Ft.ravel() - np.asarray(predict(jnp.asarray(Ft)))).max()
            if gap > 1e-10:  # the adjoint must be the transpose of the forward map
                raise RuntimeError(f"cubic_adjoint disagrees with cubic_interp by {gap:.2e}")
            cache["F"] = np.linalg.lstsq(W, y, rcond=None)[0].reshape(nx, ny)
        return cache["F"]

    def report(p):
        Fs, F = reference(), np.asarray(p["F"])
        return {
            "J_optimized": float(misfit({"F": jnp.asarray(F)})),
            "J_closed_form": float(misfit({"F": jnp.asarray(Fs)})),
            "rms_residual_optimized": float(np.sqrt(misfit({"F": jnp.asarray(F)}))),
            "rms_residual_closed_form": float(np.sqrt(misfit({"F": jnp.asarray(Fs)}))),
            "noise_sigma": noise,
            "rel_diff_to_closed_form": float(np.linalg.norm(F - Fs) / np.linalg.norm(Fs)),
            "rms_error_vs_truth_optimized": float(fine_error(jnp.asarray(F))),
            "rms_error_vs_truth_closed_form": float(fine_error(jnp.asarray(Fs))),
            "grid": [nx, ny],
            "n_observations": m,
        }

    def to_mesh(p):
        fit = np.asarray(predict(p["F"]))
        return node_cloud(X, {"observed": y, "fit": fit, "residual_error": fit - y})

    return Problem(
        name="grid_assimilation",
        init=lambda: {"F": jnp.zeros((nx, ny))},
        loss=loss,
        report=report,
        to_mesh=to_mesh,
        inside=lambda c: np.all((c >= 0) & (c <= 1), axis=1),
        options=dict(nx=nx, ny=ny, m=m, noise=noise, seed=seed),
    )
