"""``rbfopt export``: a finished run's mesh in another format, from its stored files.

A run whose problem has a mesh (``to_mesh`` with a 2-D node set, or a ``domain``)
writes ``mesh.msh``: the triangles (tetrahedra in 3-D) of its best node set inside the
domain, the boundary facets tagged with the domain's groups (Gmsh physical groups),
and the node data (``u_h``, ``error``, ``kind``, ``group``, ...) as point data.
:func:`export_run` reads that file back and writes it as ``.msh``, ``.vtu`` or
``.xdmf`` under a new name (``export.<format>`` in the run folder by default):
nothing is rebuilt or solved, so an export takes the time of reading and writing a
file, and no file of the run is ever written over. A run without ``mesh.msh`` (a node
set that is neither 2-D nor in a domain) exports its ``optimized.vtu`` node cloud as
``.vtu`` or ``.xdmf``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import meshio
import numpy as np

from .. import mesh as fe
from .catalog import CLIError
from .checkpoint import CHECKPOINT_NAME

__all__ = ["RUN_FILES", "export_run", "read_layout", "cmd_export"]

#: Files a run writes (``summary.json`` lists those of a given run): never exported over.
RUN_FILES = frozenset(
    {
        "summary.json",
        "history.csv",
        CHECKPOINT_NAME,
        "convergence.png",
        "nodes.png",
        "fields.png",
        "initial.vtu",
        "optimized.vtu",
        "mesh.msh",
        "initial.msh",
    }
)
#: Point data that hold categories (integers written as floats by Gmsh 2.2).
_CATEGORIES = ("kind", "group", "boundary")


def read_layout(path: str) -> meshio.Mesh:
    """A run's ``mesh.msh`` as written: cells, boundary facets with their Gmsh tags and
    names, point data; the categorical point data (``kind``, ``group``, ``boundary``)
    back as integers, and the facets' group ids as cell data ``group`` (physical tag
    - 1, as :func:`rbfopt.mesh.triangulate` gives them) for formats without Gmsh tags.

    Examples:
      >>> import os, tempfile, numpy as np
      >>> m = fe.delaunay(np.array([[0, 0], [1, 0], [1, 1], [0, 1.0]]),
      ...                 point_data={"kind": [2, 2, 2, 2]})
      >>> path = fe.write(m, os.path.join(tempfile.mkdtemp(), "mesh.msh"))
      >>> back = read_layout(path)
      >>> back.cells_dict["triangle"].shape, back.point_data["kind"].dtype
      ((2, 3), dtype('int32'))
    """
    m = meshio.read(path, file_format="gmsh")
    for k in _CATEGORIES:
        v = m.point_data.get(k)
        if v is not None and np.all(v == np.round(v)):
            m.point_data[k] = np.asarray(v).astype(np.int32)
    tags = m.cell_data.get("gmsh:physical")
    if tags is not None and "group" not in m.cell_data:
        m.cell_data["group"] = [np.asarray(t, dtype=np.int32) - 1 for t in tags]
    return m


def _run_folder(run: str) -> tuple[str, dict]:
    """The run's folder and its ``summary.json`` (read once; ``{}`` if unreadable)."""
    folder = os.path.dirname(os.path.abspath(run)) if os.path.isfile(run) else os.path.abspath(run)
    path = os.path.join(folder, "summary.json")
    if not os.path.isfile(path):
        raise CLIError(
            f"{run}: no finished run here (no summary.json); `rbfopt run ... --out "
            f"{run} --resume` finishes an interrupted one"
        )
    try:
        with open(path) as f:
            summary = json.load(f)
    except (OSError, ValueError):
        summary = {}
    return folder, summary if isinstance(summary, dict) else {}


def _protected(folder: str, summary: dict) -> set[str]:
    """Real paths of the run's own files."""
    listed = summary.get("files", [])
    names = RUN_FILES | {n for n in listed if isinstance(n, str)}
    return {os.path.realpath(os.path.join(folder, n)) for n in names}


def _check_out(out: str, fmt: str, folder: str, summary: dict) -> None:
    targets = [out]
    if fmt == "xdmf":  # meshio's XDMF writer puts the arrays in a sibling .h5
        targets.append(os.path.splitext(out)[0] + ".h5")
    own = _protected(folder, summary)
    for t in targets:
        if os.path.realpath(t) in own:
            raise CLIError(f"--out: {t} is a file of the run; export writes new files only")


def _warn_if_stale(folder: str, summary: dict) -> None:
    """A checkpoint ahead of the outputs is an unfinished ``--resume``: the stored mesh
    is the previous finished run's."""
    from .checkpoint import load

    try:
        done = int(summary.get("steps", -1))
        step = load(folder).step
    except (OSError, ValueError, TypeError):
        return
    if step > done >= 0:
        print(
            f"warning: the outputs are of step {done}, the checkpoint of step {step} (an "
            "unfinished --resume): exporting the outputs' mesh",
            file=sys.stderr,
        )


def export_run(run: str, fmt: str = "vtu", out: str | None = None) -> tuple[str, meshio.Mesh]:
    """Write the mesh of the finished run in the folder ``run`` (or of its
    ``checkpoint.npz``) as ``fmt`` (``"msh"``, ``"vtu"``, ``"xdmf"``) into ``out``
    (default ``export.<fmt>`` in the run folder). Returns ``(path, mesh)``.

    Raises:
      CLIError: no finished run in ``run``, ``out`` naming a file of the run, or a
        run with no triangulation asked for ``.msh``.

    Examples:
      >>> import os, tempfile, jax.numpy as jnp, numpy as np
      >>> from rbfopt.app import Problem, run as optimize
      >>> from rbfopt.app.outputs import publish
      >>> pts = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.4, 0.6]])
      >>> prob = Problem("tri", lambda: jnp.zeros(1), lambda p: jnp.sum(p**2),
      ...                to_mesh=lambda p: fe.node_cloud(pts, {"u": pts[:, 0]}))
      >>> d = tempfile.mkdtemp()
      >>> _ = publish(prob, optimize(prob, "sgd", 1, progress=False), d, {"problem": "tri"})
      >>> path, m = export_run(d, "vtu")
      >>> os.path.basename(path), m.cells_dict["triangle"].shape, "u" in m.point_data
      ('export.vtu', (4, 3), True)
    """
    if fmt not in fe.FORMATS:
        raise CLIError(f"--format: unknown format {fmt!r}; known: {', '.join(fe.FORMATS)}")
    folder, summary = _run_folder(run)
    out = out or os.path.join(folder, "export" + fe.FORMATS[fmt])
    _check_out(out, fmt, folder, summary)
    _warn_if_stale(folder, summary)
    layout = os.path.join(folder, "mesh.msh")
    if os.path.isfile(layout):
        mesh = read_layout(layout)
    elif fmt != "msh" and os.path.isfile(os.path.join(folder, "optimized.vtu")):
        mesh = meshio.read(os.path.join(folder, "optimized.vtu"))
    else:
        raise CLIError(
            f"{run}: the run wrote no triangulation (mesh.msh): nothing to export as {fmt}"
        )
    try:
        from .records import ensure_out_dir

        ensure_out_dir(os.path.dirname(os.path.abspath(out)), "--out")
        fe.write(mesh, out, fmt)
    except ValueError as e:
        raise CLIError(str(e)) from None
    return out, mesh


def cmd_export(args: argparse.Namespace) -> int:
    """``rbfopt export RUN_DIR [--format F] [--out FILE]``: see :func:`export_run`."""
    out, mesh = export_run(args.checkpoint, args.format, args.out)
    cells = ", ".join(f"{len(c.data)} {c.type}" for c in mesh.cells)
    print(f"wrote {out} ({len(mesh.points)} points; cells: {cells})")
    return 0
