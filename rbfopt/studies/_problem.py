"""The :class:`rbfopt.Problem` of a node-layout study: loss, constraints, stencils, report."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

from .. import nodes as _nodes
from ..mesh import node_cloud
from ..operators import Identity
from ..problem import Problem
from ..sparse.krylov import krylov as krylov_stats
from ..stencils import find_neighbors
from . import _mesh_term
from ._precond import Hierarchy, method_for, solve
from ._system import assemble, interpolate, weights_for


def build(domain, start, h, rows, operator, source, basis, k, target, exact, opts) -> Problem:
    """Assemble the study's callables around the starting node set ``start``.

    One closure per callable of the :class:`~rbfopt.Problem`; they share the study's
    constants (nodes, targets, options), which is why they stay in one function."""
    y = jnp.asarray(target["y"])
    u_y = jnp.asarray(target["u"])
    fixed = jnp.asarray(start.kind == 2)[:, None]
    x0 = jnp.asarray(start.points)
    on_bnd = np.flatnonzero(start.kind == 1)
    project_x = _nodes.projection(domain, start, margin=opts["margin"] * h)
    delta = opts["spacing_floor"] * h
    mesh_term = opts["mesh_weight"] > 0
    weights = weights_for(opts["blend"], opts["blend_taper"], opts["blend_kind"])
    k_stencil = k + opts["blend"]
    krylov = method_for(opts["solver"], len(start)) == "krylov"

    def nodes(p):
        return jnp.where(fixed, x0, p["points"] * h)

    def normals(x):
        # boundary nodes slide: their normals follow; features keep theirs
        nrm = jnp.asarray(start.normals)
        if on_bnd.size:
            nrm = nrm.at[on_bnd].set(domain.closest(x[on_bnd])[1])
        return nrm

    def system(x, adjl):
        return assemble(operator, source, rows, x, normals(x), adjl, basis, weights)

    def u_h(x, aux):
        return solve(*system(x, aux["adjl"]), opts, aux.get("precond"))

    if krylov:
        hierarchy = Hierarchy(jax.jit(lambda x, adjl: system(x, adjl)[0]), opts["amg_every"])

    @jax.jit
    def solve_stats(p, aux):
        """Iterations of the forward and adjoint Krylov solves at ``p``."""
        A, rhs = system(nodes(p), aux["adjl"])
        its = [
            krylov_stats(A, rhs, tol=opts[key], precond=aux["precond"], transpose=t)
            for key, t in (("solver_tol", False), ("adjoint_tol", True))
        ]
        return {"solve_iterations": its[0].iterations, "adjoint_iterations": its[1].iterations}

    def evaluate(p, aux):
        """The loss value, its metrics and the discrete solution u_h at the nodes."""
        x = nodes(p)
        uh = u_h(x, aux)
        w = weights(Identity(), x, y, aux["adjl_eval"], basis)
        u_eval = jnp.sum(w * uh[aux["adjl_eval"]], axis=1)
        nb = aux["adjl"][:, 1:]
        d = jnp.sqrt(jnp.sum((x[:, None, :] - x[nb]) ** 2, axis=-1))
        barrier = jnp.sum(jax.nn.relu(1.0 - d / delta) ** 2) / x.shape[0]
        err = jnp.sqrt(jnp.mean((u_eval - u_y) ** 2))
        metrics = {"objective_rms": err, "barrier": barrier, "min_spacing": jnp.min(d)}
        if target["exact"] is not None:
            metrics["rms_error"] = jnp.sqrt(jnp.mean((u_eval - target["exact"]) ** 2))
        value = jnp.log(err) + opts["mu"] * barrier
        if mesh_term:
            shape, worst = _mesh_term.penalty(x, aux, opts["mesh_ratio_floor"])
            metrics.update(mesh_penalty=shape, min_radius_ratio=worst)
            value = value + opts["mesh_weight"] * shape
        return value, metrics, uh

    def loss(p, aux):
        value, metrics, _ = evaluate(p, aux)
        return value, metrics

    def restencil(p):
        x = np.asarray(nodes(p))
        adjl = find_neighbors(x, k_stencil)
        aux = {
            "adjl": jnp.asarray(adjl),
            "adjl_eval": jnp.asarray(find_neighbors(x, k_stencil, np.asarray(y))),
        }
        if mesh_term:
            aux.update({key: jnp.asarray(v) for key, v in _mesh_term.cells(x, domain).items()})
        if krylov:
            aux["precond"] = hierarchy(x, adjl)  # host arrays: no copy back from the device
        return aux

    def init():
        # positions in units of h: the learning rate is a fraction of the spacing
        return {"points": x0 / h}

    def report(p):
        out = {"objective": target["kind"], "n_nodes": len(start), "h": h}
        out["n_boundary"] = int(np.sum(start.kind != 0))
        out["n_eval"] = int(y.shape[0])
        check = None if exact is None else _check_points(domain, opts["max_eval_points"])
        for label, q in (("initial", init()), ("optimized", p)):
            aux = restencil(q)
            _, metrics, uh = evaluate(q, aux)
            if krylov:
                metrics.update(solve_stats(q, aux))
            for key, v in metrics.items():
                out[f"{key}_{label}"] = float(v)
            xn = np.asarray(nodes(q))
            out[f"min_spacing_{label}"] = float(cKDTree(xn).query(xn, k=2)[0][:, 1].min())
            if check is not None:
                u_c = interpolate(xn, uh, check, basis, k)
                err = np.sqrt(np.mean((np.asarray(u_c) - jax.vmap(exact)(check)) ** 2))
                out[f"true_rms_error_{label}"] = float(err)
        key = "true_rms_error" if exact is not None else "objective_rms"
        out["error_reduction_factor"] = out[f"{key}_initial"] / out[f"{key}_optimized"]
        if target["kind"] == "reference":
            out.update(_reference_check(target, opts))
        return out

    def to_mesh(p):
        x = nodes(p)
        uh = u_h(x, restencil(p))
        data = {"u_h": np.asarray(uh), "kind": start.kind, "group": start.group}
        if exact is not None:
            ue = np.asarray(jax.vmap(exact)(x))
            data.update(u_exact=ue, error=np.asarray(uh) - ue)
        return node_cloud(np.asarray(x), data, boundary=(start.kind != 0).astype(np.int32))

    prob = Problem(
        name=opts["name"],
        init=init,
        loss=loss,
        project=lambda p: {"points": project_x(p["points"] * h) / h},
        restencil=restencil,
        to_mesh=to_mesh,
        inside=lambda pts: np.asarray(domain.contains(np.asarray(pts)[:, : domain.dim])),
        report=report,
        domain=domain,
    )
    if krylov:  # read by scripts/bench_scale.py
        prob.solve_stats = lambda p: solve_stats(p, restencil(p))
    return prob


def _check_points(domain, m: int) -> np.ndarray:
    """``m`` random points inside the domain (seeded): a set no objective uses."""
    rng = np.random.default_rng(12345)
    lo, hi = np.asarray(domain.bounds)
    pts = np.zeros((0, domain.dim))
    while len(pts) < m:
        x = lo + (hi - lo) * rng.random((2 * m, domain.dim))
        pts = np.concatenate([pts, x[np.asarray(domain.contains(x))]])
    return pts[:m]


def _reference_check(target: dict, opts: dict) -> dict[str, Any]:
    """How far the reference is from converged: a second reference, finer by 1.5."""
    ref = target["ref"]
    ref2 = target["refine_again"](ref["h"] / 1.5)
    u2 = interpolate(ref2["points"], ref2["u"], target["y"], ref2["basis"], ref2["k"])
    diff = np.sqrt(np.mean((np.asarray(u2) - np.asarray(target["u"])) ** 2))
    return {
        "reference_nodes": ref["n"],
        "reference_check_nodes": ref2["n"],
        "reference_change_rms": float(diff),
    }
