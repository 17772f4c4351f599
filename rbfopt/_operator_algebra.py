"""The base of operator descriptions and their algebra (private; see :mod:`rbfopt.operators`).

:class:`Operator` carries the value semantics and the operators ``+``, ``*``, ``-``;
:class:`Sum`, :class:`Scaled` and :class:`Composed` are the descriptions that algebra
builds. The helpers here (directional derivatives, argument checks) serve every
description. All names are re-exported by :mod:`rbfopt.operators`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._util import check_int, is_tracer

__all__ = ["Composed", "Fn", "Operator", "Scaled", "Sum"]

Fn = Callable[[jax.Array], jax.Array]


def _unit(x: jax.Array, dim: int) -> jax.Array:
    return jnp.zeros_like(x).at[dim].set(1.0)


def _dir_deriv(f: Fn, v: Callable[[jax.Array], jax.Array]) -> Fn:
    """x -> D_v f(x), with the direction ``v(x)`` built from x's shape/dtype."""

    def g(x):
        return jax.jvp(f, (x,), (v(x),))[1]

    return g


def _index(value: Any, name: str) -> int:
    """A non-negative integer index, as a Python int (equal descriptions hash equal)."""
    return check_int(name, value, 0, what="index (0-based)")


def _concrete(value: Any, name: str, what: str, hint: str) -> np.ndarray:
    # Descriptions are static arguments of jitted builds: a tracer inside one would
    # leak out of its trace, and an array has no value hash.
    if is_tracer(value):
        raise ValueError(
            f"{name}: {what} must be concrete (operator descriptions are static, hashable "
            f"values), got a traced array; {hint}"
        )
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {what} must hold real numbers, got {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: {what} must be finite, got {value!r}")
    return arr


def _check_dim(dim: Any, d: int | None, name: str = "dim") -> None:
    if d is not None and not 0 <= dim < d:
        raise ValueError(f"{name}: dimension index {dim} out of range for d={d} (0-based)")


class Operator:
    """Base class of linear operator descriptions.

    ``op(f)`` returns ``x -> (L f)(x)``. ``out_shape(d)`` is ``()`` for scalar operators.
    ``order`` is the highest derivative order (``None`` if unknown, e.g. Custom).
    Descriptions compare and hash by value, so equal ones share compiled builds.

    Examples:
      >>> import rbfopt as ro
      >>> op = ro.Laplacian() + 2.0 * ro.Partial(1, 0)
      >>> op == ro.Laplacian() + 2 * ro.Partial(1, 0), op.order
      (True, 2)
      >>> hash(op) == hash(ro.Laplacian() + 2.0 * ro.Partial(1, 0))
      True
    """

    order: int | None = None
    # numpy defers ``array * op`` to ``op.__rmul__`` (one Scaled, or a clear error)
    # instead of building an object array of descriptions
    __array_ufunc__ = None

    def __call__(self, f: Fn) -> Fn:  # pragma: no cover - abstract
        raise NotImplementedError

    def out_shape(self, d: int) -> tuple[int, ...]:
        return ()

    def validate(self, d: int) -> None:
        """Raise ValueError if the description does not fit dimension ``d``."""

    def of_radial(self, phi: Fn, s: jax.Array, d: int) -> jax.Array | None:
        """``L`` applied to a radial kernel, in closed form, or ``None`` where there is none.

        For ``f(x) = phi(|x - xi|^2)`` returns ``(L f)(x)`` as a function of
        ``s = |x - xi|^2`` (``phi`` elementwise; the result has the shape of ``s``), so
        that a weight build evaluates it elementwise instead of differentiating the
        kernel once per coordinate. Operators without a closed form (the default) are
        applied by JAX differentiation of the kernel.
        """
        return None

    def __add__(self, other: Operator) -> Operator:
        if not isinstance(other, Operator):
            return NotImplemented
        return Sum(self, other)

    def __mul__(self, c: Any) -> Operator:
        if isinstance(c, Operator):
            return NotImplemented
        return Scaled(c, self)

    __rmul__ = __mul__

    def __neg__(self) -> Operator:
        return Scaled(-1.0, self)

    def __sub__(self, other: Operator) -> Operator:
        return Sum(self, Scaled(-1.0, other))


@dataclass(frozen=True)
class Sum(Operator):
    """``(L1 + L2) f = L1 f + L2 f`` (operands must have the same ``out_shape``).

    Examples:
      >>> from rbfopt.operators import Laplacian, Partial
      >>> Laplacian() + Partial(1, 0) == Sum(Laplacian(), Partial(1, 0))
      True
    """

    a: Operator
    b: Operator

    def __post_init__(self):
        for name in ("a", "b"):
            if not isinstance(getattr(self, name), Operator):
                raise ValueError(f"{name}: must be an Operator, got {getattr(self, name)!r}")

    @property
    def order(self) -> int | None:  # type: ignore[override]
        oa, ob = self.a.order, self.b.order
        return None if oa is None or ob is None else max(oa, ob)

    def out_shape(self, d: int) -> tuple[int, ...]:
        sa, sb = self.a.out_shape(d), self.b.out_shape(d)
        if sa != sb:
            raise ValueError(f"op: cannot add operators with output shapes {sa} and {sb}")
        return sa

    def validate(self, d: int) -> None:
        self.a.validate(d)
        self.b.validate(d)
        self.out_shape(d)

    def of_radial(self, phi: Fn, s: jax.Array, d: int) -> jax.Array | None:
        fa = self.a.of_radial(phi, s, d)
        fb = None if fa is None else self.b.of_radial(phi, s, d)
        return None if fb is None else fa + fb

    def __call__(self, f: Fn) -> Fn:
        fa, fb = self.a(f), self.b(f)
        return lambda x: fa(x) + fb(x)


@dataclass(frozen=True)
class Scaled(Operator):
    """``(c L) f = c (L f)`` for a constant ``c`` (a concrete real number, stored as float).

    A traced coefficient cannot enter a description; by linearity, scale the weights
    (or the operator's output) instead.

    Examples:
      >>> from rbfopt.operators import Laplacian, Partial
      >>> 2 * Laplacian() == Scaled(2.0, Laplacian())
      True
      >>> (-Partial(1, 0)).c
      -1.0
    """

    c: Any
    op: Operator

    def __post_init__(self):
        c = _concrete(self.c, "c", "the coefficient", "scale the weights instead")
        if c.ndim != 0:
            raise ValueError(f"c: the coefficient must be a scalar, got shape {c.shape}")
        if not isinstance(self.op, Operator):
            raise ValueError(f"op: must be an Operator, got {self.op!r}")
        object.__setattr__(self, "c", float(c))

    @property
    def order(self) -> int | None:  # type: ignore[override]
        return self.op.order

    def out_shape(self, d: int) -> tuple[int, ...]:
        return self.op.out_shape(d)

    def validate(self, d: int) -> None:
        self.op.validate(d)

    def of_radial(self, phi: Fn, s: jax.Array, d: int) -> jax.Array | None:
        inner = self.op.of_radial(phi, s, d)
        return None if inner is None else self.c * inner

    def __call__(self, f: Fn) -> Fn:
        g = self.op(f)
        return lambda x: self.c * g(x)


@dataclass(frozen=True)
class Composed(Operator):
    """``(L1 L2) f = L1 (L2 f)``: ``outer`` applied after ``inner`` (scalar operators).

    Equal by its parts, unlike a ``Custom(lambda f: outer(inner(f)))`` built per call
    (a new function object each time, so a new compilation of every build using it).

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt.operators import Partial
      >>> op = Composed(Partial(1, 0), Partial(1, 1))
      >>> op == Composed(Partial(1, 0), Partial(1, 1)), op.order
      (True, 2)
      >>> float(op(lambda x: x[0] ** 2 * x[1] ** 2)(jnp.array([1.0, 3.0])))
      12.0
    """

    outer: Operator
    inner: Operator

    def __post_init__(self):
        for name in ("outer", "inner"):
            if not isinstance(getattr(self, name), Operator):
                raise ValueError(f"{name}: must be an Operator, got {getattr(self, name)!r}")

    @property
    def order(self) -> int | None:  # type: ignore[override]
        oa, ob = self.outer.order, self.inner.order
        return None if oa is None or ob is None else oa + ob

    def validate(self, d: int) -> None:
        self.outer.validate(d)
        self.inner.validate(d)
        if self.outer.out_shape(d) or self.inner.out_shape(d):
            raise ValueError("op: only scalar operators can be composed")

    def __call__(self, f: Fn) -> Fn:
        return self.outer(self.inner(f))
