"""Differentiable tridiagonal and cyclic-tridiagonal solves.

Both are written with :func:`jax.lax.custom_linear_solve`, so JAX never traces
through the elimination: the JVP is another solve with the same matrix and the
transpose (reverse mode, adjoints) is a solve with ``Aᵀ`` — the same bands, swapped.
Forward, reverse and nested derivatives all follow by linearity.

The matrix depends on the grid only, so the bands are built once per grid; the
elimination itself is LAPACK ``gtsv`` on CPU (O(n), no pivot search needed for the
diagonally dominant spline rows) via :func:`jax.lax.linalg.tridiagonal_solve`.

Complex right-hand sides are solved as real and imaginary columns (the matrix is real).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.lax.linalg import tridiagonal_solve

__all__ = ["Tridiagonal", "CyclicTridiagonal"]


def _band_matvec(lower, diag, upper, v):
    """``A v`` for ``A[i, i-1] = lower[i]``, ``A[i, i] = diag[i]``, ``A[i, i+1] = upper[i]``."""
    out = diag[:, None] * v
    out = out.at[1:].add(lower[1:, None] * v[:-1])
    out = out.at[:-1].add(upper[:-1, None] * v[1:])
    return out


def _transpose_bands(lower, diag, upper):
    """Bands of ``Aᵀ``: ``Aᵀ[i+1, i] = A[i, i+1]``."""
    z = jnp.zeros_like(lower[:1])
    return jnp.concatenate([z, upper[:-1]]), diag, jnp.concatenate([lower[1:], z])


def _real_columns(fn, b):
    """Apply a real linear solve ``fn`` to a 2-D ``b`` that may be complex."""
    if jnp.iscomplexobj(b):
        k = b.shape[1]
        out = fn(jnp.concatenate([b.real, b.imag], axis=1))
        return jax.lax.complex(out[:, :k], out[:, k:])
    return fn(b)


def _gtsv(lower, diag, upper, b):
    # Solve in the wider of the grid's and the data's real precision.
    dt = jnp.promote_types(diag.dtype, jnp.real(b).dtype)
    lower = lower.at[0].set(0).astype(dt)
    upper = upper.at[-1].set(0).astype(dt)
    diag = diag.astype(dt)
    return _real_columns(lambda r: tridiagonal_solve(lower, diag, upper, r.astype(dt)), b)


class Tridiagonal:
    """``A s = r`` with ``A`` tridiagonal (bands of length n, ``lower[0]``, ``upper[-1]``
    unused); ``r`` of shape (n, K)."""

    def __init__(self, lower, diag, upper):
        self.lower, self.diag, self.upper = lower, diag, upper

    def matvec(self, v):
        return _band_matvec(self.lower, self.diag, self.upper, v)

    def solve(self, r):
        """``A⁻¹ r``; its transpose (used by reverse mode) is ``A⁻ᵀ r̄``."""
        bands, tbands = (
            (self.lower, self.diag, self.upper),
            _transpose_bands(self.lower, self.diag, self.upper),
        )
        return jax.lax.custom_linear_solve(
            self.matvec,
            r,
            solve=lambda _, b: _gtsv(*bands, b),
            transpose_solve=lambda _, b: _gtsv(*tbands, b),
        )


class CyclicTridiagonal:
    """``A s = r`` with ``A`` tridiagonal plus corners ``A[0, N-1] = lower[0]`` and
    ``A[N-1, 0] = upper[N-1]`` (indices mod N; N ≥ 3).

    Sherman–Morrison: with ``γ = -diag[0]``, ``u = (γ, 0, …, 0, upper[N-1])`` and
    ``v = (1, 0, …, 0, lower[0]/γ)``, ``A = T + u vᵀ`` where ``T`` is tridiagonal with
    ``T[0,0] = diag[0] - γ`` and ``T[N-1,N-1] = diag[N-1] - upper[N-1] lower[0] / γ``.
    Then ``A⁻¹ r = y - z (vᵀy) / (1 + vᵀz)`` with ``T y = r``, ``T z = u``.  The
    transpose ``Aᵀ = Tᵀ + v uᵀ`` is solved the same way with ``Tᵀ`` and ``u ↔ v``.
    ``z`` depends on the grid only.
    """

    def __init__(self, lower, diag, upper):
        self.lower, self.diag, self.upper = lower, diag, upper
        n = diag.shape[0]
        gamma = -diag[0]
        a_top, a_bot = lower[0], upper[n - 1]
        self.u = jnp.zeros_like(diag).at[0].set(gamma).at[n - 1].set(a_bot)
        self.v = jnp.zeros_like(diag).at[0].set(1.0).at[n - 1].set(a_top / gamma)
        tdiag = diag.at[0].add(-gamma).at[n - 1].add(-a_bot * a_top / gamma)
        self.t_bands = (lower, tdiag, upper)
        self.tt_bands = _transpose_bands(lower, tdiag, upper)

    def matvec(self, v):
        out = _band_matvec(self.lower, self.diag, self.upper, v)
        out = out.at[0].add(self.lower[0] * v[-1])
        return out.at[-1].add(self.upper[-1] * v[0])

    @staticmethod
    def _sm(bands, u, v, b):
        # T [y, z] = [b, u] in one call; then the rank-one correction.
        k = b.shape[1]
        yz = _gtsv(*bands, jnp.concatenate([b, u[:, None].astype(b.dtype)], axis=1))
        y, z = yz[:, :k], yz[:, k:]
        return y - z * (v @ y) / (1.0 + v @ z)

    def solve(self, r):
        """``A⁻¹ r`` (transpose: ``A⁻ᵀ r̄``), both by Sherman–Morrison."""
        return jax.lax.custom_linear_solve(
            self.matvec,
            r,
            solve=lambda _, b: self._sm(self.t_bands, self.u, self.v, b),
            transpose_solve=lambda _, b: self._sm(self.tt_bands, self.v, self.u, b),
        )
