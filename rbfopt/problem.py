"""The ``Problem`` protocol: a study as a small dataclass of callables (DESIGN.md).

::

    Problem(name, init, loss, project=None, metrics=None, restencil=None, to_mesh=None)

* ``init() -> params``: the initial parameters, any pytree of float arrays.
* ``loss(params) -> value`` or ``-> (value, metrics)``; ``loss(params, aux)`` when
  ``restencil`` is given. ``metrics`` is a dict of scalars logged every step: they
  come from the same evaluation as the value (``jax.value_and_grad(...,
  has_aux=True)``), so a loss that computes them anyway costs nothing more. A loss
  with a ``key`` parameter receives a fresh PRNG key each step (``key=...``),
  split from the driver's key (seeded by ``run(..., seed=)``, kept in checkpoints).
* ``project(params) -> params``: constraints applied after every update (nodes stay
  in the domain, boundary nodes on the boundary). Traced inside the jitted step.
* ``metrics(params[, aux]) -> dict[str, scalar]``: extra metrics (the older form,
  still accepted), evaluated inside the same jitted step and merged with the loss's.
* ``restencil(params) -> aux``: refresh neighbour lists (numpy, outside jit) every
  ``restencil_every`` steps. ``aux`` is a pytree of arrays whose shapes never change,
  so it is an *input* of the jitted step and swapping it never recompiles.
* ``to_mesh(params) -> meshio.Mesh``: the node set with point data, for export.
* ``inside(points) -> bool array`` (optional): domain test used to drop Delaunay
  triangles of a non-convex domain.
* ``domain`` (optional): the :mod:`rbfopt.geometry` domain of a node-layout study;
  runs then export ``mesh.msh`` with the domain's boundary groups as Gmsh physical
  groups (:func:`rbfopt.mesh.triangulate`) and its quality in ``summary.json``.
* ``report(params) -> dict`` (optional): figures computed once at the end, outside
  jit (reference solutions, brute-force scans) for ``summary.json``.
* ``options``: the options the problem was built with (stored in checkpoints; a
  resume must use the same).
* ``loss_label`` (optional): what the loss is, in words, for the convergence plot's
  y-axis (e.g. ``"ln(RMS error) + barrier"``); plain ``"loss"`` when None.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Problem", "Objective", "objective", "initial_params"]

#: ``objective(params, aux, key) -> (value, metrics)``: the loss in one form.
Objective = Callable[[Any, Any, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


@dataclasses.dataclass
class Problem:
    """An optimization study (see the module docstring for the protocol).

    Examples:
      >>> import jax.numpy as jnp
      >>> p = Problem("quad", lambda: jnp.zeros(2), lambda x: jnp.sum((x - 1.0) ** 2))
      >>> float(p.loss(p.init()))
      2.0
    """

    name: str
    init: Callable[[], Any]
    loss: Callable[..., Any]
    project: Callable[[Any], Any] | None = None
    metrics: Callable[..., Mapping[str, jax.Array]] | None = None
    restencil: Callable[[Any], Any] | None = None
    to_mesh: Callable[[Any], Any] | None = None
    inside: Callable[[np.ndarray], np.ndarray] | None = None
    report: Callable[[Any], Mapping[str, Any]] | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    domain: Any = None
    loss_label: str | None = None

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
        if self.loss_label is not None and not isinstance(self.loss_label, str):
            raise TypeError(
                f"Problem.loss_label: expected a string or None, got {self.loss_label!r}"
            )


def _signature(fn: Callable) -> tuple[int, bool]:
    """(number of required positional parameters, whether ``key`` is a parameter)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # builtins, odd callables: assume one argument
        return 1, False
    pos = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    takes_key = any(
        p.name == "key" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params
    )
    return len(pos) - (1 if takes_key and pos and pos[-1].name == "key" else 0), takes_key


def objective(problem: Problem) -> Objective:
    """The problem's loss as ``fn(params, aux, key) -> (value, metrics)``, whatever its form.

    Accepts ``loss(params)`` or ``loss(params, aux)`` (with ``restencil``), an
    optional ``key`` parameter, a scalar or a ``(value, metrics)`` result, and the
    separate ``problem.metrics`` callable (its entries are merged in).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> p = Problem("q", lambda: jnp.zeros(2), lambda x: (jnp.sum(x**2), {"n": x.size}))
      >>> v, m = objective(p)(jnp.ones(2), None, jax.random.PRNGKey(0))
      >>> float(v), int(m["n"])
      (2.0, 2)
    """
    with_aux = problem.restencil is not None
    n_pos, takes_key = _signature(problem.loss)
    if with_aux and n_pos < 2:
        raise TypeError(f"{problem.name}: with restencil, loss must take (params, aux)")
    extra = problem.metrics

    def fn(params: Any, aux: Any, key: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        args = (params, aux) if with_aux else (params,)
        out = problem.loss(*args, key=key) if takes_key else problem.loss(*args)
        if not isinstance(out, tuple):
            out = (out, {})
        if len(out) != 2:
            raise TypeError(f"{problem.name}: loss must return a value or (value, metrics)")
        value, metrics = out[0], dict(out[1])
        if extra is not None:
            metrics.update(extra(*args))
        value = jnp.asarray(value, dtype=jnp.float64).reshape(())
        return value, {str(k): jnp.asarray(v).reshape(()) for k, v in metrics.items()}

    return fn


def initial_params(problem: Problem) -> Any:
    """``problem.init()`` as JAX arrays, floating leaves in float64.

    Examples:
      >>> import numpy as np
      >>> initial_params(Problem("q", lambda: {"x": np.zeros(2, np.float32)}, sum))["x"].dtype
      dtype('float64')
    """
    params = jax.tree_util.tree_map(jnp.asarray, problem.init())
    return jax.tree_util.tree_map(
        lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x, params
    )
