"""Test-only launcher: ``python _kill_at.py STEP ARGS...`` runs ``rbfopt ARGS...`` with
a driver callback that SIGKILLs the process right after accepted step STEP, to test
resume after a hard kill (test_driver). Production code reads no test hooks."""

from __future__ import annotations

import os
import signal
import sys

from rbfopt.app import cli, driver


def main() -> int:
    kill_at = int(sys.argv[1])
    run = driver.run

    def kill(state, row):
        if int(state.step) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def run_with_kill(*args, **kwargs):
        return run(*args, callback=kill, **kwargs)

    driver.run = run_with_kill  # cli.cmd_run looks driver.run up at call time
    return cli.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
