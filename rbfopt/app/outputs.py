"""A finished run's files: plots, meshes, ``history.csv`` and ``summary.json``.

:func:`publish` writes them into a staging folder inside the output folder and then
moves them into place (renames within one file system), so a failure half-way
leaves the previous set, never half of a new one. Used by ``rbfopt run``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import numpy as np

from . import records
from .checkpoint import CHECKPOINT_NAME

__all__ = ["publish", "write_outputs", "one_line_summary", "solver_ready"]


def publish(prob: Any, res: Any, out: str, facts: dict[str, Any]) -> dict[str, Any]:
    """Write the outputs of ``res`` (a :class:`~rbfopt.app.driver.RunResult` of
    ``prob``) and ``summary.json`` (``facts`` plus the run's figures) into ``out``.
    Returns the summary.

    Examples:
      >>> import os, tempfile, jax.numpy as jnp
      >>> from rbfopt.app import Problem, run
      >>> quad = Problem("quad", lambda: jnp.zeros(2), lambda x: jnp.sum((x - 1.0) ** 2))
      >>> out = tempfile.mkdtemp()
      >>> s = publish(quad, run(quad, "sgd", 2, lr=0.25, progress=False), out, {"problem": "quad"})
      >>> s["final"]["loss"], sorted(os.listdir(out))
      (0.125, ['convergence.png', 'history.csv', 'summary.json'])
    """
    from .. import mesh as export
    from . import plotting

    stage = tempfile.mkdtemp(prefix=".stage-", dir=out)
    try:
        extra: dict[str, Any] = {}
        files = write_outputs(prob, prob.init(), res, stage, export, plotting, extra)
        first, last = res.history[0], res.history[-1]
        summary = dict(
            facts,
            steps=res.steps_done,
            initial={k: v for k, v in first.items() if k not in ("step", "step_time")},
            final={k: v for k, v in last.items() if k not in ("step", "step_time")},
            best_loss=res.best_loss,
            stopped=res.stopped,
            optimizer_time_s=res.elapsed,
            files=sorted(files + ["summary.json", "history.csv", CHECKPOINT_NAME]),
        )
        summary.update(extra)
        if prob.report is not None:
            summary["report"] = dict(prob.report(res.params))
        records.write_history_csv(res.history, os.path.join(stage, "history.csv"))
        records.write_summary(os.path.join(stage, "summary.json"), summary)
        for f in os.listdir(stage):
            os.replace(os.path.join(stage, f), os.path.join(out, f))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return summary


def one_line_summary(s: dict[str, Any], out: str) -> str:
    """The line ``rbfopt run`` prints at the end.

    Examples:
      >>> s = {"problem": "q", "steps": 3, "runtime_s": 1.0, "initial": {"loss": 2.0},
      ...      "final": {"loss": 0.5, "grad_norm": 0.1}}
      >>> one_line_summary(s, "out")
      'q: 3 steps in 1.0 s; loss 2 -> 0.5; outputs in out'
    """
    ini, fin = s["initial"], s["final"]
    parts = [
        f"{s['problem']}: {s['steps']} steps in {s['runtime_s']:.1f} s",
        f"loss {ini['loss']:.4g} -> {fin['loss']:.4g}",
    ]
    for k in fin:
        if k not in ("loss", "grad_norm", "lr_scale"):
            parts.append(f"{k} {ini.get(k, float('nan')):.4g} -> {fin[k]:.4g}")
    return "; ".join(parts) + f"; outputs in {out}"


def solver_ready(prob: Any, nodes: Any, export: Any) -> Any:
    """The mesh a finite-element code reads, from the node cloud ``nodes`` (meshio):
    with the domain's boundary groups when ``prob.domain`` is set (2-D or 3-D), else a
    plain Delaunay triangulation of 2-D nodes; None for other node sets."""
    data = dict(nodes.point_data)
    if getattr(prob, "domain", None) is not None:
        d = prob.domain.dim
        kind = data.get("kind")
        mesh = export.triangulate(nodes.points[:, :d], prob.domain, kind=kind)
        mesh.point_data.update({k: np.asarray(v) for k, v in data.items() if k != "kind"})
        return mesh
    pts = nodes.points
    if len(pts) < 3 or np.ptp(pts[:, 2]) > 0 or np.ptp(pts[:, 1]) == 0:
        return None
    return export.delaunay(pts[:, :2], prob.inside, point_data=data)


def write_outputs(
    prob: Any,
    p0: Any,
    res: Any,
    stage: str,
    export: Any,
    plotting: Any,
    extra: dict[str, Any] | None = None,
) -> list[str]:
    """Plots and meshes of the initial ``p0`` and best parameters into ``stage``;
    returns the file names and puts the solver mesh's quality (initial and optimized)
    into ``extra["mesh_quality"]``. Example: see :func:`publish`."""
    files = []
    plotting.plot_convergence(res.history, os.path.join(stage, "convergence.png"), prob.name)
    files.append("convergence.png")
    if prob.to_mesh is None:
        return files
    m0, m1 = prob.to_mesh(p0), prob.to_mesh(res.params)
    export.write(m0, os.path.join(stage, "initial.vtu"))
    export.write(m1, os.path.join(stage, "optimized.vtu"))
    files += ["initial.vtu", "optimized.vtu"]
    dim = int(np.count_nonzero(np.ptp(m1.points, axis=0) > 0)) if len(m1.points) > 1 else 0
    bd = m1.point_data.get("boundary")
    plotting.plot_nodes(
        m0.points[:, : max(dim, 1)],
        m1.points[:, : max(dim, 1)],
        os.path.join(stage, "nodes.png"),
        boundary=bd,
        title=prob.name,
    )
    files.append("nodes.png")
    mesh = solver_ready(prob, m1, export)
    if mesh is not None:
        export.write(mesh, os.path.join(stage, "mesh.msh"))
        files.append("mesh.msh")
        if extra is not None:
            before = export.quality(solver_ready(prob, m0, export))
            extra["mesh_quality"] = {"initial": before, "optimized": export.quality(mesh)}
    if dim == 2:
        xy = m1.points[:, :2]
        fields = {
            k: v
            for k, v in m1.point_data.items()
            if k not in ("boundary", "spacing") and np.ndim(v) == 1
        }
        if fields:
            plotting.plot_fields(
                xy,
                fields,
                os.path.join(stage, "fields.png"),
                prob.inside,
                title=f"{prob.name}: optimized",
            )
            files.append("fields.png")
    return files
