"""Input checks.  They run on concrete arrays only (under tracing there is nothing to
look at) and raise ``ValueError`` naming the argument and the offending indices."""

from __future__ import annotations

import jax
import numpy as np

from .._util import check_int

__all__ = ["is_concrete", "check_grid", "check_periodic_ends", "check_queries", "check_deriv"]

_SHOW = 8  # offending indices quoted in a message


def is_concrete(a) -> bool:
    """True when ``a`` holds values (not a tracer inside jit/grad/vmap)."""
    return not isinstance(a, jax.core.Tracer)


def _indices(mask: np.ndarray) -> str:
    idx = np.argwhere(mask)
    idx = [tuple(int(v) for v in row) if len(row) > 1 else int(row[0]) for row in idx]
    more = f" (and {len(idx) - _SHOW} more)" if len(idx) > _SHOW else ""
    return f"{idx[:_SHOW]}{more}"


def check_grid(x, name: str, min_points: int, why: str) -> None:
    """Grid ``x`` must be 1-D, finite, strictly increasing, with ≥ ``min_points``."""
    if np.ndim(x) != 1:
        raise ValueError(f"{name}: grid must be 1-D, got shape {np.shape(x)}")
    if x.shape[0] < min_points:
        raise ValueError(f"{name}: {why} needs at least {min_points} grid points, got {x.shape[0]}")
    if not is_concrete(x):
        return
    xv = np.asarray(x)
    bad = ~np.isfinite(xv)
    if bad.any():
        raise ValueError(f"{name}: non-finite grid points at indices {_indices(bad)}")
    d = np.diff(xv)
    if (d == 0).any():
        raise ValueError(
            f"{name}: repeated grid points at indices {_indices(d == 0)} (x[i] == x[i+1])"
        )
    if (d < 0).any():
        raise ValueError(
            f"{name}: grid not sorted increasingly at indices {_indices(d < 0)} (x[i] > x[i+1])"
        )


def check_periodic_ends(f, axis: int, name: str) -> None:
    """Inclusive periodic data: ``f[0] == f[-1]`` along ``axis`` (to rounding)."""
    if not is_concrete(f):
        return
    fv = np.asarray(f)
    a, b = np.take(fv, 0, axis=axis), np.take(fv, -1, axis=axis)
    eps = np.finfo(np.asarray(np.real(fv)).dtype).eps
    scale = np.max(np.abs(fv)) if fv.size else 0.0
    bad = np.abs(a - b) > 16 * eps * max(scale, np.finfo(np.float32).tiny)
    if np.any(bad):
        where = "" if np.ndim(bad) == 0 else f" at (other-axis/batch) indices {_indices(bad)}"
        raise ValueError(
            f"{name}: inclusive periodic data must have equal ends along axis {axis} "
            f"(f[0] == f[-1]){where}; drop the last point and use endpoint='exclusive', "
            f"or fix the data"
        )


def check_queries(xq, lo, hi, name: str, inside_required: bool) -> None:
    """No NaN queries; with ``inside_required`` all in ``[lo, hi]``."""
    if not (is_concrete(xq) and is_concrete(lo) and is_concrete(hi)):
        return
    q = np.asarray(xq)
    nan = np.isnan(q)
    if nan.any():
        raise ValueError(f"{name}: NaN queries at indices {_indices(nan)}")
    if inside_required:
        out = (q < float(lo)) | (q > float(hi))
        if out.any():
            raise ValueError(
                f"{name}: queries outside the domain [{float(lo)}, {float(hi)}] at indices "
                f"{_indices(out)} (NoExtrap; pass extrap=ExtendExtrap(), ClampExtrap(), "
                "FillExtrap(v) or WrapExtrap() to allow them)"
            )


def check_deriv(deriv, ndim: int, max_order: int, name: str = "deriv") -> tuple[int, ...]:
    """``deriv`` → one non-negative order ≤ ``max_order`` per axis."""
    if isinstance(deriv, (int, np.integer)) and not isinstance(deriv, bool):
        if ndim != 1 and deriv != 0:
            raise ValueError(f"{name}: an N-D interpolant takes one order per axis, got {deriv}")
        deriv = (deriv,) * ndim
    deriv = tuple(deriv) if np.iterable(deriv) else (deriv,)
    if len(deriv) != ndim:
        raise ValueError(f"{name}: expected {ndim} order(s) in 0..{max_order}, got {deriv}")
    return tuple(check_int(name, d, 0, max_order, what="derivative order") for d in deriv)
