"""The loop state (a pytree) and the pure optimizer step.

:class:`LoopState` holds everything the loop carries from one step to the next, so
a checkpoint is its leaves and a resumed run continues bit-for-bit. :class:`Steps`
builds the jitted pure functions over it:

* ``first(params, aux, key)``: the initial state (value and gradient at ``init``);
* ``step(state)``: propose an update and evaluate the candidate;
* ``propose(state)`` then ``finish(state, cand, opt_state, aux)``: the same step
  split at the candidate, so that stencils are refreshed on the host (numpy
  neighbour search) between the two.

Each is a few jitted pure functions in a row; the value and gradient
(``evaluate``) is one of them, shared by all three.

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

from ..problem import Objective

__all__ = ["Evaluation", "LoopState", "StepInfo", "Steps", "template"]


class LoopState(NamedTuple):
    """What the loop carries between steps (a pytree of arrays).

    ``value``, ``grad``: the loss and its gradient at ``params``; ``aux``: the
    stencils they were evaluated with (None without ``restencil``); ``key``: the
    driver's PRNG key; ``scale``: the step-size factor; ``failures``: consecutive
    rejected steps; ``step``: accepted steps; ``since_restencil``: accepted steps
    since ``aux`` was refreshed; ``best_params``, ``best_loss``: the lowest loss so far.

    Examples:
      >>> import jax.numpy as jnp, optax
      >>> from rbfopt.problem import Problem, objective
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


class Evaluation(NamedTuple):
    """The value and gradient at one point: the state's next PRNG ``key`` (the loss got
    a key split from the one passed in), ``value``, ``grad``, ``metrics``, and ``ok``
    (value, gradient and parameters all finite)."""

    key: jax.Array
    value: jax.Array
    grad: Any
    metrics: dict[str, jax.Array]
    ok: jax.Array


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
    (``project=None``: no constraints). Example: see :class:`LoopState`.

    The value and gradient is one jitted function, :attr:`evaluate`, that ``first``,
    ``step`` and ``finish`` call between their own small jitted parts: it is the
    costly compile, and one jit compiles it once for all three.
    """

    def __init__(
        self,
        fn: Objective,
        optimizer: optax.GradientTransformationExtraArgs,
        project: Callable[[Any], Any] | None = None,
    ) -> None:
        self._fn, self._opt = fn, optimizer
        self._project = project if project is not None else (lambda p: p)
        self._vg = jax.value_and_grad(fn, has_aux=True)
        self.evaluate = jax.jit(self._evaluate)
        self.propose = jax.jit(self._propose)
        self.finite = jax.jit(_finite)
        self._start = jax.jit(self._start_state)
        self._accept = jax.jit(self._accept_state, static_argnames="fresh")

    def _evaluate(self, p, aux, key) -> Evaluation:
        key, sub = jax.random.split(key)
        (value, metrics), grad = self._vg(p, aux, sub)
        ok = jnp.isfinite(value) & _finite(grad) & _finite(p)
        return Evaluation(key, value, grad, metrics, ok)

    def first(self, params: Any, aux: Any, seed_key: jax.Array) -> tuple[LoopState, StepInfo]:
        """The initial state: the value and gradient at ``params`` with stencils ``aux``."""
        return self._start(params, aux, self.evaluate(params, aux, seed_key))

    def step(self, s: LoopState) -> tuple[LoopState, StepInfo]:
        """Propose an update and evaluate the candidate with the state's stencils."""
        cand, opt_state = self.propose(s)
        return self.finish(s, cand, opt_state, s.aux, fresh=False)

    def finish(
        self, s: LoopState, cand: Any, opt_state: Any, aux: Any, fresh: bool = True
    ) -> tuple[LoopState, StepInfo]:
        """Evaluate the candidate ``cand`` with ``aux`` (fresh stencils when ``fresh``)
        and accept it or not."""
        ev = self.evaluate(cand, aux, s.key)
        return self._accept(s, cand, opt_state, aux, ev, fresh=fresh)

    def _start_state(self, params, aux, ev: Evaluation) -> tuple[LoopState, StepInfo]:
        state = LoopState(
            params,
            self._opt.init(params),
            ev.value,
            ev.grad,
            aux,
            ev.key,
            jnp.float64(1.0),
            _i32(0),
            _i32(0),
            _i32(0),
            params,
            ev.value,
        )
        return state, StepInfo(ev.ok, ev.value, optax.tree.norm(ev.grad), ev.metrics)

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

    def _accept_state(self, s: LoopState, cand, opt_state, aux, ev: Evaluation, fresh: bool):
        # selections only, no arithmetic on the kept values
        ok = ev.ok
        better = ok & (ev.value < s.best_loss)

        def pick(cond, new, old):
            return jax.tree_util.tree_map(lambda a, b: jnp.where(cond, a, b), new, old)

        state = LoopState(
            params=pick(ok, cand, s.params),
            opt_state=pick(ok, opt_state, s.opt_state),
            value=jnp.where(ok, ev.value, s.value),
            grad=pick(ok, ev.grad, s.grad),
            aux=pick(ok, aux, s.aux),
            key=ev.key,
            scale=jnp.where(ok, s.scale, 0.5 * s.scale),
            failures=jnp.where(ok, 0, s.failures + 1).astype(jnp.int32),
            step=s.step + ok.astype(jnp.int32),
            since_restencil=jnp.where(
                ok, 0 if fresh else s.since_restencil + 1, s.since_restencil
            ).astype(jnp.int32),
            best_params=pick(better, cand, s.best_params),
            best_loss=jnp.where(better, ev.value, s.best_loss),
        )
        return state, StepInfo(ok, ev.value, optax.tree.norm(ev.grad), ev.metrics)
