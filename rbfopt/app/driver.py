"""Optimization driver: an optax loop over a :class:`~rbfopt.problem.Problem`.

:func:`run` drives any optax optimizer. The pieces, one module each:

* :mod:`rbfopt.problem`: the ``Problem`` contract and its loss as one objective
  ``(params, aux, key) -> (value, metrics)``;
* :mod:`.step`: the loop state (a pytree) and the pure jitted step: apply the
  previous update, project, evaluate value, gradient and metrics at the candidate,
  accept it only if all are finite (else halve the step scale);
* :mod:`.checkpoint`: the loop state as arrays + a JSON header (``checkpoint.npz``),
  written atomically, so ``resume=True`` continues bit-for-bit like an
  uninterrupted run on the same machine;
* :mod:`.records`: history rows, the progress bar, CSV / JSON files;
* :mod:`.sharding`: node arrays split over devices (``devices=``), padded to an
  even split, the step partitioned by ``jax.jit`` (SPMD); with
  :mod:`.distributed`, over the devices of several processes.

This module holds the optimizers by name, the driver's :data:`DEFAULTS` and the loop
itself: after ``max_failures`` consecutive rejected steps the run stops, keeping the
best parameters seen.

Devices. ``devices=`` splits the node arrays of the parameters and stencils along
their leading axis (padded to an even split; the loss never sees the padding) and
replicates the rest; it is recorded as ``meta["devices"]`` in the checkpoint, and a
run may resume on another device count. With several processes
(:mod:`.distributed`) every process calls :func:`run` alike; ``devices=None`` then
means all of :func:`jax.devices` and a mesh must hold devices of every process. The
results, history and the state handed to ``callback`` are whole in every process;
only process 0 writes the checkpoint and shows progress (the others wait for it);
``resume`` reads ``out_dir`` in every process (a folder all of them see).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from .._util import check_int
from ..problem import Problem, initial_params, objective
from . import checkpoint
from .checkpoint import CHECKPOINT_NAME
from .records import (
    Progress,
    ensure_out_dir,
    history_row,
    jsonable,
    read_history_csv,
    write_history_csv,
    write_summary,
)
from .sharding import DevicesArg, NodeLayout, device_mesh, gather, spans_processes, unpad
from .step import LoopState, Steps, template

__all__ = [
    "DEFAULTS",
    "Problem",
    "RunResult",
    "LoopState",
    "make_optimizer",
    "run",
    "load_checkpoint",
    "OPTIMIZERS",
    "SCHEDULES",
    "CHECKPOINT_NAME",
    "write_history_csv",
    "read_history_csv",
    "write_summary",
]

#: Read a checkpoint (a ``checkpoint.npz`` or a run's folder): see :func:`.checkpoint.load`.
load_checkpoint = checkpoint.load

#: Optimizer names accepted by :func:`make_optimizer` (and the CLI) with default lr.
OPTIMIZERS: dict[str, float] = {
    "adam": 1e-2,
    "adamw": 1e-2,
    "sgd": 1e-2,
    "momentum": 1e-2,
    "nesterov": 1e-2,
    "rmsprop": 1e-3,
    "adagrad": 1e-1,
    "lbfgs": 1.0,
}
#: Learning-rate schedules accepted by :func:`make_optimizer`.
SCHEDULES = ("constant", "cosine", "exponential", "warmup_cosine")

#: The driver's settings where none is given, the same on every route: :func:`run`'s
#: defaults, and ``rbfopt run``'s under a problem file's ``DEFAULTS`` and the flags.
#: ``lr=None`` is the optimizer's own (:data:`OPTIMIZERS`). Stencils are refreshed
#: every step: stale neighbour lists let the optimizer exploit lists a fresh search
#: would not pick (the shipped studies' setting).
DEFAULTS: dict[str, Any] = {
    "optimizer": "adam",
    "steps": 100,
    "lr": None,
    "schedule": "constant",
    "seed": 0,
    "restencil_every": 1,
    "checkpoint_every": 10,
    "max_failures": 8,
}


@dataclasses.dataclass
class RunResult:
    """What :func:`run` returns.

    ``params``: the best accepted parameters (lowest loss; equal to the last ones
    unless the run ended on rejected steps). ``last_params``: the final iterate.
    ``history``: one dict per accepted evaluation (step 0 is the initial point) with
    ``step, loss, grad_norm, step_time, lr_scale`` and the metrics. ``state``: the
    final :class:`~rbfopt.app.step.LoopState`. ``settings``: every driver setting
    the run used (optimizer, lr, schedule, steps, seed, restencil_every,
    checkpoint_every, max_failures, devices), as ``summary.json`` records them.

    Examples:
      >>> import jax.numpy as jnp
      >>> quad = Problem("quad", lambda: jnp.zeros(2), lambda x: jnp.sum((x - 1.0) ** 2))
      >>> res = run(quad, "sgd", 2, lr=0.5, progress=False)
      >>> res.params, res.best_loss, res.stopped
      (Array([1., 1.], dtype=float64), 0.0, None)
    """

    params: Any
    last_params: Any
    history: list[dict[str, float]]
    best_loss: float
    steps_done: int
    stopped: str | None
    aux: Any = None
    elapsed: float = 0.0
    state: LoopState | None = None
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)


# --------------------------------------------------------------------------- optimizers
def _schedule(lr: float, schedule: str, steps: int) -> optax.Schedule | float:
    steps = max(int(steps), 1)
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        return optax.cosine_decay_schedule(lr, steps, alpha=0.05)
    if schedule == "exponential":
        # two decades over the run
        return optax.exponential_decay(lr, transition_steps=steps, decay_rate=0.01)
    if schedule == "warmup_cosine":
        return optax.warmup_cosine_decay_schedule(
            0.0, lr, warmup_steps=max(steps // 10, 1), decay_steps=steps, end_value=0.05 * lr
        )
    raise ValueError(f"schedule: unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}")


def make_optimizer(
    name: str, lr: float | None = None, schedule: str = "constant", steps: int = 100
) -> optax.GradientTransformationExtraArgs:
    """An optax optimizer by name (:data:`OPTIMIZERS`) with a learning-rate schedule.

    ``lr=None`` takes the optimizer's default. For ``lbfgs`` without ``lr`` the zoom
    line search picks the step (optax's default); with ``lr`` it is a fixed scale.

    Examples:
      >>> opt = make_optimizer("adam", 0.1, "cosine", steps=50)
      >>> opt.init({"x": jnp.zeros(2)})[0].count
      Array(0, dtype=int32)
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer: unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    if lr is not None and (not math.isfinite(lr) or lr <= 0):
        raise ValueError(f"lr: learning rate must be finite and > 0, got {lr!r}")
    if name == "lbfgs":
        return optax.lbfgs(learning_rate=None if lr is None else _schedule(lr, schedule, steps))
    sched = _schedule(OPTIMIZERS[name] if lr is None else lr, schedule, steps)
    if name == "momentum":
        opt = optax.sgd(sched, momentum=0.9)
    elif name == "nesterov":
        opt = optax.sgd(sched, momentum=0.9, nesterov=True)
    else:
        opt = getattr(optax, name)(sched)
    return optax.with_extra_args_support(opt)


# --------------------------------------------------------------------------- the driver
def run(
    problem: Problem,
    optimizer: optax.GradientTransformation | str = DEFAULTS["optimizer"],
    steps: int = DEFAULTS["steps"],
    *,
    lr: float | None = DEFAULTS["lr"],
    schedule: str = DEFAULTS["schedule"],
    out_dir: str | None = None,
    resume: bool = False,
    seed: int = DEFAULTS["seed"],
    restencil_every: int = DEFAULTS["restencil_every"],
    checkpoint_every: int = DEFAULTS["checkpoint_every"],
    max_failures: int = DEFAULTS["max_failures"],
    progress: bool = True,
    optimizer_name: str | None = None,
    meta: Mapping[str, Any] | None = None,
    callback: Callable[[LoopState, dict[str, float]], Any] | None = None,
    devices: DevicesArg = None,
) -> RunResult:
    """Minimize ``problem.loss`` for ``steps`` optimizer steps.

    Args:
      problem: the study.
      optimizer: an optax transformation or a name of :data:`OPTIMIZERS`.
      steps: accepted steps to take (in total, counting resumed ones).
      lr, schedule: for a named optimizer (see :func:`make_optimizer`).
      out_dir: where ``checkpoint.npz`` goes (no checkpoints when None); created with
        its parents before any work, a ValueError naming it when it cannot be.
      resume: continue from ``out_dir/checkpoint.npz`` (same problem, options, optimizer).
      seed: seed of the driver's PRNG key; a loss with a ``key`` parameter receives
        a fresh key split from it every step.
      restencil_every, checkpoint_every: accepted steps between ``problem.restencil``
        calls, and between checkpoints (and one at the end).
      max_failures: consecutive rejected (non-finite) steps before stopping.
      progress: show a tqdm bar with the loss.
      optimizer_name, meta: recorded in the checkpoint: the name of an optax object,
        extra JSON-able facts (e.g. the problem source).
      callback: ``callback(state, row)`` after every accepted step (after its
        checkpoint, if one was due): for monitoring, and for tests.
      devices: None or 1 (one device), a number of devices or a 1-D
        :class:`jax.sharding.Mesh`: node arrays are split over them (see the module
        docstring); the result equals a one-device run's to round-off.

    Defaults: :data:`DEFAULTS`, the same as ``rbfopt run``'s. Returns a
    :class:`RunResult`; its ``settings`` hold every driver setting used.

    Examples:
      >>> import jax.numpy as jnp
      >>> quad = Problem("quad", lambda: jnp.zeros(2), lambda x: jnp.sum((x - 1.0) ** 2))
      >>> res = run(quad, "sgd", 3, lr=0.25, progress=False)
      >>> res.steps_done, [h["loss"] for h in res.history]
      (3, [2.0, 0.5, 0.125, 0.03125])
      >>> res.settings["restencil_every"], res.settings["lr"]
      (1, 0.25)
    """
    steps = check_int("steps", steps, 0)
    counts = {
        k: check_int(k, v, 1)
        for k, v in (
            ("restencil_every", restencil_every),
            ("checkpoint_every", checkpoint_every),
            ("max_failures", max_failures),
        )
    }
    if resume and out_dir is None:
        raise ValueError("resume: needs out_dir (where the checkpoint is)")
    mesh = device_mesh(devices)
    if isinstance(optimizer, str):
        optimizer, optimizer_name = make_optimizer(optimizer, lr, schedule, steps), optimizer
    else:  # lr and schedule are inside the optax object: unknown here
        lr = schedule = None
        optimizer = optax.with_extra_args_support(optimizer)
    if out_dir is not None:
        ensure_out_dir(out_dir, "out_dir")  # before any work, not at the first checkpoint
    settings = dict(counts, steps=steps, seed=seed, optimizer=optimizer_name, schedule=schedule)
    settings.update(lr=_lr_used(optimizer_name, lr), **_device_facts(mesh))
    loop, params, aux = _setup(problem, optimizer, mesh, out_dir, meta, settings, callback)
    state, history = loop.resume(optimizer) if resume else loop.start(params, aux, seed)
    state, stopped = loop.run(state, history, steps, progress)
    return loop.result(state, history, stopped, settings)


def _device_facts(mesh: Any) -> dict[str, int]:
    facts = {"devices": 1 if mesh is None else int(mesh.size)}
    if spans_processes(mesh):
        facts["processes"] = jax.process_count()
    return facts


def _lr_used(name: str | None, lr: float | None) -> float | None:
    """The learning rate a named optimizer runs with (None: lbfgs's line search, or an
    optax object's own)."""
    if lr is not None or name is None or name == "lbfgs":
        return lr
    return OPTIMIZERS[name]


def _setup(problem, optimizer, mesh, out_dir, meta, settings, callback) -> tuple[_Loop, Any, Any]:
    """The loop of one run, with the initial parameters and stencils."""
    ident = {
        "problem": problem.name,
        "options": jsonable(problem.options),
        "optimizer": settings["optimizer"],
        "meta": jsonable({**dict(meta or {}), **_device_facts(mesh)}),
    }
    params = initial_params(problem)
    aux = _stencils(problem, params)
    layout = None if mesh is None else NodeLayout.of(mesh, params, aux)
    fn, project = objective(problem), problem.project
    if layout is not None:  # the step works on padded arrays, the problem never sees them
        fn, project = layout.objective(fn), layout.project(project)
    fns = Steps(fn, optimizer, project)
    path = None if out_dir is None else os.path.join(out_dir, CHECKPOINT_NAME)
    like = template(params, aux, optimizer)
    counts = (settings[k] for k in ("restencil_every", "checkpoint_every", "max_failures"))
    loop = _Loop(problem, fns, path, ident, callback, *counts, layout=layout, like=like)
    return loop, params, aux


def _shapes(tree: Any) -> list:
    return [(jnp.shape(a), jnp.result_type(a)) for a in jax.tree_util.tree_leaves(tree)]


def _stencils(problem: Problem, params: Any) -> Any:
    if problem.restencil is None:
        return None
    return jax.tree_util.tree_map(jnp.asarray, problem.restencil(params))


@dataclasses.dataclass
class _Loop:
    """One run's fixed parts; its methods start or resume the state and step it."""

    problem: Problem
    fns: Steps
    ckpt_path: str | None
    ident: dict[str, Any]
    callback: Callable[[LoopState, dict[str, float]], Any] | None
    restencil_every: int
    checkpoint_every: int
    max_failures: int
    layout: NodeLayout | None = None
    like: LoopState | None = None  # the unpadded state's shapes (checkpoints, results)
    elapsed0: float = 0.0
    t_start: float = dataclasses.field(default_factory=time.perf_counter)
    # several processes: arrays leave the devices whole (gathered); process 0 writes
    multi: bool = dataclasses.field(init=False, default=False)

    def __post_init__(self) -> None:
        self.multi = self.layout is not None and spans_processes(self.layout.mesh)

    def host(self, tree: Any) -> Any:
        """``tree`` as numpy, whole (gathered over processes in a multi-process run)."""
        return gather(tree) if self.multi else jax.device_get(tree)

    def writer(self) -> bool:
        """Whether this process writes files and shows progress (process 0)."""
        return not self.multi or jax.process_index() == 0

    def barrier(self, name: str) -> None:
        if self.multi:  # the others wait for process 0's files
            from jax.experimental.multihost_utils import sync_global_devices

            sync_global_devices(f"rbfopt {name}")

    def elapsed(self) -> float:
        return self.elapsed0 + time.perf_counter() - self.t_start

    def unpadded(self, state: LoopState) -> LoopState:
        """``state`` without the padding of its node arrays (as a one-device run's);
        with several processes gathered whole into this process's default device."""
        if self.multi:
            return jax.tree_util.tree_map(jnp.asarray, unpad(gather(state), self.like))
        return state if self.layout is None else unpad(state, self.like)

    def save(self, state: LoopState, history: list[dict[str, float]]) -> None:
        if self.ckpt_path is not None:
            step = int(state.step)
            elapsed = self.elapsed()
            # unpadded: the file does not depend on the device count
            state = self.unpadded(state)
            if self.writer():
                checkpoint.save(
                    self.ckpt_path, state, step=step, history=history, elapsed=elapsed, **self.ident
                )
            self.barrier("checkpoint")

    def start(self, params: Any, aux: Any, seed: int) -> tuple[LoopState, list[dict[str, float]]]:
        key = jax.random.PRNGKey(seed)
        if self.layout is not None:
            # the key too, placed as the steps' keys are: their evaluations of the loss
            # then reuse the first one's compile instead of compiling it again
            params, aux, key = self.layout.place((params, aux, key))
        t0 = time.perf_counter()
        state, info = self.fns.first(params, aux, key)
        if self.layout is not None:
            # the optimizer state comes out replicated, the step would split it: placed
            # as the step leaves it, the step compiles once
            state = self.layout.place(state)
        info = self.host(info)
        if not info.ok:
            raise ValueError(
                f"{self.problem.name}: the initial loss or gradient is not finite "
                f"(loss={float(info.value)})"
            )
        dt = time.perf_counter() - t0
        return state, [history_row(0, info.value, info.grad_norm, dt, 1.0, info.metrics)]

    def resume(self, optimizer: optax.GradientTransformation) -> tuple[LoopState, list]:
        ck = checkpoint.load(self.ckpt_path)
        ck.check(self.ident["problem"], self.ident["options"], self.ident["optimizer"])
        restored = ck.restore(self.like)
        self.elapsed0 = ck.elapsed
        if self.layout is not None:
            padded = template(*self.layout.padded_like(), optimizer)
            return self.layout.place_like(restored, padded), list(ck.history)
        return jax.tree_util.tree_map(jnp.asarray, restored), list(ck.history)

    def step(self, state: LoopState, fresh: bool) -> tuple[LoopState, Any]:
        """One step; with ``fresh``, restencil at the candidate before evaluating it
        (so the loss and gradient the optimizer sees belong to fresh stencils)."""
        if not fresh:
            return self.fns.step(state)
        cand, opt_state = self.fns.propose(state)
        aux = state.aux
        if bool(self.fns.finite(cand)):  # no neighbour search on NaN
            if self.layout is None:
                aux = _stencils(self.problem, cand)
            else:  # the host's neighbour search sees the unpadded nodes
                nodes = cand
                if self.multi:  # whole, the same in every process: the same stencils
                    nodes = jax.tree_util.tree_map(jnp.asarray, gather(cand))
                aux = self.layout.place(_stencils(self.problem, unpad(nodes, self.like.params)))
        if _shapes(aux) != _shapes(state.aux):
            # a study whose stencils outgrew their padding (a finite-element mesh with a
            # wider row): the new shapes replace the old ones (one recompile)
            state = state._replace(aux=aux)
        return self.fns.finish(state, cand, opt_state, aux)

    def result(self, state: LoopState, history: list, stopped: str | None, settings: dict):
        """The :class:`RunResult` of the final ``state``."""
        state = self.unpadded(state)
        return RunResult(
            params=state.best_params,
            last_params=state.params,
            history=history,
            best_loss=float(state.best_loss),
            steps_done=int(state.step),
            stopped=stopped,
            aux=state.aux,
            elapsed=self.elapsed(),
            state=state,
            settings=settings,
        )

    def run(self, state: LoopState, history: list, steps: int, progress: bool):
        """Step until ``steps`` accepted steps or ``max_failures`` rejections in a row.
        Returns (final state, why it stopped early or None)."""
        with_aux = self.problem.restencil is not None
        k, since = int(state.step), int(state.since_restencil)
        self.t_start = time.perf_counter()  # optimizer time: the loop, not the start
        stopped = None
        with Progress(progress and self.writer(), steps, k, self.problem.name) as bar:
            while k < steps:
                t0 = time.perf_counter()
                state, info = self.step(state, with_aux and since + 1 >= self.restencil_every)
                facts = (info, state.step, state.since_restencil, state.failures, state.scale)
                info, k, since, failures, scale = self.host(facts)
                k, since = int(k), int(since)
                if not info.ok:
                    if failures >= self.max_failures:
                        stopped = (
                            f"stopped after {failures} consecutive non-finite steps at step {k} "
                            f"(step scale {scale:.3g}); keeping the best parameters "
                            f"(loss {float(state.best_loss):.6g})"
                        )
                        break
                    continue
                dt = time.perf_counter() - t0
                row = history_row(k, info.value, info.grad_norm, dt, scale, info.metrics)
                history.append(row)
                bar.update(row["loss"])
                if k % self.checkpoint_every == 0 or k == steps:
                    self.save(state, history)
                if self.callback is not None:
                    self.callback(self.unpadded(state), row)
        if stopped is not None:
            self.save(state, history)
        return state, stopped
