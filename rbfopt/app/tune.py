"""``rbfopt tune DATA``: shape parameter and smoothing of the user's data, for scipy.

``rbfopt tune DATA [--kernel K] [--eps global|per_point] [--smoothing auto|VALUE]
[--degree D] [--method auto|dense|local] [--neighbors K] [--coords x,y[,z]]
[--value NAME] [--out DIR]`` reads scattered data (:func:`rbfopt.app.data.read_data`),
tunes ``epsilon`` and ``smoothing`` by leave-one-out cross-validation
(:func:`rbfopt.studies.shape_parameter`, then :func:`rbfopt.studies.tune`) and writes
into ``DIR`` (default ``runs/tune-<name>/``):

* ``eps.json``: ``kernel`` and ``scipy_kernel``, ``epsilon``, ``smoothing``, ``degree``
  (and ``neighbors`` for the local method) in ``scipy.interpolate.RBFInterpolator``'s
  conventions, the leave-one-out RMS error at start and optimum, and the scan;
* ``loocv.png``: the scanned cost with the start and the optimum (for ``per_point``,
  also the map of eps);
* ``interpolant.vtu``: the fit on a grid over the data's convex hull;

and prints the scipy line to paste. ``per_point`` tunes the global pair first, then
the field from there; scipy takes one epsilon, so its line is the global pair's.
Bad data or options print one line and exit with status 2 before anything is written.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from .catalog import CLIError


def add_parser(sub) -> None:
    t = sub.add_parser("tune", help="tune epsilon and smoothing of scattered data for scipy")
    t.add_argument("data", help="CSV with a header, .npz, or a meshio file with point data")
    t.add_argument(
        "--kernel",
        default="gaussian",
        help="gaussian, imq, mq, linear, cubic, quintic (or scipy's names)",
    )
    t.add_argument("--eps", default="global", choices=["global", "per_point"])
    t.add_argument("--smoothing", default="auto", help="'auto' or a fixed value >= 0")
    t.add_argument("--degree", type=int, help="polynomial degree (default: scipy's)")
    t.add_argument("--method", default="auto", choices=["auto", "dense", "local"])
    t.add_argument("--neighbors", type=int, default=64, help="points per local fit")
    t.add_argument("--coords", help="coordinate columns, e.g. x,y (default: all but the value)")
    t.add_argument("--value", help="value column or point-data name (default: the last)")
    t.add_argument("--out", help="output folder (default runs/tune-<name>/)")
    t.add_argument("--no-compile-cache", action="store_true", help="no persistent JAX cache")


def _smoothing(raw: str):
    if raw == "auto":
        return raw
    try:
        return float(raw)
    except ValueError:
        raise CLIError(f"--smoothing: expected 'auto' or a number, got {raw!r}") from None


def cmd_tune(args: argparse.Namespace) -> int:
    from .cli import _check_creatable, _check_writable, _compile_cache

    name = os.path.splitext(os.path.basename(args.data))[0]
    out = args.out or os.path.join("runs", f"tune-{name}")
    _check_creatable(out)
    _compile_cache(args)
    t0 = time.perf_counter()
    x, f, cols, kw, prob = _read_and_check(args)
    print(f"{args.data}: {len(x)} points in {x.shape[1]}-D (columns {', '.join(cols)}); "
          "tuning by leave-one-out cross-validation", flush=True)  # fmt: skip
    glob, field = _tune(prob, x, f, kw, args.eps == "per_point")
    _check_writable(out)
    rep = glob[0].report(glob[1])
    result = _result(rep, cols, len(x), time.perf_counter() - t0)
    frep = None if field is None else field[0].report(field[1])
    if frep is not None:
        result["per_point"] = {k: frep["scipy"][k] for k in ("epsilon", "smoothing")}
        result["per_point"]["loocv_rms"] = frep["loocv_rms"]
    _write_json(os.path.join(out, "eps.json"), result)
    from .plotting import plot_loocv

    eps_field = None if frep is None else np.asarray(frep["scipy"]["epsilon"])
    plot_loocv(rep, os.path.join(out, "loocv.png"), x=x, eps_field=eps_field)
    _write_interpolant(os.path.join(out, "interpolant.vtu"), x, f, rep["scipy"], *(field or glob))
    print(f"LOOCV RMS {rep['loocv_rms_start']:.4g} (scan) -> {rep['loocv_rms']:.4g}"
          + ("" if frep is None else f" -> {frep['loocv_rms']:.4g} (per_point)")
          + f" in {result['seconds']:.1f} s ({rep['method']} cost); wrote {out}/eps.json, "
          "loocv.png, interpolant.vtu")  # fmt: skip
    print(result["scipy_line"])
    return 0


def _read_and_check(args: argparse.Namespace):
    """The data, the study's keywords and the global study; every check of data and
    options (the per-point study's too) runs here, before any tuning, as one CLIError
    line."""
    from .. import studies
    from .data import read_data

    coords = None if args.coords is None else [c.strip() for c in args.coords.split(",")]
    try:
        x, f, cols = read_data(args.data, coords, args.value)
        kw = dict(kernel=args.kernel, degree=args.degree, smoothing=_smoothing(args.smoothing),
                  method=args.method, neighbors=args.neighbors)  # fmt: skip
        prob = studies.shape_parameter(x, f, **kw)
        if args.eps == "per_point":
            studies.shape_parameter(x, f, eps="per_point", start=(1.0, 1.0), **kw)
    except ValueError as e:
        raise CLIError(str(e).splitlines()[0]) from None
    return x, f, cols, kw, prob


def _tune(prob, x, f, kw: dict, per_point: bool):
    """``(study, params)`` of the global pair (``prob`` tuned), and of the per-point
    field started there (or None)."""
    from .. import studies

    p = studies.tune(prob)
    if not per_point:
        return (prob, p), None
    start = (float(prob.tuning.eps_of(p)), float(prob.tuning.lam_of(p)))
    field = studies.shape_parameter(x, f, eps="per_point", start=start, **kw)
    return (prob, p), (field, studies.tune(field))


def _result(rep: dict, cols: list, n: int, seconds: float) -> dict:
    sp = rep["scipy"]
    extra = f", neighbors={sp['neighbors']}" if "neighbors" in sp else ""
    line = (
        f"scipy.interpolate.RBFInterpolator(X, y, kernel={sp['kernel']!r}, "
        f"epsilon={sp['epsilon']!r}, smoothing={sp['smoothing']!r}, "
        f"degree={sp['degree']}{extra})"
    )
    return {
        "kernel": rep["kernel"],
        "scipy_kernel": sp["kernel"],
        "epsilon": sp["epsilon"],
        "smoothing": sp["smoothing"],
        "degree": sp["degree"],
        "neighbors": sp.get("neighbors"),
        "method": rep["method"],
        "n_points": n,
        "columns": cols,
        "start": dict(zip(("epsilon", "smoothing"), rep["scan"]["best"], strict=True)),
        "loocv_rms_start": rep["loocv_rms_start"],
        "loocv_rms": rep["loocv_rms"],
        "scan": rep["scan"],
        "scipy_line": line,
        "seconds": round(seconds, 2),
    }


def _write_json(path: str, obj: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1)
    os.replace(tmp, path)


def hull_grid(x: np.ndarray, per_axis: int | None = None):
    """Grid points inside the convex hull of ``x`` and their triangulation (meshio
    cells): a grid of ``per_axis`` points a side over the bounding box."""
    from scipy.spatial import Delaunay

    d = x.shape[1]
    per_axis = per_axis or {1: 400, 2: 120, 3: 32}[d]
    lo, hi = x.min(axis=0), x.max(axis=0)
    axes = [np.linspace(a, b, per_axis) for a, b in zip(lo, hi, strict=True)]
    g = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)
    if d == 1:
        return g, [("line", np.stack([np.arange(len(g) - 1), np.arange(1, len(g))], 1))]
    g = g[Delaunay(x).find_simplex(g) >= 0]
    tri = Delaunay(g).simplices
    return g, [("triangle" if d == 2 else "tetra", tri)]


def _write_interpolant(path, x, f, sp: dict, study, p) -> None:
    """The fit on the hull grid: scipy's local interpolant with the global pair ``sp``
    (local method), else the project's global interpolant with ``study``'s params."""
    import meshio

    from .. import Interpolator
    from ..mesh import write

    g, cells = hull_grid(x)
    tun = study.tuning
    if tun.method == "local":
        import scipy.interpolate as si

        keys = ("neighbors", "kernel", "epsilon", "smoothing", "degree")
        values = si.RBFInterpolator(x, f, **{k: sp[k] for k in keys})(g)
    else:
        eps = tun.eps_of(p)
        basis = tun.spec.basis(1.0 if eps is None else eps, tun.deg)
        values = np.asarray(Interpolator(x, f, basis, smoothing=tun.lam_of(p))(g))
    pts = np.hstack([g, np.zeros((len(g), 3 - g.shape[1]))])
    write(meshio.Mesh(pts, cells, point_data={"fit": values}), path, "vtu")
