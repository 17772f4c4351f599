"""Radial kernels as pytrees: PHS, IMQ, Gaussian and MQ.

A basis is a small immutable pytree. Its shape parameter ``eps`` is a leaf (so
``jax.grad`` w.r.t. ``eps`` works, and ``eps`` may be one value per stencil, shape
``(N_eval,)``); ``poly_deg`` (and the PHS ``order``) are static.

Kernels are written as functions of the difference vector ``z = x - xi``:

============  =========================  ====================  =====================
basis         phi(r)                     CPD order m           sign of projected A
============  =========================  ====================  =====================
PHS(n)        r^n, n in {1, 3, 5, 7}      (n + 1) / 2           (-1)^((n+1)/2)
IMQ(eps)      1 / sqrt(1 + (eps r)^2)    0 (positive def.)     +1
Gaussian      exp(-(eps r)^2)            0 (positive def.)     +1
MQ(eps)       sqrt(1 + (eps r)^2)        1                     -1
============  =========================  ====================  =====================

With a polynomial of degree ``>= m - 1`` the kernel matrix projected onto the null
space of the polynomial block, ``sign * Q2^T A Q2``, is symmetric positive definite;
the weight solver then uses a Cholesky factorization without pivoting.

Every kernel is defined once, as a function of the squared distance ``s = z.z``
(:meth:`RadialBasis.radial`). Smooth kernels are smooth in ``s``, hence at ``r = 0``.
The PHS ``r^n = r * s^((n-1)/2)`` isolates the one non-smooth factor ``r = sqrt(s)``,
whose derivative is ``1 / (2 r)`` for ``r > 0`` and ``0`` at ``r = 0`` (a custom JVP); every
derivative that exists at ``r = 0`` (order ``< n``) is then exact and NaN-free, and
the derivatives that do not exist come out finite (the symmetric value, ``0``).
Laplacians come out as ``n (n + d - 2) r^(n-2)`` in any dimension ``d``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._util import check_int

__all__ = ["RadialBasis", "PHS", "IMQ", "Gaussian", "MQ", "safe_norm", "safe_sqrt"]


@jax.custom_jvp
def safe_sqrt(s: jax.Array) -> jax.Array:
    """``sqrt(s)`` for ``s >= 0`` whose derivative is ``1 / (2 sqrt(s))`` for ``s > 0`` and
    finite (``1/2``) at ``s = 0``: with ``s = z.z``, whose tangent vanishes at ``z = 0``,
    this makes ``d|z|/dz = z / |z|`` (``0`` at ``z = 0``, not NaN).

    Examples:
      >>> import jax
      >>> from rbfopt.basis import safe_sqrt
      >>> jax.grad(safe_sqrt)(4.0), jax.grad(safe_sqrt)(0.0)
      (Array(0.25, dtype=float64, weak_type=True), Array(0.5, dtype=float64, weak_type=True))
    """
    return jnp.sqrt(s)


@safe_sqrt.defjvp
def _safe_sqrt_jvp(primals, tangents):
    (s,), (ds,) = primals, tangents
    r = safe_sqrt(s)
    return r, ds / (2.0 * jnp.where(r > 0, r, 1.0))


def safe_norm(z: jax.Array) -> jax.Array:
    """Euclidean norm over the last axis, with derivative ``0`` (not NaN) at ``z = 0``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from rbfopt.basis import safe_norm
      >>> safe_norm(jnp.array([3.0, 4.0]))
      Array(5., dtype=float64)
      >>> jax.grad(safe_norm)(jnp.zeros(2))
      Array([0., 0.], dtype=float64)
    """
    return safe_sqrt(jnp.sum(z * z, axis=-1))


def _is_concrete(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _check_poly_deg(poly_deg: Any) -> int:
    return check_int("poly_deg", poly_deg, -1, what="polynomial degree (-1: no polynomial)")


def _check_eps(eps: Any) -> Any:
    if isinstance(eps, (int, float)):
        eps = float(eps)
    if _is_concrete(eps):
        arr = np.asarray(eps)
        if arr.ndim > 1:
            raise ValueError(
                f"eps: must be a scalar or one value per stencil (1-D), got shape {arr.shape}"
            )
        if not np.issubdtype(arr.dtype, np.number):
            return eps
        bad = np.flatnonzero(~(np.isfinite(arr.ravel()) & (arr.ravel() > 0)))
        if bad.size:
            where = "" if arr.ndim == 0 else f" at indices {bad[:10].tolist()}"
            raise ValueError(
                f"eps: shape parameter must be finite and > 0{where}, got {arr.ravel()[bad[:10]]}"
            )
    return eps


class RadialBasis:
    """Base class: a radial kernel ``phi(|x - xi|)`` plus a polynomial degree.

    Subclasses implement :meth:`profile` (the kernel as a function of the
    difference vector and ``eps``) and set ``cpd_order`` / ``sign``.

    Examples:
      A basis is a pytree whose only leaf is ``eps``:

      >>> import jax
      >>> import rbfopt as ro
      >>> b = ro.IMQ(eps=2.0)
      >>> b
      IMQ(eps=2.0, poly_deg=2)
      >>> jax.tree_util.tree_leaves(b)
      [2.0]
      >>> b.replace(eps=0.5)
      IMQ(eps=0.5, poly_deg=2)
    """

    poly_deg: int
    eps: Any = None
    cpd_order: int = 0
    sign: float = 1.0

    def radial(self, s: jax.Array, eps: Any) -> jax.Array:  # pragma: no cover - abstract
        """The kernel as a function of the squared distance ``s = r^2`` (the one definition)."""
        raise NotImplementedError

    def profile(self, z: jax.Array, eps: Any = None) -> jax.Array:
        """The kernel of the difference vector ``z`` (last axis: coordinates)."""
        return self.radial(jnp.sum(z * z, axis=-1), eps)

    def __call__(self, x: jax.Array, xi: jax.Array) -> jax.Array:
        """``phi(|x - xi|)``, broadcasting over leading axes (last axis: coordinates)."""
        return self.profile(jnp.asarray(x) - jnp.asarray(xi), self.eps)

    @property
    def definite(self) -> bool:
        """True when ``sign * Q2^T A Q2`` is guaranteed SPD (poly_deg >= cpd_order - 1)."""
        return self.poly_deg >= self.cpd_order - 1

    # pytree protocol: eps is the only leaf
    def tree_flatten(self):
        return (self.eps,), self._static()

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.eps = children[0]
        for k, v in aux:
            object.__setattr__(obj, k, v)
        return obj

    def _static(self) -> tuple:
        return (("poly_deg", self.poly_deg),)

    def replace(self, **changes: Any) -> RadialBasis:
        """A copy with fields replaced, e.g. ``basis.replace(eps=2.0)``."""
        kw = dict(self._static())
        if self.eps is not None:
            kw["eps"] = self.eps
        kw.update(changes)
        return type(self)(**kw)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._static())
        if self.eps is not None:
            e = self.eps
            e = e if np.ndim(e) == 0 and _is_concrete(e) else f"<{type(e).__name__} {np.shape(e)}>"
            fields = f"eps={e}, " + fields
        return f"{type(self).__name__}({fields})"


@jax.tree_util.register_pytree_node_class
class PHS(RadialBasis):
    """Polyharmonic spline ``phi(r) = r^order``, ``order`` in {1, 3, 5, 7}.

    Conditionally positive definite of order ``(order + 1) / 2``: use
    ``poly_deg >= (order - 1) / 2`` (the default ``poly_deg=2`` suits order 3 and 5).
    ``r^n`` has continuous derivatives up to order ``n - 1`` at ``r = 0``; operators of
    higher order are singular there (e.g. the Laplacian of PHS(1)).

    Examples:
      >>> import jax.numpy as jnp
      >>> import rbfopt as ro
      >>> ro.PHS(3)(jnp.zeros(2), jnp.array([3.0, 4.0]))
      Array(125., dtype=float64)
      >>> ro.PHS(5, poly_deg=3)
      PHS(order=5, poly_deg=3)
    """

    def __init__(self, order: int = 3, poly_deg: int = 2):
        if isinstance(order, bool) or order not in (1, 3, 5, 7):
            raise ValueError(f"order: PHS order must be one of 1, 3, 5, 7, got {order!r}")
        self.order = int(order)
        self.poly_deg = _check_poly_deg(poly_deg)
        self.eps = None

    @property
    def cpd_order(self) -> int:  # type: ignore[override]
        return (self.order + 1) // 2

    @property
    def sign(self) -> float:  # type: ignore[override]
        return float((-1) ** ((self.order + 1) // 2))

    def _static(self) -> tuple:
        return (("order", self.order), ("poly_deg", self.poly_deg))

    def radial(self, s: jax.Array, eps: Any = None) -> jax.Array:
        r = safe_sqrt(s)
        m = (self.order - 1) // 2
        return r if m == 0 else r * s**m


class _ShapeBasis(RadialBasis):
    def __init__(self, eps: Any = 1.0, poly_deg: int = 2):
        self.eps = _check_eps(eps)
        self.poly_deg = _check_poly_deg(poly_deg)

    def radial(self, s: jax.Array, eps: Any) -> jax.Array:
        return self._of_es(jnp.square(eps) * s)

    def _of_es(self, es: jax.Array) -> jax.Array:  # pragma: no cover - abstract
        raise NotImplementedError


@jax.tree_util.register_pytree_node_class
class IMQ(_ShapeBasis):
    """Inverse multiquadric ``phi(r) = 1 / sqrt(1 + (eps r)^2)`` (positive definite).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> import rbfopt as ro
      >>> ro.IMQ(eps=1.0)(jnp.zeros(2), jnp.array([3.0, 4.0]))
      Array(0.19611614, dtype=float64)
      >>> jax.grad(lambda e: ro.IMQ(eps=e)(jnp.zeros(1), jnp.ones(1)))(1.0)
      Array(-0.35355339, dtype=float64, weak_type=True)
    """

    def _of_es(self, es):
        return jax.lax.rsqrt(1.0 + es)


@jax.tree_util.register_pytree_node_class
class Gaussian(_ShapeBasis):
    """Gaussian ``phi(r) = exp(-(eps r)^2)`` (positive definite).

    Examples:
      >>> import jax.numpy as jnp
      >>> import rbfopt as ro
      >>> ro.Gaussian(eps=0.5)(jnp.zeros(1), jnp.array([2.0]))
      Array(0.36787944, dtype=float64)
    """

    def _of_es(self, es):
        return jnp.exp(-es)


@jax.tree_util.register_pytree_node_class
class MQ(_ShapeBasis):
    """Multiquadric ``phi(r) = sqrt(1 + (eps r)^2)`` (CPD of order 1: use poly_deg >= 0).

    Examples:
      Differentiable everywhere, with no NaN at ``r = 0``:

      >>> import jax, jax.numpy as jnp
      >>> import rbfopt as ro
      >>> ro.MQ(eps=0.75)(jnp.zeros(2), jnp.array([0.0, 4.0]))
      Array(3.16227766, dtype=float64)
      >>> jax.grad(lambda x: ro.MQ()(x, jnp.zeros(2)))(jnp.zeros(2))
      Array([0., 0.], dtype=float64)
    """

    cpd_order = 1
    sign = -1.0

    def _of_es(self, es):
        return jnp.sqrt(1.0 + es)
