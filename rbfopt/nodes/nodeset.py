"""The node set a generator returns: points with their kind, group and normal."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INTERIOR, BOUNDARY, FEATURE = 0, 1, 2


@dataclass(frozen=True, eq=False)
class NodeSet:
    """Nodes of a domain with what a discretization needs to know about each.

    Attributes:
      points: (n, d) float64 coordinates.
      kind: (n,) int8: 0 interior, 1 boundary, 2 fixed feature (a domain corner).
      group: (n,) int64 boundary group id (an index into ``group_names``), -1 inside.
      normals: (n, d) outward unit normals on the boundary, zero for interior nodes.
      group_names: the domain's group names.

    Examples:
      >>> import numpy as np
      >>> ns = NodeSet(np.zeros((1, 2)), np.zeros(1, np.int8), np.array([-1]),
      ...              np.zeros((1, 2)), ("outer",))
      >>> len(ns), ns.dim
      (1, 2)
    """

    points: np.ndarray
    kind: np.ndarray
    group: np.ndarray
    normals: np.ndarray
    group_names: tuple[str, ...]

    @property
    def dim(self) -> int:
        """Spatial dimension."""
        return int(self.points.shape[1])

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def take(self, index: np.ndarray) -> NodeSet:
        """The nodes ``index`` (an index array or mask), every per-node array alike.

        Examples:
          >>> import numpy as np
          >>> ns = NodeSet(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([0, 1], np.int8),
          ...              np.array([-1, 0]), np.array([[0.0, 0.0], [0.0, -1.0]]), ("outer",))
          >>> ns.take(np.array([1, 0])).group.tolist()
          [0, -1]
        """
        return NodeSet(
            self.points[index], self.kind[index], self.group[index], self.normals[index],
            self.group_names,
        )  # fmt: skip

    def to_meshio(self):
        """A ``meshio.Mesh`` with one vertex cell per node and point data ``kind``,
        ``group`` and ``normals``; points and normals have three components (zero-padded
        in 2-D, as VTK formats store them).

        Examples:
          >>> import numpy as np
          >>> ns = NodeSet(np.zeros((2, 2)), np.array([0, 1], np.int8), np.array([-1, 0]),
          ...              np.array([[0.0, 0.0], [0.0, -1.0]]), ("outer",))
          >>> m = ns.to_meshio()
          >>> m.cells[0].type, m.points.shape, m.point_data["normals"].shape
          ('vertex', (2, 3), (2, 3))
        """
        import meshio

        n = len(self)
        pts, nrm = np.zeros((n, 3)), np.zeros((n, 3))
        pts[:, : self.dim] = self.points
        nrm[:, : self.dim] = self.normals
        return meshio.Mesh(
            pts,
            [("vertex", np.arange(n).reshape(-1, 1))],
            point_data={
                "kind": self.kind.astype(np.int32),
                "group": self.group.astype(np.int32),
                "normals": nrm,
            },
        )
