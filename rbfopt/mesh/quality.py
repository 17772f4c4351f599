"""Shape figures of a mesh's cells: angles and radius ratios (triangles, tetrahedra)."""

from __future__ import annotations

import meshio
import numpy as np

from .tagged import _LOCAL_FACETS, _signed_measure

__all__ = ["cell_shapes", "quality", "triangle_shapes"]


def quality(mesh: meshio.Mesh) -> dict[str, float]:
    """Shape figures of the triangles or tetrahedra of ``mesh`` (tetrahedra first).

    Triangles, with side lengths a, b, c and area A (from the cross product):
    inradius r = 2A / (a + b + c), circumradius R = abc / (4A), radius ratio
    2r / R (1 for equilateral, 0 when flat), angles by the law of cosines.
    Returns ``cells``, ``min_angle`` (degrees), ``min_radius_ratio``,
    ``mean_radius_ratio``.

    Tetrahedra, with volume V and face areas S_i: r = 3V / sum S_i; R from the
    products of opposite edge lengths (ab, cd, ef):
    R = sqrt((P+Q+S)(P+Q-S)(P-Q+S)(-P+Q+S)) / (24V); radius ratio 3r / R (1 for
    regular); dihedral angle of faces i, j = pi - angle between their outward normals.
    Returns ``cells``, ``min_radius_ratio``, ``mean_radius_ratio``,
    ``min_dihedral`` (degrees).

    Examples:
      >>> import meshio, numpy as np
      >>> tri = meshio.Mesh([[0, 0], [1, 0], [0.5, np.sqrt(3) / 2]], [("triangle", [[0, 1, 2]])])
      >>> {k: round(v, 9) for k, v in quality(tri).items()}
      {'cells': 1, 'min_angle': 60.0, 'min_radius_ratio': 1.0, 'mean_radius_ratio': 1.0}
    """
    cells = {k: v for k, v in mesh.cells_dict.items() if len(v)}
    if "tetra" in cells:
        x = np.asarray(mesh.points, dtype=np.float64)[np.asarray(cells["tetra"])]
        return _tet_quality(x)
    if "triangle" in cells:
        x = np.asarray(mesh.points, dtype=np.float64)[np.asarray(cells["triangle"])]
        return _tri_quality(x)
    raise ValueError(f"mesh: no triangle or tetra cells (has {sorted(cells)})")


def triangle_shapes(mesh: meshio.Mesh) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle of ``mesh``: the radius ratio 2 r / R and the smallest angle
    (degrees), for histograms.

    Examples:
      >>> import meshio, numpy as np
      >>> tri = meshio.Mesh([[0, 0], [1, 0], [0, 1]], [("triangle", [[0, 1, 2]])])
      >>> ratio, angle = triangle_shapes(tri)
      >>> round(float(ratio[0]), 6), round(float(angle[0]), 6)
      (0.828427, 45.0)
    """
    x = np.asarray(mesh.points, dtype=np.float64)[np.asarray(mesh.cells_dict["triangle"])]
    ratio, angle = _tri_shapes(x)
    return ratio, angle.min(axis=1)


def cell_shapes(mesh: meshio.Mesh) -> tuple[str, np.ndarray, np.ndarray]:
    """Per cell of ``mesh`` (tetrahedra first, else triangles): the cell kind, the
    radius ratio (1 for the regular simplex) and the smallest angle in degrees (of the
    corners for triangles, dihedral for tetrahedra), for histograms.

    Examples:
      >>> import meshio, numpy as np
      >>> tet = meshio.Mesh(np.r_[np.zeros((1, 3)), np.eye(3)], [("tetra", [[0, 1, 2, 3]])])
      >>> kind, ratio, angle = cell_shapes(tet)
      >>> kind, round(float(angle[0]), 4)  # the corner tetrahedron: acos(1/sqrt(3))
      ('tetra', 54.7356)
    """
    cells = {k: v for k, v in mesh.cells_dict.items() if len(v)}
    if "tetra" in cells:
        ratio, dihedral = _tet_shapes(np.asarray(mesh.points, float)[np.asarray(cells["tetra"])])
        return "tetra", ratio, dihedral.min(axis=1)
    return "triangle", *triangle_shapes(mesh)


def _tri_quality(x: np.ndarray) -> dict[str, float]:
    ratio, angle = _tri_shapes(x)
    return {"cells": len(x), "min_angle": float(angle.min()), **_ratios(ratio)}


def _tri_shapes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # side k is opposite vertex k
    side = np.linalg.norm(x[:, [2, 0, 1]] - x[:, [1, 2, 0]], axis=2)
    e1, e2 = x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]
    if x.shape[2] == 2:  # area from the z component of the cross product
        area = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    else:
        area = 0.5 * np.linalg.norm(np.cross(e1, e2), axis=1)
    a, b, c = side.T
    ratio = 2 * (2 * area / side.sum(1)) / (a * b * c / np.maximum(4 * area, 1e-300))
    nb, nc = side[:, [1, 2, 0]], side[:, [2, 0, 1]]
    cos = (nb**2 + nc**2 - side**2) / np.maximum(2 * nb * nc, 1e-300)
    return ratio, np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _tet_quality(x: np.ndarray) -> dict[str, float]:
    ratio, dihedral = _tet_shapes(x)
    return {"cells": len(x), **_ratios(ratio), "min_dihedral": float(dihedral.min())}


def _tet_shapes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The radius ratios (m,) and dihedral angles in degrees (m, 6) of tetrahedra."""
    vol = np.abs(_signed_measure(x))
    faces = x[:, _LOCAL_FACETS[3]]  # (m, 4, 3 vertices, 3): outward when vol > 0
    n = np.cross(faces[:, :, 1] - faces[:, :, 0], faces[:, :, 2] - faces[:, :, 0])
    n *= np.sign(_signed_measure(x))[:, None, None]  # outward for either orientation
    r_in = 3 * vol / np.maximum(0.5 * np.linalg.norm(n, axis=2).sum(1), 1e-300)
    edge = np.linalg.norm(x[:, [0, 0, 0, 2, 1, 1]] - x[:, [1, 2, 3, 3, 3, 2]], axis=2)
    P, Q, S = (edge[:, :3] * edge[:, 3:]).T  # products of opposite edge lengths
    prod = (P + Q + S) * (P + Q - S) * (P - Q + S) * (-P + Q + S)
    r_out = np.sqrt(np.maximum(prod, 0)) / np.maximum(24 * vol, 1e-300)
    u = n / np.maximum(np.linalg.norm(n, axis=2, keepdims=True), 1e-300)
    i, j = np.triu_indices(4, 1)
    cos = -np.sum(u[:, i] * u[:, j], axis=2)
    return 3 * r_in / r_out, np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _ratios(ratio: np.ndarray) -> dict[str, float]:
    return {"min_radius_ratio": float(ratio.min()), "mean_radius_ratio": float(ratio.mean())}
