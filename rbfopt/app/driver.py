"""Optimization driver: the ``Problem`` protocol and an optax loop with checkpoints.

A study is a :class:`Problem`, a small dataclass of callables (DESIGN.md)::

    Problem(name, init, loss, project=None, metrics=None, restencil=None, to_mesh=None)

* ``init() -> params``: the initial parameters, any pytree of float arrays.
* ``loss(params) -> scalar``, or ``loss(params, aux)`` when ``restencil`` is given.
* ``project(params) -> params``: constraints applied after every update (nodes stay
  in the domain, boundary nodes on the boundary). Traced inside the jitted step.
* ``metrics(params[, aux]) -> dict[str, scalar]``: logged every step (jitted).
* ``restencil(params) -> aux``: refresh neighbour lists (numpy, outside jit) every
  ``restencil_every`` steps. ``aux`` is a pytree of arrays whose shapes never change,
  so it is an *input* of the jitted step and swapping it never recompiles.
* ``to_mesh(params) -> meshio.Mesh``: the node set with point data, for export.
* ``inside(points) -> bool array`` (optional): domain test used to drop Delaunay
  triangles of a non-convex domain.
* ``report(params) -> dict`` (optional): figures computed once at the end, outside
  jit (reference solutions, brute-force scans) for ``summary.json``.
* ``options``: the options the problem was built with (stored in checkpoints; a
  resume must use the same).

:func:`run` drives any optax optimizer with one jitted step that applies the
previous update, projects, and evaluates value and gradient at the candidate. A
candidate whose loss or gradient is not finite is never accepted: the step is
rejected, the step size halved (a scale applied to the optax update, so it works for
every optimizer, line searches included), and after ``max_failures`` consecutive
rejections the run stops, keeping the best parameters seen. Checkpoints hold the
complete loop state (params, optimizer state, loss, gradient, stencils, step scale,
RNG key, history) and are written atomically, so ``resume=True`` continues
bit-for-bit like an uninterrupted run on the same machine.
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import json
import math
import os
import pickle
import signal
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = [
    "Problem",
    "RunResult",
    "make_optimizer",
    "run",
    "load_checkpoint",
    "OPTIMIZERS",
    "SCHEDULES",
    "CHECKPOINT_NAME",
]

CHECKPOINT_NAME = "checkpoint.pkl"
_CKPT_VERSION = 1

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


@dataclasses.dataclass
class Problem:
    """An optimization study (see the module docstring for the protocol)."""

    name: str
    init: Callable[[], Any]
    loss: Callable[..., jax.Array]
    project: Callable[[Any], Any] | None = None
    metrics: Callable[..., Mapping[str, jax.Array]] | None = None
    restencil: Callable[[Any], Any] | None = None
    to_mesh: Callable[[Any], Any] | None = None
    inside: Callable[[np.ndarray], np.ndarray] | None = None
    report: Callable[[Any], Mapping[str, Any]] | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Problem.name: expected a non-empty string, got {self.name!r}")
        for field in ("init", "loss"):
            if not callable(getattr(self, field)):
                raise TypeError(f"Problem.{field}: expected a callable")
        for field in ("project", "metrics", "restencil", "to_mesh", "inside", "report"):
            v = getattr(self, field)
            if v is not None and not callable(v):
                raise TypeError(f"Problem.{field}: expected a callable or None, got {v!r}")


@dataclasses.dataclass
class RunResult:
    """What :func:`run` returns.

    ``params``: the best accepted parameters (lowest loss; equal to the last ones
    unless the run ended on rejected steps). ``last_params``: the final iterate.
    ``history``: one dict per accepted evaluation (step 0 is the initial point) with
    ``step, loss, grad_norm, step_time, lr_scale`` and the metrics.
    """

    params: Any
    last_params: Any
    history: list[dict[str, float]]
    best_loss: float
    steps_done: int
    stopped: str | None
    aux: Any = None
    elapsed: float = 0.0


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


# --------------------------------------------------------------------------- helpers
def _n_args(fn: Callable) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins, odd callables: assume one argument
        return 1
    pos = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(pos)


def _call(fn: Callable, params: Any, aux: Any, with_aux: bool) -> Any:
    return fn(params, aux) if with_aux else fn(params)


def _to_numpy(tree: Any) -> Any:
    return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))


def _to_jax(tree: Any) -> Any:
    return jax.tree_util.tree_map(jnp.asarray, tree)


def _finite_tree(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def _atomic_write_bytes(path: str, data: bytes) -> None:
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are for sharing
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _atomic_write_text(path: str, text: str) -> None:
    _atomic_write_bytes(path, text.encode())


def load_checkpoint(path: str) -> dict[str, Any]:
    """Read a checkpoint written by :func:`run` (a file or the run's output folder)."""
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint: no checkpoint at {path}")
    try:
        with open(path, "rb") as f:
            ck = pickle.load(f)
    except Exception as e:  # truncated or foreign file
        raise ValueError(f"checkpoint: {path} is not a readable rbfopt checkpoint ({e})") from e
    if not isinstance(ck, dict) or ck.get("format") != "rbfopt-checkpoint":
        raise ValueError(f"checkpoint: {path} is not an rbfopt checkpoint")
    return ck


def write_history_csv(history: list[dict[str, float]], path: str) -> None:
    """Write the history (list of dicts) as CSV, atomically."""
    keys: list[str] = []
    for row in history:
        for k in row:
            if k not in keys:
                keys.append(k)
    lines = [",".join(keys)]
    for row in history:
        lines.append(",".join(repr(float(row[k])) if k in row else "" for k in keys))
    _atomic_write_text(path, "\n".join(lines) + "\n")


def read_history_csv(path: str) -> list[dict[str, float]]:
    """Read a history CSV written by :func:`write_history_csv`."""
    with open(path) as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


# --------------------------------------------------------------------------- the driver
def run(
    problem: Problem,
    optimizer: optax.GradientTransformation | str = "adam",
    steps: int = 100,
    *,
    lr: float | None = None,
    schedule: str = "constant",
    out_dir: str | None = None,
    resume: bool = False,
    seed: int = 0,
    restencil_every: int = 10,
    checkpoint_every: int = 10,
    max_failures: int = 8,
    progress: bool = True,
    optimizer_name: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> RunResult:
    """Minimize ``problem.loss`` for ``steps`` optimizer steps.

    Args:
      problem: the study.
      optimizer: an optax transformation or a name of :data:`OPTIMIZERS`.
      steps: number of accepted steps to take (total, counting resumed ones).
      lr, schedule: for a named optimizer (see :func:`make_optimizer`).
      out_dir: where ``checkpoint.pkl`` goes (no checkpoints when None).
      resume: continue from ``out_dir/checkpoint.pkl``; the checkpoint must belong
        to the same problem (name and options), else ValueError.
      seed: seed of the driver's RNG key (stored and advanced every step; a problem
        with a ``key`` argument in ``loss`` would receive it).
      restencil_every: accepted steps between ``problem.restencil`` calls.
      checkpoint_every: accepted steps between checkpoints (and one at the end).
      max_failures: consecutive rejected (non-finite) steps before stopping.
      progress: show a tqdm bar with the loss.
      optimizer_name: recorded in the checkpoint when ``optimizer`` is an object.
      meta: extra JSON-able facts stored in the checkpoint (e.g. the problem source).

    Returns:
      :class:`RunResult`.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps: expected a non-negative integer, got {steps!r}")
    for nm, v in (
        ("restencil_every", restencil_every),
        ("checkpoint_every", checkpoint_every),
        ("max_failures", max_failures),
    ):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{nm}: expected a positive integer, got {v!r}")
    if isinstance(optimizer, str):
        optimizer_name = optimizer
        optimizer = make_optimizer(optimizer, lr, schedule, steps)
    elif not isinstance(optimizer, optax.GradientTransformationExtraArgs):
        optimizer = optax.with_extra_args_support(optimizer)
    if resume and out_dir is None:
        raise ValueError("resume: needs out_dir (where the checkpoint is)")

    with_aux = problem.restencil is not None
    if with_aux and _n_args(problem.loss) < 2:
        raise TypeError(f"{problem.name}: with restencil, loss must take (params, aux)")
    project = problem.project if problem.project is not None else (lambda p: p)

    def loss_fn(p: Any, aux: Any) -> jax.Array:
        return jnp.asarray(_call(problem.loss, p, aux, with_aux), dtype=jnp.float64).reshape(())

    value_and_grad = jax.value_and_grad(loss_fn)

    @jax.jit
    def evaluate(p: Any, aux: Any) -> tuple[jax.Array, Any]:
        return value_and_grad(p, aux)

    def propose(p, opt_state, value, grad, aux, scale):
        # The optax update from (value, grad) at p, scaled (the step-size control of
        # rejected steps) and projected onto the constraints.
        updates, new_state = optimizer.update(
            grad, opt_state, p, value=value, grad=grad, value_fn=lambda q: loss_fn(q, aux)
        )
        updates = jax.tree_util.tree_map(lambda u: scale * u, updates)
        return project(optax.apply_updates(p, updates)), new_state

    def check(cand, aux):
        v, g = value_and_grad(cand, aux)
        ok = jnp.isfinite(v) & _finite_tree(g) & _finite_tree(cand)
        return v, g, ok, optax.tree.norm(g)

    @jax.jit
    def step(p, opt_state, value, grad, aux, scale):
        # Update, project, and evaluate the candidate: one value-and-grad per step.
        # The caller accepts or rejects it.
        cand, new_state = propose(p, opt_state, value, grad, aux, scale)
        return (cand, new_state) + check(cand, aux)

    # Steps that refresh the stencils split at the candidate: neighbour search runs
    # on it outside jit, then it is evaluated with its own stencils (so the loss and
    # gradient the optimizer sees always belong to fresh-enough stencils).
    propose_jit = jax.jit(propose)
    check_jit = jax.jit(check)

    metrics_fn = None
    if problem.metrics is not None:
        metrics_fn = jax.jit(lambda p, aux: dict(_call(problem.metrics, p, aux, with_aux)))

    ckpt_path = os.path.join(out_dir, CHECKPOINT_NAME) if out_dir is not None else None
    ident = {"problem": problem.name, "options": _jsonable(problem.options)}

    if resume:
        ck = load_checkpoint(ckpt_path)
        if ck["problem"] != problem.name or ck["options"] != ident["options"]:
            raise ValueError(
                f"resume: checkpoint {ckpt_path} belongs to problem {ck['problem']!r} "
                f"with options {ck['options']}, not {problem.name!r} with {ident['options']}"
            )
        if ck.get("optimizer") != optimizer_name:
            raise ValueError(
                f"resume: checkpoint was written with optimizer {ck.get('optimizer')!r}, "
                f"not {optimizer_name!r}"
            )
        st = _to_jax(ck["state"])
        params, opt_state, value, grad, aux = (
            st["params"],
            st["opt_state"],
            st["value"],
            st["grad"],
            st["aux"],
        )
        best_params = st["best_params"]
        key = st["key"]
        scale = float(ck["scale"])
        failures = int(ck["failures"])
        k = int(ck["step"])
        history = list(ck["history"])
        best_loss = float(ck["best_loss"])
        since_restencil = int(ck["since_restencil"])
        elapsed0 = float(ck.get("elapsed", 0.0))
    else:
        params = _to_jax(problem.init())
        params = jax.tree_util.tree_map(
            lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x,
            params,
        )
        aux = _to_jax(problem.restencil(params)) if with_aux else None
        t0 = time.perf_counter()
        value, grad = evaluate(params, aux)
        if not (bool(jnp.isfinite(value)) and bool(_finite_tree(grad))):
            raise ValueError(
                f"{problem.name}: the initial loss or gradient is not finite (loss={float(value)})"
            )
        opt_state = optimizer.init(params)
        key = jax.random.PRNGKey(seed)
        scale, failures, k, since_restencil, elapsed0 = 1.0, 0, 0, 0, 0.0
        history = [
            _row(
                0,
                value,
                optax.tree.norm(grad),
                time.perf_counter() - t0,
                scale,
                metrics_fn,
                params,
                aux,
            )
        ]
        best_loss, best_params = float(value), params

    def save() -> None:
        if ckpt_path is None:
            return
        state = {
            "params": params,
            "opt_state": opt_state,
            "value": value,
            "grad": grad,
            "aux": aux,
            "best_params": best_params,
            "key": key,
        }
        ck = dict(
            ident,
            format="rbfopt-checkpoint",
            version=_CKPT_VERSION,
            meta=_jsonable(dict(meta or {})),
            optimizer=optimizer_name,
            state=_to_numpy(state),
            scale=scale,
            failures=failures,
            step=k,
            history=history,
            best_loss=best_loss,
            since_restencil=since_restencil,
            elapsed=elapsed0 + time.perf_counter() - t_start,
        )
        _atomic_write_bytes(ckpt_path, pickle.dumps(ck, protocol=pickle.HIGHEST_PROTOCOL))

    # Test hooks (documented in tests/test_optimize.py): slow a run down or kill it
    # hard at a given step, to check resume after SIGKILL.
    kill_at = int(os.environ.get("RBFOPT_KILL_AT_STEP", "-1"))
    sleep_s = float(os.environ.get("RBFOPT_STEP_SLEEP", "0"))

    t_start = time.perf_counter()
    stopped: str | None = None
    bar = None
    if progress and steps > k:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=k, desc=problem.name, dynamic_ncols=True, leave=False)
    try:
        while k < steps:
            if k == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if sleep_s:
                time.sleep(sleep_s)
            t0 = time.perf_counter()
            key, _ = jax.random.split(key)
            scale_arr = jnp.float64(scale)
            due = with_aux and since_restencil + 1 >= restencil_every
            if due:
                cand, new_state = propose_jit(params, opt_state, value, grad, aux, scale_arr)
                ok = bool(_finite_tree(cand))
                if ok:
                    cand_aux = _to_jax(problem.restencil(cand))
                    v, g, ok, gnorm = check_jit(cand, cand_aux)
            else:
                cand, new_state, v, g, ok, gnorm = step(
                    params, opt_state, value, grad, aux, scale_arr
                )
                cand_aux = aux
            ok = bool(ok)
            if not ok:
                failures += 1
                scale *= 0.5
                if failures >= max_failures:
                    stopped = (
                        f"stopped after {failures} consecutive non-finite steps at step {k} "
                        f"(step scale {scale:.3g}); keeping the best parameters "
                        f"(loss {best_loss:.6g})"
                    )
                    break
                continue
            failures = 0
            params, opt_state, value, grad, aux = cand, new_state, v, g, cand_aux
            k += 1
            since_restencil = 0 if due else since_restencil + 1
            history.append(
                _row(k, value, gnorm, time.perf_counter() - t0, scale, metrics_fn, params, aux)
            )
            if float(value) < best_loss:
                best_loss, best_params = float(value), params
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{float(value):.4e}")
            if k % checkpoint_every == 0 or k == steps:
                save()
    finally:
        if bar is not None:
            bar.close()
    if stopped is not None:
        save()
    return RunResult(
        params=best_params,
        last_params=params,
        history=history,
        best_loss=best_loss,
        steps_done=k,
        stopped=stopped,
        aux=aux,
        elapsed=elapsed0 + time.perf_counter() - t_start,
    )


def _row(k, value, gnorm, dt, scale, metrics_fn, params, aux) -> dict[str, float]:
    row = {
        "step": float(k),
        "loss": float(value),
        "grad_norm": float(gnorm),
        "step_time": float(dt),
        "lr_scale": float(scale),
    }
    if metrics_fn is not None:
        for name, val in metrics_fn(params, aux).items():
            row[str(name)] = float(val)
    return row


def _jsonable(x: Any) -> Any:
    """Options as plain JSON values (so checkpoints compare and summaries print)."""
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(x.items())}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return repr(x)


def write_summary(path: str, summary: Mapping[str, Any]) -> None:
    """Write a summary dict as JSON, atomically."""
    _atomic_write_text(path, json.dumps(_jsonable(dict(summary)), indent=2) + "\n")
