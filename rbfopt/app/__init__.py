"""The application: problems, the optimization driver, checkpoints, records, export, CLI.

Public as ``ro.optimize`` (its historical name): ``ro.optimize.run(problem, ...)``,
``ro.optimize.Problem``, ``ro.optimize.make_optimizer``. Plotting, export and the CLI
load on first use (matplotlib and meshio are not needed to optimize).
"""

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

__all__ = [
    "CHECKPOINT_NAME",
    "OPTIMIZERS",
    "SCHEDULES",
    "Problem",
    "RunResult",
    "load_checkpoint",
    "make_optimizer",
    "run",
]
