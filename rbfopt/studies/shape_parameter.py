"""Shape-parameter studies: Rippa's leave-one-out cost over log eps and log smoothing.

For data ``f_i`` at points ``x_i`` and a kernel ``phi(eps r)``, the smoothed
interpolant solves ``(A + lam I) c + P d = f`` (``lam`` is scipy's ``smoothing``; MQ in
scipy's sign, see :class:`~rbfopt.interp.Interpolator`). The study minimizes

    loss(t, s) = log( (1/S) sum_i e_i(e^t, e^s)^2 )

over ``t = log eps`` and ``s = log lam``, where ``e_i = f_i - s^(i)(x_i)`` is the
leave-one-out error: Rippa's ``c_i / (M^-1)_ii`` of the global fit (``method="dense"``,
O(N^3) per evaluation) or the error of the local fit to the ``neighbors`` points
nearest ``x_i`` (``method="local"``, O(S k^3) for ``S`` sampled points; the fit that
``RBFInterpolator(..., neighbors=k)`` makes). The start is the best point of a
brute-force scan of that cost on a log grid (:mod:`._loocv_scan`), so the gradient
refinement starts in the right valley of a cost that is often multimodal in ``eps``.

``eps="per_point"`` gives every centre its own ``eps_j``, sampled from a smooth field
``log eps(x) = sum_k a_k psi_k(x)``: ``psi_k`` a partition of unity of Gaussian bumps
at ``K`` control points spread over the data (farthest-point sampling). The loss adds
``penalty * mean_(k~l) (a_k - a_l)^2`` over neighbouring control points, and the
field starts flat at the global optimum (``start``), so it only moves where the
leave-one-out cost pays for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

from ..basis import IMQ, MQ, PHS, Gaussian, RadialBasis
from ..interp import local_loocv, loo_neighbours, loocv
from ..interp._system import check_centres, check_values
from ..mesh import node_cloud
from ..polynomials import num_monomials
from ..problem import Problem
from ._loocv_scan import dense_scan, local_scan

__all__ = ["KERNELS", "shape_parameter", "tune"]


@dataclass(frozen=True)
class Kernel:
    """A kernel as the study and scipy name it."""

    name: str
    scipy: str
    min_degree: int  # scipy's _NAME_TO_MIN_DEGREE (-1: none)

    def basis(self, eps: Any, degree: int) -> RadialBasis:
        if self.name in ("gaussian", "imq", "mq"):
            return {"gaussian": Gaussian, "imq": IMQ, "mq": MQ}[self.name](eps, degree)
        return PHS({"linear": 1, "cubic": 3, "quintic": 5}[self.name], degree)

    @property
    def has_eps(self) -> bool:
        # scipy's polyharmonic kernels are scale-invariant: eps only rescales lam
        return self.name in ("gaussian", "imq", "mq")


KERNELS = {
    k.name: k
    for k in (
        Kernel("gaussian", "gaussian", -1),
        Kernel("imq", "inverse_multiquadric", -1),
        Kernel("mq", "multiquadric", 0),
        Kernel("linear", "linear", 0),
        Kernel("cubic", "cubic", 1),
        Kernel("quintic", "quintic", 2),
    )
}
_ALIASES = {k.scipy: k.name for k in KERNELS.values()}

#: Smoothing search range (scipy's units: the kernel's value at r = 0 is 1).
LAM_RANGE = (1e-12, 1e1)
#: Scan points over the eps and smoothing ranges (dense; local), and the rows of the
#: local scan: a coarser, sampled scan keeps 20 000 points in about ten seconds, and the
#: refinement then uses all ``sample`` rows.
SCAN_SIZE = {"dense": (28, 27), "local": (19, 14)}
SCAN_ROWS = 600
#: Control values of a per-point eps field by dimension.
FIELD_SIZE = {1: 4, 2: 16, 3: 27}
#: ``method="auto"`` switches to the local cost above this many points.
DENSE_MAX = 2000


def kernel_spec(kernel: str) -> Kernel:
    name = _ALIASES.get(str(kernel).lower(), str(kernel).lower())
    if name not in KERNELS:
        raise ValueError(
            f"kernel: expected one of {sorted(KERNELS)} (or scipy's names "
            f"{sorted(_ALIASES)}), got {kernel!r}"
        )
    return KERNELS[name]


def shape_parameter(
    points: Any,
    values: Any,
    *,
    kernel: str = "gaussian",
    degree: int | None = None,
    eps: str = "global",
    smoothing: str | float = "auto",
    method: str = "auto",
    neighbors: int = 64,
    sample: int = 4000,
    start: tuple[float, float] | None = None,
    field_size: int | None = None,
    penalty: float = 0.3,
    seed: int = 0,
) -> Problem:
    """A study that tunes ``eps`` (and ``smoothing``) by leave-one-out cross-validation.

    Args:
      points: (N, d) data sites (d in 1..3); values: (N,) data.
      kernel: ``gaussian``, ``imq``, ``mq``, or the scale-invariant ``linear``,
        ``cubic``, ``quintic`` (smoothing only); scipy's names are accepted too.
      degree: polynomial degree; default scipy's (its kernel's minimum, at least 0).
      eps: ``"global"`` (one eps) or ``"per_point"`` (one per centre, from a smooth
        field of ``field_size`` control values, default ``FIELD_SIZE[d]``; ``penalty``
        weighs the squared differences of neighbouring control values against the
        log-cost).
      smoothing: ``"auto"`` (tuned over ``LAM_RANGE``) or a fixed value ``>= 0``.
      method: ``"dense"`` (Rippa, global fit), ``"local"`` (``neighbors``-point fits at
        ``sample`` points), ``"auto"``: dense up to ``DENSE_MAX`` points.
      start: ``(eps, smoothing)`` to start from instead of the scan's best.

    Returns an :class:`~rbfopt.Problem` (its ``tuning`` attribute holds the data, the
    cost and the scan; :func:`tune` minimizes it) with params ``{"log_eps", "log_smoothing"}``
    (those tuned); ``report(params)`` gives the result in scipy's conventions
    (``scipy`` entry), the scan and the cost at start and optimum.

    Examples:
      >>> import numpy as np
      >>> import rbfopt as ro
      >>> x = np.random.default_rng(0).random((150, 2))
      >>> f = np.sin(4 * x[:, 0]) * x[:, 1]
      >>> prob = ro.studies.shape_parameter(x, f, kernel="imq", smoothing=1e-9)
      >>> res = ro.studies.tune(prob)
      >>> rep = prob.report(res)
      >>> rep["scipy"]["kernel"], rep["loocv_rms"] <= rep["loocv_rms_start"]
      ('inverse_multiquadric', True)
    """
    spec = kernel_spec(kernel)
    deg = max(spec.min_degree, 0) if degree is None else int(degree)
    if deg < spec.min_degree:
        raise ValueError(
            f"degree: the {spec.name} kernel needs degree >= {spec.min_degree}, got {deg}"
        )
    x = check_centres(points, spec.basis(1.0, deg))
    n, d = x.shape
    f = check_values(values, n)
    if f.ndim != 1:
        raise ValueError(f"values: expected one value per point, shape ({n},), got {f.shape}")
    method, lam = _check_options(spec, deg, n, d, eps, smoothing, method, neighbors)
    tun = _Tuning(
        x,
        f,
        spec,
        deg,
        eps,
        lam,
        method,
        neighbors,
        sample,
        seed,
        field_size,
        penalty,
    )
    return tun.problem(start)


def _check_options(spec, deg, n, d, eps, smoothing, method, neighbors) -> tuple[str, Any]:
    """ValueErrors naming the option at fault; returns the method ``auto`` resolves to
    and the fixed smoothing (None: tuned)."""
    if eps not in ("global", "per_point"):
        raise ValueError(f"eps: expected 'global' or 'per_point', got {eps!r}")
    if eps == "per_point" and not spec.has_eps:
        raise ValueError(f"eps: the {spec.name} kernel has no shape parameter to vary")
    auto_lam = isinstance(smoothing, str)
    if auto_lam and smoothing != "auto":
        raise ValueError(f"smoothing: expected 'auto' or a number >= 0, got {smoothing!r}")
    if not auto_lam and not (np.isfinite(smoothing) and smoothing >= 0):
        raise ValueError(f"smoothing: expected 'auto' or a number >= 0, got {smoothing!r}")
    if not spec.has_eps and not auto_lam:
        raise ValueError(
            f"smoothing: the {spec.name} kernel has no eps, so with a fixed smoothing "
            "there is nothing to tune; use smoothing='auto'"
        )
    if method not in ("auto", "dense", "local"):
        raise ValueError(f"method: expected 'auto', 'dense' or 'local', got {method!r}")
    method = ("dense" if n <= DENSE_MAX else "local") if method == "auto" else method
    need = num_monomials(d, deg) if deg >= 0 else 0
    least = max(need + 2, neighbors + 1 if method == "local" else 0)
    if n < least:
        raise ValueError(
            f"points: {n} points are too few: degree {deg} in {d}-D has {need} monomials"
            + (
                f" and the local cost needs neighbors + 1 = {neighbors + 1}"
                if method == "local"
                else ""
            )
        )
    if method == "local" and neighbors < need + 1:
        raise ValueError(f"neighbors: need more than the {need} monomials, got {neighbors}")
    return method, None if isinstance(smoothing, str) else float(smoothing)


class _Tuning:
    """Data, the cost function and the scan of one shape-parameter study."""

    def __init__(
        self, x, f, spec, deg, eps, lam, method, neighbors, sample, seed, field_size, penalty
    ):
        self.x, self.f, self.spec, self.deg = x, f, spec, deg
        self.per_point, self.fixed_lam, self.method = eps == "per_point", lam, method
        self.neighbors, self.penalty = neighbors, penalty
        self.scan_size = SCAN_SIZE[method]
        n, d = x.shape
        tree = cKDTree(x)
        h = float(np.median(tree.query(x, k=2)[0][:, 1]))
        diam = float(np.max(np.ptp(x, axis=0)))
        # eps from a kernel 20 times the data's size (flat) to 5 per spacing (spiky)
        self.t_range = (np.log(0.05 / diam), np.log(5.0 / h))
        self.s_range = tuple(np.log(LAM_RANGE))
        rng = np.random.default_rng(seed)
        if method == "local":
            self.rows = rng.permutation(n)[: min(sample, n)]
            self.adjl = loo_neighbours(x, neighbors, self.rows)
        if self.per_point:
            self.psi, self.edges = _field(x, field_size or FIELD_SIZE[d])

    # ---------------------------------------------------------------- the cost
    def eps_of(self, p: dict) -> jax.Array:
        if not self.spec.has_eps:
            return None
        t = p["log_eps"]
        return jnp.exp(self.psi @ t) if self.per_point else jnp.exp(t)

    def lam_of(self, p: dict) -> jax.Array:
        return jnp.exp(p["log_smoothing"]) if self.fixed_lam is None else self.fixed_lam

    def cost(self, eps, lam) -> jax.Array:
        """Mean squared leave-one-out error."""
        b = self.spec.basis(1.0 if eps is None else eps, self.deg)
        if self.method == "dense":
            return loocv(self.x, self.f, b, lam) / len(self.x)
        return local_loocv(self.x, self.f, b, lam, rows=self.rows, adjl=self.adjl) / len(self.rows)

    def loss(self, p: dict) -> tuple[jax.Array, dict]:
        c = self.cost(self.eps_of(p), self.lam_of(p))
        out = jnp.log(c)
        m = {"loocv_rms": jnp.sqrt(c)}
        if self.per_point:
            a = p["log_eps"]
            pen = self.penalty * jnp.mean((a[self.edges[:, 0]] - a[self.edges[:, 1]]) ** 2)
            out, m = out + pen, {**m, "penalty": pen}
        return out, m

    # ---------------------------------------------------------------- the scan
    def scan(self) -> dict:
        ne, nl = self.scan_size
        eps_grid = np.exp(np.linspace(*self.t_range, ne)) if self.spec.has_eps else np.ones(1)
        lam_grid = (
            np.exp(np.linspace(*self.s_range, nl))
            if self.fixed_lam is None
            else np.array([self.fixed_lam])
        )
        b = self.spec.basis(1.0, self.deg)
        if self.method == "dense":
            c = dense_scan(self.x, self.f, b, eps_grid, lam_grid) / len(self.x)
        else:
            r = min(SCAN_ROWS, len(self.rows))
            c = local_scan(self.x, self.f, b, eps_grid, lam_grid, self.rows[:r], self.adjl[:r])
            c = c / r
        i, j = np.unravel_index(np.argmin(c), c.shape)
        return {
            "eps": eps_grid,
            "smoothing": lam_grid,
            "loocv_rms": np.sqrt(c),
            "best": (float(eps_grid[i]), float(lam_grid[j])),
        }

    # ---------------------------------------------------------------- the Problem
    def params(self, eps: float, lam: float) -> dict:
        p = {}
        if self.spec.has_eps:
            t = np.log(eps)
            p["log_eps"] = jnp.full(self.psi.shape[1], t) if self.per_point else jnp.asarray(t)
        if self.fixed_lam is None:
            p["log_smoothing"] = jnp.asarray(np.log(lam))
        return p

    def project(self, p: dict) -> dict:
        q = dict(p)
        if "log_eps" in q:
            q["log_eps"] = jnp.clip(q["log_eps"], *self.t_range)
        if "log_smoothing" in q:
            q["log_smoothing"] = jnp.clip(q["log_smoothing"], *self.s_range)
        return q

    def scipy_params(self, p: dict) -> dict:
        eps = self.eps_of(p)
        eps = 1.0 if eps is None else np.asarray(eps)
        out = {
            "kernel": self.spec.scipy,
            "epsilon": float(eps) if np.ndim(eps) == 0 else np.asarray(eps).tolist(),
            "smoothing": float(self.lam_of(p)),
            "degree": self.deg,
        }
        if self.method == "local":
            out["neighbors"] = self.neighbors
        return out

    def problem(self, start) -> Problem:
        memo: dict = {}

        def scan() -> dict:
            if "scan" not in memo:
                memo["scan"] = self.scan()
            return memo["scan"]

        def init() -> dict:
            return self.params(*(start if start is not None else scan()["best"]))

        def report(p: dict) -> dict:
            s = scan()
            p0 = init()
            return {
                "kernel": self.spec.name,
                "scipy": self.scipy_params(p),
                "method": self.method,
                "per_point": self.per_point,
                "loocv_rms_start": float(jnp.sqrt(self.cost(self.eps_of(p0), self.lam_of(p0)))),
                "loocv_rms": float(jnp.sqrt(self.cost(self.eps_of(p), self.lam_of(p)))),
                "scan": {k: np.asarray(v).tolist() for k, v in s.items()},
                "scan_loocv_rms_min": float(np.min(s["loocv_rms"])),
            }

        def to_mesh(p: dict):
            eps = self.eps_of(p)
            data = {"value": self.f}
            if eps is not None:
                data["eps"] = np.broadcast_to(np.asarray(eps), self.f.shape).copy()
            return node_cloud(self.x, data)

        def metrics(p: dict) -> dict:
            out = {"smoothing": self.lam_of(p)}
            if self.spec.has_eps:
                e = self.eps_of(p)
                out["eps"] = jnp.exp(jnp.mean(jnp.log(e)))
            return out

        prob = Problem(
            name="shape_parameter",
            init=init,
            loss=self.loss,
            project=self.project,
            metrics=metrics,
            to_mesh=to_mesh,
            report=report,
            options={
                "kernel": self.spec.name,
                "degree": self.deg,
                "eps": "per_point" if self.per_point else "global",
                "smoothing": "auto" if self.fixed_lam is None else self.fixed_lam,
                "method": self.method,
                "neighbors": self.neighbors,
            },
            inside=lambda c: np.ones(len(c), bool),
            loss_label="log LOOCV",
        )
        prob.tuning = self  # the CLI's plots read the scan and the field through it
        return prob


def _field(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Partition of unity ``psi`` (N, K) of Gaussian bumps at ``K`` farthest-point
    control points, and the control points' nearest-neighbour edges."""
    k = int(min(k, len(x)))
    idx = [0]
    dist = np.linalg.norm(x - x[0], axis=1)
    for _ in range(k - 1):
        idx.append(int(np.argmax(dist)))
        dist = np.minimum(dist, np.linalg.norm(x - x[idx[-1]], axis=1))
    c = x[idx]
    tree = cKDTree(c)
    dd, nb = tree.query(c, k=min(k, x.shape[1] + 2))
    width = float(np.median(dd[:, 1])) if k > 1 else 1.0
    g = np.exp(-np.sum((x[:, None] - c[None]) ** 2, axis=-1) / (2 * width**2))
    psi = g / g.sum(axis=1, keepdims=True)
    edges = np.unique(
        np.sort(np.stack([np.repeat(nb[:, 0], nb.shape[1] - 1), nb[:, 1:].ravel()], 1), axis=1),
        axis=0,
    )
    return jnp.asarray(psi), jnp.asarray(edges)


def tune(problem: Problem, maxiter: int = 200) -> dict:
    """Minimize a shape-parameter study's loss by L-BFGS-B (scipy) from
    ``problem.init()``; returns the best params.

    A few parameters and a smooth cost: a quasi-Newton method with exact gradients
    converges in tens of evaluations where Adam takes hundreds. The search stays
    within ``trust`` of the start (two scan steps; a decade for a per-point field):
    the scan already chose the valley, and far from it, at small eps and small
    smoothing, the cost of an ill-conditioned system is rounding noise with
    spurious minima.
    """
    import scipy.optimize as so

    tun = problem.tuning
    p0 = problem.init()
    keys = sorted(p0)
    sizes = [int(np.size(p0[k])) for k in keys]
    shapes = [np.shape(p0[k]) for k in keys]

    def unflat(z):
        parts = np.split(z, np.cumsum(sizes)[:-1])
        return {k: jnp.asarray(v.reshape(s)) for k, v, s in zip(keys, parts, shapes, strict=True)}

    vg = jax.jit(jax.value_and_grad(lambda p: problem.loss(p)[0]))

    def fun(z):
        v, g = vg(unflat(z))
        if not np.isfinite(v):
            return 1e30, np.zeros_like(z)
        return float(v), np.concatenate([np.ravel(g[k]) for k in keys])

    z0 = np.concatenate([np.ravel(np.asarray(p0[k])) for k in keys])
    rng = {"log_eps": tun.t_range, "log_smoothing": tun.s_range}
    step = {
        k: (r[1] - r[0]) / (n - 1) for (k, r), n in zip(rng.items(), tun.scan_size, strict=True)
    }
    trust = {k: np.log(10.0) if tun.per_point and k == "log_eps" else 2 * step[k] for k in rng}
    per = [(k, j) for k, n in zip(keys, sizes, strict=True) for j in range(n)]
    bounds = [
        (max(rng[k][0], z - trust[k]), min(rng[k][1], z + trust[k]))
        for (k, _), z in zip(per, z0, strict=True)
    ]
    res = so.minimize(
        fun, z0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": maxiter}
    )
    best = res.x if res.fun <= fun(z0)[0] else z0
    return unflat(best)
