"""Old import paths of modules that moved into rooms, kept working.

``import rbfopt.weights`` (and ``from rbfopt.optimize import run``, ...) load the
module's new home under the old name; ``rbfopt.linsolve`` is the function, so its old
module path fails with an ImportError naming ``rbfopt.sparse``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: old module path -> new module path (one table: the only record of the move).
MOVED = {
    "rbfopt.weights": "rbfopt.fd.weights",
    "rbfopt._saddle": "rbfopt.fd._saddle",
    "rbfopt.rbffd": "rbfopt.fd.operator",
    "rbfopt.boundary": "rbfopt.fd.boundary",
    "rbfopt.interpolation": "rbfopt.interp",
    "rbfopt.optimize": "rbfopt.app",
    "rbfopt.export": "rbfopt.app.export",
    "rbfopt.plotting": "rbfopt.app.plotting",
    "rbfopt.cli": "rbfopt.app.cli",
}

#: old module paths that cannot be aliased (the name is now a function).
GONE = {"rbfopt.linsolve": "rbfopt.sparse (StencilMatrix, linsolve, clear_cache)"}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in GONE:
            raise ImportError(
                f"{fullname} moved to {GONE[fullname]}; import from there "
                f"(the function rbfopt.linsolve is unchanged)",
                name=fullname,
            )
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        module = importlib.import_module(MOVED[spec.name])
        spec.loader_state = module.__spec__
        return module

    def exec_module(self, module):
        # already executed; the import system set __spec__ to the alias: restore it
        module.__spec__ = module.__spec__.loader_state


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias())
