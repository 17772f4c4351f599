"""Figures of a run (matplotlib, Agg backend, PNG).

* :func:`plot_convergence`: the loss (labelled with what it is), gradient norm and
  metrics, and penalty terms in a panel of their own, vs step.
* :func:`plot_nodes`: node layout before/after (2-D), with nearest-neighbour
  spacing as colour and a legend of the node kinds; 1-D node sets are drawn as rugs.
* :func:`plot_fields`: maps of the point data of a node set (fields, errors) on its
  triangulation, categories (node kinds, boundary groups) in discrete colours.
* :func:`plot_robustness`: a layout's error factor for each discretization, the
  study's own family beside a held-out one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.tri as mtri  # noqa: E402
import numpy as np  # noqa: E402

from ..mesh import local_spacing  # noqa: E402

__all__ = ["plot_convergence", "plot_nodes", "plot_fields", "plot_robustness"]

_SKIP = {"step", "step_time", "lr_scale"}


def _save(fig: plt.Figure, path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, ".tmp-" + os.path.basename(path))
    fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _is_penalty(name: str, y: np.ndarray) -> bool:
    """A penalty term: named so, or non-negative and 0 at most steps with spikes (on
    the metrics' log axes its zeros vanish and its spikes look like noise)."""
    if "barrier" in name or "penalty" in name:
        return True
    fin = y[np.isfinite(y)]
    return bool(fin.size and np.all(fin >= 0) and np.mean(fin == 0) >= 0.5 and np.any(fin > 0))


def _same_lines(keys: Sequence[str], series: Mapping[str, np.ndarray]) -> list[list[str]]:
    """``keys`` grouped by equal histories (one line, a legend naming them all)."""
    groups: list[list[str]] = []
    for k in keys:
        for g in groups:
            if np.array_equal(series[g[0]], series[k], equal_nan=True):
                g.append(k)
                break
        else:
            groups.append([k])
    return groups


def plot_convergence(
    history: Sequence[Mapping[str, float]],
    path: str,
    title: str = "",
    loss_label: str | None = None,
) -> str:
    """The loss (left, y-axis ``loss_label``), the gradient norm and metrics (middle,
    log scale of |value|) and penalty metrics such as a barrier (right, linear scale,
    when there are any) vs step. Metrics with equal histories share one line.

    A loss that takes non-positive values (a log-loss, say) is drawn on a linear axis.
    Returns the path of the PNG (written atomically).

    Examples:
      >>> import os, tempfile
      >>> hist = [{"step": k, "loss": 2.0**-k, "grad_norm": 1.0 / (k + 1), "barrier": 0.0}
      ...         for k in range(5)]
      >>> path = plot_convergence(hist, os.path.join(tempfile.mkdtemp(), "conv.png"))
      >>> os.path.getsize(path) > 0
      True
    """
    return _save(_convergence_figure(history, title, loss_label), path)


def _convergence_figure(
    history: Sequence[Mapping[str, float]], title: str, loss_label: str | None
) -> plt.Figure:
    if not history:
        raise ValueError("history: empty")
    steps = np.array([h["step"] for h in history])
    keys = [k for k in history[0] if k not in _SKIP]
    series = {k: np.array([h.get(k, np.nan) for h in history], dtype=float) for k in keys}
    others = [k for k in keys if k != "loss"]
    penalties = [k for k in others if _is_penalty(k, series[k])]
    metrics = [k for k in others if k not in penalties]
    fig, axes = plt.subplots(1, 3 if penalties else 2, figsize=(16 if penalties else 11, 4))
    _loss_panel(axes[0], steps, series["loss"], title, loss_label or "loss")
    ax = axes[1]
    for i, group in enumerate(_same_lines(metrics, series)):
        y = np.abs(series[group[0]])
        if np.any(np.isfinite(y) & (y > 0)):
            ax.plot(steps, y, lw=1.5, color=f"C{i + 1}", label=" = ".join(group))
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("|value| (log scale)")
    ax.set_title("gradient norm and metrics")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    if penalties:
        ax = axes[2]
        for i, group in enumerate(_same_lines(penalties, series)):
            ax.plot(steps, series[group[0]], lw=1.2, color=f"C{i + 6}", label=" = ".join(group))
        ax.set_xlabel("step")
        ax.set_ylabel("value (0: inactive)")
        ax.set_title("penalty terms")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def _loss_panel(ax: plt.Axes, steps: np.ndarray, loss: np.ndarray, title: str, label: str) -> None:
    ax.plot(steps, loss, color="C0", lw=1.8)
    if np.all(loss[np.isfinite(loss)] > 0):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(label)
    ax.set_title("loss" + (f" — {title}" if title else ""))
    ax.grid(True, which="both", alpha=0.3)


def plot_nodes(
    before: np.ndarray,
    after: np.ndarray,
    path: str,
    boundary: np.ndarray | None = None,
    title: str = "",
    kind: np.ndarray | None = None,
) -> str:
    """Node layout before (left) and after (right) optimization, coloured by the
    nearest-neighbour spacing, with a legend of the node kinds drawn: ``boundary``
    flags (or ``kind`` > 0) ring boundary nodes, ``kind == 2`` marks fixed nodes.

    Examples:
      >>> import os, tempfile, numpy as np
      >>> x = np.random.default_rng(0).random((30, 2))
      >>> path = plot_nodes(x, 0.9 * x, os.path.join(tempfile.mkdtemp(), "nodes.png"))
      >>> os.path.basename(path)
      'nodes.png'
    """
    return _save(_nodes_figure(before, after, boundary, title, kind), path)


def _nodes_figure(before, after, boundary, title, kind) -> plt.Figure:
    b, a = (np.asarray(p, dtype=float) for p in (before, after))
    b, a = (p[:, None] if p.ndim == 1 else p for p in (b, a))
    if kind is not None:
        boundary = np.asarray(kind) > 0
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2), sharex=True, sharey=True)
    sb, sa = local_spacing(b), local_spacing(a)
    fin = np.concatenate([sb, sa])
    fin = fin[np.isfinite(fin)]
    vmin, vmax = (fin.min(), fin.max()) if fin.size else (0, 1)
    sc = None
    for ax, p, s, lab in ((axes[0], b, sb, "initial"), (axes[1], a, sa, "optimized")):
        if p.shape[1] == 1:
            ax.plot(p[:, 0], np.zeros(len(p)), "|", ms=20, label="node")
        else:
            size = max(2.0, 4000.0 / max(len(p), 1))
            sc = ax.scatter(p[:, 0], p[:, 1], c=s, s=size, cmap="viridis", vmin=vmin, vmax=vmax)
            sc.set_label("node (colour: spacing)")
            _mark_kinds(ax, p, size, boundary, kind)
            ax.set_aspect("equal")
        fs = s[np.isfinite(s)]
        mn = fs.min() if fs.size else float("nan")
        ax.set_title(f"{lab}: {len(p)} nodes, min spacing {mn:.3g}")
    if sc is not None:
        _legend(fig, axes[1])
        fig.colorbar(sc, ax=axes, shrink=0.85, label="nearest-neighbour spacing")
    if title:
        fig.suptitle(title)
    return fig


def _legend(fig: plt.Figure, ax: plt.Axes) -> None:
    """The node kinds' legend in the band between the title and the panels (equal
    aspect leaves it empty), its markers of one size whatever the nodes' size."""
    handles, labels = ax.get_legend_handles_labels()
    leg = fig.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.45, 0.9), ncol=len(labels),
        fontsize=9,
    )  # fmt: skip
    for h in leg.legend_handles:
        if hasattr(h, "set_sizes"):
            h.set_sizes([25.0])


def _mark_kinds(ax: plt.Axes, p: np.ndarray, size: float, boundary, kind) -> None:
    """Red rings on boundary nodes, black crosses on fixed ones (``kind == 2``)."""
    if boundary is not None:
        bm = np.asarray(boundary, bool)
        ax.scatter(
            p[bm, 0], p[bm, 1], s=size * 1.5, facecolors="none", edgecolors="red",
            linewidths=0.6, label="boundary node",
        )  # fmt: skip
    if kind is not None and np.any(np.asarray(kind) == 2):
        fm = np.asarray(kind) == 2
        ax.scatter(p[fm, 0], p[fm, 1], s=size * 3, marker="x", c="black", lw=0.8,
                   label="fixed node")  # fmt: skip


#: Widest figure :func:`plot_fields` draws, in inches at the 110 dpi of :func:`_save`.
_MAX_WIDTH_IN = 17.5


def plot_fields(
    points: np.ndarray,
    fields: Mapping[str, np.ndarray],
    path: str,
    inside: Callable[[np.ndarray], np.ndarray] | None = None,
    title: str = "",
    categories: Mapping[str, Mapping[int, str]] | None = None,
) -> str:
    """Colour maps of ``fields`` (values at 2-D ``points``) on their triangulation,
    at most three panels a row (the figure at most ~2000 px wide).

    Triangles whose centroid fails ``inside`` are masked (non-convex domains).
    Fields whose name contains "error" get a log colour scale of |value|. Fields named
    in ``categories`` (value -> name, e.g. node kinds) are drawn as points in discrete
    colours with a legend of the names.

    Examples:
      >>> import os, tempfile, numpy as np
      >>> x = np.random.default_rng(0).random((40, 2))
      >>> out = os.path.join(tempfile.mkdtemp(), "fields.png")
      >>> kinds = {"kind": {0: "interior", 1: "boundary"}}
      >>> f = {"u": x[:, 0], "error": 1e-3 * x[:, 1], "kind": x[:, 0] > 0.5}
      >>> os.path.basename(plot_fields(x, f, out, categories=kinds))
      'fields.png'
    """
    return _save(_fields_figure(points, fields, inside, title, categories or {}), path)


def _fields_figure(points, fields, inside, title, categories) -> plt.Figure:
    p = np.asarray(points, dtype=float)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points: field maps need 2-D points, got shape {p.shape}")
    names = list(fields)
    if not names:
        raise ValueError("fields: nothing to plot")
    tri = mtri.Triangulation(p[:, 0], p[:, 1])
    if inside is not None:
        c = p[tri.triangles].mean(axis=1)
        tri.set_mask(~np.asarray(inside(c), bool))
    cols = min(len(names), 3)
    rows = -(-len(names) // cols)
    width = min(5.2 * cols, _MAX_WIDTH_IN)
    fig, axes = plt.subplots(rows, cols, figsize=(width, 4.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        v = np.asarray(fields[name], dtype=float)
        if name in categories:
            _categorical(ax, p, v, categories[name], name)
        elif "error" in name:
            av = np.abs(v)
            pos = av[av > 0]
            floor = pos.max() * 1e-6 if pos.size else 1e-300
            im = ax.tripcolor(tri, np.log10(np.maximum(av, floor)), shading="gouraud", cmap="magma")
            fig.colorbar(im, ax=ax, shrink=0.85, label=f"log10 |{name}|")
        else:
            im = ax.tripcolor(tri, v, shading="gouraud", cmap="RdBu_r")
            fig.colorbar(im, ax=ax, shrink=0.85, label=name)
        ax.set_title(name)
        ax.set_aspect("equal")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _categorical(ax: plt.Axes, p: np.ndarray, v: np.ndarray, names: Mapping[int, str], field: str):
    """Points of each category value in a colour of its own, named in a legend."""
    size = max(2.0, 3000.0 / max(len(p), 1))
    values = np.unique(v[np.isfinite(v)]).astype(int)
    for i, val in enumerate(values):
        m = v == val
        # the most common category (interior nodes) in light grey, behind the others
        big = m.mean() > 0.5
        colour = "0.82" if big else f"C{i % 10}"
        label = names.get(int(val), f"{field} {val}")
        ax.scatter(p[m, 0], p[m, 1], s=size * (1 if big else 2), c=colour, label=label,
                   zorder=1 if big else 2)  # fmt: skip
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), markerscale=2)


def plot_robustness(tables: Mapping[str, Mapping[str, Any]], path: str, title: str = "") -> str:
    """Bars of start error / optimized error per discretization, one colour per table.

    ``tables`` maps a caption (e.g. "study's family", "held out") to a table with
    ``discretizations`` (labels) and ``factor`` (> 1: the layout is better). The axis
    is logarithmic, with the line at 1 where a layout stops helping.

    Examples:
      >>> import os, tempfile
      >>> t = {"family": {"discretizations": ["k=16"], "factor": [3.0]},
      ...      "held out": {"discretizations": ["k=12 plain", "k=20 plain"],
      ...                   "factor": [0.8, 2.0]}}
      >>> os.path.basename(plot_robustness(t, os.path.join(tempfile.mkdtemp(), "r.png")))
      'r.png'
    """
    labels, factors, colours = [], [], []
    for i, (caption, tab) in enumerate(tables.items()):
        for name, f in zip(tab["discretizations"], tab["factor"], strict=True):
            labels.append(f"{name}\n({caption})")
            factors.append(float(f))
            colours.append(f"C{i}")
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(labels)), 4.0))
    pos = np.arange(len(labels))
    ax.bar(pos, factors, color=colours)
    ax.axhline(1.0, color="k", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(pos, labels, fontsize=7, rotation=30, ha="right")
    ax.set_ylabel("start error / optimized error")
    for x, f in zip(pos, factors, strict=True):
        ax.annotate(f"{f:.2f}", (x, f), ha="center", va="bottom", fontsize=7)
    ax.set_title(title or "error factor per discretization")
    return _save(fig, path)


def plot_mesh_quality(meshes: Mapping[str, Any], path: str, title: str = "") -> str:
    """Histograms of the cells' radius ratios and smallest angles (of the corners for
    triangles, dihedral for tetrahedra), one colour per mesh (e.g. the start's and the
    optimized triangulation).

    Examples:
      >>> import os, tempfile, meshio
      >>> m = meshio.Mesh([[0, 0], [1, 0], [0, 1], [1, 1]], [("triangle", [[0, 1, 2], [1, 3, 2]])])
      >>> path = os.path.join(tempfile.mkdtemp(), "q.png")
      >>> os.path.basename(plot_mesh_quality({"start": m}, path))
      'q.png'
    """
    from ..mesh.quality import cell_shapes

    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6))
    kind = "triangle"
    for i, (label, mesh) in enumerate(meshes.items()):
        kind, ratio, angle = cell_shapes(mesh)
        top = 60.0 if kind == "triangle" else 70.6  # the regular simplex's
        kw = dict(bins=40, alpha=0.55, color=f"C{i}")
        axes[0].hist(ratio, range=(0.0, 1.0), label=f"{label} (min {ratio.min():.2f})", **kw)
        axes[1].hist(angle, range=(0.0, top), label=f"{label} (min {angle.min():.1f}\u00b0)", **kw)
    tri = kind == "triangle"
    axes[0].set_xlabel(f"radius ratio {'2' if tri else '3'}r/R (1: regular)")
    axes[1].set_xlabel("smallest angle of the triangle (degrees)" if tri
                       else "smallest dihedral angle of the tetrahedron (degrees)")  # fmt: skip
    for ax in axes:
        ax.set_ylabel("triangles" if tri else "tetrahedra")
        ax.legend(fontsize=7)
    fig.suptitle(title or f"{kind} shapes")
    return _save(fig, path)


def plot_loocv(
    report: Mapping[str, Any],
    path: str,
    x: np.ndarray | None = None,
    eps_field: np.ndarray | None = None,
) -> str:
    """The scanned leave-one-out RMS error of a shape-parameter study (a curve over eps
    or smoothing, or a map over both) with the scan's best and the optimum; with
    ``eps_field`` (one eps per point of ``x``) a second panel maps it."""
    scan, sp = report["scan"], report["scipy"]
    cost = np.asarray(scan["loocv_rms"], dtype=float)
    eps, lam = np.asarray(scan["eps"]), np.asarray(scan["smoothing"])
    best = scan["best"]
    opt = (float(np.exp(np.mean(np.log(sp["epsilon"])))), sp["smoothing"])
    panels = 1 if eps_field is None or x is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(6.2 * panels, 4.6), squeeze=False)
    ax = axes[0, 0]
    if cost.shape[0] > 1 and cost.shape[1] > 1:
        c = np.log10(np.where(np.isfinite(cost), cost, np.nan))
        m = ax.pcolormesh(eps, lam, c.T, shading="nearest", cmap="viridis")
        ax.contour(eps, lam, c.T, levels=12, colors="w", linewidths=0.4)
        fig.colorbar(m, ax=ax, label="log10 LOOCV RMS error")
        ax.plot(*best, "ws", ms=8, mfc="none", label="scan's best")
        ax.plot(*opt, "r*", ms=13, label="optimum")
        ax.set(xscale="log", yscale="log", xlabel="epsilon", ylabel="smoothing")
    else:
        along = eps if cost.shape[0] > 1 else lam
        k = 0 if cost.shape[0] > 1 else 1
        ax.loglog(along, cost.ravel(), "o-", ms=3, label="scan")
        ax.axvline(opt[k], color="r", label="optimum")
        ax.set(xlabel="epsilon" if k == 0 else "smoothing", ylabel="LOOCV RMS error")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(
        f"{sp['kernel']}, degree {sp['degree']}: LOOCV RMS "
        f"{report['loocv_rms_start']:.3g} -> {report['loocv_rms']:.3g}"
    )
    if panels == 2:
        ax = axes[0, 1]
        s = ax.scatter(
            x[:, 0],
            x[:, 1] if x.shape[1] > 1 else np.zeros(len(x)),
            c=np.asarray(eps_field),
            s=6,
            cmap="plasma",
            norm="log",
        )
        fig.colorbar(s, ax=ax, label="epsilon per point")
        ax.set(aspect="equal", title="per-point epsilon (projected on x, y)")
    return _save(fig, path)
