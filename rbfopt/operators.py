"""Linear differential operator descriptions and their algebra.

An operator description ``L`` turns a function ``f: R^d -> R^M`` (scalar or
vector-valued: kernels are scalar, the monomial basis is vector-valued) into the
function ``x -> (L f)(x)``, of shape ``out_shape + (M,)``-trailing as ``f``'s output.
Everything is expressed with JAX forward-mode differentiation (nested ``jax.jvp``
along coordinate axes), so the same description acts on kernels and monomials, the
actions are exact, and they can be differentiated again (w.r.t. positions and eps).

Scalar operators: :class:`Identity`, :class:`Partial`, :class:`MixedPartial`,
:class:`Laplacian`, :class:`Directional`, :class:`Custom`, and ``L1 + L2``, ``c * L``.
Vector operators: :class:`Gradient` (``out_shape = (d,)``) and :class:`Hessian`
(``out_shape = (d, d)``).

Descriptions are immutable values: they compare and hash by value (a :class:`Custom`
by its function object), because weight builds take them as static arguments of
``jax.jit``. Rebuilding ``ro.Laplacian() + 2.0 * ro.Partial(1, 0)`` inside a loss
therefore reuses the compiled build instead of compiling it again. Numbers in a
description (a :class:`Directional`'s ``v``, a :class:`Scaled`'s ``c``) must be
concrete; they are stored as Python floats.

The module is longer than most (~530 lines) on purpose: the descriptions are one
concept, they share the base class's algebra and value semantics, and a third of
the lines are their doctest examples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._util import is_tracer

__all__ = [
    "Operator",
    "Identity",
    "Partial",
    "MixedPartial",
    "Laplacian",
    "Gradient",
    "Hessian",
    "Directional",
    "Custom",
    "Sum",
    "Scaled",
    "Composed",
]

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
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: must be a non-negative integer (0-based), got {value!r}")
    return int(value)


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
class Identity(Operator):
    """``L f = f`` (interpolation / regridding).

    Examples:
      >>> import jax.numpy as jnp
      >>> float(Identity()(jnp.sin)(jnp.array(0.5))) == float(jnp.sin(0.5))
      True
    """

    order = 0

    def of_radial(self, phi: Fn, s: jax.Array, d: int) -> jax.Array:
        return phi(s)

    def __call__(self, f: Fn) -> Fn:
        return f


@dataclass(frozen=True)
class Partial(Operator):
    """``L f = d^order f / dx_dim^order`` (``dim`` 0-based, ``order >= 1``).

    Examples:
      >>> import jax.numpy as jnp
      >>> f = lambda x: x[0] ** 3 * x[1]
      >>> float(Partial(2, 0)(f)(jnp.array([2.0, 5.0])))  # 6 x y
      60.0
    """

    order: int = 1
    dim: int = 0

    def __post_init__(self):
        if (
            isinstance(self.order, bool)
            or not isinstance(self.order, (int, np.integer))
            or self.order < 1
        ):
            raise ValueError(f"order: derivative order must be an integer >= 1, got {self.order!r}")
        object.__setattr__(self, "order", int(self.order))
        object.__setattr__(self, "dim", _index(self.dim, "dim"))

    def validate(self, d: int) -> None:
        _check_dim(self.dim, d)

    def __call__(self, f: Fn) -> Fn:
        for _ in range(self.order):
            f = _dir_deriv(f, lambda x: _unit(x, self.dim))
        return f


@dataclass(frozen=True)
class MixedPartial(Operator):
    """``L f = d^2 f / (dx_i dx_j)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> float(MixedPartial(0, 1)(lambda x: x[0] ** 2 * x[1] ** 2)(jnp.array([1.0, 3.0])))
      12.0
    """

    i: int = 0
    j: int = 1
    order = 2

    def __post_init__(self):
        object.__setattr__(self, "i", _index(self.i, "i"))
        object.__setattr__(self, "j", _index(self.j, "j"))

    def validate(self, d: int) -> None:
        _check_dim(self.i, d, "i")
        _check_dim(self.j, d, "j")

    def __call__(self, f: Fn) -> Fn:
        g = _dir_deriv(f, lambda x: _unit(x, self.i))
        return _dir_deriv(g, lambda x: _unit(x, self.j))


@dataclass(frozen=True)
class Laplacian(Operator):
    """``L f = sum_i d^2 f / dx_i^2``.

    Examples:
      >>> import jax.numpy as jnp
      >>> float(Laplacian()(lambda x: x @ x)(jnp.array([1.0, 2.0, 3.0])))
      6.0
    """

    order = 2

    def of_radial(self, phi: Fn, s: jax.Array, d: int) -> jax.Array:
        r"""``∇² phi(|x - xi|^2) = 2 d phi'(s) + 4 s phi''(s)`` with ``s = |x - xi|^2``.

        From ``∂_i phi(s) = 2 (x - xi)_i phi'(s)`` and
        ``∂_i^2 phi(s) = 2 phi'(s) + 4 (x - xi)_i^2 phi''(s)``, summed over the ``d``
        coordinates (for ``phi = r^n``: ``n (n + d - 2) r^(n-2)``). ``phi'`` and ``phi''``
        come from forward-mode derivatives of ``phi`` in ``s``.
        """

        def d1(s):
            return jax.jvp(phi, (s,), (jnp.ones_like(s),))[1]

        dphi, d2phi = jax.jvp(d1, (s,), (jnp.ones_like(s),))
        return 2.0 * d * dphi + 4.0 * s * d2phi

    def __call__(self, f: Fn) -> Fn:
        def lap(x):
            total = 0.0
            for i in range(x.shape[-1]):
                e = lambda y, i=i: _unit(y, i)  # noqa: E731
                total = total + _dir_deriv(_dir_deriv(f, e), e)(x)
            return total

        return lap


@dataclass(frozen=True)
class Gradient(Operator):
    """Vector operator: ``(L f)_i = df/dx_i``, ``out_shape = (d,)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> Gradient()(lambda x: x[0] * x[1])(jnp.array([2.0, 3.0])).tolist()
      [3.0, 2.0]
    """

    order = 1

    def out_shape(self, d: int) -> tuple[int, ...]:
        return (d,)

    def __call__(self, f: Fn) -> Fn:
        def grad(x):
            return jnp.stack(
                [_dir_deriv(f, lambda y, i=i: _unit(y, i))(x) for i in range(x.shape[-1])]
            )

        return grad


@dataclass(frozen=True)
class Hessian(Operator):
    """Vector operator: ``(L f)_ij = d^2 f/(dx_i dx_j)``, ``out_shape = (d, d)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> Hessian()(lambda x: x[0] * x[1])(jnp.array([2.0, 3.0])).tolist()
      [[0.0, 1.0], [1.0, 0.0]]
    """

    order = 2

    def out_shape(self, d: int) -> tuple[int, ...]:
        return (d, d)

    def __call__(self, f: Fn) -> Fn:
        def hess(x):
            d = x.shape[-1]
            rows = []
            for i in range(d):
                gi = _dir_deriv(f, lambda y, i=i: _unit(y, i))
                rows.append(
                    jnp.stack([_dir_deriv(gi, lambda y, j=j: _unit(y, j))(x) for j in range(d)])
                )
            return jnp.stack(rows)

        return hess


@dataclass(frozen=True)
class Directional(Operator):
    """``L f = v . grad f`` for a constant direction ``v`` (shape ``(d,)``).

    ``v`` is stored as a tuple of floats (equal directions give equal, equally hashed
    descriptions); it must be concrete. For a traced direction, or one direction per
    evaluation point, use :func:`rbfopt.directional`, which contracts gradient weights
    with ``v`` (an ordinary, differentiable array there).

    Examples:
      >>> import numpy as np, jax.numpy as jnp
      >>> Directional(np.array([0.6, 0.8])).v
      (0.6, 0.8)
      >>> float(Directional([0.6, 0.8])(lambda x: x[0] + 2 * x[1])(jnp.zeros(2)))
      2.2
    """

    v: Any
    order = 1

    def __post_init__(self):
        v = _concrete(
            self.v, "v", "the direction", "use rbfopt.directional(data, v) for traced directions"
        )
        if v.ndim != 1:
            raise ValueError(f"v: direction must be 1-D (shape (d,)), got shape {v.shape}")
        object.__setattr__(self, "v", tuple(float(x) for x in v))

    def validate(self, d: int) -> None:
        v = np.asarray(self.v)
        if v.shape != (d,):
            raise ValueError(f"v: direction must have shape ({d},), got {v.shape}")

    def __call__(self, f: Fn) -> Fn:
        return _dir_deriv(f, lambda x: jnp.asarray(self.v, dtype=x.dtype))


@dataclass(frozen=True)
class Custom(Operator):
    """Any linear operator JAX can differentiate.

    ``fn(f)`` maps a scalar function ``f(x)`` (``x`` of shape ``(d,)``) to the scalar
    function ``(L f)(x)``. Example: the biharmonic ``Custom(lambda f: lambda x:
    jnp.trace(jax.hessian(lambda y: jnp.trace(jax.hessian(f)(y)))(x)))``. Linearity is
    the user's promise; the weights are exact for it. Vector-valued inputs (the
    monomial basis) are handled by mapping over components.

    Two ``Custom`` descriptions are equal when they hold the same function object (and
    ``order``): define ``fn`` once, outside a loss, so rebuilt descriptions reuse the
    compiled weight build; a fresh ``lambda`` per call is a new operator and compiles
    again.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> def trace_hessian(f):
      ...     return lambda x: jnp.trace(jax.hessian(f)(x))
      >>> Custom(trace_hessian) == Custom(trace_hessian)
      True
      >>> float(Custom(trace_hessian)(lambda x: x @ x)(jnp.ones(2)))
      4.0
    """

    fn: Callable[[Fn], Fn]
    order: int | None = None

    def __post_init__(self):
        if not callable(self.fn):
            raise ValueError(f"fn: must be callable (f -> L f), got {self.fn!r}")
        if self.order is not None:
            object.__setattr__(self, "order", _index(self.order, "order"))

    def __call__(self, f: Fn) -> Fn:
        def lf(x):
            y = jax.eval_shape(f, x)
            if y.shape == ():
                return self.fn(f)(x)
            flat = lambda m: lambda z: f(z).reshape(-1)[m]  # noqa: E731
            out = jax.vmap(lambda m: self.fn(flat(m))(x))(jnp.arange(int(np.prod(y.shape))))
            return out.reshape(y.shape)

        return lf


@dataclass(frozen=True)
class Sum(Operator):
    """``(L1 + L2) f = L1 f + L2 f`` (operands must have the same ``out_shape``).

    Examples:
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
