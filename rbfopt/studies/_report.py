"""The end-of-run report of a node-layout study: errors before and after, on points no
objective used, and whether a reference objective can carry the claimed factor.

A reference objective measures ``|u_h - u_ref|``, not ``|u_h - u|``: by the triangle
inequality, with ``e_ref = |u_ref - u|`` on the evaluation points,

    |u_h - u| in [obj - e_ref, obj + e_ref],

so the factor the run can claim for the true error is at least
``(obj_initial - e_ref) / (obj_optimized + e_ref)``. ``e_ref`` is estimated by the
change of the reference under a further refinement by 1.5 (``reference_change_rms``).

With ``eps="per_stencil"`` the report judges the tuned shape parameters against the best
one ε for all stencils' systems on the same (optimized) layout (the solution read with
the basis's own ε, as the loss reads it): the layout's objective error at
:data:`COMMON_EPS_SCAN` log-spaced common values over the allowed range
(``common_eps_scan``), its best (``best_common_eps``, ``error_best_common_eps``) and
the per-stencil error (``error_per_stencil``, the optimized ``objective_rms``), whose
ratio is ``per_stencil_gain`` (> 1: per-stencil ε pays).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..nodes import quality
from . import _robustness
from ._system import interpolate

#: A reference whose estimated error is at most this share of the optimized objective
#: error carries the claimed factor to within about that share.
CONVERGED_SHARE = 0.2

#: Common ε values the ``eps="per_stencil"`` report scans (log-spaced, ends included).
COMMON_EPS_SCAN = 17


def report(study: Any, p: dict) -> dict[str, Any]:
    """Figures of the starting and the optimized layout ``p`` for ``summary.json``."""
    start, opts = study.start, study.opts
    out = {"objective": study.target.kind, "n_nodes": len(start), "h": study.h}
    out["n_boundary"] = int(np.sum(start.kind != 0))
    out["n_eval"] = int(study.y.shape[0])
    out["solve_method"] = study.method
    check = None  # the check points and the solution there, when it is known
    if study.exact is not None:
        y = check_points(study.domain, opts.max_eval_points)
        check = (y, jax.vmap(study.exact)(y))
    for label, q in (("initial", study.init()), ("optimized", p)):
        out.update(_layout_figures(study, q, label, check))
    key = "true_rms_error" if study.exact is not None else "objective_rms"
    out["error_reduction_factor"] = out[f"{key}_initial"] / out[f"{key}_optimized"]
    out["family"] = _family_table(study, out)
    if study.per_stencil:
        out.update(common_eps(study, p, out, check))
    if opts.held_out:
        out["robustness"] = _held_out(study, p, check)
    if study.target.kind == "reference":
        out.update(reference_check(study.target, opts))
        out.update(verdict(out, opts.reference_refine))
    return out


def _held_out(study: Any, p: dict, check: Any) -> dict:
    """The held-out family's table on the check points (else the objective's points)."""
    x0, x1 = (np.asarray(study.nodes(q)) for q in (study.init(), p))
    y, u_y = check if check is not None else (study.target.y, study.target.u)
    table = _robustness.table(study, x0, x1, y, u_y)
    return {**table, "points": "check" if check is not None else "reference"}


def _family_table(study: Any, out: dict) -> dict:
    """The study's own members' errors (against its objective), before and after."""
    names = study.metric_names if len(study.members) > 1 else ["objective_rms"]
    before = [out[f"{n}_initial"] for n in names]
    after = [out[f"{n}_optimized"] for n in names]
    return {
        "discretizations": [m.label for m in study.members],
        "initial": before,
        "optimized": after,
        "factor": [b / a for b, a in zip(before, after, strict=True)],
    }


def _layout_figures(study: Any, q: dict, label: str, check: Any) -> dict[str, float]:
    aux = study.restencil(q)
    _, metrics, uh = study.evaluate_jit(q, aux)
    if study.hierarchies is not None:
        metrics.update(study.solve_stats_at(q, aux))
    out = {f"{key}_{label}": float(v) for key, v in metrics.items()}
    xn = np.asarray(study.nodes(q))
    out[f"mesh_ratio_{label}"] = float(quality(xn, study.domain)["mesh_ratio"])
    if check is not None:
        out[f"true_rms_error_{label}"] = _check_error(study, xn, uh, check)
    return out


def _check_error(study: Any, x: np.ndarray, uh: Any, check: tuple) -> float:
    """RMS error against the exact solution at the check points of the nodal solution
    ``uh`` at nodes ``x``, read there with the study's basis."""
    y, u_y = check
    u_c = interpolate(x, uh, y, study.basis, study.k)
    return float(np.sqrt(np.mean((np.asarray(u_c) - np.asarray(u_y)) ** 2)))


def common_eps(study: Any, p: dict, out: dict, check: Any) -> dict[str, Any]:
    """The optimized layout ``p`` at one common ε for every stencil, scanned over the
    allowed range, against its per-stencil ε (see the module docstring)."""
    aux = study.restencil(p)
    lo, hi = study.log_eps_range
    logs = np.linspace(lo, hi, COMMON_EPS_SCAN)
    scan: dict[str, list] = {"eps": [float(np.exp(t)) for t in logs], "objective_rms": []}
    for t in logs:  # the same shapes as the loss's: no new compile
        _, metrics, _ = study.evaluate_jit({**p, "log_eps": jnp.full_like(p["log_eps"], t)}, aux)
        for key in ("objective_rms", "rms_error"):
            if key in metrics:
                scan.setdefault(key, []).append(float(metrics[key]))
    best = int(np.argmin(scan["objective_rms"]))
    eps_h = np.exp(np.asarray(p["log_eps"])) * study.h
    res = {
        "common_eps_scan": scan,
        "best_common_eps": scan["eps"][best],
        "error_best_common_eps": scan["objective_rms"][best],
        "error_per_stencil": out["objective_rms_optimized"],
        "per_stencil_gain": scan["objective_rms"][best] / out["objective_rms_optimized"],
        "eps_h_range": [study.opts.eps_h_min, study.opts.eps_h_max],
        "eps_h_optimized": {
            "min": float(eps_h.min()),
            "median": float(np.median(eps_h)),
            "max": float(eps_h.max()),
        },
    }
    if check is not None:  # the true error on the check points at the best common ε
        q = {**p, "log_eps": jnp.full_like(p["log_eps"], logs[best])}
        uh = study.evaluate_jit(q, aux)[2]
        res["true_rms_error_best_common_eps"] = _check_error(
            study, np.asarray(study.nodes(p)), uh, check
        )
    return res


def check_points(domain: Any, m: int) -> np.ndarray:
    """``m`` random points inside the domain (seeded): a set no objective uses."""
    rng = np.random.default_rng(12345)
    lo, hi = np.asarray(domain.bounds)
    pts = np.zeros((0, domain.dim))
    while len(pts) < m:
        x = lo + (hi - lo) * rng.random((2 * m, domain.dim))
        pts = np.concatenate([pts, x[np.asarray(domain.contains(x))]])
    return pts[:m]


def reference_check(target: Any, opts: Any) -> dict[str, Any]:
    """How far the reference is from converged: a second reference, finer by 1.5."""
    ref = target.ref
    ref2 = target.refine_again(ref["h"] / 1.5)
    u2 = interpolate(ref2["points"], ref2["u"], target.y, ref2["basis"], ref2["k"])
    diff = np.sqrt(np.mean((np.asarray(u2) - np.asarray(target.u)) ** 2))
    return {
        "reference_nodes": ref["n"],
        "reference_check_nodes": ref2["n"],
        "reference_change_rms": float(diff),
    }


def verdict(out: dict[str, Any], refine: float) -> dict[str, Any]:
    """Whether the reference carries the claimed factor, in figures and in words.

    Examples:
      >>> v = verdict({"objective_rms_initial": 1e-2, "objective_rms_optimized": 2e-3,
      ...              "reference_change_rms": 1e-4}, 4.0)
      >>> v["reference_converged"], round(v["guaranteed_factor"], 2)
      (True, 4.71)
      >>> verdict({"objective_rms_initial": 1e-2, "objective_rms_optimized": 1.3e-3,
      ...          "reference_change_rms": 5.9e-3}, 4.0)["reference_converged"]
      False
    """
    e_ref = out["reference_change_rms"]
    before, after = out["objective_rms_initial"], out["objective_rms_optimized"]
    claimed = before / after
    floor = max(before - e_ref, 0.0) / (after + e_ref)
    share = e_ref / after
    if share <= CONVERGED_SHARE:
        words = (
            f"The reference is converged enough for the claimed factor {claimed:.3g}: its "
            f"estimated error ({e_ref:.2g}) is {share:.0%} of the optimized error "
            f"({after:.2g}), so the true factor is at least {floor:.3g}."
        )
    else:
        words = (
            f"The reference is NOT converged enough for the claimed factor {claimed:.3g}: "
            f"its estimated error ({e_ref:.2g}) is {share:.2g}x the optimized error "
            f"({after:.2g}), so the objective partly measures the reference's own error and "
            f"the true factor is only guaranteed to be at least {floor:.3g}. Refine the "
            f"reference: reference_refine={2 * refine:g} in node_layout (-O "
            f"reference_refine={2 * refine:g} for a problem file that takes it), raising "
            "max_reference_nodes if needed; or give exact= when the solution is known, or "
            "check the layout with an independent solver."
        )
    return {
        "reference_error_estimate": e_ref,
        "reference_converged": share <= CONVERGED_SHARE,
        "guaranteed_factor": floor,
        "reference_verdict": words,
    }
