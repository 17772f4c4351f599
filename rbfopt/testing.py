"""Derivative-rule checks: forward and reverse mode against finite differences.

The JAX counterpart of EnzymeTestUtils' ``test_forward`` / ``test_reverse``:
:func:`check_rules` draws random directions, compares ``jax.jvp`` with a 5-point
central difference of ``f`` along the input direction, and checks ``jax.vjp``
against ``jax.jvp`` through the dot-product identity
``<ybar, J v> = <J^T ybar, v>`` (and hence against the finite differences).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["check_rules", "central_difference"]


def _tree_random_like(key: jax.Array, tree: Any) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    keys = jax.random.split(key, max(len(leaves), 1))
    out = [
        jax.random.normal(k, jnp.shape(x), dtype=jnp.result_type(x))
        if _is_float(x)
        else np.zeros(jnp.shape(x), dtype=jax.dtypes.float0)
        for k, x in zip(keys, leaves, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, out)


def _is_float(x: Any) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.inexact)


def _tree_vdot(a: Any, b: Any) -> jax.Array:
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return sum(
        (jnp.vdot(x, y).real for x, y in zip(la, lb, strict=True) if _is_float(x) and _is_float(y)),
        jnp.asarray(0.0),
    )


def _tree_axpy(alpha: float, x: Any, y: Any) -> Any:
    return jax.tree_util.tree_map(
        lambda a, b: b + alpha * a if jnp.issubdtype(jnp.result_type(b), jnp.inexact) else b,
        x,
        y,
    )


def central_difference(f: Callable, args: tuple, direction: tuple, h: float) -> Any:
    """Five-point central difference of ``f(*args)`` along ``direction`` with step ``h``.

    ``(-f(x+2hv) + 8 f(x+hv) - 8 f(x-hv) + f(x-2hv)) / (12 h)``: error O(h^4).

    Examples:
      >>> import jax.numpy as jnp
      >>> from rbfopt.testing import central_difference
      >>> central_difference(jnp.sin, (0.0,), (1.0,), 1e-3)
      Array(1., dtype=float64, weak_type=True)
    """

    def at(t):
        return f(*_tree_axpy(t, direction, args))

    fp2, fp1, fm1, fm2 = at(2 * h), at(h), at(-h), at(-2 * h)
    return jax.tree_util.tree_map(
        lambda a, b, c, d: (-a + 8 * b - 8 * c + d) / (12 * h), fp2, fp1, fm1, fm2
    )


def check_rules(
    f: Callable,
    *args: Any,
    modes: Sequence[str] = ("fwd", "rev"),
    argnums: Sequence[int] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-10,
    eps: float | None = None,
    n_directions: int = 2,
    seed: int = 0,
    jit: bool = True,
) -> dict[str, float]:
    """Check forward- and reverse-mode derivatives of ``f`` against finite differences.

    For ``n_directions`` random input directions ``v`` (restricted to ``argnums``,
    default: all floating-point arguments) and random output cotangents ``ybar``:

    * ``"fwd"``: ``jax.jvp(f, args, v)`` must equal the 5-point central difference
      ``D_v f`` (relative to the larger of ``|D_v f|`` and ``atol``).
    * ``"rev"``: ``<J^T ybar, v>`` from ``jax.vjp`` must equal ``<ybar, D_v f>``.

    Both are evaluated under ``jax.jit`` (``jit=True``) so the rules are checked
    the way they run in practice. Arguments must be float64 for meaningful checks.
    ``eps`` is the finite-difference step (default 1e-4, suited to O(1) inputs whose
    features are no finer than ~1e-2; scale it with the problem).

    Returns the worst relative error per mode; raises ``AssertionError`` if any
    exceeds ``rtol``.

    Examples:
      >>> import jax.numpy as jnp
      >>> import rbfopt as ro
      >>> errs = ro.testing.check_rules(lambda x: jnp.sin(x) * x, jnp.linspace(0.0, 1.0, 5))
      >>> sorted(errs), max(errs.values()) < 1e-8
      (['fwd', 'rev'], True)
    """
    modes = _check_modes(modes)
    argnums = _float_argnums(args, argnums)
    fj, jvp_fn, vjp_apply = _derivative_fns(f, jit)
    h = 1e-4 if eps is None else eps
    worst = {m: 0.0 for m in modes}
    key = jax.random.PRNGKey(seed)
    for _ in range(n_directions):
        key, kv, ky = jax.random.split(key, 3)
        v = _random_direction(kv, args, argnums)
        fd = central_difference(fj, args, v, h)
        fd_norm = float(jnp.sqrt(_tree_vdot(fd, fd)))
        if "fwd" in modes:
            diff = jax.tree_util.tree_map(lambda a, b: a - b, jvp_fn(args, v), fd)
            err = float(jnp.sqrt(_tree_vdot(diff, diff))) / max(fd_norm, atol)
            worst["fwd"] = max(worst["fwd"], err)
        if "rev" in modes:
            ybar = _tree_random_like(ky, fj(*args))
            lhs = float(_tree_vdot(vjp_apply(args, ybar), v))
            rhs = float(_tree_vdot(ybar, fd))
            ynorm = float(jnp.sqrt(_tree_vdot(ybar, ybar)))
            worst["rev"] = max(worst["rev"], abs(lhs - rhs) / max(ynorm * fd_norm, atol))
    failed = {m: e for m, e in worst.items() if not np.isfinite(e) or e > rtol}
    if failed:
        raise AssertionError(
            f"check_rules: derivative mismatch vs finite differences (rtol={rtol}): "
            + ", ".join(f"{m}: rel. error {e:.3e}" for m, e in failed.items())
        )
    return worst


def _check_modes(modes: Sequence[str]) -> tuple[str, ...]:
    modes = tuple(modes)
    bad = set(modes) - {"fwd", "rev"}
    if bad:
        raise ValueError(f"modes: unknown mode(s) {sorted(bad)}; use 'fwd' and/or 'rev'")
    return modes


def _float_argnums(args: tuple, argnums: Sequence[int] | None) -> tuple[int, ...]:
    """The arguments to perturb: ``argnums``, or by default every one with a float leaf."""
    if argnums is None:
        argnums = [
            i for i, a in enumerate(args) if any(_is_float(x) for x in jax.tree_util.tree_leaves(a))
        ]
    argnums = tuple(argnums)
    if not argnums:
        raise ValueError("args: no floating-point argument to differentiate")
    return argnums


def _random_direction(key: jax.Array, args: tuple, argnums: tuple[int, ...]) -> tuple:
    """A random tangent for ``args``, zero outside ``argnums``."""
    tangents = []
    for i, a in enumerate(args):
        key, sub = jax.random.split(key)
        t = _tree_random_like(sub, a)
        if i not in argnums:
            t = jax.tree_util.tree_map(lambda x: jnp.zeros_like(x) if _is_float(x) else x, t)
        tangents.append(t)
    return tuple(tangents)


def _derivative_fns(f: Callable, jit: bool) -> tuple[Callable, Callable, Callable]:
    """``f``, its jvp and its vjp application, each built once (one compilation each,
    shared by all directions); under jit the whole pullback is one compiled program."""

    def jvp_fn(a, t):
        return jax.jvp(f, a, t)[1]

    def vjp_apply(a, ybar):
        _, pullback = jax.vjp(f, *a)
        return pullback(ybar)

    if not jit:
        return f, jvp_fn, vjp_apply
    return jax.jit(f), jax.jit(jvp_fn), jax.jit(vjp_apply)
