"""The domain protocol shared by :class:`Polygon` (2-D) and :class:`Surface` (3-D).

A domain is the region enclosed by a closed boundary made of simplices (segments in
2-D, triangles in 3-D) oriented so that their normals point out of the region. The
queries (:meth:`Domain.sdf`, :meth:`Domain.closest`, :meth:`Domain.contains`) find
the closest element of each point with a bounding-volume hierarchy (``_bvh``), then
compute the distance, closest point and sign on that element in differentiable JAX
(``_simplex``): the element index is piecewise constant in ``x``, so derivatives
flow through the closest-point formula alone.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _util
from . import _bvh, _simplex

_EAGER_CHUNK = 8192


class Domain:
    """Base class of the domains: properties and queries (see the module docstring).

    Attributes:
      dim: spatial dimension (2 or 3).
      bounds: (2, dim) array, lower and upper corners of the boundary's bounding box.
      measure: area (2-D) or volume (3-D) enclosed, exact for the discretized boundary.
      group_names: names of the boundary groups; a group id is an index into it.
      features: (k, dim) corner points (see the subclasses for the rule).
      feature_ids: (k,) vertex indices of the features.
      vertices: (n, dim) boundary vertices.
      elements: (e, dim) int vertex indices of the boundary elements, oriented outward.
      element_group: (e,) int group id of each element.

    Subclasses fill ``_elem`` (e, dim, dim) element coordinates and the normals that
    ``_answer`` reads, then call ``_finish``.
    """

    dim: int
    bounds: np.ndarray
    measure: float
    group_names: tuple[str, ...]
    features: np.ndarray
    feature_ids: np.ndarray
    vertices: np.ndarray
    elements: np.ndarray
    element_group: np.ndarray

    _kind: str  # "seg" or "tri": the element kernels in _simplex

    def _finish(self, **normals: np.ndarray) -> None:
        """Bounds, the hierarchy and the device arrays (``normals``: the element kernel's
        normal arrays, by name)."""
        self.bounds = np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)])
        arrays = {k: jnp.asarray(v) for k, v in normals.items()}
        arrays["elem"] = jnp.asarray(self._elem)
        arrays["group"] = jnp.asarray(self.element_group, dtype=jnp.int32)
        arrays["tree"] = _bvh.build(self._elem)
        self._arrays = arrays

    # ------------------------------------------------------------------ queries

    def _points(self, x: Any) -> jax.Array | np.ndarray:
        """``x`` checked: a JAX array when traced, else a float64 numpy array."""
        x = jnp.asarray(x) if _util.is_tracer(x) else np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x: expected shape (m, {self.dim}), got {tuple(x.shape)}")
        return x

    def _query(self, x: Any) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        x = self._points(x)
        if x.shape[0] == 0:
            z = jnp.zeros((0, self.dim), x.dtype)
            return jnp.zeros(0, x.dtype), z, z, jnp.zeros(0, jnp.int32)
        m = x.shape[0]
        if _util.is_tracer(x):
            return _run(self._kind, self._arrays, x)
        # eager calls run in chunks of one padded size, so that callers whose point
        # counts vary (node generation) compile once per domain size, not once per
        # count; numpy pads and slices, as eager JAX would compile once per shape
        size = _EAGER_CHUNK
        parts = [
            _run(self._kind, self._arrays, _pad_rows(x[a : a + size], size))
            for a in range(0, m, size)
        ]
        return tuple(
            jax.device_put(np.concatenate([np.asarray(p[i]) for p in parts])[:m]) for i in range(4)
        )

    def sdf(self, x: Any) -> jax.Array:
        """Signed distance to the boundary, shape (m,): negative inside, positive outside.

        ``x`` is (m, dim). Traceable (jit, vmap, grad, jvp); differentiable except on
        the medial axis (where the closest point jumps), with gradient the outward
        normal on the boundary. NaN queries give NaN.

        Examples:
          >>> import jax, rbfopt as ro
          >>> sq = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]])
          >>> sq.sdf([[0.5, 0.2], [1.0, 0.5], [2.0, 2.0]])
          Array([-0.2       ,  0.        ,  1.41421356], dtype=float64)
          >>> jax.grad(lambda x: sq.sdf(x).sum())(jax.numpy.array([[1.0, 0.5]]))
          Array([[1., 0.]], dtype=float64)
        """
        return self._query(x)[0]

    def closest(self, x: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Closest boundary points (m, dim), outward normals there (m, dim), group ids (m,).

        The normal is the face normal inside a segment or triangle and the
        (angle-weighted) pseudo-normal at a vertex or triangle edge. The group id is
        that of the closest element (at a vertex shared by two groups, either one).
        Points and normals are traceable and differentiable like :meth:`sdf`.

        Examples:
          >>> import rbfopt as ro
          >>> sq = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]], groups={"top": [2]})
          >>> p, n, g = sq.closest([[0.3, 1.2], [1.5, -0.5]])
          >>> p
          Array([[0.3, 1. ],
                 [1. , 0. ]], dtype=float64)
          >>> n
          Array([[ 0.        ,  1.        ],
                 [ 0.70710678, -0.70710678]], dtype=float64)
          >>> [sq.group_names[i] for i in g]
          ['top', 'outer']
        """
        _, p, n, g = self._query(x)
        return p, n, g

    def contains(self, x: Any, margin: float = 0.0) -> jax.Array:
        """Boolean (m,): ``sdf(x) < -margin`` (points farther than ``margin`` inside).

        Examples:
          >>> import rbfopt as ro
          >>> sq = ro.geometry.Polygon([[0, 0], [1, 0], [1, 1], [0, 1]])
          >>> sq.contains([[0.5, 0.5], [0.05, 0.5], [1.5, 0.5]], margin=0.1)
          Array([ True, False, False], dtype=bool)
        """
        return self.sdf(x) < -margin

    def group_id(self, name: str) -> int:
        """The id of the group ``name`` (ValueError naming the known groups otherwise).

        Examples:
          >>> import rbfopt as ro
          >>> ro.geometry.Polygon([[0, 0], [1, 0], [0, 1]], groups={"a": [1]}).group_id("outer")
          1
        """
        if name not in self.group_names:
            raise ValueError(f"name: unknown group {name!r}; known groups: {self.group_names}")
        return self.group_names.index(name)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(dim={self.dim}, elements={len(self.elements)}, "
            f"measure={self.measure:.6g}, groups={self.group_names})"
        )


@partial(jax.jit, static_argnums=0)
def _run(kind: str, arr: dict, x: jax.Array):
    """Closest element by the hierarchy, then the differentiable answer on it. Jitted at
    module level with the domain's arrays as arguments: eager calls on domains of equal
    sizes share one compilation, and no large constant is baked into the program."""
    e = arr["elem"]
    if kind == "seg":
        idx = _bvh.nearest(arr["tree"], e, _simplex.seg_dist2, x)
        ei, vn = e[idx], arr["vn"][idx]
        out = _simplex.seg_query(ei[:, 0], ei[:, 1], arr["nrm"][idx], vn[:, 0], vn[:, 1], x)
    else:
        idx = _bvh.nearest(arr["tree"], e, _simplex.tri_dist2, x)
        ei = e[idx]
        out = _simplex.tri_query(
            ei[:, 0], ei[:, 1], ei[:, 2], arr["nrm"][idx], arr["en"][idx], arr["vn"][idx], x
        )
    return (*out, arr["group"][idx])


def _pad_rows(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` extended to ``n`` rows by repeating its last row (numpy)."""
    return np.concatenate([a, np.repeat(a[-1:], n - len(a), axis=0)]) if len(a) < n else a
