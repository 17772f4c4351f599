"""The ``rbfopt`` command: ``list``, ``run``, ``export``, ``nodes``, ``bench``.

``rbfopt run [NAME|PATH] [--steps N] [--optimizer NAME] [--lr X] [--schedule S]
[--out DIR] [--resume] [--seed S] [--devices N] [--opt key=value ...]`` runs a study
(default: ``poisson_nodes``) and writes into ``--out`` (default ``runs/<name>/``):
``history.csv``, ``summary.json``, ``convergence.png``, ``nodes.png``,
``fields.png`` (2-D), ``initial.vtu``, ``optimized.vtu``, ``mesh.msh`` (2-D) and
``checkpoint.npz``. Problem options (``--opt key=value``) are typed by the defaults
of the module's ``problem(**options)`` signature. ``--devices N`` splits the node
arrays over N devices (:mod:`rbfopt.app.sharding`); on CPU it starts JAX with N
host devices. ``--coordinator HOST:PORT --num-processes N --process-id I`` (all three
or none) runs the study as one of N processes (:mod:`rbfopt.app.distributed`; start
the same command in every process with its own ``I``): the node arrays are split over
the devices of all processes (``--devices``, if given, counts them all and on CPU
gives each process its share), and only process 0 writes ``--out`` and prints.

A problem is a module with a ``problem(**options) -> rbfopt.Problem`` function: by
name from ``$RBFOPT_PROBLEMS``, the shipped studies, the ``rbfopt.problems`` entry
points or ``./problems`` (see :mod:`rbfopt.app.catalog`), or by path to a ``.py``
file. Its module docstring's first line is the description shown by ``rbfopt list``;
an optional module-level ``DEFAULTS`` dict sets the default ``steps``, ``optimizer``,
``lr`` and ``schedule``.

``rbfopt nodes DOMAIN_FILE --spacing H [--out FILE] [--seed S]`` generates a node set
on a domain read by :func:`rbfopt.geometry.from_mesh` (any boundary file meshio reads;
``.geo`` through gmsh) and writes it (``.vtu`` or ``.xdmf``: kinds, groups and normals
as point data) with its quality figures.

Errors (unknown problem, bad options, a resume from another problem's checkpoint,
an unwritable output folder) print one line on stderr and exit with status 2; they
are detected before anything is written.

Only this module and :mod:`rbfopt.app.catalog` know both ``rbfopt`` and ``problems/``.
"""

from __future__ import annotations

import argparse
import glob
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from typing import Any

import numpy as np

from .catalog import (
    DEFAULT_PROBLEM,
    ENTRY_POINT_GROUP,
    CLIError,
    default_out,
    describe_study,
    known_problems,
    load_module,
    problem_dirs,
    studies,
)
from .catalog import describe as _describe

__all__ = ["main", "problem_dirs", "known_problems", "load_module", "DEFAULT_PROBLEM"]

# --------------------------------------------------------------------------- problems
# Problem discovery (names, shipped studies, entry points) and the default output
# folder live in catalog.py; the names are re-exported here for callers of the CLI.


def _display_path(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


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
            v = float(raw)
            return v
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
    """Typed problem options from ``key=value`` strings against ``mod.problem``'s signature."""
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


def build_problem(mod: types.ModuleType, opts: dict[str, Any]):
    from . import driver as optimize

    try:
        prob = mod.problem(**opts)
    except (ValueError, TypeError) as e:
        raise CLIError(f"bad problem options: {e}") from e
    if not isinstance(prob, optimize.Problem):
        raise CLIError(f"problem() returned {type(prob).__name__}, not rbfopt.Problem")
    if not prob.options:
        prob.options = dict(opts)
    return prob


# --------------------------------------------------------------------------- commands
def _check_writable(out: str) -> None:
    """Create ``out`` (and parents) and prove a file can be written there."""
    try:
        os.makedirs(out, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".probe-", dir=out)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise CLIError(f"output folder {out} is not writable: {e.strerror or e}") from None


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


def _host_devices(n: int | None) -> None:
    """Ask JAX for ``n`` CPU devices before it starts (XLA reads the count once)."""
    if n is None:
        return
    if n < 1:
        raise CLIError(f"--devices must be >= 1, got {n}")
    from ..fd import set_host_device_count

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
    if n < 1:
        raise CLIError(f"--num-processes must be >= 1, got {n}")
    if not 0 <= i < n:
        raise CLIError(f"--process-id must be in [0, {n}) for {n} processes, got {i}")
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


def _global_devices() -> int:
    import jax

    return jax.device_count()


def cmd_run(args: argparse.Namespace) -> int:
    procs = _processes(args)
    if procs is None:
        _host_devices(args.devices)  # first: a problem module may create arrays on import
    elif args.devices is not None and args.devices < 1:
        raise CLIError(f"--devices must be >= 1, got {args.devices}")
    _start_processes(procs, args.devices)
    from . import driver as optimize
    from . import outputs

    spec = args.problem or DEFAULT_PROBLEM
    mod, source = load_module(spec)
    name = os.path.splitext(os.path.basename(source))[0]
    defaults = dict(getattr(mod, "DEFAULTS", {}))
    steps = args.steps if args.steps is not None else int(defaults.get("steps", 100))
    opt_name = args.optimizer or defaults.get("optimizer", "adam")
    lr = args.lr if args.lr is not None else defaults.get("lr")
    schedule = args.schedule or defaults.get("schedule", "constant")
    if steps < 0:
        raise CLIError(f"--steps must be >= 0, got {steps}")
    try:
        optimizer = optimize.make_optimizer(opt_name, lr, schedule, steps)
    except ValueError as e:
        raise CLIError(str(e)) from None
    opts = problem_options(mod, args.opt or [], args.seed)
    prob = build_problem(mod, opts)
    out = args.out or default_out(name)
    if args.resume:
        _check_resume(prob, out, opt_name)
    _check_writable(out)

    t0 = time.perf_counter()
    try:
        res = optimize.run(
            prob,
            optimizer,
            steps,
            out_dir=out,
            resume=args.resume,
            seed=args.seed or 0,
            progress=not args.quiet,
            optimizer_name=opt_name,
            restencil_every=args.restencil_every or int(defaults.get("restencil_every", 10)),
            checkpoint_every=args.checkpoint_every,
            meta={"source": source, "lr": lr, "schedule": schedule},
            devices=args.devices,
        )
    except (ValueError, TypeError, FloatingPointError) as e:
        raise CLIError(f"{name}: {e}") from e
    facts = {
        "problem": prob.name,
        # relative where possible: summaries are shared, absolute paths are not
        "source": _display_path(source),
        "options": prob.options,
        "optimizer": opt_name,
        "lr": lr,
        "schedule": schedule,
        "seed": args.seed or 0,
        "devices": args.devices or (_global_devices() if procs else 1),
        "runtime_s": time.perf_counter() - t0,
    }
    if procs is not None:
        facts["processes"] = procs[1]
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


def cmd_export(args: argparse.Namespace) -> int:
    from .. import mesh as export
    from ..problem import initial_params
    from . import outputs
    from .checkpoint import load

    try:
        ck = load(args.checkpoint)
    except (FileNotFoundError, ValueError) as e:
        raise CLIError(str(e)) from None
    prob = build_problem(_export_module(ck), dict(ck.options))
    if prob.name != ck.problem:
        raise CLIError(f"{ck.path} is a checkpoint of {ck.problem!r}, not of {prob.name!r}")
    if prob.to_mesh is None:
        raise CLIError(f"problem {prob.name!r} has no to_mesh: nothing to export")
    import jax
    import jax.numpy as jnp

    try:
        params = ck.restore(initial_params(prob), prefix=".best_params")
    except ValueError as e:
        raise CLIError(str(e)) from None
    mesh = prob.to_mesh(jax.tree_util.tree_map(jnp.asarray, params))
    ckdir = (
        os.path.dirname(os.path.abspath(args.checkpoint))
        if os.path.isfile(args.checkpoint)
        else os.path.abspath(args.checkpoint)
    )
    out = args.out or os.path.join(ckdir, "optimized" + export.FORMATS[args.format])
    folder = os.path.dirname(os.path.abspath(out))
    _check_writable(folder)
    if args.format != "vtu":
        solver = outputs.solver_ready(prob, mesh, export)
        if solver is None:
            raise CLIError(f"{args.format}: triangulated export needs a 2-D node set or a domain")
        mesh = solver
    try:
        export.write(mesh, out, args.format)
    except ValueError as e:
        raise CLIError(str(e)) from None
    print(f"wrote {out} ({len(mesh.points)} points, {sum(len(c.data) for c in mesh.cells)} cells)")
    return 0


def _export_module(ck) -> types.ModuleType:
    """The problem module of a checkpoint: its recorded source file when it exists
    here, else the problem by name (a plain name only: never a path from the file)."""
    source = ck.meta.get("source")
    if isinstance(source, str) and source.endswith(".py") and os.path.isfile(source):
        return load_module(source)[0]
    if not ck.problem.isidentifier():
        raise CLIError(f"{ck.path}: problem name {ck.problem!r} is not a problem name")
    return load_module(ck.problem)[0]


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
        "--restencil-every", type=int, help="steps between restencils (default: the problem's)"
    )
    r.add_argument("--checkpoint-every", type=int, default=10, help="steps between checkpoints")
    r.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    e = sub.add_parser("export", help="export a checkpoint's node set / mesh")
    e.add_argument("checkpoint", help="checkpoint.npz or the run's output folder")
    e.add_argument("--format", choices=["vtu", "msh", "xdmf"], default="vtu")
    e.add_argument("--out", help="output file (default next to the checkpoint)")
    n = sub.add_parser("nodes", help="generate a node set on a domain file")
    n.add_argument("domain", help="boundary file (.msh, .vtu, .stl, .obj, ...; .geo with gmsh)")
    n.add_argument("--spacing", type=float, required=True, help="target node spacing")
    n.add_argument("--out", help="output .vtu or .xdmf (default <domain>_nodes.vtu)")
    n.add_argument("--seed", type=int, default=0, help="random seed")
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
    handler = {
        "list": cmd_list,
        "run": cmd_run,
        "export": cmd_export,
        "nodes": cmd_nodes,
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
