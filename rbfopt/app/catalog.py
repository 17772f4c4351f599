"""Where the ``rbfopt`` command finds problems (studies), and where a run goes.

A problem is a module with a ``problem(**options) -> rbfopt.Problem`` function. By
name, the first of these sources that has it wins:

1. the folders of ``$RBFOPT_PROBLEMS`` (``os.pathsep``-separated), one ``NAME.py`` each;
2. the studies shipped with rbfopt: the top-level ``problems/`` folder of the source
   tree, installed as the package ``rbfopt_problems`` (``setup.py`` maps the folder
   into the distribution), or that folder itself in a source checkout;
3. entry points of the group ``rbfopt.problems`` that other distributions declare,
   ``NAME = "package.module"`` or ``NAME = "package.module:function"``;
4. ``./problems`` in the current folder.

A path to a ``.py`` file loads that file. A module's docstring (or, for a
``module:function`` entry point, the function's) gives the one-line description of
``rbfopt list``. Studies are found on demand: nothing in ``rbfopt`` imports them.

A problem file's own folder is importable while it loads and while its ``problem``
builds (:func:`importable`): a study can import a helper module beside it. Options
(``-O key=value``) are typed by the defaults of ``problem()``'s signature
(:func:`problem_options`); :func:`build_problem` calls it and reports an error raised
inside as what it is (type, message, the line of the problem file), and only options
that do not fit the signature as "bad problem options".

``rbfopt run NAME`` writes into ``./runs/NAME/`` (:func:`default_out`), never into the
committed reference runs of ``results/``: those are written only with an explicit
``--out results/NAME``.
"""

from __future__ import annotations

import ast
import contextlib
import glob
import importlib.metadata
import importlib.util
import inspect
import json
import os
import sys
import traceback
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLIError",
    "DEFAULT_PROBLEM",
    "ENTRY_POINT_GROUP",
    "RUNS_DIR",
    "SHIPPED_PACKAGE",
    "Study",
    "build_problem",
    "default_out",
    "describe",
    "describe_study",
    "display_path",
    "importable",
    "known_problems",
    "load_module",
    "problem_dirs",
    "problem_options",
    "shipped_dir",
    "studies",
]

DEFAULT_PROBLEM = "poisson_nodes"
#: Entry-point group through which other distributions register studies.
ENTRY_POINT_GROUP = "rbfopt.problems"
#: Import name of the shipped studies in an installed distribution.
SHIPPED_PACKAGE = "rbfopt_problems"
#: Folder (relative to the current one) under which runs go by default.
RUNS_DIR = "runs"


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


@dataclass(frozen=True)
class Study:
    """A problem found by name: its source file and where it was found.

    ``origin`` is ``"$RBFOPT_PROBLEMS"``, ``"shipped"``, ``"entry point (DIST)"`` or
    ``"./problems"``; ``entry_point`` is set for entry points (whose ``path`` is
    ``None`` when their module cannot be found).

    Examples:
      >>> s = studies()["poisson_nodes"]
      >>> s.origin, os.path.basename(s.path)
      ('shipped', 'poisson_nodes.py')
    """

    name: str
    path: str | None
    origin: str
    entry_point: importlib.metadata.EntryPoint | None = None


def shipped_dir() -> str | None:
    """The folder of the shipped studies: the installed ``rbfopt_problems`` package,
    else ``problems/`` next to the package in a source checkout (``None`` if neither).

    Examples:
      >>> os.path.isfile(os.path.join(shipped_dir(), "poisson_nodes.py"))
      True
    """
    try:
        spec = importlib.util.find_spec(SHIPPED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    for loc in (spec and spec.submodule_search_locations) or ():
        if os.path.isdir(loc):
            return os.path.abspath(loc)
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    checkout = os.path.join(here, "problems")
    return checkout if os.path.isdir(checkout) else None


def _env_dirs() -> list[str]:
    return [d for d in os.environ.get("RBFOPT_PROBLEMS", "").split(os.pathsep) if d]


def problem_dirs() -> list[str]:
    """Folders searched for problem files by name, in order: ``$RBFOPT_PROBLEMS``, the
    shipped studies, ``./problems`` (existing folders only, each once).

    Entry points are searched between the shipped studies and ``./problems``.

    Examples:
      >>> shipped_dir() in problem_dirs()
      True
    """
    dirs = _env_dirs() + [shipped_dir() or "", os.path.join(os.getcwd(), "problems")]
    out: list[str] = []
    seen: set[str] = set()
    for d in dirs:
        real = os.path.realpath(d) if d else ""
        if d and os.path.isdir(d) and real not in seen:
            seen.add(real)
            out.append(os.path.abspath(d))
    return out


def _folder(d: str) -> list[tuple[str, str]]:
    found = []
    for f in sorted(glob.glob(os.path.join(d, "*.py"))):
        name = os.path.splitext(os.path.basename(f))[0]
        if not name.startswith("_"):
            found.append((name, f))
    return found


def _entry_point_path(ep: importlib.metadata.EntryPoint) -> str | None:
    # find_spec reads no module body but imports the parent packages: a broken
    # third-party package must not break `rbfopt list`
    try:
        spec = importlib.util.find_spec(ep.module)
    except Exception:
        return None
    origin = spec.origin if spec is not None else None
    return origin if origin and os.path.isfile(origin) else None


def _dist(ep: importlib.metadata.EntryPoint) -> str:
    return getattr(getattr(ep, "dist", None), "name", None) or "unknown distribution"


def studies() -> dict[str, Study]:
    """Every problem found by name, first source wins (see the module docstring).

    Examples:
      >>> {"poisson_nodes", "shape_parameter"} <= set(studies())
      True
    """
    found: dict[str, Study] = {}
    env = [os.path.realpath(d) for d in _env_dirs() if os.path.isdir(d)]
    shipped = shipped_dir()
    cwd = os.path.join(os.getcwd(), "problems")
    for d in env:
        for name, f in _folder(d):
            found.setdefault(name, Study(name, f, "$RBFOPT_PROBLEMS"))
    if shipped is not None:
        for name, f in _folder(shipped):
            found.setdefault(name, Study(name, f, "shipped"))
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        study = Study(ep.name, _entry_point_path(ep), f"entry point ({_dist(ep)})", ep)
        found.setdefault(ep.name, study)
    if os.path.isdir(cwd) and os.path.realpath(cwd) not in env + [os.path.realpath(shipped or "")]:
        for name, f in _folder(cwd):
            found.setdefault(name, Study(name, f, "./problems"))
    return found


def known_problems() -> dict[str, str]:
    """Problem name -> source file (an entry point's value when its file is unknown).

    Examples:
      >>> known_problems()["poisson_nodes"].endswith("poisson_nodes.py")
      True
    """
    return {n: s.path or s.entry_point.value for n, s in studies().items()}  # type: ignore[union-attr]


@contextlib.contextmanager
def importable(path: str | None) -> Iterator[None]:
    """The folder of the problem file ``path`` first on ``sys.path`` while the block
    runs (nothing for None), so the file imports modules beside it.

    Examples:
      >>> import sys
      >>> with importable("/tmp/studies/mine.py"):
      ...     sys.path[0]
      '/tmp/studies'
      >>> "/tmp/studies" in sys.path
      False
    """
    if path is None:
        yield
        return
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)  # the first occurrence: ours


def display_path(path: str) -> str:
    """``path`` relative to the current folder when it lies below it (summaries are
    shared, absolute paths are not).

    Examples:
      >>> display_path(os.path.join(os.getcwd(), "problems", "x.py"))
      'problems/x.py'

    """
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _load_file(path: str) -> types.ModuleType:
    name = "rbfopt_problem_" + os.path.splitext(os.path.basename(path))[0]
    mspec = importlib.util.spec_from_file_location(name, path)
    if mspec is None or mspec.loader is None:
        raise CLIError(f"cannot import problem file {path}")
    mod = importlib.util.module_from_spec(mspec)
    try:
        with importable(path):
            mspec.loader.exec_module(mod)
    except Exception as e:
        where = _where(e, path)
        raise CLIError(
            f"problem file {path} failed to import: {type(e).__name__}: {e}{where}"
        ) from e
    return mod


def _where(e: BaseException, path: str | None) -> str:
    """`` (line N)`` of the innermost frame of ``e``'s traceback in the problem file
    ``path``, else `` (file, line N)`` of the innermost frame, or ""."""
    frames = traceback.extract_tb(e.__traceback__)
    if not frames:
        return ""
    real = os.path.realpath(path) if path else None
    own = [f for f in frames if real and os.path.realpath(f.filename) == real]
    if own:
        return f" (line {own[-1].lineno})"
    return f" ({display_path(frames[-1].filename)}, line {frames[-1].lineno})"


def _load_entry_point(study: Study) -> tuple[types.ModuleType, str]:
    ep = study.entry_point
    assert ep is not None
    where = f"entry point {ep.name} = {ep.value!r} ({ENTRY_POINT_GROUP}, {_dist(ep)})"
    try:
        obj = ep.load()
    except Exception as e:
        raise CLIError(f"{where} failed to load: {type(e).__name__}: {e}") from e
    if isinstance(obj, types.ModuleType):
        return obj, getattr(obj, "__file__", None) or ep.value
    if not callable(obj):
        raise CLIError(f"{where} is neither a module nor a problem(**options) function")
    # a module:function entry point: a module whose problem() is that function
    home = inspect.getmodule(obj)
    mod = types.ModuleType("rbfopt_problem_" + ep.name, inspect.getdoc(obj))
    mod.problem = obj  # type: ignore[attr-defined]
    mod.DEFAULTS = getattr(obj, "DEFAULTS", getattr(home, "DEFAULTS", {}))  # type: ignore[attr-defined]
    return mod, study.path or ep.value


def load_module(spec: str) -> tuple[types.ModuleType, str]:
    """Import a problem by name (see :func:`studies`) or by path to a ``.py`` file.

    Returns ``(module, source path)``; the module has a callable ``problem``.

    Raises:
      CLIError: unknown name (the message lists the known ones), missing file, a
        module that fails to import or defines no ``problem`` function.

    Examples:
      >>> mod, path = load_module("poisson_nodes")
      >>> callable(mod.problem), os.path.basename(path)
      (True, 'poisson_nodes.py')
    """
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        path = os.path.abspath(spec)
        if not os.path.isfile(path):
            raise CLIError(f"problem file not found: {spec}")
        mod = _load_file(path)
    else:
        known = studies()
        if spec not in known:
            names = ", ".join(sorted(known)) or "(none found)"
            raise CLIError(f"unknown problem {spec!r}; known problems: {names}")
        study = known[spec]
        if study.entry_point is not None:
            mod, path = _load_entry_point(study)
        else:
            path = str(study.path)
            mod = _load_file(path)
    if not callable(getattr(mod, "problem", None)):
        raise CLIError(f"problem file {path} defines no problem(**options) function")
    return mod, path


def describe(path: str | None, attr: str | None = None) -> str:
    """First line of the docstring of the module at ``path`` (of its function ``attr``
    when given and documented), read without importing it.

    Examples:
      >>> describe(known_problems()["poisson_nodes"]) != "(no description)"
      True
    """
    if path is None:
        return "(module not found)"
    try:
        with open(path) as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return "(unreadable)"
    doc = None
    if attr:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == attr:
                doc = ast.get_docstring(node)
    doc = doc or ast.get_docstring(tree)
    return doc.strip().splitlines()[0] if doc and doc.strip() else "(no description)"


def describe_study(study: Study) -> str:
    """:func:`describe` for a :class:`Study` (an entry point's function docstring first).

    Examples:
      >>> study = studies()["poisson_nodes"]
      >>> describe_study(study) == describe(study.path)
      True
    """
    attr = study.entry_point.attr if study.entry_point is not None else None
    return describe(study.path, attr)


def default_out(name: str) -> str:
    """The output folder of ``rbfopt run NAME`` without ``--out``: ``runs/NAME``,
    relative to the current folder (never ``results/``, the reference runs).

    Examples:
      >>> default_out("poisson_nodes") == os.path.join("runs", "poisson_nodes")
      True
    """
    return os.path.join(RUNS_DIR, name)


# --------------------------------------------------------------------------- options
def _parse_value(key: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            low = raw.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if default is None:
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                return raw
        return type(default)(raw)
    except ValueError:
        kind = type(default).__name__ if default is not None else "value"
        raise CLIError(f"bad value for option {key}: {raw!r} is not a valid {kind}") from None


def problem_options(mod: types.ModuleType, pairs: list[str], seed: int | None) -> dict[str, Any]:
    """Typed problem options from ``key=value`` strings against ``mod.problem``'s
    signature, with the signature's defaults for the others (``seed`` from ``--seed``).

    Examples:
      >>> mod, _ = load_module("poisson_nodes")
      >>> opts = problem_options(mod, ["n=200", "objective=reference"], seed=None)
      >>> opts["n"], opts["objective"], opts["seed"]
      (200, 'reference', 0)
    """
    sig = inspect.signature(mod.problem)
    params = {
        p.name: p.default
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    opts: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise CLIError(f"bad option {pair!r}: expected key=value")
        key, raw = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in params:
            pname = mod.__name__.removeprefix("rbfopt_problem_")
            known = ", ".join(k for k in params if k != "seed") or "(none)"
            raise CLIError(f"unknown option {key!r} for problem {pname}; known: {known}")
        default = params[key]
        opts[key] = _parse_value(key, raw, None if default is inspect.Parameter.empty else default)
    if seed is not None and "seed" in params:
        opts["seed"] = seed
    missing = [k for k, v in params.items() if v is inspect.Parameter.empty and k not in opts]
    if missing:
        raise CLIError(f"missing required problem option(s): {', '.join(missing)}")
    full = {k: v for k, v in params.items() if v is not inspect.Parameter.empty}
    full.update(opts)
    return full


def build_problem(mod: types.ModuleType, opts: dict[str, Any], source: str | None = None) -> Any:
    """``mod.problem(**opts)``, an :class:`rbfopt.Problem`, built with the problem
    file ``source``'s folder importable.

    Raises:
      CLIError: "bad problem options" when ``opts`` do not fit ``problem``'s
        signature; an exception raised inside ``problem`` as itself (type, message,
        the line of the problem file); a result that is not a Problem.

    Examples:
      >>> def problem(n: int = 10):
      ...     if n < 3:
      ...         raise ValueError(f"n: need at least 3, got {n}")
      >>> mod = types.ModuleType("mine")
      >>> mod.problem = problem
      >>> build_problem(mod, {"n": 2})  # doctest: +ELLIPSIS
      Traceback (most recent call last):
      rbfopt.app.catalog.CLIError: problem mine: problem() raised ValueError: n: need at ...
      >>> build_problem(mod, {"colour": "red"})
      Traceback (most recent call last):
      rbfopt.app.catalog.CLIError: bad problem options: got an unexpected keyword argument 'colour'
    """
    from ..problem import Problem

    with contextlib.suppress(TypeError, ValueError):  # no signature: let the call say
        sig = inspect.signature(mod.problem)
        try:
            sig.bind(**opts)
        except TypeError as e:
            raise CLIError(f"bad problem options: {e}") from None
    where = f"problem file {display_path(source)}" if source else f"problem {mod.__name__}"
    try:
        with importable(source):
            prob = mod.problem(**opts)
    except Exception as e:
        raise CLIError(
            f"{where}: problem() raised {type(e).__name__}: {e}{_where(e, source)}"
        ) from e
    if not isinstance(prob, Problem):
        raise CLIError(f"problem() returned {type(prob).__name__}, not rbfopt.Problem")
    if not prob.options:
        prob.options = dict(opts)
    return prob
