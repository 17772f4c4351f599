"""Import paths of the flat layout that users may hold keep working (or name the new place)."""

from __future__ import annotations

import importlib

import pytest

import rbfopt as ro

# (old module path, attribute, the object it must be) — written out by hand, not read
# from rbfopt._moved, so a wrong alias table fails here.
OLD_PATHS = [
    ("rbfopt.weights", "build_weights", lambda: ro.build_weights),
    ("rbfopt.weights", "set_host_device_count", lambda: ro.set_host_device_count),
    ("rbfopt.rbffd", "laplacian", lambda: ro.laplacian),
    ("rbfopt.rbffd", "RBFOperator", lambda: ro.RBFOperator),
    ("rbfopt.boundary", "assemble", lambda: ro.assemble),
    ("rbfopt.interpolation", "Interpolator", lambda: ro.Interpolator),
    ("rbfopt.interpolation", "loocv", lambda: ro.loocv),
    ("rbfopt.optimize", "run", lambda: ro.optimize.run),
    ("rbfopt.optimize", "Problem", lambda: ro.Problem),
    (
        "rbfopt.export",
        "node_cloud",
        lambda: importlib.import_module("rbfopt.app.export").node_cloud,
    ),
    ("rbfopt.cli", "main", lambda: importlib.import_module("rbfopt.app.cli").main),
]


@pytest.mark.parametrize("path, name, expected", OLD_PATHS)
def test_old_import_paths_resolve_to_the_same_objects(path, name, expected):
    mod = importlib.import_module(path)
    assert getattr(mod, name) is expected()
    # the module behind the alias keeps its own identity
    assert mod.__spec__.name == mod.__name__ != path


def test_attribute_access_on_old_module_names():
    assert ro.weights.build_weights is ro.build_weights
    assert ro.optimize.run is importlib.import_module("rbfopt.app.driver").run
    assert not hasattr(ro.weights, "COMPILER_OPTIONS")  # no longer public


def test_old_linsolve_module_names_the_new_place():
    with pytest.raises(ImportError, match=r"rbfopt\.sparse"):
        importlib.import_module("rbfopt.linsolve")
    assert callable(ro.linsolve)  # the function is not shadowed by a module
    assert importlib.import_module("rbfopt.sparse").linsolve is ro.linsolve
