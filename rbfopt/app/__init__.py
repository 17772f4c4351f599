"""The application: problems, the optimization driver, checkpoints, records, export, CLI.

Public as ``ro.optimize`` (its historical name): ``ro.optimize.run(problem, ...)``,
``ro.optimize.Problem`` (defined in :mod:`rbfopt.problem`),
``ro.optimize.make_optimizer``, ``ro.optimize.DEFAULTS`` (the driver's settings when
none is given, on every route). Modules: ``step`` (loop state and pure step),
``driver`` (the loop), ``checkpoint`` (arrays + JSON, no pickle), ``records``
(history, summary), ``outputs`` and ``plotting`` (a run's files and figures),
``export`` (a finished run's mesh in another format), ``catalog`` and ``cli`` (the
command). Plotting, export and the CLI load on first use (matplotlib and meshio are
not needed to optimize).
"""

from .checkpoint import Checkpoint
from .driver import (
    CHECKPOINT_NAME,
    DEFAULTS,
    OPTIMIZERS,
    SCHEDULES,
    Problem,
    RunResult,
    load_checkpoint,
    make_optimizer,
    run,
)
from .step import LoopState

__all__ = [
    "CHECKPOINT_NAME",
    "DEFAULTS",
    "OPTIMIZERS",
    "SCHEDULES",
    "Checkpoint",
    "LoopState",
    "Problem",
    "RunResult",
    "load_checkpoint",
    "make_optimizer",
    "run",
]
