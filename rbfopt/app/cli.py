"""The ``rbfopt`` command: ``list``, ``run``, ``export``, ``nodes``, ``tune``, ``bench``.

``rbfopt run [NAME|PATH] [--steps N] [--optimizer NAME] [--lr X] [--schedule S]
[--out DIR] [--resume] [--seed S] [--devices N] [--opt key=value ...]`` runs a study
(default: ``poisson_nodes``) and writes into ``--out`` (default ``runs/<name>/``,
created with its parents before any work): ``history.csv``, ``summary.json`` (every
driver setting used, under ``driver``), ``convergence.png``, ``nodes.png``,
``fields.png`` (2-D), ``initial.vtu``, ``optimized.vtu``, ``mesh.msh`` (2-D or a
domain) and ``checkpoint.npz``. The driver settings are the driver's
:data:`~rbfopt.app.driver.DEFAULTS` (the same as ``rbfopt.optimize.run``'s), under
the problem module's optional ``DEFAULTS`` dict (``steps``, ``optimizer``, ``lr``,
``schedule``, ``seed``, ``restencil_every``, ``checkpoint_every``, ``max_failures``),
under the flags. Problem options (``--opt key=value``) are typed by the defaults of
the module's ``problem(**options)`` signature. ``--devices N`` splits the node arrays
over N devices (:mod:`rbfopt.app.sharding`); on CPU it starts JAX with N host
devices. ``--coordinator HOST:PORT --num-processes N --process-id I`` (all three or
none) runs the study as one of N processes (:mod:`rbfopt.app.distributed`; start the
same command in every process with its own ``I``): the node arrays are split over the
devices of all processes (``--devices``, if given, counts them all and on CPU gives
each process its share), and only process 0 writes ``--out`` and prints.

Compiled programs are kept in JAX's persistent compilation cache
(``$XDG_CACHE_HOME/rbfopt/jax``, else ``~/.cache/rbfopt/jax``; see
:mod:`rbfopt._config`), so a second run of a study skips most compiles; off with
``--no-compile-cache`` or ``RBFOPT_COMPILATION_CACHE=0``.

A problem is a module with a ``problem(**options) -> rbfopt.Problem`` function: by
name from ``$RBFOPT_PROBLEMS``, the shipped studies, the ``rbfopt.problems`` entry
points or ``./problems`` (see :mod:`rbfopt.app.catalog`), or by path to a ``.py``
file, whose folder is importable while it runs. Its module docstring's first line is
the description shown by ``rbfopt list``.

``rbfopt export RUN_DIR --format msh|vtu|xdmf [--out FILE]`` writes a finished run's
mesh from its stored ``mesh.msh`` into a new file (:mod:`rbfopt.app.export`).
``rbfopt nodes DOMAIN_FILE --spacing H [--out FILE] [--seed S]`` generates a node set
on a domain read by :func:`rbfopt.geometry.from_mesh` (any boundary file meshio reads;
``.geo`` through gmsh) and writes it (``.vtu`` or ``.xdmf``: kinds, groups and normals
as point data) with its quality figures.

``rbfopt tune DATA ...`` tunes the shape parameter and smoothing of scattered data for
``scipy.interpolate.RBFInterpolator`` (:mod:`rbfopt.app.tune`).

Errors (unknown problem, bad options, an error raised while the problem builds, a
resume from another problem's checkpoint, an unwritable output folder) print one line
on stderr and exit with status 2; they are detected before anything is written.

Only this module and :mod:`rbfopt.app.catalog` know both ``rbfopt`` and ``problems/``.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import time
import types
from typing import Any

import numpy as np

from .._util import check_int
from .catalog import (
    DEFAULT_PROBLEM,
    ENTRY_POINT_GROUP,
    CLIError,
    build_problem,
    default_out,
    describe_study,
    display_path,
    importable,
    known_problems,
    load_module,
    problem_dirs,
    problem_options,
    studies,
)
from .catalog import describe as _describe
from .records import ensure_out_dir

__all__ = ["main", "problem_dirs", "known_problems", "load_module", "DEFAULT_PROBLEM"]


# --------------------------------------------------------------------------- commands
def _check_writable(out: str) -> None:
    """Create ``out`` (and parents) and prove a file can be written there."""
    try:
        ensure_out_dir(out, "--out")
    except ValueError as e:
        raise CLIError(str(e)) from None


def _check_creatable(out: str) -> None:
    """Refuse an ``out`` that cannot be created, before the problem builds (creating it
    then would leave an empty folder behind a problem that fails to build)."""
    path = os.path.abspath(out)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    why = None if os.path.isdir(path) else "Not a directory"
    if why is None and not os.access(path, os.W_OK | os.X_OK):
        why = "Permission denied"
    if why is not None:
        raise CLIError(f"--out: cannot create or write into the folder {out!r} ({why}: {path})")


def cmd_list(args: argparse.Namespace) -> int:
    found = studies()
    if not found:
        where = problem_dirs() + [f"entry points {ENTRY_POINT_GROUP!r}"]
        print("no problems found in " + ", ".join(where))
        return 0
    width = max(len(n) for n in found)
    for name, study in sorted(found.items()):
        mark = " (default)" if name == DEFAULT_PROBLEM else ""
        origin = "" if study.origin == "shipped" else f" [{study.origin}]"
        print(f"{name:<{width}}  {describe_study(study)}{mark}{origin}")
    return 0


def _check_count(flag: str, value: int | None, lo: int, hi: int | None = None) -> None:
    if value is None:
        return
    try:
        check_int(flag, value, lo, hi)
    except ValueError as e:
        raise CLIError(str(e)) from None


def _host_devices(n: int | None) -> None:
    """Ask JAX for ``n`` CPU devices before it starts (XLA reads the count once)."""
    _check_count("--devices", n, 1)
    if n is None:
        return
    from .._config import set_host_device_count

    try:
        set_host_device_count(n)
    except RuntimeError:
        pass  # JAX runs already (an in-process call): run() checks the devices it has


def _processes(args: argparse.Namespace) -> tuple[str, int, int] | None:
    """The checked ``--coordinator``, ``--num-processes``, ``--process-id`` (all
    three or none): ``(address, n, i)``, or None for a one-process run."""
    from .distributed import check_address

    given = {
        "--coordinator": args.coordinator,
        "--num-processes": args.num_processes,
        "--process-id": args.process_id,
    }
    if all(v is None for v in given.values()):
        return None
    missing = [k for k, v in given.items() if v is None]
    if missing:
        raise CLIError(
            "--coordinator, --num-processes and --process-id go together; "
            f"missing {', '.join(missing)}"
        )
    try:
        check_address(args.coordinator)
    except ValueError as e:
        raise CLIError(str(e).replace("coordinator_address", "--coordinator", 1)) from None
    n, i = args.num_processes, args.process_id
    _check_count("--num-processes", n, 1)
    _check_count("--process-id", i, 0, n - 1)
    if args.devices is not None and args.devices % n:
        raise CLIError(f"--devices {args.devices} does not split over {n} processes")
    return args.coordinator, n, i


def _start_processes(procs: tuple[str, int, int] | None, devices: int | None) -> None:
    """Join the multi-process run (before JAX starts); on CPU each process gets its
    share of ``--devices``."""
    if procs is None:
        return
    from .distributed import initialize

    address, n, i = procs
    try:
        initialize(address, n, i, None if devices is None else devices // n)
    except (RuntimeError, ValueError) as e:
        raise CLIError(f"cannot join the run of {n} processes: {e}") from None


def _compile_cache(args: argparse.Namespace) -> None:
    """JAX's persistent compilation cache, on unless ``--no-compile-cache`` (or
    ``RBFOPT_COMPILATION_CACHE=0``): a second run loads its programs instead of
    compiling them. Before the first compile (a problem module may compile on import)."""
    if getattr(args, "no_compile_cache", True):
        return
    from .._config import enable_compilation_cache

    enable_compilation_cache()


def _settings(args: argparse.Namespace, mod: types.ModuleType) -> dict[str, Any]:
    """The driver settings of ``rbfopt run``: the driver's :data:`~.driver.DEFAULTS`,
    under the problem module's ``DEFAULTS``, under the flags."""
    from .driver import DEFAULTS

    own = dict(getattr(mod, "DEFAULTS", None) or {})
    unknown = sorted(set(own) - set(DEFAULTS))
    if unknown:
        raise CLIError(
            f"DEFAULTS of the problem: unknown setting(s) {', '.join(unknown)}; "
            f"known: {', '.join(DEFAULTS)}"
        )
    flags = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k, None) is not None}
    st = {**DEFAULTS, **own, **flags}
    for key, lo in (("steps", 0), ("restencil_every", 1), ("checkpoint_every", 1), ("seed", None)):
        try:
            st[key] = check_int("--" + key.replace("_", "-"), st[key], lo)
        except ValueError as e:
            raise CLIError(str(e)) from None
    return st


def cmd_run(args: argparse.Namespace) -> int:
    procs = _processes(args)
    if procs is None:
        _host_devices(args.devices)  # first: a problem module may create arrays on import
    else:
        _check_count("--devices", args.devices, 1)
    _start_processes(procs, args.devices)
    _compile_cache(args)
    mod, source = load_module(args.problem or DEFAULT_PROBLEM)
    with importable(source if os.path.isfile(source) else None):
        return _run(args, procs, mod, source)


def _run(args: argparse.Namespace, procs, mod: types.ModuleType, source: str) -> int:
    from . import driver as optimize
    from . import outputs

    name = os.path.splitext(os.path.basename(source))[0]
    st = _settings(args, mod)
    try:  # a bad optimizer or schedule name: refused before the problem builds
        optimize.make_optimizer(st["optimizer"], st["lr"], st["schedule"], st["steps"])
    except ValueError as e:
        raise CLIError(str(e)) from None
    out = args.out or default_out(name)
    _check_creatable(out)
    prob = build_problem(mod, problem_options(mod, args.opt or [], args.seed), source)
    if args.resume:
        _check_resume(prob, out, st["optimizer"])
    _check_writable(out)
    t0 = time.perf_counter()
    try:
        res = optimize.run(
            prob,
            **{k: st[k] for k in optimize.DEFAULTS},
            out_dir=out,
            resume=args.resume,
            progress=not args.quiet,
            meta={"source": source},
            devices=args.devices,
        )
    except (ValueError, TypeError, FloatingPointError) as e:
        raise CLIError(f"{name}: {type(e).__name__}: {e}") from e
    facts = {
        "problem": prob.name,
        "source": display_path(source),
        "options": prob.options,
        "runtime_s": time.perf_counter() - t0,
    }
    if procs is None or procs[2] == 0:  # one writer of a multi-process run
        summary = outputs.publish(prob, res, out, facts)
        print(outputs.one_line_summary(summary, out))
        if res.stopped:
            print(f"warning: {res.stopped}", file=sys.stderr)
    if procs is not None:
        from jax.experimental.multihost_utils import sync_global_devices

        sync_global_devices("rbfopt outputs")  # the others end with process 0
    return 0


def _check_resume(prob, out: str, opt_name: str) -> None:
    """Refuse a resume before anything runs: no checkpoint, an unreadable or foreign
    one, or one of another problem, options or optimizer."""
    from .checkpoint import load
    from .records import jsonable

    try:
        load(out).check(prob.name, jsonable(prob.options), opt_name)
    except (FileNotFoundError, ValueError) as e:
        raise CLIError(f"cannot resume: {e}") from None


def cmd_bench(args: argparse.Namespace) -> int:
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    scripts = sorted(glob.glob(os.path.join(here, "scripts", "bench_*.py")))
    names = {os.path.basename(s)[len("bench_") : -3]: s for s in scripts}
    if not args.name:
        if not names:
            print("no benchmark scripts (scripts/bench_*.py)")
        for n, s in names.items():
            print(f"{n:<20}  {_describe(s)}")
        return 0
    if args.name not in names:
        raise CLIError(f"unknown benchmark {args.name!r}; known: {', '.join(names) or '(none)'}")
    return subprocess.call([sys.executable, names[args.name], *args.rest])


# --------------------------------------------------------------------------- entry point
def cmd_nodes(args: argparse.Namespace) -> int:
    from .. import geometry, nodes
    from .. import mesh as export

    out = args.out or os.path.splitext(os.path.basename(args.domain))[0] + "_nodes.vtu"
    fmt = os.path.splitext(out)[1].lstrip(".")
    if fmt not in ("vtu", "xdmf"):
        raise CLIError(f"--out: a node set is written as .vtu or .xdmf, got {out!r}")
    _check_writable(os.path.dirname(os.path.abspath(out)))
    _compile_cache(args)
    t0 = time.perf_counter()
    try:
        domain = geometry.from_mesh(args.domain)
        nodeset = nodes.generate(domain, args.spacing, seed=args.seed)
    except (OSError, ValueError, ImportError) as e:
        raise CLIError(f"{args.domain}: {e}") from None
    elapsed = time.perf_counter() - t0
    q = nodes.quality(nodeset.points, domain)
    export.write(nodeset.to_meshio(), out, fmt)
    kinds = np.bincount(np.asarray(nodeset.kind), minlength=3)
    print(
        f"wrote {out}: {len(nodeset.points)} nodes ({kinds[0]} interior, {kinds[1]} boundary, "
        f"{kinds[2]} fixed) in {elapsed:.1f} s; groups {', '.join(nodeset.group_names)}"
    )
    print(
        f"separation q {q['separation']:.4g}, fill distance h {q['fill_distance']:.4g}, "
        f"mesh ratio h/q {q['mesh_ratio']:.3f}, spacing CV {q['spacing_cv']:.3f}"
    )
    return 0


_NO_CACHE = "do not use JAX's persistent compilation cache (also RBFOPT_COMPILATION_CACHE=0)"


def _parser() -> argparse.ArgumentParser:
    from .driver import OPTIMIZERS, SCHEDULES

    p = argparse.ArgumentParser(prog="rbfopt", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the problems with one-line descriptions")
    r = sub.add_parser("run", help="run a study (default: poisson_nodes)")
    r.add_argument("problem", nargs="?", help="problem name or path to a .py file")
    r.add_argument("--steps", type=int, help="optimizer steps (default: the problem's)")
    r.add_argument("--optimizer", help=f"one of {', '.join(OPTIMIZERS)}")
    r.add_argument("--lr", type=float, help="learning rate (peak value of the schedule)")
    r.add_argument("--schedule", help=f"learning-rate schedule: {', '.join(SCHEDULES)}")
    r.add_argument(
        "--out", help="output folder (default runs/<name>/; reference runs: results/<name>)"
    )
    r.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    r.add_argument("--seed", type=int, help="random seed (problem and driver)")
    r.add_argument(
        "--devices",
        type=int,
        help="split the node arrays over N devices (on CPU: N host devices; default 1)",
    )
    r.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="run as one of several processes: process 0's host and a free port",
    )
    r.add_argument("--num-processes", type=int, help="the number of processes (with --coordinator)")
    r.add_argument("--process-id", type=int, help="this process's number, 0..N-1")
    r.add_argument(
        "--opt",
        "-O",
        action="append",
        metavar="KEY=VALUE",
        help="problem option (repeatable), typed by problem()'s defaults",
    )
    r.add_argument(
        "--restencil-every",
        type=int,
        help="steps between restencils (default: the problem's DEFAULTS, else 1)",
    )
    r.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default: 10)")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    r.add_argument("--no-compile-cache", action="store_true", help=_NO_CACHE)
    e = sub.add_parser("export", help="a finished run's mesh as .msh, .vtu or .xdmf")
    e.add_argument("checkpoint", help="the run's output folder (or its checkpoint.npz)")
    e.add_argument("--format", choices=["vtu", "msh", "xdmf"], default="vtu")
    e.add_argument("--out", help="output file (default RUN_DIR/export.<format>)")
    n = sub.add_parser("nodes", help="generate a node set on a domain file")
    n.add_argument("domain", help="boundary file (.msh, .vtu, .stl, .obj, ...; .geo with gmsh)")
    n.add_argument("--spacing", type=float, required=True, help="target node spacing")
    n.add_argument("--out", help="output .vtu or .xdmf (default <domain>_nodes.vtu)")
    n.add_argument("--seed", type=int, default=0, help="random seed")
    n.add_argument("--no-compile-cache", action="store_true", help=_NO_CACHE)
    from .tune import add_parser as add_tune

    add_tune(sub)
    b = sub.add_parser("bench", help="list or run scripts/bench_*.py")
    b.add_argument("name", nargs="?")
    b.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rbfopt`` console script. Returns the exit status.

    Examples:
      >>> main(["list"])  # doctest: +ELLIPSIS
      field_inverse ...
      poisson_nodes ... (default)
      ...
      0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    from .export import cmd_export
    from .tune import cmd_tune

    handler = {
        "list": cmd_list,
        "run": cmd_run,
        "export": cmd_export,
        "nodes": cmd_nodes,
        "tune": cmd_tune,
        "bench": cmd_bench,
    }
    try:
        return handler[args.command](args)
    except CLIError as e:
        lines = str(e).strip().splitlines() or ["(no message)"]
        print(f"rbfopt: error: {lines[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rbfopt: interrupted (the last checkpoint is kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
