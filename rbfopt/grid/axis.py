"""Per-axis query handling: extrapolation mapping, interval search, basis weights.

On interval ``j`` of an axis the interpolant is ``p_j(t) = Σ_k c_{jk} t^k`` with
``t = x - x_j`` (degree 1 or 3), so a query's weights on the coefficient row ``c_j``
are ``φ_k(t) = t^k`` and, for the ``d``-th derivative, ``φ_k^{(d)}(t) = k!/(k-d)! t^{k-d}``.
The same weights serve the forward map (gather ``c_j`` and contract) and the adjoint
(scatter ``ȳ φ`` into row ``j``).
"""

from __future__ import annotations

import hashlib
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .extrap import ClampExtrap, FillExtrap, NoExtrap, WrapExtrap

__all__ = ["AxisQueries", "Search", "make_search", "prepare_axis", "basis_weights"]


@jax.tree_util.register_pytree_node_class
class Search:
    """How queries find their interval on one axis (grid-only, data-free).

    * ``"uniform"``: ``j = ⌊(x - x_0)/h⌋`` — no search.
    * ``"bucket"``: the domain is cut into N equal buckets; bucket ``b`` stores the
      first and last interval it can touch (``lo[b]``, ``hi[b]``, one interval of
      margin for rounding), and a fixed number ``steps = ⌈log₂ max(hi - lo + 1)⌉`` of
      bisection steps finishes the search: O(1) per query for any grid that is not
      extremely graded, and exact for every grid.
    * ``"bisect"``: :func:`jax.numpy.searchsorted` (grids only known under tracing).

    The tables are numpy arrays held as *static* pytree data (hashed by content): they
    belong to the concrete grid given at construction, are jit constants, and take no
    part in differentiation.
    """

    def __init__(self, kind: str, lo=None, hi=None, steps: int = 0):
        self.kind, self.lo, self.hi, self.steps = kind, lo, hi, steps

    def _key(self):
        def digest(a):
            return None if a is None else (a.shape, hashlib.sha1(a.tobytes()).hexdigest())

        return (self.kind, digest(self.lo), digest(self.hi), self.steps)

    def __hash__(self):
        return hash(self._key())

    def __eq__(self, other):
        return isinstance(other, Search) and self._key() == other._key()

    def tree_flatten(self):
        return (), self

    @classmethod
    def tree_unflatten(cls, aux, children):
        return aux


def make_search(knots) -> Search:
    """Pick the search for a knot vector (concrete → uniform or bucket, else bisect)."""
    if isinstance(knots, jax.core.Tracer):
        return Search("bisect")
    xv = np.asarray(knots, dtype=np.float64)
    n_int = xv.shape[0] - 1
    d = np.diff(xv)
    eps = np.finfo(np.asarray(knots).dtype).eps
    if n_int < 2 or np.max(np.abs(d - d.mean())) <= 64 * eps * np.max(np.abs(xv)):
        return Search("uniform")
    edges = xv[0] + (xv[-1] - xv[0]) * np.arange(n_int + 1) / n_int
    first = np.searchsorted(xv, edges[:-1], side="right") - 2  # one interval of margin
    last = np.searchsorted(xv, edges[1:], side="right")
    lo = np.clip(first, 0, n_int - 1).astype(np.int32)
    hi = np.clip(last, 0, n_int - 1).astype(np.int32)
    steps = int(np.ceil(np.log2(np.max(hi - lo) + 1)))
    return Search("bucket", lo, hi, steps)


class AxisQueries(NamedTuple):
    """Queries located on one axis: interval ``index``, offset ``t = x - x_j`` and masks.

    ``outside``: query outside the domain on a Fill/NoExtrap axis (linear part masked,
    offset added) — ``None`` when the rule never masks.  ``clamped``: query was clamped
    (derivatives along this axis vanish) — ``None`` unless ClampExtrap.
    """

    index: jax.Array
    t: jax.Array
    outside: jax.Array | None
    clamped: jax.Array | None


def _locate(knots, xq, search: Search):
    """Interval ``j ∈ [0, N-1]`` with ``x_j ≤ xq < x_{j+1}`` (end pieces extended) and
    ``t = xq - x_j``."""
    n_int = knots.shape[0] - 1
    if search.kind == "uniform":
        h = (knots[-1] - knots[0]) / n_int
        j = jnp.clip(jnp.floor((xq - knots[0]) / h), 0, n_int - 1).astype(jnp.int32)
        # ⌊·⌋ may land one interval off when xq is (within rounding) a knot; settle it
        # against the stored knots so the convention is exactly x_j ≤ xq < x_{j+1}.
        up = (j < n_int - 1) & (knots.at[j + 1].get(mode="promise_in_bounds") <= xq)
        j = jnp.where(up, j + 1, j)
        down = (j > 0) & (knots.at[j].get(mode="promise_in_bounds") > xq)
        j = jnp.where(down, j - 1, j)
        return j, xq - knots.at[j].get(mode="promise_in_bounds")
    if search.kind == "bucket":
        hb = (knots[-1] - knots[0]) / n_int
        b = jnp.clip(jnp.floor((xq - knots[0]) / hb), 0, n_int - 1).astype(jnp.int32)
        lo = jnp.asarray(search.lo).at[b].get(mode="promise_in_bounds")
        hi = jnp.asarray(search.hi).at[b].get(mode="promise_in_bounds")
        for _ in range(search.steps):
            # invariant: x_lo ≤ xq (or lo = 0) and xq < x_{hi+1} (or hi = N-1)
            mid = (lo + hi + 1) // 2
            right = knots.at[mid].get(mode="promise_in_bounds") <= xq
            lo = jnp.where(right, mid, lo)
            hi = jnp.where(right, hi, mid - 1)
        j = lo
    else:
        j = jnp.searchsorted(knots, xq, side="right", method="scan_unrolled")
        j = jnp.clip(j - 1, 0, n_int - 1).astype(jnp.int32)
    return j, xq - knots.at[j].get(mode="promise_in_bounds")


def prepare_axis(knots, xq, extrap, search: Search) -> AxisQueries:
    """Map ``xq`` by the axis' extrapolation rule and locate it on ``knots``."""
    lo, hi = knots[0], knots[-1]
    outside = clamped = None
    if isinstance(extrap, ClampExtrap):
        clamped = (xq < lo) | (xq > hi)
        xq = jnp.clip(xq, lo, hi)
    elif isinstance(extrap, WrapExtrap):
        xq = lo + jnp.mod(xq - lo, hi - lo)
    elif isinstance(extrap, (FillExtrap, NoExtrap)):
        outside = (xq < lo) | (xq > hi)
    j, t = _locate(knots, xq, search)
    return AxisQueries(j, t, outside, clamped)


def basis_weights(q: AxisQueries, degree: int, deriv: int) -> list:
    """Weights ``φ_k^{(deriv)}(t)`` for ``k = 0..degree``: a list of (m,) arrays, with
    ``None`` for weights that vanish identically (``k < deriv``).  Zero where the query
    was clamped and ``deriv > 0``.

    A list of columns rather than an (m, k) array: XLA on CPU vectorizes elementwise
    work on long 1-D arrays far better than short trailing axes.
    """
    t = q.t
    powers = [None, t]  # t^0 handled as the constant below
    for _ in range(2, degree + 1):
        powers.append(powers[-1] * t)
    out = []
    for k in range(degree + 1):
        if k < deriv:
            out.append(None)
            continue
        c = float(math.prod(range(k - deriv + 1, k + 1)))  # k! / (k - deriv)!
        w = jnp.full_like(t, c) if k == deriv else c * powers[k - deriv]
        if deriv > 0 and q.clamped is not None:
            w = jnp.where(q.clamped, 0, w)
        out.append(w)
    return out
