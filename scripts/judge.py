"""What a layout is worth to an RBF-FD code the project does not control.

The judge solves the study's PDE ``L u = source`` (Laplacian) with treverhines-rbf's
``rbf.pde.fd.weight_matrix``: plain k-nearest stencils, PHS3 + polynomials of degree
``order``, one row per node (the Laplacian inside, ``u = g`` on Dirichlet groups, ``n .
grad u = g`` on Neumann groups; a corner takes the group and normal that the domain's
``closest`` gives it, as the study's node sets do), scipy's sparse LU; then interpolates
the solution with the same stencils onto random points inside the domain that no study
sees and returns the RMS error against the exact solution. Nothing of the project's
discretization is used: only its geometry (which group a boundary node is on, the
outward normal) and the problem's data.

    python scripts/judge.py RUN [RUN ...] [--k 12 16 20 24 30]

prints, per run, the start's (``initial.vtu``) and the optimized layout's
(``optimized.vtu``) errors and their ratio at each k, and the geometric mean over
k = 16, 20, 24, 30.
"""

from __future__ import annotations

import argparse
import json
import os

import jax
import jax.numpy as jnp
import meshio
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from rbfopt.app.catalog import load_module
from rbfopt.fd.conditions import Dirichlet, Neumann, data_values
from rbfopt.studies._report import check_points

KS = (12, 16, 20, 24, 30)
SCORED = (16, 20, 24, 30)


def classify(domain, x: np.ndarray):
    """Per node: on the boundary?, its group index and outward normal."""
    p, nrm, grp = (np.asarray(a) for a in domain.closest(jnp.asarray(x)))
    scale = float(np.max(np.ptp(np.asarray(domain.bounds), axis=0)))
    return np.linalg.norm(x - p, axis=1) < 1e-9 * scale, grp, nrm


def rbf_error(domain, spec: dict, x: np.ndarray, k: int, y: np.ndarray, order: int = 2,
              phi: str = "phs3") -> float:  # fmt: skip
    """RMS error at ``y`` of the treverhines-rbf solution on nodes ``x`` with stencil ``k``."""
    from rbf.pde.fd import weight_matrix

    n, dim = x.shape
    u = jax.vmap(spec["exact"])
    on, grp, nrm = classify(domain, x)
    names = list(domain.group_names)
    rows, rhs = [], np.zeros(n)
    inner = np.flatnonzero(~on)
    lap = np.eye(dim, dtype=int) * 2
    rows.append((inner, weight_matrix(x[inner], x, k, lap, phi=phi, order=order)))
    rhs[inner] = np.asarray(jax.vmap(spec["source"])(jnp.asarray(x[inner])))
    fix = []
    for name, bc in spec["bcs"].items():
        idx = np.flatnonzero(on & (grp == names.index(name)))
        if isinstance(bc, Dirichlet) and len(idx):
            fix.append(idx)
            rhs[idx] = np.asarray(data_values(bc, jnp.asarray(x[idx]), jnp.asarray(nrm[idx])))
        elif isinstance(bc, Neumann) and len(idx):
            diffs = np.eye(dim, dtype=int)
            w = weight_matrix(x[idx], x, k, diffs, coeffs=nrm[idx].T, phi=phi, order=order)
            rows.append((idx, w))
            rhs[idx] = np.asarray(data_values(bc, jnp.asarray(x[idx]), jnp.asarray(nrm[idx])))
        elif len(idx):
            raise ValueError(f"bcs: the judge takes Dirichlet and Neumann, not {bc!r}")
    fix = np.concatenate(fix)
    rows.append((fix, sp.identity(n, format="csr")[fix]))
    A = sp.lil_matrix((n, n))
    for idx, w in rows:
        A[idx] = sp.csr_matrix(w)
    uh = spla.spsolve(A.tocsc(), rhs)
    uy = weight_matrix(y, x, k, np.zeros(dim, int), phi=phi, order=order) @ uh
    return float(np.sqrt(np.mean((uy - np.asarray(u(jnp.asarray(y)))) ** 2)))


def judge_pair(domain, spec, start: np.ndarray, optimized: np.ndarray, ks=KS,
               m: int = 60_000, start_errors=None) -> dict:  # fmt: skip
    """Errors of both layouts at each k, their ratios and the scored geometric mean
    (``start_errors``: the start's, when known from an earlier call)."""
    y = check_points(domain, m)  # the studies' check points: no objective uses them
    out = {"k": list(ks), "start": [], "optimized": [], "factor": []}
    for i, k in enumerate(ks):
        e0 = rbf_error(domain, spec, start, k, y) if start_errors is None else start_errors[i]
        e1 = rbf_error(domain, spec, optimized, k, y)
        out["start"].append(e0)
        out["optimized"].append(e1)
        out["factor"].append(e0 / e1)
    scored = [f for k, f in zip(ks, out["factor"], strict=True) if k in SCORED]
    out["geomean"] = float(np.exp(np.mean(np.log(scored)))) if scored else float("nan")
    out["worst"] = min(scored) if scored else float("nan")
    return out


def problem_of(run: str):
    s = json.load(open(os.path.join(run, "summary.json")))
    mod, _ = load_module(s["problem"])
    return mod, s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders (summary.json, *.vtu)")
    ap.add_argument("--k", type=int, nargs="+", default=list(KS))
    ap.add_argument("--points", type=int, default=60_000, help="held-out points")
    args = ap.parse_args()
    for run in args.runs:
        mod, s = problem_of(run)
        spec = mod.spec(s.get("options", {}).get("width", 0.08))
        a, b = (meshio.read(os.path.join(run, f)).points[:, : mod.DOMAIN.dim]
                for f in ("initial.vtu", "optimized.vtu"))  # fmt: skip
        r = judge_pair(mod.DOMAIN, spec, a, b, args.k, args.points)
        print(f"{run}  ({s['problem']}, {len(a)} nodes)")
        print(f"{'k':>4} {'start':>10} {'optimized':>10} {'factor':>7}")
        for k, e0, e1, f in zip(r["k"], r["start"], r["optimized"], r["factor"], strict=True):
            print(f"{k:>4d} {e0:>10.3e} {e1:>10.3e} {f:>7.2f}")
        print(f"geometric mean over k = {SCORED}: {r['geomean']:.2f}  (worst {r['worst']:.2f})")


if __name__ == "__main__":
    main()
