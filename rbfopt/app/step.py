"""The loop state (a pytree) and the pure optimizer step.

:class:`LoopState` holds everything the loop carries from one step to the next, so
a checkpoint is its leaves and a resumed run continues bit-for-bit. :class:`Steps`
builds the jitted pure functions over it:

* ``first(params, aux, key)``: the initial state (value and gradient at ``init``);
* ``step(state)``: propose an update and evaluate the candidate, in one jit;
* ``propose(state)`` then ``finish(state, cand, opt_state, aux)``: the same step
  split at the candidate, so that stencils are refreshed on the host (numpy
  neighbour search) between the two.

A step never accepts a candidate whose loss, gradient or parameters are not
finite: the state keeps its parameters, the step scale (a factor on the optax
update, so it works for every optimizer, line searches included) halves and
``failures`` counts up. Accepting resets ``failures``; the scale stays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .problem import Objective

__all__ = ["LoopState", "StepInfo", "Steps", "template"]


class LoopState(NamedTuple):
    """What the loop carries between steps (a pytree of arrays).

    ``value``, ``grad``: the loss and its gradient at ``params``; ``aux``: the
    stencils they were evaluated with (None without ``restencil``); ``key``: the
    driver's PRNG key; ``scale``: the step-size factor; ``failures``: consecutive
    rejected steps; ``step``: accepted steps; ``since_restencil``: accepted steps
    since ``aux`` was refreshed; ``best_params``, ``best_loss``: the lowest loss so far.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> from rbfopt.app.problem import Problem, objective
      >>> quad = Problem("q", lambda: jnp.zeros(2), lambda x: jnp.sum((x - 1.0) ** 2))
      >>> steps = Steps(objective(quad), optax.with_extra_args_support(optax.sgd(0.25)))
      >>> state, info = steps.first(jnp.zeros(2), None, jax.random.PRNGKey(0))
      >>> state, info = steps.step(state)
      >>> int(state.step), bool(info.ok), float(state.value)
      (1, True, 0.5)
    """

    params: Any
    opt_state: Any
    value: jax.Array
    grad: Any
    aux: Any
    key: jax.Array
    scale: jax.Array
    failures: jax.Array
    step: jax.Array
    since_restencil: jax.Array
    best_params: Any
    best_loss: jax.Array


class StepInfo(NamedTuple):
    """What one step reports: accepted or not, the candidate's value, gradient norm
    and metrics (of the new parameters when accepted)."""

    ok: jax.Array
    value: jax.Array
    grad_norm: jax.Array
    metrics: dict[str, jax.Array]


def template(params: Any, aux: Any, optimizer: optax.GradientTransformation) -> LoopState:
    """The structure, shapes and dtypes of a :class:`LoopState` for these initial
    ``params`` and stencils ``aux``, without evaluating anything (for restoring a
    checkpoint onto).

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> t = template(jnp.zeros(2), None, optax.sgd(0.1))
      >>> t.params.shape, t.step.dtype
      ((2,), dtype('int32'))
    """

    def sds(shape: tuple[int, ...], dtype: Any) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct(shape, dtype)

    like = jax.tree_util.tree_map(lambda x: sds(jnp.shape(x), x.dtype), (params, aux))
    f64, i32 = sds((), jnp.float64), sds((), jnp.int32)
    key = jax.eval_shape(jax.random.PRNGKey, 0)
    opt_state = jax.eval_shape(optimizer.init, params)
    return LoopState(
        like[0], opt_state, f64, like[0], like[1], key, f64, i32, i32, i32, like[0], f64
    )


def _finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def _i32(x: int) -> jax.Array:
    return jnp.asarray(x, jnp.int32)


class Steps:
    """The jitted pure functions of the loop for one objective, optimizer and projection
    (``project=None``: no constraints). Example: see :class:`LoopState`."""

    def __init__(
        self,
        fn: Objective,
        optimizer: optax.GradientTransformationExtraArgs,
        project: Callable[[Any], Any] | None = None,
    ) -> None:
        self._fn, self._opt = fn, optimizer
        self._project = project if project is not None else (lambda p: p)
        self._vg = jax.value_and_grad(fn, has_aux=True)
        self.first = jax.jit(self._first)
        self.step = jax.jit(self._step)
        self.propose = jax.jit(self._propose)
        self.finish = jax.jit(self._finish)  # fresh=True: the Python default, not traced
        self.finite = jax.jit(_finite)

    def _evaluate(self, p, aux, key):
        (value, metrics), grad = self._vg(p, aux, key)
        ok = jnp.isfinite(value) & _finite(grad) & _finite(p)
        return value, grad, metrics, ok

    def _first(self, params, aux, seed_key) -> tuple[LoopState, StepInfo]:
        key, sub = jax.random.split(seed_key)
        value, grad, metrics, ok = self._evaluate(params, aux, sub)
        state = LoopState(
            params,
            self._opt.init(params),
            value,
            grad,
            aux,
            key,
            jnp.float64(1.0),
            _i32(0),
            _i32(0),
            _i32(0),
            params,
            value,
        )
        return state, StepInfo(ok, value, optax.tree.norm(grad), metrics)

    def _propose(self, s: LoopState) -> tuple[Any, Any]:
        # The optax update from (value, grad) at params, scaled and projected. The
        # line search of lbfgs evaluates the loss with the key of this step.
        sub = jax.random.split(s.key)[1]
        updates, opt_state = self._opt.update(
            s.grad,
            s.opt_state,
            s.params,
            value=s.value,
            grad=s.grad,
            value_fn=lambda q: self._fn(q, s.aux, sub)[0],
        )
        updates = jax.tree_util.tree_map(lambda u: s.scale * u, updates)
        return self._project(optax.apply_updates(s.params, updates)), opt_state

    def _finish(self, s: LoopState, cand, opt_state, aux, fresh: bool = True):
        # Evaluate the candidate (with ``aux``, fresh stencils when ``fresh``) and
        # accept it or not: selections only, no arithmetic on the kept values.
        key, sub = jax.random.split(s.key)
        value, grad, metrics, ok = self._evaluate(cand, aux, sub)
        better = ok & (value < s.best_loss)

        def pick(cond, new, old):
            return jax.tree_util.tree_map(lambda a, b: jnp.where(cond, a, b), new, old)

        state = LoopState(
            params=pick(ok, cand, s.params),
            opt_state=pick(ok, opt_state, s.opt_state),
            value=jnp.where(ok, value, s.value),
            grad=pick(ok, grad, s.grad),
            aux=pick(ok, aux, s.aux),
            key=key,
            scale=jnp.where(ok, s.scale, 0.5 * s.scale),
            failures=jnp.where(ok, 0, s.failures + 1).astype(jnp.int32),
            step=s.step + ok.astype(jnp.int32),
            since_restencil=jnp.where(
                ok, 0 if fresh else s.since_restencil + 1, s.since_restencil
            ).astype(jnp.int32),
            best_params=pick(better, cand, s.best_params),
            best_loss=jnp.where(better, value, s.best_loss),
        )
        return state, StepInfo(ok, value, optax.tree.norm(grad), metrics)

    def _step(self, s: LoopState) -> tuple[LoopState, StepInfo]:
        cand, opt_state = self._propose(s)
        return self._finish(s, cand, opt_state, s.aux, fresh=False)
