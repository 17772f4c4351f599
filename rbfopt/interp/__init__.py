"""Global RBF interpolation, its query-baked adjoint and Rippa's leave-one-out cost.

For centres ``x_1..x_N`` and values ``f`` (shape ``(N,)`` or ``(N, m)``) the
interpolant is ``s(x) = sum_j c_j phi(|x - x_j|) + sum_l d_l p_l(x)``, where
``(c, d)`` solve the symmetric saddle-point system::

    M [c; d] = [f; 0],      M = [A  P],   A_ij = phi(|x_i - x_j|),  P_il = p_l(x_i).
                                [P' 0]

The monomials ``p_l`` are evaluated in coordinates centred and scaled by the
bounding box of the centres, ``(x - shift) / scale``: the same span (so the same
interpolant) as plain monomials, but a far better conditioned ``P``. ``shift`` and
``scale`` are held fixed under differentiation (``stop_gradient``) for exactly
that reason: the interpolant does not depend on them.

Factorization and derivative rules. ``M`` is factored once by LU with partial
pivoting (the same code path for every kernel; ``M`` is symmetric indefinite), and
the solve is wrapped in ``jax.lax.custom_linear_solve`` whose ``solve`` and
``transpose_solve`` both reuse those factors. JAX then derives

* forward mode: ``d[c; d] = M^-1 ([df; 0] - dM [c; d])``, one more solve;
* reverse mode: ``[fbar; .] = M^-T [cbar; dbar]`` and ``Mbar = -[fbar; .] [c; d]'``,
  one more (transposed) solve; the gradient w.r.t. values thus costs one
  triangular solve pair on top of the forward;
* higher orders by nesting (the rules are again linear solves), so
  forward-over-reverse (``jax.hessian``, Hessian-vector products) works.

``dM`` w.r.t. centres and ``eps`` is ordinary AD of the kernel formulas, NaN-free at
``r = 0`` (:mod:`rbfopt.basis`), so queries may coincide with centres.

Adjoint. For fixed queries ``y_q`` the map ``f -> s(y_q)`` is linear:
``s(y) = E M^-1 [f; 0]`` with ``E = [Phi(y, x)  P(y)]``. Its transpose is
``W' ybar = (M^-T E' ybar)[:N]`` (:func:`interpolator_adjoint`), data-free and
query-baked.

Leave-one-out (Rippa 1999; with polynomial augmentation Fasshauer & Zhang 2007):
the error at ``x_i`` of the interpolant fitted without ``x_i`` is
``e_i = c_i / (M^-1)_ii``; :func:`loocv` returns ``sum_i e_i^2`` (summed over value
columns) from the same factorization. For large N, :func:`local_loocv` gives the
leave-one-out cost of the local interpolant (``neighbors`` nearest points per fit).
"""

from ._system import RANK_TOL, check_poly_rank
from .adjoint import InterpolatorAdjoint, interpolator_adjoint
from .interpolator import Interpolator
from .local import local_loocv, loo_neighbours
from .loocv import loocv

__all__ = [
    "Interpolator",
    "InterpolatorAdjoint",
    "interpolator_adjoint",
    "loocv",
    "local_loocv",
    "loo_neighbours",
    "check_poly_rank",
    "RANK_TOL",
]
