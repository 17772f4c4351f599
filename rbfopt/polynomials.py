"""Monomial bases: the one ordering of exponents used everywhere, and evaluation.

Monomials in ``d`` variables of total degree ``<= deg`` are ordered by total degree,
then lexicographically with the *first* coordinate varying slowest, e.g. for d = 2,
deg = 2::

    1, x, y, x^2, x*y, y^2

:func:`exponents` is the single source of truth for this ordering. In RBF-FD the
monomials are evaluated in local coordinates ``(x - c) / h`` (``c`` the stencil
centre, ``h`` its radius) so the local saddle-point systems stay well conditioned;
the span, and hence the weights, do not depend on ``c`` and ``h``.
"""

from __future__ import annotations

import functools
import itertools
from math import comb

import jax.numpy as jnp
import numpy as np

from ._util import check_int

__all__ = ["exponents", "num_monomials", "monomials"]


def num_monomials(d: int, deg: int) -> int:
    """Number of monomials of total degree ``<= deg`` in ``d`` variables: C(deg+d, d).

    Examples:
      >>> import rbfopt as ro
      >>> ro.num_monomials(2, 2), ro.num_monomials(3, -1)
      (6, 0)
    """
    return 0 if deg < 0 else comb(deg + d, d)


@functools.cache
def _exponents(d: int, deg: int) -> np.ndarray:
    rows = []
    for total in range(deg + 1):
        # itertools.product in reverse-sorted order gives "first coordinate slowest".
        block = [a for a in itertools.product(range(total + 1), repeat=d) if sum(a) == total]
        block.sort(reverse=True)
        rows.extend(block)
    out = np.array(rows, dtype=np.int32).reshape(-1, d)
    out.setflags(write=False)
    return out


def exponents(d: int, deg: int) -> np.ndarray:
    """Exponent table, shape ``(num_monomials(d, deg), d)``, int32, in the house ordering.

    ``deg = -1`` gives an empty ``(0, d)`` table (no polynomial augmentation).

    Examples:
      Total degree first, then the first coordinate's power, highest first:

      >>> import rbfopt as ro
      >>> ro.exponents(2, 2)
      array([[0, 0],
             [1, 0],
             [0, 1],
             [2, 0],
             [1, 1],
             [0, 2]], dtype=int32)
    """
    d = check_int("d", d, 1, 3, what="dimension")
    deg = check_int("deg", deg, -1, what="polynomial degree (-1: none)")
    return _exponents(d, deg)


def monomials(x: jnp.ndarray, deg: int, axis: int = -1) -> jnp.ndarray:
    """Evaluate all monomials of degree ``<= deg`` at ``x`` (coordinates along ``axis``).

    ``x`` of shape ``(..., d)`` gives shape ``(..., M)`` in the order of
    :func:`exponents`; with ``axis`` given, the coordinates are read from and the
    monomials stacked along that axis (e.g. ``(d, k, B) -> (M, k, B)`` for ``axis=0``:
    batch-last callers need no transpose). Powers are built by repeated multiplication
    (no ``pow``), so every derivative is finite at ``x = 0``; each monomial is a product
    of static slices (no gather).

    Examples:
      >>> import jax.numpy as jnp
      >>> import rbfopt as ro
      >>> ro.monomials(jnp.array([2.0, 3.0]), 2)  # 1, x, y, x^2, xy, y^2
      Array([1., 2., 3., 4., 6., 9.], dtype=float64)
      >>> ro.monomials(jnp.ones((5, 3)), 1).shape
      (5, 4)
    """
    x = jnp.asarray(x)
    axis = axis % x.ndim
    d = x.shape[axis]
    exps = exponents(d, deg)
    coords = [jnp.take(x, i, axis=axis) for i in range(d)]
    if exps.shape[0] == 0:
        return jnp.zeros(coords[0].shape[:axis] + (0,) + coords[0].shape[axis:], x.dtype)
    # powers[i][a] = x_i ** a for a = 0..deg
    powers = []
    for xi in coords:
        pw = [jnp.ones_like(xi)]
        for _ in range(deg):
            pw.append(pw[-1] * xi)
        powers.append(pw)
    cols = []
    for e in exps:
        out = powers[0][e[0]]
        for i in range(1, d):
            out = out * powers[i][e[i]]
        cols.append(out)
    return jnp.stack(cols, axis=axis)
