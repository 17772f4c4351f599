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

__all__ = ["publish", "write_outputs", "one_line_summary", "fe_mesh"]

#: Names of the node kinds of :class:`rbfopt.NodeSet` (point data ``kind``).
KIND_NAMES = {0: "interior", 1: "boundary", 2: "fixed"}


def publish(prob: Any, res: Any, out: str, facts: dict[str, Any]) -> dict[str, Any]:
    """Write the outputs of ``res`` (a :class:`~rbfopt.app.driver.RunResult` of
    ``prob``) and ``summary.json`` (``facts``, the driver settings the run used as
    ``driver``, and the run's figures) into ``out``. Returns the summary.

    Examples:
      >>> import os, tempfile, jax.numpy as jnp
      >>> from rbfopt.app import Problem, run
      >>> quad = Problem("quad", lambda: jnp.zeros(2), lambda x: jnp.sum((x - 1.0) ** 2))
      >>> out = tempfile.mkdtemp()
      >>> s = publish(quad, run(quad, "sgd", 2, lr=0.25, progress=False), out, {"problem": "quad"})
      >>> s["final"]["loss"], s["driver"]["optimizer"], sorted(os.listdir(out))
      (0.125, 'sgd', ['convergence.png', 'history.csv', 'summary.json'])
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
            driver=dict(getattr(res, "settings", None) or {}),
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
            more = _robustness_plot(summary["report"], stage, plotting, prob.name)
            summary["files"] = sorted(summary["files"] + more)
        records.write_history_csv(res.history, os.path.join(stage, "history.csv"))
        records.write_summary(os.path.join(stage, "summary.json"), summary)
        for f in os.listdir(stage):
            os.replace(os.path.join(stage, f), os.path.join(out, f))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return summary


def one_line_summary(s: dict[str, Any], out: str) -> str:
    """The line ``rbfopt run`` prints at the end: each figure once (metrics with equal
    values share one entry), the true error on the check points when the report has
    it, and the report's ``reference_verdict`` on a line of its own.

    Examples:
      >>> s = {"problem": "q", "steps": 3, "runtime_s": 1.0, "initial": {"loss": 2.0,
      ...      "a": 0.5, "b": 0.5}, "final": {"loss": 0.5, "grad_norm": 0.1, "a": 0.2, "b": 0.2},
      ...      "report": {"true_rms_error_initial": 0.3, "true_rms_error_optimized": 0.1,
      ...                 "reference_verdict": "The reference is converged enough."}}
      >>> for part in one_line_summary(s, "out").split("; "):
      ...     print(part)
      q: 3 steps in 1.0 s
      loss 2 -> 0.5
      a = b 0.5 -> 0.2
      true RMS error on the check points 0.3 -> 0.1 (3x lower)
      outputs in out
      The reference is converged enough.
    """
    ini, fin = s["initial"], s["final"]
    parts = [
        f"{s['problem']}: {s['steps']} steps in {s['runtime_s']:.1f} s",
        f"loss {ini['loss']:.4g} -> {fin['loss']:.4g}",
    ]
    same: dict[tuple[float, float], list[str]] = {}
    for k in fin:
        if k not in ("loss", "grad_norm", "lr_scale"):
            same.setdefault((ini.get(k, float("nan")), fin[k]), []).append(k)
    for (a, b), names in same.items():
        parts.append(f"{' = '.join(names)} {a:.4g} -> {b:.4g}")
    rep = s.get("report") or {}
    t0, t1 = rep.get("true_rms_error_initial"), rep.get("true_rms_error_optimized")
    if t0 is not None and t1 is not None:
        factor = f" ({t0 / t1:.3g}x lower)" if t1 > 0 else ""
        parts.append(f"true RMS error on the check points {t0:.4g} -> {t1:.4g}{factor}")
    line = "; ".join(parts) + f"; outputs in {out}"
    verdict = rep.get("reference_verdict")
    return line + (f"\n{verdict}" if verdict else "")


def fe_mesh(prob: Any, nodes: Any, export: Any) -> Any:
    """The mesh a finite-element code reads, from the node cloud ``nodes`` (meshio):
    with the domain's boundary groups when ``prob.domain`` is set (2-D or 3-D), else a
    plain Delaunay triangulation of 2-D nodes; None for other node sets. A mesh that
    has cells already (a finite-element study's own triangulation) is that mesh."""
    if own_mesh(nodes):
        return nodes
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


def own_mesh(mesh: Any) -> bool:
    """Whether ``mesh`` (a problem's ``to_mesh``) carries its own cells."""
    return any(c.type in ("triangle", "tetra") for c in mesh.cells)


def _robustness_plot(report: dict, stage: str, plotting: Any, name: str) -> list[str]:
    """``robustness.png`` when the report has a held-out family (node-layout studies)."""
    if not report.get("robustness"):
        return []
    tables = {"study's family": report["family"], "held out": report["robustness"]}
    plotting.plot_robustness(tables, os.path.join(stage, "robustness.png"), f"{name}: error factor")
    return ["robustness.png"]


def _categories(prob: Any, data: dict[str, Any]) -> dict[str, dict[int, str]]:
    """Names of the categorical point data: node kinds, boundary groups."""
    cats: dict[str, dict[int, str]] = {}
    if "kind" in data:
        cats["kind"] = dict(KIND_NAMES)
    if "group" in data:
        names = getattr(getattr(prob, "domain", None), "group_names", None) or ()
        cats["group"] = {-1: "interior", **{i: str(n) for i, n in enumerate(names)}}
    return cats


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
    returns the file names and puts the finite-element mesh's quality (initial and
    optimized) into ``extra["mesh_quality"]``. Example: see :func:`publish`."""
    files = []
    label = getattr(prob, "loss_label", None)
    plotting.plot_convergence(
        res.history, os.path.join(stage, "convergence.png"), prob.name, loss_label=label
    )
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
        kind=m1.point_data.get("kind"),
    )
    files.append("nodes.png")
    mesh = fe_mesh(prob, m1, export)
    if mesh is not None:
        export.write(mesh, os.path.join(stage, "mesh.msh"))
        files.append("mesh.msh")
        if own_mesh(m0):  # the optimized triangulation's start, for a side-by-side solve
            export.write(m0, os.path.join(stage, "initial.msh"))
            meshes = {"start": m0, "optimized": mesh}
            plotting.plot_mesh_quality(meshes, os.path.join(stage, "mesh_quality.png"), prob.name)
            files += ["initial.msh", "mesh_quality.png"]
        if extra is not None:
            before = export.quality(fe_mesh(prob, m0, export))
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
                categories=_categories(prob, fields),
            )
            files.append("fields.png")
    return files
