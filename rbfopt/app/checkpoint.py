"""Checkpoints as arrays and JSON only: one ``checkpoint.npz``, nothing to unpickle.

The file is an ``.npz`` archive (``numpy.savez``) holding

* ``header``: UTF-8 JSON as a uint8 array: ``format`` ("rbfopt-checkpoint"),
  ``version`` (:data:`VERSION`), the run's identity (``problem``, ``options``,
  ``optimizer``, ``meta``), ``step``, ``elapsed``, the ``history`` rows, and
  ``leaves``: one ``{"path", "shape", "dtype"}`` per array of the loop state, the
  path in :func:`jax.tree_util.keystr` form (``.params['x']``, ``.opt_state[0].mu``);
* ``a0``, ``a1``, ...: the loop state's leaves, plain numeric arrays.

It is read with ``allow_pickle=False`` and every array is checked against the
header (numeric dtype, shape), so a crafted or foreign file is refused with a
``ValueError`` and executes nothing. The arrays are restored onto a *template*
rebuilt by the caller from the problem and the optimizer (:meth:`Checkpoint.restore`):
the tree structure never comes from the file, and a file whose paths, shapes or
dtypes do not match it is refused. Writes are atomic (temp file + ``os.replace``).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import zipfile
from typing import Any

import jax
import numpy as np

from .records import atomic_write_bytes

__all__ = ["CHECKPOINT_NAME", "FORMAT", "VERSION", "Checkpoint", "save", "load"]

CHECKPOINT_NAME = "checkpoint.npz"
FORMAT = "rbfopt-checkpoint"
#: 1 was the pickle format (``checkpoint.pkl``), refused since it can run code on load.
VERSION = 2
_OLD_NAME = "checkpoint.pkl"
_NUMERIC = "biuf"  # bool, int, uint, float: nothing else is ever stored


@dataclasses.dataclass
class Checkpoint:
    """A checkpoint read by :func:`load`: the header's facts and the state's arrays.

    ``arrays`` maps each leaf path (``.params['x']``) to its array; :meth:`restore`
    puts them back into a pytree of the caller's structure.

    Examples:
      >>> import os, tempfile, jax.numpy as jnp
      >>> d = tempfile.mkdtemp()
      >>> save(os.path.join(d, CHECKPOINT_NAME), {"x": jnp.ones(2)}, step=0, history=[],
      ...      problem="quad", options={}, optimizer="adam")
      >>> ck = load(d)
      >>> ck.problem, ck.restore({"x": jnp.zeros(2)})["x"].tolist()
      ('quad', [1.0, 1.0])
    """

    path: str
    problem: str
    options: dict[str, Any]
    optimizer: str | None
    meta: dict[str, Any]
    step: int
    elapsed: float
    history: list[dict[str, float]]
    arrays: dict[str, np.ndarray]

    def check(self, problem: str, options: dict[str, Any], optimizer: str | None) -> None:
        """Raise ValueError unless the checkpoint was written for this problem (name and
        JSON options, see :func:`records.jsonable`) and optimizer name.

        Examples:
          >>> ck = Checkpoint("ck.npz", "quad", {}, "adam", {}, 0, 0.0, [], {})
          >>> ck.check("quad", {}, "sgd")
          Traceback (most recent call last):
          ValueError: checkpoint: ck.npz was written by optimizer 'adam', not 'sgd'
        """
        if self.problem != problem or self.options != options:
            raise ValueError(
                f"checkpoint: {self.path} is a checkpoint of problem {self.problem!r} "
                f"(options {self.options}), not of {problem!r} (options {options})"
            )
        if self.optimizer != optimizer:
            raise ValueError(
                f"checkpoint: {self.path} was written by optimizer {self.optimizer!r}, "
                f"not {optimizer!r}"
            )

    def restore(self, template: Any, prefix: str = "") -> Any:
        """The stored leaves under ``prefix`` as a pytree shaped like ``template``.

        ``template``: any pytree whose leaves have ``shape`` and ``dtype`` (arrays or
        ``jax.ShapeDtypeStruct``), e.g. rebuilt from the problem and the optimizer.
        Raises ValueError naming the first mismatch.

        Examples:
          >>> ck = Checkpoint("ck.npz", "q", {}, None, {}, 0, 0.0, [], {"['x']": np.ones(2)})
          >>> ck.restore({"x": np.zeros(2)})
          {'x': array([1., 1.])}
        """
        flat, treedef = jax.tree_util.tree_flatten_with_path(template)
        want = [prefix + jax.tree_util.keystr(p) for p, _ in flat]
        have = [n for n in self.arrays if n == prefix or n.startswith((prefix + ".", prefix + "["))]
        if sorted(want) != sorted(have):
            missing = sorted(set(want) - set(have))[:3]
            extra = sorted(set(have) - set(want))[:3]
            raise ValueError(
                f"checkpoint: {self.path} does not fit problem {self.problem!r} as rebuilt "
                f"here (missing {missing}, unexpected {extra}); was it written by another "
                "version of the problem or with another optimizer?"
            )
        leaves = []
        for name, (_, t) in zip(want, flat, strict=True):
            a = self.arrays[name]
            if a.shape != tuple(t.shape) or a.dtype != np.dtype(t.dtype):
                raise ValueError(
                    f"checkpoint: {self.path}: {name} is {a.dtype}{list(a.shape)}, the rebuilt "
                    f"problem expects {np.dtype(t.dtype)}{list(t.shape)}"
                )
            leaves.append(a)
        return jax.tree_util.tree_unflatten(treedef, leaves)


def save(
    path: str,
    state: Any,
    *,
    step: int,
    history: list[dict[str, float]],
    problem: str,
    options: dict[str, Any],
    optimizer: str | None,
    meta: dict[str, Any] | None = None,
    elapsed: float = 0.0,
) -> None:
    """Write ``state`` (a pytree of arrays) and the run's facts to ``path``, atomically.

    ``options`` and ``meta`` must be JSON values (see :func:`records.jsonable`).

    Examples:
      >>> import os, tempfile, numpy as np
      >>> p = os.path.join(tempfile.mkdtemp(), CHECKPOINT_NAME)
      >>> save(p, (np.ones(2), np.int32(3)), step=1, history=[], problem="q", options={},
      ...      optimizer=None)
      >>> sorted(load(p).arrays)
      ['[0]', '[1]']
    """
    flat = jax.tree_util.tree_flatten_with_path(jax.device_get(state))[0]
    arrays = [np.asarray(x) for _, x in flat]
    header = {
        "format": FORMAT,
        "version": VERSION,
        "problem": problem,
        "options": options,
        "optimizer": optimizer,
        "meta": meta or {},
        "step": int(step),
        "elapsed": float(elapsed),
        "history": history,
        "leaves": [
            {"path": jax.tree_util.keystr(p), "shape": list(a.shape), "dtype": a.dtype.name}
            for (p, _), a in zip(flat, arrays, strict=True)
        ],
    }
    members = {"header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    members.update({f"a{i}": a for i, a in enumerate(arrays)})
    buf = io.BytesIO()
    np.savez(buf, **members)
    atomic_write_bytes(path, buf.getvalue())


def _resolve(path: str) -> str:
    if os.path.isdir(path):
        found = os.path.join(path, CHECKPOINT_NAME)
        if not os.path.isfile(found) and os.path.isfile(os.path.join(path, _OLD_NAME)):
            raise ValueError(
                f"checkpoint: {path} holds only {_OLD_NAME}, a pickle checkpoint of an older "
                "rbfopt; it is not loaded (unpickling a file can run code): rerun the study"
            )
        path = found
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint: no checkpoint at {path}")
    return path


def _refuse(path: str, why: str) -> ValueError:
    return ValueError(f"checkpoint: {path} is not an rbfopt checkpoint: {why}; refused")


def load(path: str) -> Checkpoint:
    """Read and check a checkpoint (a file, or a run's output folder).

    Refuses (ValueError) anything but an ``.npz`` of numeric arrays with a header of
    this :data:`VERSION` that describes every array; nothing in the file is executed.

    Examples:
      >>> import os, tempfile
      >>> p = os.path.join(tempfile.mkdtemp(), CHECKPOINT_NAME)
      >>> with open(p, "w") as f:
      ...     _ = f.write("not an archive")
      >>> load(p)  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      ValueError: checkpoint: ... is not an rbfopt checkpoint: not an .npz archive; refused
    """
    path = _resolve(path)
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:1] == b"\x80":
        raise _refuse(path, "it is a pickle (unpickling can run code)")
    if magic != b"PK\x03\x04":
        raise _refuse(path, "not an .npz archive")
    try:
        with np.load(path, allow_pickle=False) as z:
            members = {n: z[n] for n in z.files}
    except ValueError as e:  # object arrays: numpy would have to unpickle them
        raise _refuse(path, f"it holds an array only unpickling could read ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise _refuse(path, f"unreadable archive ({e})") from None
    header = _header(path, members.pop("header", None))
    arrays = _arrays(path, header["leaves"], members)
    return Checkpoint(
        path=path,
        problem=header["problem"],
        options=header["options"],
        optimizer=header["optimizer"],
        meta=header["meta"],
        step=header["step"],
        elapsed=header["elapsed"],
        history=header["history"],
        arrays=arrays,
    )


def _header(path: str, raw: np.ndarray | None) -> dict[str, Any]:
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise _refuse(path, "no header")
    try:
        h = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _refuse(path, f"its header is not JSON ({e})") from None
    if not isinstance(h, dict) or h.get("format") != FORMAT:
        raise _refuse(
            path, f"the header names format {h.get('format') if isinstance(h, dict) else h!r}"
        )
    if h.get("version") != VERSION:
        raise ValueError(
            f"checkpoint: {path} has format version {h.get('version')!r}; this rbfopt reads "
            f"version {VERSION} only: rerun the study (or use the rbfopt that wrote it)"
        )
    kinds = {
        "problem": str, "options": dict, "meta": dict, "step": int, "elapsed": (int, float),
        "history": list, "leaves": list,
    }  # fmt: skip
    for key, kind in kinds.items():
        if not isinstance(h.get(key), kind):
            raise _refuse(path, f"header field {key!r} is missing or malformed")
    if not (h.get("optimizer") is None or isinstance(h["optimizer"], str)):
        raise _refuse(path, "header field 'optimizer' is malformed")
    if not all(isinstance(r, dict) for r in h["history"]):
        raise _refuse(path, "header field 'history' is malformed")
    return h


def _arrays(path: str, leaves: list, members: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if set(members) != {f"a{i}" for i in range(len(leaves))}:
        raise _refuse(path, "its arrays do not match the header's list")
    out: dict[str, np.ndarray] = {}
    for i, leaf in enumerate(leaves):
        a = members[f"a{i}"]
        ok = isinstance(leaf, dict) and isinstance(leaf.get("path"), str)
        if not ok or a.dtype.kind not in _NUMERIC or a.dtype.fields is not None:
            raise _refuse(path, f"array a{i} is not a plain numeric array")
        if list(a.shape) != leaf.get("shape") or a.dtype.name != leaf.get("dtype"):
            raise _refuse(path, f"array a{i} does not match the header ({leaf})")
        out[leaf["path"]] = a
    if len(out) != len(leaves):
        raise _refuse(path, "the header lists a path twice")
    return out
