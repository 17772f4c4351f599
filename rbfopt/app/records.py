"""Records of a run: history rows, the progress bar, and atomic JSON / CSV files.

The history is a list of dicts, one per accepted evaluation (step 0 is the initial
point): ``step, loss, grad_norm, step_time, lr_scale`` and the problem's metrics.
Every file is written atomically (a temporary file in the same folder, then
``os.replace``), so a killed run never leaves half a file behind.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "history_row",
    "Progress",
    "write_history_csv",
    "read_history_csv",
    "write_summary",
    "atomic_write_bytes",
    "ensure_out_dir",
    "jsonable",
]


def history_row(
    step: int, loss: Any, grad_norm: Any, step_time: float, lr_scale: Any, metrics: Mapping
) -> dict[str, float]:
    """One history row from host values (numpy scalars or floats).

    Examples:
      >>> history_row(3, 0.5, 0.25, 0.01, 1.0, {"dist": 0.7})["dist"]
      0.7
    """
    row = {
        "step": float(step),
        "loss": float(loss),
        "grad_norm": float(grad_norm),
        "step_time": float(step_time),
        "lr_scale": float(lr_scale),
    }
    for name, val in metrics.items():
        row[str(name)] = float(val)
    return row


class Progress:
    """A tqdm bar showing the loss, or nothing (``enabled=False``).

    Examples:
      >>> with Progress(False, total=3, initial=0, desc="quad") as bar:
      ...     bar.update(0.5)
    """

    def __init__(self, enabled: bool, total: int, initial: int, desc: str) -> None:
        self._bar = None
        if enabled and total > initial:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total, initial=initial, desc=desc, dynamic_ncols=True, leave=False
            )

    def update(self, loss: float) -> None:
        """One more accepted step with this loss."""
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{loss:.4e}")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (readable by others, like a plain write).

    Examples:
      >>> import tempfile, os
      >>> p = os.path.join(tempfile.mkdtemp(), "a.txt")
      >>> atomic_write_bytes(p, b"hi"); open(p).read()
      'hi'
    """
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are for sharing
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def ensure_out_dir(path: str, name: str = "out_dir") -> str:
    """Create the folder ``path`` (and its parents) and prove a file can be written in
    it, so that a run fails at once, not at its first checkpoint. Returns ``path``.

    Raises:
      ValueError: naming ``name`` and ``path`` (a file in the way, no permission).

    Examples:
      >>> import os, tempfile
      >>> base = tempfile.mkdtemp()
      >>> os.path.isdir(ensure_out_dir(os.path.join(base, "a", "b")))
      True
      >>> open(os.path.join(base, "f"), "w").close()
      >>> ensure_out_dir(os.path.join(base, "f", "run"))  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ValueError: out_dir: cannot create or write into the folder '...run' (Not a directory)
    """
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        why = e.strerror or str(e)
        raise ValueError(
            f"{name}: cannot create or write into the folder {path!r} ({why})"
        ) from None
    return path


def write_history_csv(history: list[dict[str, float]], path: str) -> None:
    """Write the history (list of dicts) as CSV, atomically; floats round-trip exactly.

    Examples:
      >>> import tempfile, os
      >>> p = os.path.join(tempfile.mkdtemp(), "h.csv")
      >>> write_history_csv([{"step": 0.0, "loss": 0.1}], p)
      >>> read_history_csv(p)
      [{'step': 0.0, 'loss': 0.1}]
    """
    keys: list[str] = []
    for row in history:
        for k in row:
            if k not in keys:
                keys.append(k)
    lines = [",".join(keys)]
    for row in history:
        lines.append(",".join(repr(float(row[k])) if k in row else "" for k in keys))
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def read_history_csv(path: str) -> list[dict[str, float]]:
    """Read a history CSV written by :func:`write_history_csv`.

    Examples:
      >>> import tempfile, os
      >>> p = os.path.join(tempfile.mkdtemp(), "h.csv")
      >>> write_history_csv([{"loss": 2.0}, {"loss": 1.0, "x": 3.0}], p)
      >>> read_history_csv(p)[1]
      {'loss': 1.0, 'x': 3.0}
    """
    with open(path) as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def jsonable(x: Any) -> Any:
    """Plain JSON values (so options compare, checkpoints store and summaries print).

    Examples:
      >>> jsonable({"b": (1, np.float64(2.5)), "a": None})
      {'a': None, 'b': [1, 2.5]}
    """
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in sorted(x.items())}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return repr(x)


def write_summary(path: str, summary: Mapping[str, Any]) -> None:
    """Write a summary dict as JSON, atomically.

    Examples:
      >>> import tempfile, os, json
      >>> p = os.path.join(tempfile.mkdtemp(), "s.json")
      >>> write_summary(p, {"steps": 3}); json.load(open(p))
      {'steps': 3}
    """
    atomic_write_bytes(path, (json.dumps(jsonable(dict(summary)), indent=2) + "\n").encode())
