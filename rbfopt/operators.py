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

The base class, its algebra (:class:`Sum`, :class:`Scaled`, :class:`Composed`) and the
helpers every description uses live in :mod:`rbfopt._operator_algebra`; the names are
all importable from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._operator_algebra import (
    Composed,
    Fn,
    Operator,
    Scaled,
    Sum,
    _check_dim,
    _concrete,
    _dir_deriv,
    _index,
    _unit,
)
from ._util import check_int

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
        order = check_int("order", self.order, 1, what="derivative order")
        object.__setattr__(self, "order", order)
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
            object.__setattr__(
                self, "order", check_int("order", self.order, 0, what="derivative order")
            )

    def __call__(self, f: Fn) -> Fn:
        def lf(x):
            y = jax.eval_shape(f, x)
            if y.shape == ():
                return self.fn(f)(x)
            flat = lambda m: lambda z: f(z).reshape(-1)[m]  # noqa: E731
            out = jax.vmap(lambda m: self.fn(flat(m))(x))(jnp.arange(int(np.prod(y.shape))))
            return out.reshape(y.shape)

        return lf
