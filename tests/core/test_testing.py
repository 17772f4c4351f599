"""rbfopt.testing.check_rules: passes exact rules, catches a wrong one in each mode."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import rbfopt as ro


def _sin_with_jvp_factor(factor: float):
    @jax.custom_jvp
    def f(x):
        return jnp.sin(x)

    f.defjvp(lambda p, t: (jnp.sin(p[0]), factor * jnp.cos(p[0]) * t[0]))
    return f


def test_exact_rule_passes_in_both_modes():
    errs = ro.testing.check_rules(_sin_with_jvp_factor(1.0), jnp.linspace(0.0, 1.0, 4))
    assert set(errs) == {"fwd", "rev"} and max(errs.values()) < 1e-8


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_a_rule_off_by_ten_percent_is_caught(mode):
    # The jvp is 1.1 times the true derivative (its transpose, the vjp, too).
    with pytest.raises(AssertionError, match=f"{mode}: rel. error"):
        ro.testing.check_rules(_sin_with_jvp_factor(1.1), jnp.linspace(0.0, 1.0, 4), modes=(mode,))


def test_only_the_chosen_arguments_move():
    # The second argument's rule is wrong, but it is not checked with argnums=(0,).
    @jax.custom_jvp
    def g(x, y):
        return x * y

    g.defjvp(lambda p, t: (p[0] * p[1], t[0] * p[1] + 2.0 * p[0] * t[1]))
    x, y = jnp.linspace(0.1, 1.0, 3), jnp.linspace(1.0, 2.0, 3)
    ro.testing.check_rules(g, x, y, argnums=(0,))
    with pytest.raises(AssertionError):
        ro.testing.check_rules(g, x, y)
    with pytest.raises(ValueError, match="args: no floating-point"):
        ro.testing.check_rules(lambda n: n, jnp.arange(3))
