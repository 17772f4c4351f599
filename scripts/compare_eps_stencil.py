"""Per-stencil shape parameters against one common ε in a node-layout study.

On the ``poisson_nodes`` study (the L-shape with a sharp peak and the re-entrant corner,
``objective="exact"``) with a smooth basis (IMQ + quadratics by default):

(a) scan the start layout's error at one common ε over the allowed range
    (ε h in [eps_h_min, eps_h_max], the report's ``COMMON_EPS_SCAN`` values) and take
    the best, ε0 (twice: the loss reads the solution at the evaluation points with the
    basis's own ε, so the second scan reads it at the first scan's best);
(b) run the nodes-only study with the basis at ε0 (``eps=None``);
(c) run the ``eps="per_stencil"`` study started from ε0 everywhere, with the same
    optimizer, learning rate and steps.

Printed: each study's own error measure (``objective_rms``: the geometric mean over the
family of the RMS error on the evaluation grid) and the true RMS error on the report's
check points, for the start and both final layouts; and each final layout judged at its
own best common ε (the report's scan), so that (c)'s per-stencil ε is compared with the
best that one ε can do on the same layout.

    python scripts/compare_eps_stencil.py [--n 400] [--steps 100] [--basis imq]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np

import rbfopt as ro
from rbfopt.studies import _report

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "problems"))
import poisson_nodes  # noqa: E402


def build(args, eps_h: float, eps: str):
    """The study and its :class:`LayoutStudy` (held-out family off: not compared here)."""
    prob = poisson_nodes.problem(
        n=args.n, basis=args.basis, eps=eps, eps_h=eps_h, family=args.family, seed=args.seed
    )
    return prob, prob.loss.__self__


def scan(study, p) -> dict:
    """The report's common-ε scan of layout ``p`` (a per-stencil study's params)."""
    return _report.common_eps(study, p, {"objective_rms_optimized": np.nan}, None)


def judged(study, p) -> dict:
    """objective_rms and the true RMS error on the check points of layout ``p``."""
    y = _report.check_points(study.domain, study.opts.max_eval_points)
    check = (y, jax.vmap(study.exact)(y))
    f = _report._layout_figures(study, p, "x", check)
    return {"objective_rms": f["objective_rms_x"], "true_rms": f["true_rms_error_x"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--lr", type=float, default=ro.studies.DEFAULTS["lr"])
    ap.add_argument("--basis", default="imq", choices=["imq", "gaussian", "mq"])
    ap.add_argument("--family", default="", help='stencil sizes, "" the default family')
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()

    # (a) the start's best common ε, on a per-stencil study (one compile serves the scan);
    # the loss reads the solution with the basis's own ε: scan again from the best
    _, probe = build(args, poisson_nodes.EPS_H, "per_stencil")
    h = probe.h
    s0 = scan(probe, probe.init())
    _, probe = build(args, s0["best_common_eps"] * h, "per_stencil")
    s0 = scan(probe, probe.init())
    eps0 = s0["best_common_eps"]
    print(f"{args.basis.upper()} + quadratics, n = {len(probe.start)}, h = {h:.4g}, "
          f"family {[m.label for m in probe.members]}")  # fmt: skip
    print("(a) start layout, objective_rms at a common eps h:")
    table = s0["common_eps_scan"]
    pairs = zip(table["eps"], table["objective_rms"], strict=True)
    print("    " + "  ".join(f"{e * h:.3g}:{v:.3e}" for e, v in pairs))
    print(f"    best common eps = {eps0:.4g} (eps h = {eps0 * h:.3g}), objective_rms "
          f"{s0['error_best_common_eps']:.4e}   [{time.time() - t0:.0f} s]")  # fmt: skip

    rows = {}
    for label, eps in (("(b) nodes only, eps0", ""), ("(c) per stencil from eps0", "per_stencil")):
        prob, st = build(args, eps0 * h, eps)
        start = judged(st, st.init())
        res = ro.optimize.run(prob, "adam", args.steps, lr=args.lr, progress=False)
        p = res.params
        if eps == "":  # the nodes-only final layout at its own best common ε
            _, probe_b = build(args, eps0 * h, "per_stencil")
            q = {**p, "log_eps": probe_b.init()["log_eps"]}
            s1 = scan(probe_b, q)
        else:
            s1 = scan(st, p)
        end = judged(st, p)
        rows[label] = (start, end, s1, p)
        print(f"{label}: {args.steps} steps   [{time.time() - t0:.0f} s]")
        print(f"    objective_rms  start {start['objective_rms']:.4e} -> final "
              f"{end['objective_rms']:.4e}")  # fmt: skip
        print(f"    true_rms_error start {start['true_rms']:.4e} -> final {end['true_rms']:.4e}")
        print(f"    final layout at its best common eps {s1['best_common_eps']:.4g} "
              f"(eps h = {s1['best_common_eps'] * h:.3g}): objective_rms "
              f"{s1['error_best_common_eps']:.4e}")  # fmt: skip
        if eps:
            e = np.exp(np.asarray(p["log_eps"])) * h
            print(f"    per-stencil eps h: min {e.min():.3g}, median {np.median(e):.3g}, "
                  f"max {e.max():.3g}")  # fmt: skip

    (_, b, sb, _), (_, c, sc, _) = rows.values()
    print("summary (objective_rms; lower is better):")
    print(f"    (b) nodes-only final at eps0                 {b['objective_rms']:.4e}")
    print(f"    (b) nodes-only final at its best common eps  {sb['error_best_common_eps']:.4e}")
    print(f"    (c) per-stencil final                        {c['objective_rms']:.4e}")
    print(f"    (c) per-stencil layout at best common eps    {sc['error_best_common_eps']:.4e}")
    best_b = min(b["objective_rms"], sb["error_best_common_eps"])
    ok = c["objective_rms"] <= best_b
    print(f"    (c) <= min of the (b) lines: {ok}; ratio = {best_b / c['objective_rms']:.3f}")
    print(f"    true_rms_error: (b) {b['true_rms']:.4e}, (c) {c['true_rms']:.4e}")


if __name__ == "__main__":
    main()
