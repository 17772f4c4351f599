"""The application: problems, the optimization driver, checkpoints, records, export, CLI.

Public as ``ro.optimize`` (its historical name): ``ro.optimize.run(problem, ...)``,
``ro.optimize.Problem``, ``ro.optimize.make_optimizer``. Modules: ``problem``
(the Problem protocol), ``step`` (loop state and pure step), ``driver`` (the loop),
``checkpoint`` (arrays + JSON, no pickle), ``records`` (history, summary). Plotting,
export and the CLI load on first use (matplotlib and meshio are not needed to
optimize).
"""

from .checkpoint import Checkpoint
from .driver import (
    CHECKPOINT_NAME,
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
