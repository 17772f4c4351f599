"""Figures of a run (matplotlib, Agg backend, PNG).

* :func:`plot_convergence`: loss, gradient norm and metrics vs step (log scale).
* :func:`plot_nodes`: node layout before/after (2-D), with nearest-neighbour
  spacing as colour; 1-D node sets are drawn as rugs.
* :func:`plot_fields`: maps of the point data of a node set (fields, errors) on its
  triangulation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.tri as mtri  # noqa: E402
import numpy as np  # noqa: E402

from ..mesh import local_spacing  # noqa: E402

__all__ = ["plot_convergence", "plot_nodes", "plot_fields"]

_SKIP = {"step", "step_time", "lr_scale"}


def _save(fig: plt.Figure, path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, ".tmp-" + os.path.basename(path))
    fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def plot_convergence(history: Sequence[Mapping[str, float]], path: str, title: str = "") -> str:
    """Loss (left) and gradient norm + metrics (right) vs step, log-scaled y axes.

    Quantities that take non-positive values (a log-loss, say) are drawn on a linear
    axis instead. Returns the path of the PNG (written atomically).

    Examples:
      >>> import os, tempfile
      >>> hist = [{"step": k, "loss": 2.0**-k, "grad_norm": 1.0 / (k + 1)} for k in range(5)]
      >>> path = plot_convergence(hist, os.path.join(tempfile.mkdtemp(), "conv.png"))
      >>> os.path.getsize(path) > 0
      True
    """
    if not history:
        raise ValueError("history: empty")
    steps = np.array([h["step"] for h in history])
    keys = [k for k in history[0] if k not in _SKIP]
    series = {k: np.array([h.get(k, np.nan) for h in history], dtype=float) for k in keys}
    others = [k for k in keys if k != "loss"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    loss = series["loss"]
    ax.plot(steps, loss, color="C0", lw=1.8)
    if np.all(loss[np.isfinite(loss)] > 0):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("loss" + (f" — {title}" if title else ""))
    ax.grid(True, which="both", alpha=0.3)
    ax = axes[1]
    for i, k in enumerate(others):
        y = np.abs(series[k])
        if np.any(np.isfinite(y) & (y > 0)):
            ax.plot(steps, y, lw=1.5, color=f"C{i + 1}", label=k)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title("gradient norm and metrics (|value|)")
    ax.grid(True, which="both", alpha=0.3)
    if others:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _save(fig, path)


def plot_nodes(
    before: np.ndarray,
    after: np.ndarray,
    path: str,
    boundary: np.ndarray | None = None,
    title: str = "",
) -> str:
    """Node layout before and after optimization, coloured by local spacing.

    Examples:
      >>> import os, tempfile, numpy as np
      >>> x = np.random.default_rng(0).random((30, 2))
      >>> path = plot_nodes(x, 0.9 * x, os.path.join(tempfile.mkdtemp(), "nodes.png"))
      >>> os.path.basename(path)
      'nodes.png'
    """
    b = np.asarray(before, dtype=float)
    a = np.asarray(after, dtype=float)
    if b.ndim == 1:
        b = b[:, None]
    if a.ndim == 1:
        a = a[:, None]
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2), sharex=True, sharey=True)
    sb, sa = local_spacing(b), local_spacing(a)
    fin = np.concatenate([sb, sa])
    fin = fin[np.isfinite(fin)]
    vmin, vmax = (fin.min(), fin.max()) if fin.size else (0, 1)
    sc = None
    for ax, p, s, lab in ((axes[0], b, sb, "initial"), (axes[1], a, sa, "optimized")):
        if p.shape[1] == 1:
            ax.plot(p[:, 0], np.zeros(len(p)), "|", ms=20)
        else:
            size = max(2.0, 4000.0 / max(len(p), 1))
            sc = ax.scatter(p[:, 0], p[:, 1], c=s, s=size, cmap="viridis", vmin=vmin, vmax=vmax)
            if boundary is not None:
                bm = np.asarray(boundary, bool)
                ax.scatter(
                    p[bm, 0],
                    p[bm, 1],
                    s=size * 1.5,
                    facecolors="none",
                    edgecolors="red",
                    linewidths=0.6,
                )
            ax.set_aspect("equal")
        fs = s[np.isfinite(s)]
        mn = fs.min() if fs.size else float("nan")
        ax.set_title(f"{lab}: {len(p)} nodes, min spacing {mn:.3g}")
    if sc is not None:
        fig.colorbar(sc, ax=axes, shrink=0.85, label="nearest-neighbour spacing")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_fields(
    points: np.ndarray,
    fields: Mapping[str, np.ndarray],
    path: str,
    inside: Callable[[np.ndarray], np.ndarray] | None = None,
    title: str = "",
) -> str:
    """Colour maps of ``fields`` (values at 2-D ``points``) on their triangulation.

    Triangles whose centroid fails ``inside`` are masked (non-convex domains).
    Fields whose name contains "error" get a log colour scale of |value|.

    Examples:
      >>> import os, tempfile, numpy as np
      >>> x = np.random.default_rng(0).random((40, 2))
      >>> out = os.path.join(tempfile.mkdtemp(), "fields.png")
      >>> os.path.basename(plot_fields(x, {"u": x[:, 0], "error": 1e-3 * x[:, 1]}, out))
      'fields.png'
    """
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
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 4.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        v = np.asarray(fields[name], dtype=float)
        if "error" in name:
            av = np.abs(v)
            pos = av[av > 0]
            floor = pos.max() * 1e-6 if pos.size else 1e-300
            lv = np.log10(np.maximum(av, floor))
            im = ax.tripcolor(tri, lv, shading="gouraud", cmap="magma")
            fig.colorbar(im, ax=ax, shrink=0.85, label=f"log10 |{name}|")
        else:
            im = ax.tripcolor(tri, v, shading="gouraud", cmap="RdBu_r")
            fig.colorbar(im, ax=ax, shrink=0.85)
        ax.set_title(name)
        ax.set_aspect("equal")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
