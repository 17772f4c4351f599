"""Several processes, one study: JAX's multi-controller runtime.

:func:`initialize` joins this process to a run of ``num_processes`` processes (on
one machine or on a cluster's nodes) through :func:`jax.distributed.initialize`.
Every process runs the same program (SPMD, "multi-controller"): afterwards
:func:`jax.devices` lists the devices of all processes, :func:`jax.local_devices`
this process's own, and a ``jax.jit`` computation whose inputs are split over a
mesh of all devices runs as one program in which each process computes its devices'
shards and the processes exchange data in XLA's collectives (all-reduce,
all-gather). On CPU those collectives need an implementation across processes:
:func:`initialize` selects gloo (TCP; ``jax_cpu_collectives_implementation``)
before JAX starts its backends, since the CPU client reads it once, when it is
created.

Why the results do not depend on the process count: the driver's step is the same
program on a bigger mesh (:mod:`rbfopt.app.sharding`); a node array of ``n`` rows
split over ``D`` devices (all processes together) is ``n`` rows padded to a multiple
of ``D``, and every reduction of the step (the loss's sums, gradient norms, Adam's
moments) is the same sum taken in another order, so a run on ``P`` processes equals a
one-process run to round-off (about ``n`` ulp of the sums). Everything that leaves
the devices (results, history, checkpoints, the nodes handed to a problem's
``restencil``) is first gathered whole into every process, so each process computes
the same stencils from the same positions, and only process 0 writes files.

Use: call :func:`initialize` first thing in every process, with the same
``coordinator_address`` (process 0's host and a free port) and ``num_processes``,
and ``process_id`` 0, 1, ..., then ``rbfopt.optimize.run(..., devices=None)`` (in
a multi-process run ``None`` means all of :func:`jax.devices`). The command line:
``rbfopt run STUDY --coordinator HOST:PORT --num-processes N --process-id I``.

Examples:
  >>> initialize("localhost", 2, 0)  # arguments are checked before anything starts
  Traceback (most recent call last):
  ValueError: coordinator_address: expected 'HOST:PORT', got 'localhost'
  >>> initialize("localhost:1234", 2, 2)
  Traceback (most recent call last):
  ValueError: process_id: expected an integer in 0..1, got 2

  Two processes on one machine, each started with
  ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (``I`` = 0 and 1):

  >>> initialize("localhost:12345", 2, I)  # doctest: +SKIP
  >>> jax.process_count(), jax.device_count(), jax.local_device_count()  # doctest: +SKIP
  (2, 8, 4)
"""

from __future__ import annotations

import jax

from .._util import check_int

__all__ = ["initialize", "check_address", "CPU_COLLECTIVES"]

#: The cross-process collectives XLA:CPU uses (``jax_cpu_collectives_implementation``).
CPU_COLLECTIVES = "gloo"


def check_address(coordinator_address: object) -> str:
    """``coordinator_address`` if it reads ``HOST:PORT`` (a port in 1..65535), else
    ValueError naming it.

    Examples:
      >>> check_address("node017:6000")
      'node017:6000'
      >>> check_address("node017:0")
      Traceback (most recent call last):
      ValueError: coordinator_address: port must be in 1..65535, got 'node017:0'
    """
    name = "coordinator_address"
    if not isinstance(coordinator_address, str) or ":" not in coordinator_address:
        raise ValueError(f"{name}: expected 'HOST:PORT', got {coordinator_address!r}")
    host, port = coordinator_address.rsplit(":", 1)
    if not host:
        raise ValueError(f"{name}: expected 'HOST:PORT', got {coordinator_address!r}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{name}: port must be in 1..65535, got {coordinator_address!r}")
    return coordinator_address


def initialize(
    coordinator_address: str,
    num_processes: int,
    process_id: int,
    local_device_count: int | None = None,
) -> None:
    """Join this process to a multi-controller run of ``num_processes`` processes.

    Must run in every process before anything touches a JAX backend (before the first
    array is created). Selects the CPU collectives (:data:`CPU_COLLECTIVES`), asks
    for ``local_device_count`` CPU devices in this process when given
    (:func:`rbfopt.set_host_device_count`; e.g. one per core of a cluster node), then
    calls :func:`jax.distributed.initialize`, which blocks until all processes have
    joined (its timeout: 300 s). See the module docstring for the maths and a use.

    Args:
      coordinator_address: ``HOST:PORT`` of process 0, where it serves the
        coordinator; the same in every process.
      num_processes: the number of processes (>= 1).
      process_id: this process's number, in ``[0, num_processes)``.
      local_device_count: CPU devices of this process (None: as JAX finds them,
        e.g. from ``XLA_FLAGS=--xla_force_host_platform_device_count=N``).

    Raises:
      ValueError: naming the argument that is not valid.
      RuntimeError: JAX has started already (or was initialized before).

    Example: see the module docstring.
    """
    check_address(coordinator_address)
    num_processes = check_int("num_processes", num_processes, 1)
    process_id = check_int("process_id", process_id, 0, num_processes - 1)
    local_device_count = check_int("local_device_count", local_device_count, 1, allow_none=True)
    from .._compat import backends_started

    if backends_started():
        raise RuntimeError(
            "initialize: JAX has started already; call it first, before any JAX computation"
        )
    if local_device_count is not None:
        from .._config import set_host_device_count

        set_host_device_count(local_device_count)
    jax.config.update("jax_cpu_collectives_implementation", CPU_COLLECTIVES)
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
