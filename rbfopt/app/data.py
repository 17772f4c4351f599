"""Scattered data from a file: a CSV with a header, an ``.npz``, or a meshio file.

Every reader returns ``(points (N, d), values (N,), names)`` where ``names`` are the
coordinate and value column names, or raises ValueError with one line naming the
file, the column and the rows at fault.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence

import numpy as np
from scipy.spatial import cKDTree

from .._util import fmt_indices

__all__ = ["read_data"]


def read_data(
    path: str, coords: Sequence[str] | None = None, value: str | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Points and values from ``path``.

    * ``.csv`` (or any text with a header row, comma separated): coordinate columns
      ``coords`` (default: all but the value column), value column ``value``
      (default: the last);
    * ``.npz``: arrays named like CSV columns (1-D each), or ``points`` (N, d) and
      ``values`` (N,);
    * anything else meshio reads: the mesh points (trailing all-zero coordinates
      dropped) and the point-data array ``value`` (default: the only or first one).

    Non-numeric cells, NaN/inf, duplicate points and unknown column names are
    ValueErrors naming them.

    Examples:
      >>> import os, tempfile
      >>> from rbfopt.app.data import read_data
      >>> path = os.path.join(tempfile.mkdtemp(), "d.csv")
      >>> _ = open(path, "w").write("x,y,t\\n0,0,1.5\\n1,0,2\\n0,1,3\\n")
      >>> x, f, names = read_data(path)
      >>> x.shape, f.tolist(), names
      ((3, 2), [1.5, 2.0, 3.0], ['x', 'y', 't'])
    """
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        columns = _npz_columns(path)
    elif ext in (".csv", ".txt", ".dat", ""):
        columns = _csv_columns(path)
    else:
        return _check(path, *_meshio(path, value))
    return _check(path, *_pick(path, columns, coords, value))


def _csv_columns(path: str) -> dict[str, np.ndarray]:
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise ValueError(f"{path}: expected a header row and data rows")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header) or not all(header):
        raise ValueError(f"{path}: the header row needs distinct, non-empty names: {header}")
    out = {name: np.empty(len(rows) - 1) for name in header}
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}: line {r} has {len(row)} cells, the header {len(header)}")
        for name, cell in zip(header, row, strict=True):
            try:
                out[name][r - 2] = float(cell)
            except ValueError:
                raise ValueError(
                    f"{path}: line {r}, column {name!r}: {cell.strip()!r} is not a number"
                ) from None
    return out


def _npz_columns(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        arrays = {k: np.asarray(z[k]) for k in z.files}
    if "points" in arrays and "values" in arrays and arrays["points"].ndim == 2:
        p = arrays["points"]
        cols = {"xyz"[i] if p.shape[1] <= 3 else f"x{i}": p[:, i] for i in range(p.shape[1])}
        return {**cols, "values": arrays["values"]}
    bad = [k for k, a in arrays.items() if a.ndim != 1]
    if bad:
        raise ValueError(
            f"{path}: expected 'points' (N, d) and 'values' (N,), or 1-D named columns; "
            f"{bad} are not 1-D"
        )
    return arrays


def _pick(path, columns, coords, value):
    names = list(columns)
    value = names[-1] if value is None else value
    coords = [c for c in names if c != value] if coords is None else list(coords)
    for c in [*coords, value]:
        if c not in columns:
            raise ValueError(f"{path}: no column {c!r} (columns: {', '.join(names)})")
    lengths = {len(columns[c]) for c in [*coords, value]}
    if len(lengths) != 1:
        raise ValueError(f"{path}: the columns have different lengths {sorted(lengths)}")
    for c in [*coords, value]:
        if not np.issubdtype(columns[c].dtype, np.number):
            raise ValueError(f"{path}: column {c!r} is not numeric (dtype {columns[c].dtype})")
    x = np.stack([np.asarray(columns[c], np.float64) for c in coords], axis=1)
    return x, np.asarray(columns[value], np.float64), [*coords, value]


def _meshio(path, value):
    import meshio

    try:
        m = meshio.read(path)
    except Exception as e:  # meshio raises many kinds; the message is what matters
        raise ValueError(f"{path}: meshio cannot read it ({type(e).__name__}: {e})") from None
    if not m.point_data:
        raise ValueError(f"{path}: the mesh has no point data to tune on")
    keys = list(m.point_data)
    value = keys[0] if value is None else value
    if value not in m.point_data:
        raise ValueError(f"{path}: no point data {value!r} (arrays: {', '.join(keys)})")
    f = np.asarray(m.point_data[value], np.float64)
    if f.ndim != 1:
        raise ValueError(f"{path}: point data {value!r} has shape {f.shape}; need one value each")
    x = np.asarray(m.points, np.float64)
    while x.shape[1] > 1 and not np.any(x[:, -1]):
        x = x[:, :-1]
    return x, f, ["xyz"[i] for i in range(x.shape[1])] + [value]


def _check(path, x, f, names):
    if not 1 <= x.shape[1] <= 3:
        raise ValueError(f"{path}: {x.shape[1]} coordinate columns {names[:-1]}; need 1 to 3")
    for arr, what in ((x, "coordinates"), (f[:, None], names[-1])):
        bad = np.flatnonzero(~np.all(np.isfinite(arr), axis=1))
        if bad.size:
            raise ValueError(f"{path}: NaN/inf in {what} at rows {fmt_indices(bad)}")
    pairs = cKDTree(x).query_pairs(0.0, output_type="ndarray")
    if len(pairs):
        raise ValueError(
            f"{path}: {len(pairs)} duplicate points, rows {np.asarray(pairs)[:5].tolist()}"
        )
    return x, f, names
