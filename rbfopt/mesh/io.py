"""Node clouds and plain triangulations as meshio meshes, and writing them.

* :func:`node_cloud`: the node set as a meshio mesh of ``vertex`` cells with point
  data (fields, boundary flags, local spacing) — written as VTU for ParaView.
* :func:`delaunay`: a Delaunay triangulation of 2-D nodes (scipy); triangles whose
  centroid lies outside a non-convex domain (``inside`` test) and slivers are
  dropped — written as Gmsh ``.msh`` or ``.xdmf`` (+ HDF5, needs h5py) for FEM
  solvers.
* :func:`write`: one entry point by format; keeps the boundary groups (Gmsh
  physical tags and names) of :func:`rbfopt.mesh.triangulate` meshes;
  atomic (temp file + ``os.replace``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from xml.sax.saxutils import quoteattr

import meshio
import numpy as np
from scipy.spatial import Delaunay, cKDTree

__all__ = ["node_cloud", "local_spacing", "delaunay", "write", "FORMATS"]

#: Export formats and their file suffixes.
FORMATS = {"vtu": ".vtu", "msh": ".msh", "xdmf": ".xdmf"}
_GMSH_TAGS = ("gmsh:physical", "gmsh:geometrical")


def _points3(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2 or p.shape[1] not in (1, 2, 3) or len(p) == 0:
        raise ValueError(f"points: expected shape (N, d), N >= 1, d in 1..3, got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("points: non-finite coordinates")
    # VTK and XDMF readers expect 3 coordinates per point
    return np.hstack([p, np.zeros((len(p), 3 - p.shape[1]))])


def local_spacing(points: np.ndarray) -> np.ndarray:
    """Distance from each node to its nearest other node (inf for a single node).

    Examples:
      >>> local_spacing([[0.0, 0.0], [0.5, 0.0], [2.0, 0.0]])
      array([0.5, 0.5, 1.5])
    """
    p = np.asarray(points, dtype=np.float64)
    if len(p) < 2:
        return np.full(len(p), np.inf)
    d, _ = cKDTree(p).query(p, k=2)
    return d[:, 1]


def node_cloud(
    points: np.ndarray,
    point_data: Mapping[str, np.ndarray] | None = None,
    boundary: np.ndarray | None = None,
) -> meshio.Mesh:
    """The node set as vertex cells with point data.

    Adds ``spacing`` (nearest-neighbour distance) and, if given, ``boundary`` (1 on
    boundary nodes, 0 inside) to ``point_data``.

    Examples:
      >>> import numpy as np
      >>> m = node_cloud(np.eye(2), {"u": [1.0, 2.0]}, boundary=[1, 0])
      >>> m.points.shape, sorted(m.point_data)
      ((2, 3), ['boundary', 'spacing', 'u'])
    """
    pts = np.asarray(points, dtype=np.float64)
    n = len(_points3(pts))
    data = {k: np.asarray(v, dtype=np.float64) for k, v in (point_data or {}).items()}
    for k, v in data.items():
        if v.shape[:1] != (n,):
            raise ValueError(f"point_data[{k!r}]: expected {n} values, got shape {v.shape}")
    data["spacing"] = local_spacing(pts.reshape(n, -1))
    if boundary is not None:
        b = np.asarray(boundary).astype(np.int32)
        if b.shape != (n,):
            raise ValueError(f"boundary: expected shape ({n},), got {b.shape}")
        data["boundary"] = b
    return meshio.Mesh(
        _points3(pts), [("vertex", np.arange(n, dtype=np.int64)[:, None])], point_data=data
    )


def delaunay(
    points: np.ndarray,
    inside: Callable[[np.ndarray], np.ndarray] | None = None,
    point_data: Mapping[str, np.ndarray] | None = None,
    min_quality: float = 1e-3,
) -> meshio.Mesh:
    """Delaunay triangulation of 2-D nodes as a meshio triangle mesh.

    Triangles whose centroid fails ``inside`` (a non-convex domain: Delaunay fills
    the convex hull) are removed, as are near-degenerate ones (area / longest edge²
    below ``min_quality`` — collinear boundary nodes make such slivers). Unused
    nodes are kept so point indices match the node set.

    Examples:
      The unit square's four corners and its centre: four triangles.

      >>> import numpy as np
      >>> m = delaunay(np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]]))
      >>> m.cells_dict["triangle"].shape
      (4, 3)
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points: triangulation needs 2-D points (N, 2), got {p.shape}")
    if len(p) < 3:
        raise ValueError(f"points: need at least 3 nodes to triangulate, got {len(p)}")
    tri = Delaunay(p).simplices.astype(np.int64)
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    area = 0.5 * np.abs((b - a)[:, 0] * (c - a)[:, 1] - (b - a)[:, 1] * (c - a)[:, 0])
    longest = np.max(
        np.stack([np.sum((b - a) ** 2, 1), np.sum((c - b) ** 2, 1), np.sum((a - c) ** 2, 1)]), 0
    )
    keep = area / np.maximum(longest, 1e-300) > min_quality
    if inside is not None:
        keep &= np.asarray(inside((a + b + c) / 3.0), dtype=bool)
    tri = tri[keep]
    if len(tri) == 0:
        raise ValueError("delaunay: no triangle left inside the domain")
    data = {k: np.asarray(v, dtype=np.float64) for k, v in (point_data or {}).items()}
    return meshio.Mesh(_points3(p), [("triangle", tri)], point_data=data)


def write(mesh: meshio.Mesh, path: str, fmt: str | None = None) -> str:
    """Write ``mesh`` to ``path`` in ``fmt`` (vtu, msh, xdmf; default from the suffix).

    A mesh with ``gmsh:physical`` cell data (:func:`rbfopt.mesh.triangulate`)
    keeps its tags and physical names (``field_data``) in ``.msh`` (Gmsh 2.2); other
    meshes get tag 1 everywhere. VTU and XDMF drop the ``gmsh:`` cell data (the
    ``group`` cell data carries the ids) and store the names where meshio's readers
    find them (``meshio.read(path).field_data``).

    The file appears atomically (written under a temporary name in the same folder,
    then renamed); XDMF's HDF5 companion is moved first, then the ``.xdmf``.
    Returns the path written.

    Examples:
      >>> import os, tempfile, meshio, numpy as np
      >>> path = os.path.join(tempfile.mkdtemp(), "nodes.vtu")
      >>> _ = write(node_cloud(np.eye(2)), path)
      >>> meshio.read(path).points.shape
      (2, 3)
    """
    if fmt is None:
        fmt = os.path.splitext(path)[1].lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"format: unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    folder = os.path.dirname(os.path.abspath(path)) or "."
    tmpdir = tempfile.mkdtemp(prefix=".export-", dir=folder)
    try:
        base = os.path.basename(path)
        tmp = os.path.join(tmpdir, base)
        if fmt == "vtu":
            meshio.write(tmp, _without_gmsh_tags(mesh), file_format="vtu", binary=True)
            _add_names(tmp, fmt, mesh.field_data)
        elif fmt == "msh":
            # Gmsh 2.2 is read by every FEM code that reads Gmsh. Binary, because
            # meshio 5.3 cannot read back the ASCII NodeData it writes. Vertex cells
            # mean nothing to a FEM solver, so only the 2-D cells go in.
            m = _cells_only(mesh, ("triangle", "tetra", "line"))
            meshio.write(tmp, m, file_format="gmsh22", binary=True)
        else:
            # meshio's XDMF writer stores heavy data in a sibling .h5 (h5py)
            meshio.write(tmp, _without_gmsh_tags(mesh), file_format="xdmf")
            _add_names(tmp, fmt, mesh.field_data)
        for name in sorted(os.listdir(tmpdir), key=lambda n: n == base):
            os.replace(os.path.join(tmpdir, name), os.path.join(folder, name))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path


def _cells_only(mesh: meshio.Mesh, types: tuple[str, ...]) -> meshio.Mesh:
    keep = [i for i, c in enumerate(mesh.cells) if c.type in types]
    if not keep:
        raise ValueError(
            f"msh: the mesh has no {'/'.join(types)} cells (rbfopt.mesh.triangulate first)"
        )
    cells = [(mesh.cells[i].type, mesh.cells[i].data) for i in keep]
    pd = {k: np.asarray(v, dtype=np.float64) for k, v in mesh.point_data.items()}
    tags = {k: mesh.cell_data[k] for k in _GMSH_TAGS if k in mesh.cell_data}
    if "gmsh:physical" in tags:  # a tagged mesh (rbfopt.mesh.triangulate): its groups and names
        cd = {k: [np.asarray(v[i], dtype=np.int32) for i in keep] for k, v in tags.items()}
        cd.setdefault("gmsh:geometrical", cd["gmsh:physical"])
        return meshio.Mesh(
            mesh.points, cells, point_data=pd, cell_data=cd, field_data=mesh.field_data
        )
    # gmsh22 needs gmsh:physical / geometrical tags per cell block
    ones = [np.ones(len(c[1]), dtype=np.int32) for c in cells]
    cd = {k: ones for k in _GMSH_TAGS}
    return meshio.Mesh(mesh.points, cells, point_data=pd, cell_data=cd)


def _without_gmsh_tags(mesh: meshio.Mesh) -> meshio.Mesh:
    """VTU / XDMF copy without the ``gmsh:`` cell data (the ``group`` ids carry them)."""
    cd = {k: v for k, v in mesh.cell_data.items() if not k.startswith("gmsh:")}
    return meshio.Mesh(
        mesh.points,
        mesh.cells,
        point_data=mesh.point_data,
        cell_data=cd,
        field_data=mesh.field_data,
    )


def _add_names(path: str, fmt: str, field_data: Mapping[str, np.ndarray]) -> None:
    """Write ``field_data`` (name -> [tag, dim]) into a VTU / XDMF file, which meshio's
    writers drop but its readers read: a VTK ``FieldData`` block, or the XDMF
    ``Information`` element meshio reads (``<map key=name dim=dim>tag</map>``)."""
    items = [(k, np.asarray(v).ravel()) for k, v in field_data.items()]
    if not items or any(v.shape != (2,) or v.dtype.kind not in "iu" for _, v in items):
        return  # not Gmsh physical names: no XDMF form for it, so none in VTU either
    if fmt == "vtu":
        arrays = "".join(
            f'<DataArray type="Int64" Name={quoteattr(k)} NumberOfTuples="{len(v)}" '
            f'format="ascii">{" ".join(map(str, v))}</DataArray>'
            for k, v in items
        )
        anchor, block = "<UnstructuredGrid>", f"<FieldData>{arrays}</FieldData>"
    else:
        maps = "".join(f'<map key={quoteattr(k)} dim="{v[1]}">{v[0]}</map>' for k, v in items)
        anchor = '<Grid Name="Grid">'
        block = f'<Information Name="Information" Value="{len(items)}">'
        block += f"<![CDATA[<main>{maps}</main>]]></Information>"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if anchor not in text:  # a meshio whose layout differs: names are lost, not the mesh
        return
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(anchor, anchor + block, 1))
