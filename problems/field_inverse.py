"""Recover the Poisson source f at the nodes from sparse noisy sensor data of u (smoothed).

Forward model. On the unit square, ``N`` RBF-FD nodes (equispaced boundary nodes,
Halton interior), PHS3 + quadratic Laplacian rows at interior nodes and Dirichlet
rows ``u = 0`` on the boundary give the sparse system ``A u = E f`` (``E`` keeps
the interior entries of ``f``, zero on boundary rows), solved by
:func:`rbfopt.linsolve` (differentiable w.r.t. the right-hand side).
Sensors at ``M`` scattered points read ``R u`` (local RBF interpolation weights of
:func:`rbfopt.regrid`, fixed).

Data. ``d = R A^-1 E f_true + noise``, ``f_true(x, y) = 20 exp(-8|x - (0.35, 0.6)|^2)
- 12 exp(-10|x - (0.7, 0.3)|^2)``, Gaussian noise of standard deviation
``sigma = noise * max|R u_true|``.

Inverse problem. Minimize over the nodal source ``f`` (N values)

    J(f) = (1/M) sum_m ((R A^-1 E f - d)_m / sigma)^2 + alpha (1/N) sum_i |G f|_i^2,

``G`` the RBF-FD gradient operator (Tikhonov smoothing). ``J`` is quadratic, so the
reference is the closed form: ``(B'B / (M sigma^2) + alpha G'G / N) f* = B'd /
(M sigma^2)`` with ``B = R A^-1 E`` assembled densely. The report states the
optimized and closed-form values of ``J``, ``|f - f*| / |f*|``, and the RMS data
misfit of both against the noise level ``sigma`` (a misfit near ``sigma`` means the
data are fitted to the noise level, not beyond).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from scipy.stats import qmc

import rbfopt as ro
from rbfopt.fd.boundary import assemble
from rbfopt.mesh import node_cloud
from rbfopt.problem import Problem
from rbfopt.sparse import linsolve

DEFAULTS = {"steps": 150, "optimizer": "lbfgs"}


def f_true_fn(p: np.ndarray) -> np.ndarray:
    """The source to recover."""
    x, y = p[:, 0], p[:, 1]
    return 20.0 * np.exp(-8 * ((x - 0.35) ** 2 + (y - 0.6) ** 2)) - 12.0 * np.exp(
        -10 * ((x - 0.7) ** 2 + (y - 0.3) ** 2)
    )


def square_nodes(n: int, seed: int) -> tuple[np.ndarray, int]:
    """About ``n`` nodes: equispaced on the boundary first, Halton inside. (points, n_b)."""
    h = 1.0 / np.sqrt(n)
    m = max(int(round(1.0 / h)), 2)
    t = np.arange(m) / m
    bnd = np.concatenate(
        [
            np.stack([t, 0 * t], 1),
            np.stack([1 + 0 * t, t], 1),
            np.stack([1 - t, 1 + 0 * t], 1),
            np.stack([0 * t, 1 - t], 1),
        ]
    )
    n_int = max(n - len(bnd), 1)
    inner = qmc.Halton(d=2, scramble=True, seed=seed).random(4 * n_int)
    inner = inner[np.all((inner > 0.5 * h) & (inner < 1 - 0.5 * h), axis=1)][:n_int]
    return np.concatenate([bnd, inner]), len(bnd)


def problem(
    n: int = 400, sensors: int = 60, noise: float = 0.01, alpha: float = 1e-2, seed: int = 0
) -> Problem:
    """Build the study. ``n``: about how many nodes; ``sensors``: number of sensor
    points; ``noise``: noise std relative to max |u| at the sensors; ``alpha``:
    smoothing weight."""
    if n < 30:
        raise ValueError(f"n: need at least 30 nodes, got {n}")
    if sensors < 3:
        raise ValueError(f"sensors: need at least 3, got {sensors}")
    if not (noise > 0 and np.isfinite(noise)):
        raise ValueError(f"noise: must be > 0, got {noise}")
    if not (alpha >= 0 and np.isfinite(alpha)):
        raise ValueError(f"alpha: must be >= 0, got {alpha}")
    rng = np.random.default_rng(seed)
    X, n_b = square_nodes(n, seed)
    N = len(X)
    basis = ro.PHS(3, poly_deg=2)
    k = ro.autoselect_k(2, 2)
    A = assemble(
        X, ro.Laplacian(), interior=np.arange(n_b, N), dirichlet=np.arange(n_b), basis=basis, k=k
    )
    S = rng.uniform(0.05, 0.95, (sensors, 2))
    R = ro.regrid(X, S, basis=basis)
    G = ro.gradient(X, basis=basis)
    mask = jnp.asarray(np.arange(N) >= n_b, jnp.float64)

    def forward(f):
        # -Lap u = f  <=>  Lap u = -f on interior rows; u = 0 on Dirichlet rows
        return R(linsolve(A, -mask * f))

    f_true = f_true_fn(X)
    u_s = np.asarray(forward(jnp.asarray(f_true)))
    sigma = noise * float(np.max(np.abs(u_s)))
    d = jnp.asarray(u_s + sigma * rng.standard_normal(sensors))

    def parts(f):
        misfit = jnp.mean(((forward(f) - d) / sigma) ** 2)
        smooth = jnp.mean(jnp.sum(G(f) ** 2, axis=1))
        return misfit, smooth

    def loss(p):
        # metrics from the same evaluation: no second forward solve per step
        misfit, smooth = parts(p["f"])
        err = jnp.linalg.norm(p["f"] - f_true) / np.linalg.norm(f_true)
        metrics = {"misfit_rms_over_sigma": jnp.sqrt(misfit), "rel_error_vs_truth": err}
        return misfit + alpha * smooth, metrics

    # closed form, assembled densely with scipy (independent of the JAX solve)
    def closed_form() -> np.ndarray:
        Asp = A.to_scipy().toarray()
        B = R.to_scipy().toarray() @ np.linalg.solve(Asp, -np.diag(np.asarray(mask)))
        Gs = [g.toarray() for g in G.to_scipy()]
        GtG = sum(g.T @ g for g in Gs)
        H = B.T @ B / (sensors * sigma**2) + alpha * GtG / N
        rhs = B.T @ np.asarray(d) / (sensors * sigma**2)
        return np.linalg.solve(H, rhs)

    cache: dict[str, np.ndarray] = {}

    def reference() -> np.ndarray:
        if "f" not in cache:
            cache["f"] = closed_form()
        return cache["f"]

    def report(p):
        fs = reference()
        f = np.asarray(p["f"])
        m_opt, _ = parts(jnp.asarray(f))
        m_cf, _ = parts(jnp.asarray(fs))
        return {
            "J_optimized": float(loss({"f": jnp.asarray(f)})[0]),
            "J_closed_form": float(loss({"f": jnp.asarray(fs)})[0]),
            "rel_diff_to_closed_form": float(np.linalg.norm(f - fs) / np.linalg.norm(fs)),
            "misfit_rms_optimized": float(np.sqrt(m_opt)) * sigma,
            "misfit_rms_closed_form": float(np.sqrt(m_cf)) * sigma,
            "noise_sigma": sigma,
            "rel_error_vs_truth_optimized": float(
                np.linalg.norm(f - f_true) / np.linalg.norm(f_true)
            ),
            "rel_error_vs_truth_closed_form": float(
                np.linalg.norm(fs - f_true) / np.linalg.norm(f_true)
            ),
            "n_nodes": int(N),
            "n_sensors": int(sensors),
        }

    def to_mesh(p):
        f = np.asarray(p["f"])
        flags = np.zeros(N, np.int32)
        flags[:n_b] = 1
        return node_cloud(
            X,
            {"f": f, "f_true": f_true, "f_closed_form": reference(), "error": f - f_true},
            boundary=flags,
        )

    return Problem(
        name="field_inverse",
        init=lambda: {"f": jnp.zeros(N)},
        loss=loss,
        report=report,
        to_mesh=to_mesh,
        inside=lambda c: np.all((c >= 0) & (c <= 1), axis=1),
        options=dict(n=n, sensors=sensors, noise=noise, alpha=alpha, seed=seed),
    )
