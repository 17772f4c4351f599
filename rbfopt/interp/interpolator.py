"""The global interpolator ``s(x) = sum_j c_j phi(|x - x_j|) + sum_l d_l p_l(x)``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._util import as_points, fmt_indices, is_tracer
from ..basis import PHS, RadialBasis
from ..operators import Composed, Identity, Operator
from ..stencils import check_points
from ._system import (
    check_basis,
    check_centres,
    check_smoothing,
    check_values,
    chunk_size,
    evaluate,
    fit_coefficients,
)

__all__ = ["Interpolator"]

# ----------------------------------------------------------------------------- Interpolator


@jax.tree_util.register_pytree_node_class
class Interpolator:
    """Global RBF interpolant ``s(x) = sum_j c_j phi(|x - x_j|) + sum_l d_l p_l(x)``.

    Args:
      points: (N, d) centres (d in {1, 2, 3}; shape (N,) is read as (N, 1)).
      values: (N,) or (N, m) data at the centres.
      basis: kernel and polynomial degree (default ``PHS(3, poly_deg=2)``); ``eps``
        a scalar or one value per centre, shape (N,) (``phi_j(r) = phi(eps_j r)``).
      smoothing: ``lam >= 0``, a scalar or one per centre, added to the kernel block:
        ``(A + sign lam I) c + P d = f`` (``sign`` -1 for MQ, else +1), the smoothed
        fit of ``scipy.interpolate.RBFInterpolator(..., smoothing=lam)``.

    Construction factors ``M = [A P; P' 0]`` once (LU) and solves for the
    coefficients; it is traceable and differentiable (forward and reverse, any
    order) w.r.t. ``values``, ``points`` and ``basis.eps`` (see the module
    docstring for the rules). ``itp(x)`` evaluates at (Nq, d) queries (or one
    point of shape (d,)) in chunks, differentiable w.r.t. ``x`` as well.

    With concrete inputs the constructor raises ValueError for mismatched lengths,
    NaN/inf, duplicate centres, and a rank-deficient polynomial block (suggesting a
    lower ``poly_deg``). Under ``jax.jit`` no check can run; validate eagerly once.

    Examples:
      PHS(3) with quadratics reproduces a quadratic exactly:

      >>> import jax, jax.numpy as jnp, numpy as np
      >>> import rbfopt as ro
      >>> x = np.linspace(0.0, 1.0, 8)[:, None]
      >>> itp = ro.Interpolator(x, 1.0 + 2.0 * x[:, 0] - x[:, 0] ** 2)
      >>> itp
      Interpolator(N=8, d=1, basis=PHS(order=3, poly_deg=2), op=None)
      >>> itp(np.array([[0.25], [0.5]]))
      Array([1.4375, 1.75  ], dtype=float64)
      >>> itp.derivative(ro.Partial(1, 0))(np.array([[0.25]]))
      Array([1.5], dtype=float64)

      Differentiable through construction, e.g. w.r.t. the values:

      >>> g = jax.grad(lambda f: ro.Interpolator(x, f)(0.5))(jnp.ones(8))
      >>> g.shape, bool(jnp.isclose(g.sum(), 1.0))
      ((8,), True)

      Smoothed, the fit no longer passes through the data:

      >>> s = ro.Interpolator(x, x[:, 0] ** 2, ro.Gaussian(eps=3.0, poly_deg=0), smoothing=0.1)
      >>> bool(abs(s(x[3]) - x[3, 0] ** 2) > 1e-3)
      True
    """

    def __init__(
        self,
        points: jax.Array,
        values: jax.Array,
        basis: RadialBasis | None = None,
        smoothing: float | jax.Array = 0.0,
    ):
        basis = PHS(3, poly_deg=2) if basis is None else basis
        if not is_tracer(points):
            x = check_centres(points, check_basis(basis))
            n = len(x)
        else:
            n = points.shape[0]
        basis = check_basis(basis, n)
        smoothing = check_smoothing(smoothing, n)
        if not is_tracer(values):
            values = check_values(values, n)
        elif values.ndim not in (1, 2) or values.shape[0] != n:
            raise ValueError(
                f"values: expected shape ({n},) or ({n}, m) to match {n} points, got {values.shape}"
            )
        p = as_points(points)
        v = jnp.asarray(values)
        self.points = p
        self.basis = basis
        self._vector = v.ndim == 2
        self.op = None
        self.coef, self.pcoef, self.shift, self.scale = fit_coefficients(
            p, v.reshape(n, -1), basis, smoothing
        )
        if not is_tracer(points, values, basis):
            bad = np.flatnonzero(~np.all(np.isfinite(np.asarray(self.coef)), axis=1))
            if bad.size:
                raise ValueError(
                    f"points: the interpolation matrix is numerically singular for {basis!r} "
                    f"(non-finite coefficients at centres {fmt_indices(bad)}); use a different eps "
                    "or a kernel/poly_deg pair that is conditionally positive definite"
                )

    # pytree protocol ------------------------------------------------------------------
    def tree_flatten(self):
        leaves = (self.points, self.coef, self.pcoef, self.shift, self.scale, self.basis)
        return leaves, (self._vector, self.op)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.points, obj.coef, obj.pcoef, obj.shift, obj.scale, obj.basis = children
        obj._vector, obj.op = aux
        return obj

    # evaluation -----------------------------------------------------------------------
    @property
    def d(self) -> int:
        return self.points.shape[1]

    def __call__(self, x: jax.Array) -> jax.Array:
        """Evaluate at queries ``x``: (Nq, d) -> (Nq[, *out][, m]); (d,) -> one point."""
        d = self.d
        single = False
        if not is_tracer(x):
            x = jnp.asarray(np.asarray(x, dtype=np.float64))
        x = jnp.asarray(x)
        if x.ndim == 1 and d > 1:
            single, x = True, x[None]
        elif x.ndim == 1:
            x = x[:, None]
        elif x.ndim == 0 and d == 1:
            single, x = True, x.reshape(1, 1)
        if x.ndim != 2 or x.shape[1] != d:
            raise ValueError(f"x: expected queries of shape (Nq, {d}) or ({d},), got {x.shape}")
        if not is_tracer(x):
            check_points(x, "x", d)
        y = evaluate(
            self.points,
            self.coef,
            self.pcoef,
            self.shift,
            self.scale,
            self.basis,
            x,
            self.op,
            chunk_size(self.points.shape[0]),
        )
        if not self._vector:
            y = y[..., 0]
        return y[0] if single else y

    def derivative(self, op: Operator) -> Interpolator:
        """The interpolant of ``L s``: apply an operator description to the kernel and
        the monomials, ``(L s)(x) = sum_j c_j L phi(|x - x_j|) + sum_l d_l L p_l(x)``.

        Vector operators (``Gradient``, ``Hessian``) give outputs ``(Nq, *out_shape)``.
        Derivatives of derivatives compose (scalar operators only).
        """
        if not isinstance(op, Operator):
            raise ValueError(f"op: expected an operator description, got {op!r}")
        op.validate(self.d)
        new = self.op
        if isinstance(op, Identity):
            pass
        elif new is None:
            new = op
        else:
            if op.out_shape(self.d) or new.out_shape(self.d):
                raise ValueError("op: only scalar operators can be composed with a derivative")
            new = Composed(op, new)  # equal by value: repeated derivatives reuse compilations
        order = None if new is None else new.order
        if isinstance(self.basis, PHS) and order is not None and order >= self.basis.order:
            raise ValueError(
                f"op: PHS order {self.basis.order} is not {order} times differentiable at "
                f"r = 0; use a PHS order > {order}"
            )
        leaves, (vec, _) = self.tree_flatten()
        return Interpolator.tree_unflatten((vec, new), leaves)

    def __repr__(self) -> str:
        n, d = self.points.shape
        return f"Interpolator(N={n}, d={d}, basis={self.basis!r}, op={self.op!r})"
