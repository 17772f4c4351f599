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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

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
]

Fn = Callable[[jax.Array], jax.Array]


def _unit(x: jax.Array, dim: int) -> jax.Array:
    return jnp.zeros_like(x).at[dim].set(1.0)


def _dir_deriv(f: Fn, v: Callable[[jax.Array], jax.Array]) -> Fn:
    """x -> D_v f(x), with the direction ``v(x)`` built from x's shape/dtype."""

    def g(x):
        return jax.jvp(f, (x,), (v(x),))[1]

    return g


def _check_dim(dim: Any, d: int | None, name: str = "dim") -> None:
    if d is not None and not 0 <= dim < d:
        raise ValueError(f"{name}: dimension index {dim} out of range for d={d} (0-based)")


class Operator:
    """Base class of linear operator descriptions.

    ``op(f)`` returns ``x -> (L f)(x)``. ``out_shape(d)`` is ``()`` for scalar operators.
    ``order`` is the highest derivative order (``None`` if unknown, e.g. Custom).
    """

    order: int | None = None

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
    """``L f = f`` (interpolation / regridding)."""

    order = 0

    def of_radial(self, phi: Fn, s: jax.Array, d: int) -> jax.Array:
        return phi(s)

    def __call__(self, f: Fn) -> Fn:
        return f


@dataclass(frozen=True)
class Partial(Operator):
    """``L f = d^order f / dx_dim^order`` (``dim`` 0-based, ``order >= 1``)."""

    order: int = 1
    dim: int = 0

    def __post_init__(self):
        if (
            isinstance(self.order, bool)
            or not isinstance(self.order, (int, np.integer))
            or self.order < 1
        ):
            raise ValueError(f"order: derivative order must be an integer >= 1, got {self.order!r}")
        if not isinstance(self.dim, (int, np.integer)) or self.dim < 0:
            raise ValueError(f"dim: must be a non-negative integer (0-based), got {self.dim!r}")

    def validate(self, d: int) -> None:
        _check_dim(self.dim, d)

    def __call__(self, f: Fn) -> Fn:
        for _ in range(self.order):
            f = _dir_deriv(f, lambda x: _unit(x, self.dim))
        return f


@dataclass(frozen=True)
class MixedPartial(Operator):
    """``L f = d^2 f / (dx_i dx_j)``."""

    i: int = 0
    j: int = 1
    order = 2

    def validate(self, d: int) -> None:
        _check_dim(self.i, d, "i")
        _check_dim(self.j, d, "j")

    def __call__(self, f: Fn) -> Fn:
        g = _dir_deriv(f, lambda x: _unit(x, self.i))
        return _dir_deriv(g, lambda x: _unit(x, self.j))


@dataclass(frozen=True)
class Laplacian(Operator):
    """``L f = sum_i d^2 f / dx_i^2``."""

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
    """Vector operator: ``(L f)_i = df/dx_i``, ``out_shape = (d,)``."""

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
    """Vector operator: ``(L f)_ij = d^2 f/(dx_i dx_j)``, ``out_shape = (d, d)``."""

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


@dataclass(frozen=True, eq=False)
class Directional(Operator):
    """``L f = v . grad f`` for a constant direction ``v`` (shape ``(d,)``).

    For one direction per evaluation point use :func:`rbfopt.directional`, which
    contracts gradient weights with the per-node directions.
    """

    v: Any = None
    order = 1

    def validate(self, d: int) -> None:
        v = np.asarray(self.v)
        if v.shape != (d,):
            raise ValueError(f"v: direction must have shape ({d},), got {v.shape}")

    def __call__(self, f: Fn) -> Fn:
        return _dir_deriv(f, lambda x: jnp.asarray(self.v, dtype=x.dtype))


@dataclass(frozen=True, eq=False)
class Custom(Operator):
    """Any linear operator JAX can differentiate.

    ``fn(f)`` maps a scalar function ``f(x)`` (``x`` of shape ``(d,)``) to the scalar
    function ``(L f)(x)``. Example: the biharmonic ``Custom(lambda f: lambda x:
    jnp.trace(jax.hessian(lambda y: jnp.trace(jax.hessian(f)(y)))(x)))``. Linearity is
    the user's promise; the weights are exact for it. Vector-valued inputs (the
    monomial basis) are handled by mapping over components.
    """

    fn: Callable[[Fn], Fn] = None  # type: ignore[assignment]
    order: int | None = None

    def __call__(self, f: Fn) -> Fn:
        def lf(x):
            y = jax.eval_shape(f, x)
            if y.shape == ():
                return self.fn(f)(x)
            flat = lambda m: lambda z: f(z).reshape(-1)[m]  # noqa: E731
            out = jax.vmap(lambda m: self.fn(flat(m))(x))(jnp.arange(int(np.prod(y.shape))))
            return out.reshape(y.shape)

        return lf


@dataclass(frozen=True, eq=False)
class Sum(Operator):
    """``(L1 + L2) f = L1 f + L2 f`` (operands must have the same ``out_shape``)."""

    a: Operator = None  # type: ignore[assignment]
    b: Operator = None  # type: ignore[assignment]

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


@dataclass(frozen=True, eq=False)
class Scaled(Operator):
    """``(c L) f = c (L f)`` for a constant ``c``."""

    c: Any = 1.0
    op: Operator = None  # type: ignore[assignment]

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
