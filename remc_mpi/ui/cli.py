"""Command line: remc-mpi run | simulate | analyze | select | validate | demo.

Exit status (docs/contract.md, section 5): 0 success; 2 bad input, reported as one line naming the file
and key or line, before any sampling and without touching earlier output; 1 anything else.
Under MPI every rank parses and validates the same input; only rank 0 prints.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from pathlib import Path
from typing import NoReturn

from remc_mpi.version import __version__
from remc_mpi.errors import WRITE_FAULTS, DamagedFile, InputError, OutputError


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit status 2 (rank 0 only)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(message, "command line")


def _rank() -> int:
    import os

    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if var in os.environ:
            try:
                return int(os.environ[var])
            except ValueError:
                pass
    return 0


def _positive_int(flag: str):
    """An argparse type: an integer >= 1, else one line naming the flag."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise InputError(f"{flag} must be a positive integer, got {text!r}", "command line", flag)
        return value

    return parse


def _parse_params(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"--param {item!r} must be name=value", "command line", "--param")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise InputError(f"--param {k}: {v!r} is not a number", "command line", "--param") from None
        if not math.isfinite(out[k.strip()]):
            raise InputError(f"--param {k}: {v!r} is not a finite number", "command line", "--param")
    return out


def _parse_grid(text: str) -> tuple[float, float, int]:
    parts = text.split(":")
    try:
        lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise InputError(f"--grid {text!r} must be LO:HI:N", "command line", "--grid") from None
    if not lo < hi or n < 2:
        raise InputError(f"--grid {text!r} needs LO < HI and N >= 2", "command line", "--grid")
    from remc_mpi.io.data import MAX_MAGNITUDE, MAX_POINTS

    if n > MAX_POINTS or max(abs(lo), abs(hi)) > MAX_MAGNITUDE:
        raise InputError(f"--grid {text!r}: at most {MAX_POINTS:,} points within ±{MAX_MAGNITUDE:g} "
                         "(docs/config.md, 'Limits')", "command line", "--grid")
    return lo, hi, n


def cmd_run(args) -> int:
    from remc_mpi.driver.signals import Signals

    # the handlers go in before numpy, MPI and h5py load: a job signalled during start-up
    # stops cleanly before its first candidate starts instead of being killed
    with Signals() as signals:
        return _run(args, signals)


def _run(args, signals) -> int:
    from mpi4py import MPI

    from remc_mpi.config import load_config
    from remc_mpi.driver.engine import run
    from remc_mpi.errors import Interrupted
    from remc_mpi.ui.report import format_report

    if args.no_file_locking:
        import os

        os.environ["HDF5_USE_FILE_LOCKING"] = "FALSE"
    cfg = load_config(args.config)
    comm = MPI.COMM_WORLD
    try:
        summaries = run(cfg, comm, output=args.output, force=args.force,
                        progress=False if args.quiet else None, resume=args.resume, hdf5=args.hdf5,
                        signals=signals, extend=args.extend)
    except Interrupted as err:
        if comm.Get_rank() == 0:
            print(f"remc-mpi: {err}", file=sys.stderr, flush=True)
        return 1
    if comm.Get_rank() == 0:
        print(format_report(summaries))
    return 0


def _load_summary(path: str) -> dict:
    from remc_mpi.io.output import read_summary

    p = Path(path)
    if not p.exists():
        raise InputError("results file does not exist", path)
    try:
        return read_summary(p)
    except (OSError, KeyError, ValueError) as err:
        raise InputError(f"not a complete remc_mpi results file ({err})", path) from None


def cmd_analyze(args) -> int:
    from remc_mpi.ui.report import format_report

    if args.json and len(args.results) > 1:
        raise InputError("--json takes one results file (use `remc-mpi select --json` to compare)",
                         "command line", "--json")
    summaries = [_load_summary(f) for f in args.results]
    if args.json:
        print(strict_json(summaries[0]))
        return 0
    print(format_report(summaries, files=list(args.results)))
    return 0


def _refuse_repeats(files: list[str]) -> None:
    """The same results file twice (by any path) would be weighed as two candidates."""
    seen: dict[Path, str] = {}
    for f in files:
        key = Path(f).resolve()
        if key in seen:
            raise InputError(f"{f} is {seen[key]} again: each candidate once", "command line", "RESULTS")
        seen[key] = f


def _finite_or_null(obj):
    """obj with every non-finite float (nan, inf) as None: JSON has no NaN or Infinity tokens."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    return obj


def strict_json(obj) -> str:
    """Standard JSON of a summary or selection: a value that could not be computed is null."""
    return json.dumps(_finite_or_null(obj), allow_nan=False)


def cmd_select(args) -> int:
    from remc_mpi.evidence.selection import format_table, select

    _refuse_repeats(args.results)
    summaries = [_load_summary(f) for f in args.results]
    sel = select(summaries, files=list(args.results))
    print(strict_json(sel) if args.json else format_table(sel))
    if args.strict and not sel["decided"]:
        print("remc-mpi: error: the selection is not trusted (--strict)", file=sys.stderr)
        return 1
    return 0


def cmd_plot(args) -> int:
    from remc_mpi.ui.plots import plot_run, plot_selection

    summaries = [_load_summary(f) for f in args.results]
    out = _folder_argument(args.output, "the figures go into")
    written = []
    for f, s in zip(args.results, summaries):
        folder = out / s["label"] if len(args.results) > 1 else out
        written += plot_run(f, folder)
    if len(summaries) > 1:
        out.mkdir(parents=True, exist_ok=True)
        written.append(plot_selection(summaries, out / "free_energy.png"))
    for w in written:
        print(w)
    return 0


def cmd_export(args) -> int:
    from remc_mpi.ui.export import export_arviz

    out = Path(args.output)
    _check_new_file(out, [args.results], args.force, "OUT")
    _load_summary(args.results)
    if not out.parent.is_dir():
        raise InputError(f"folder {out.parent} does not exist", "command line", "OUT")
    try:
        print(export_arviz(args.results, out))
    except RuntimeError as err:  # the optional dependency is missing
        raise InputError(str(err), "command line", "--arviz") from None
    return 0


def _folder_argument(name: str, what: str) -> Path:
    """The folder ``-o`` names (made later if missing); an existing file there is refused."""
    out = Path(name)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; -o names the folder {what}", "command line", "-o")
    return out


def _check_new_file(out: Path, inputs: list, force: bool, key: str) -> None:
    """Refuse to write ``out`` over one of the command's inputs (ever), or over an existing file
    without --force."""
    from remc_mpi.io.safeio import written_inputs

    for _, inp in written_inputs([out], inputs):
        raise InputError(f"{out} is the input {inp}: refusing to write over it", "command line", key)
    if out.exists() and not force:
        raise InputError(f"{out} exists; give --force to replace it", "command line", key)


def cmd_campaign(args) -> int:
    from remc_mpi.ui import campaign as cp

    camp = cp.load_campaign(args.campaign)
    if _rank() == 0:
        for w in camp.warnings:
            print(f"warning: {w}")
        cp.write_tasks(camp)
    _barrier()
    if args.slurm:
        return _campaign_slurm(camp, args) if _rank() == 0 else 0
    if _rank() == 0:
        _campaign_line(camp, sum(not cp.task_done(t) for t in camp.tasks))
    failed = 0
    if args.farm:
        failed = _farm_line(cp.run_in_farm(camp, args.group_size))
    else:
        cp.run_local(camp)
    if _rank() == 0:
        from remc_mpi.ui.collect import collect

        for p in collect(camp.folder):
            print(p)
    return 2 if failed else 0


def _campaign_line(camp, unfinished: int) -> None:
    print(f"campaign {camp.name}: {len(camp.tasks)} tasks in {camp.folder} ({len(camp.tasks) - unfinished} finished)")


def _campaign_slurm(camp, args) -> int:
    from remc_mpi.ui import campaign as cp

    if args.farm:
        _campaign_line(camp, sum(not cp.task_done(t) for t in camp.tasks))
        return _farm_job(camp, f"campaign {shlex.quote(str(camp.source.resolve()))}", args.submit)
    paths = cp.write_slurm(camp)  # it lists the unfinished tasks itself
    _campaign_line(camp, len(paths["todo"]))
    return _array_jobs(paths, args.submit)


def _array_jobs(paths: dict, submit: bool) -> int:
    """Say what the array's job scripts are and, with ``submit``, sbatch them (a campaign or plan)."""
    from remc_mpi.ui import campaign as cp

    print(f"job scripts: {paths['array']} ({len(paths['todo'])} array tasks), {paths['collect']}")
    if submit:
        if not paths["todo"]:
            print("nothing to submit: every task is finished")
        else:
            job, col = cp.submit(paths)
            print(f"submitted array job {job} and collection job {col}")
    return 0


def _farm_job(camp, command: str, submit: bool) -> int:
    """Write (and with ``submit`` sbatch) the farm job of a campaign or plan."""
    import subprocess

    from remc_mpi.ui import campaign as cp

    group = int(camp.slurm.get("ntasks", 2))
    path = cp.write_farm_slurm(camp, f"{command} --farm --group-size {group}")
    print(f"job script: {path} (a task farm in groups of {group} ranks)")
    if submit:
        out = subprocess.run(["sbatch", "--parsable", str(path)], capture_output=True, text=True, check=True).stdout
        print(f"submitted farm job {out.strip().split(';')[0]}")
    return 0


def _farm_line(stats) -> int:
    """Print what a farm did (rank 0); the number of tasks that failed on their input."""
    if _rank() == 0:
        print(f"farm: {stats.ran} tasks run, {stats.skipped} skipped, {stats.failed} failed, on {stats.groups} "
              f"group(s) of {stats.group_size} rank(s) in {stats.seconds:.1f} s")
    return stats.failed


def cmd_plan(args) -> int:
    from remc_mpi.ui import campaign as cp
    from remc_mpi.ui import plan as pl

    plan = pl.load_plan(args.plan)
    if _rank() == 0 and args.task is None:
        for w in plan.campaign.warnings:
            print(f"warning: {w}")
    if args.task is not None:
        done = pl.run_task(plan, args.task)
        if _rank() == 0:
            print(f"plan {plan.campaign.name}: task {args.task}: {done}")
        return 0
    failed = 0
    if not args.collect:
        if _rank() == 0:
            cp.write_tasks(plan.campaign)
        _barrier()
        if args.slurm:
            return _plan_slurm(plan, args) if _rank() == 0 else 0
        skip = lambda task: pl.skip_reason(plan, task)  # noqa: E731
        if args.farm:
            failed = _farm_line(cp.run_in_farm(plan.campaign, args.group_size, skip=skip))
        else:
            cp.run_local(plan.campaign, skip=skip)
    if _rank() == 0:
        _plan_answer(plan)
    return 2 if failed else 0


def _plan_slurm(plan, args) -> int:
    from remc_mpi.ui import plan as pl

    print(f"plan {plan.campaign.name}: {len(plan.campaign.tasks)} runs planned in {plan.campaign.folder}")
    if args.farm:
        return _farm_job(plan.campaign, f"plan {shlex.quote(str(plan.source))}", args.submit)
    return _array_jobs(pl.write_plan_slurm(plan), args.submit)


def _plan_answer(plan) -> None:
    from remc_mpi.ui.decisiveness import answer_lines, collect_plan

    result, paths = collect_plan(plan)
    for line in answer_lines(plan, result):
        print(line)
    for p in paths:
        print(p)


def _barrier() -> None:
    from mpi4py import MPI

    MPI.COMM_WORLD.Barrier()


def cmd_collect(args) -> int:
    from remc_mpi.ui.collect import collect

    for p in collect(args.folder):
        print(p)
    return 0


def cmd_simulate(args) -> int:
    import numpy as np

    from remc_mpi.config import synthesize
    from remc_mpi.io.data import write_spectrum
    from remc_mpi.models import get_model

    options = {}
    for item in args.option or []:
        k, _, v = item.partition("=")
        options[k] = json.loads(v) if v else True
    try:
        model = get_model(args.model, **options)
    except ValueError as err:
        raise InputError(str(err), "command line", "--model") from None
    params = _parse_params(args.param or [])
    missing = [n for n in model.param_names if n not in params]
    extra = [n for n in params if n not in model.param_names]
    if extra:
        raise InputError(f"model {model.name} has no parameter {extra[0]!r}", "command line", "--param")
    if missing:
        raise InputError(f"missing --param for {', '.join(missing)}", "command line", "--param")
    lo, hi, n = _parse_grid(args.grid)
    if args.noise < 0:
        raise InputError("--noise must not be negative", "command line", "--noise")
    if args.counts is not None and args.counts <= 0:
        raise InputError("--counts must be positive", "command line", "--counts")
    out = Path(args.output)
    _check_new_file(out, [], args.force, "--output")
    energy, y = synthesize(model, params, np.linspace(lo, hi, n), args.noise, args.seed, args.counts)
    if not out.parent.is_dir():
        raise InputError(f"folder {out.parent} does not exist", "command line", "-o")
    write_spectrum(out, energy, y)
    return 0


def cmd_blocks(args) -> int:
    from remc_mpi.instruments import describe, read_regions

    path = Path(args.file)
    if not path.is_file():
        raise InputError("is a folder, not an instrument file" if path.is_dir() else "file does not exist", str(path))
    fmt, regions = read_regions(path)
    print(f"{path}: {fmt.description}, {len(regions)} block{'s' if len(regions) != 1 else ''} "
          "(binding energy = source - kinetic; docs/config.md, 'data')")
    for line in describe(regions):
        print(line)
    return 0


def cmd_validate(args) -> int:
    from remc_mpi.config import load_config
    from remc_mpi.io.paths import (check_output_paths, memory_bytes, memory_warning, output_bytes, output_paths,
                                   space_warning)

    cfg = load_config(args.config)
    labels = ", ".join(c.label for c in cfg.candidates)
    paths = output_paths(cfg)
    check_output_paths(paths, [cfg.source, cfg.data.source], cfg.source)
    size = sum(output_bytes(cfg, c) for c in cfg.candidates)
    print(f"{args.config}: OK ({cfg.data.n} data points; models {labels}; "
          f"outputs {', '.join(map(str, paths))}; about {size / 2**20:.1f} MB of samples, "
          f"twice that while the results are assembled; at most about "
          f"{max(memory_bytes(cfg, c) for c in cfg.candidates) / 2**20:.0f} MB of memory on one rank)")
    for warning in (space_warning(cfg, paths), memory_warning(cfg)):
        if warning:
            print(f"warning: {warning}")
    return 0


def cmd_demo(args) -> int:
    from remc_mpi.ui.demo import run_demo

    _folder_argument(args.output, "the demo writes into")
    return run_demo(args.output, quick=args.quick)


def build_parser() -> argparse.ArgumentParser:
    # one flat declaration per subcommand and option: a table, read top to bottom, kept in one piece
    p = _Parser(prog="remc-mpi", description="Bayesian Hamiltonian selection for XPS by exchange Monte Carlo over MPI.")
    p.add_argument("--version", action="version", version=f"remc-mpi {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="sample the posterior and compute the free energy of each candidate model",
                       description="Run a config. Serial when started plainly; parallel under mpiexec/srun.")
    r.add_argument("config", help="YAML config file")
    r.add_argument("-o", "--output", help="results file (overrides the config's output)")
    r.add_argument("--resume", action="store_true",
                   help="continue interrupted candidates from their checkpoints (any number of ranks); "
                        "finished ones are read back, the rest start")
    r.add_argument("--force", action="store_true", help="overwrite existing results")
    r.add_argument("--extend", type=_positive_int("--extend"), metavar="SWEEPS",
                   help="continue finished runs by SWEEPS more sweeps from their final state (any number of ranks); "
                        "the result equals a run asked for the longer length from the start")
    r.add_argument("--hdf5", choices=("auto", "mpio", "gather"), default="auto",
                   help="sample output: each rank writes its slots through parallel HDF5 (mpio), or rank 0 "
                        "gathers and writes (gather); auto: mpio where h5py has MPI and ranks > 1")
    r.add_argument("--no-file-locking", action="store_true",
                   help="disable HDF5 file locking (for shared filesystems without working locks)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("simulate", help="write a synthetic spectrum (CSV energy,intensity)")
    s.add_argument("--model", required=True)
    s.add_argument("--param", action="append", metavar="K=V", help="parameter value (repeat for each)")
    s.add_argument("--option", action="append", metavar="K=V", help="model option, JSON value (e.g. n_peaks=3)")
    s.add_argument("--grid", required=True, metavar="LO:HI:N", help="energy grid")
    s.add_argument("--noise", type=float, default=0.0, help="Gaussian noise sigma (0: the exact curve)")
    s.add_argument("--counts", type=float, help="Poisson counting noise with this many counts at the peak")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--force", action="store_true", help="replace an existing file")
    s.set_defaults(func=cmd_simulate)

    a = sub.add_parser("analyze", help="results table of a run (several files: plus P(H_k | D))")
    a.add_argument("results", nargs="+")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_analyze)

    c = sub.add_parser("select", help="model comparison table with P(H_k | D), fit quality and trust status")
    c.add_argument("results", nargs="+")
    c.add_argument("--json", action="store_true")
    c.add_argument("--strict", action="store_true", help="exit 1 when any candidate's evidence is untrusted")
    c.set_defaults(func=cmd_select)

    pl = sub.add_parser("plot", help="figures of one or more results files (needs matplotlib)")
    pl.add_argument("results", nargs="+")
    pl.add_argument("-o", "--output", default="plots", help="folder for the PNG files")
    pl.set_defaults(func=cmd_plot)

    ex = sub.add_parser("export", help="the beta = 1 posterior as an ArviZ InferenceData (netCDF)")
    ex.add_argument("--arviz", action="store_true", required=True, help="export format (ArviZ, the only one)")
    ex.add_argument("results")
    ex.add_argument("output", help="netCDF file to write, e.g. run.nc")
    ex.add_argument("--force", action="store_true", help="replace an existing file")
    ex.set_defaults(func=cmd_export)

    cm = sub.add_parser("campaign", help="a grid of runs (noise, true parameters, seeds, models) or a list of "
                                         "data files, run locally or as a SLURM job array")
    cm.add_argument("campaign", help="campaign YAML file")
    mode = cm.add_mutually_exclusive_group()
    mode.add_argument("--local", action="store_true", help="run the unfinished tasks here, then collect (default)")
    mode.add_argument("--slurm", action="store_true", help="write the SLURM array and collection scripts")
    cm.add_argument("--submit", action="store_true", help="with --slurm: sbatch them (collection after the array)")
    _farm_arguments(cm)
    cm.set_defaults(func=cmd_campaign)

    pn = sub.add_parser("plan", help="how many counts until the selection decides: the selection on synthetic "
                                     "spectra at a ladder of counting levels (docs/planning.md)")
    pn.add_argument("plan", help="plan YAML file")
    pmode = pn.add_mutually_exclusive_group()
    pmode.add_argument("--local", action="store_true", help="run the unfinished repeats here, then answer (default)")
    pmode.add_argument("--slurm", action="store_true", help="write the SLURM array and collection scripts")
    pmode.add_argument("--collect", action="store_true", help="answer from the runs finished so far")
    pmode.add_argument("--task", type=int, metavar="N", help="run task N unless its level is decided (array jobs)")
    pn.add_argument("--submit", action="store_true", help="with --slurm: sbatch them (collection after the array)")
    _farm_arguments(pn)
    pn.set_defaults(func=cmd_plan)

    co = sub.add_parser("collect", help="one table (CSV, HDF5) and the phase diagram of a campaign folder")
    co.add_argument("folder")
    co.set_defaults(func=cmd_collect)

    b = sub.add_parser("blocks", help="list the blocks (regions) of an instrument file: index, label, binding "
                                      "energy range, points, unit, scans, dwell")
    b.add_argument("file")
    b.set_defaults(func=cmd_blocks)

    v = sub.add_parser("validate", help="check a config and its data without running")
    v.add_argument("config")
    v.set_defaults(func=cmd_validate)

    d = sub.add_parser("demo", help="the CeO2 model-selection demo (cluster2 vs cluster3)")
    d.add_argument("-o", "--output", default="demo-out", help="folder for the demo's files")
    d.add_argument("--quick", action="store_true", help="a shorter run (for tests)")
    d.set_defaults(func=cmd_demo)
    return p


def _join_grid(argv: list[str]) -> list[str]:
    """``--grid -8:16:300`` -> ``--grid=-8:16:300`` (argparse would take -8:16:300 for an option)."""
    out: list[str] = []
    it = iter(argv)
    for a in it:
        if a == "--grid":
            nxt = next(it, None)
            out.append(a if nxt is None else f"--grid={nxt}")
        else:
            out.append(a)
    return out


#: one BLAS/OpenMP thread per process: remc_mpi's parallelism is its MPI ranks, and a
#: multithreaded BLAS beside busy ranks oversubscribes the cores (measured here: the MBAR
#: passes of a 2-rank run on 2 cores took 5.5 s instead of 0.013 s). Set before numpy loads;
#: a value the user exported wins.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _farm_arguments(parser) -> None:
    parser.add_argument("--farm", action="store_true",
                        help="run the tasks as a task farm on this job's ranks (under mpiexec), or with --slurm "
                             "write one farm job instead of an array (docs/slurm.md)")
    parser.add_argument("--group-size", type=int, default=1, metavar="G",
                        help="with --farm: ranks per task (default 1)")


def main(argv: list[str] | None = None) -> int:
    import os

    for var in THREAD_VARIABLES:
        os.environ.setdefault(var, "1")
    import warnings

    # mpi4py's own notice of a foreign launcher; the run checks the launch itself and says what
    # to do in one line (parallel.check_launch)
    warnings.filterwarnings("ignore", message="suspicious MPI execution environment")
    try:
        args = build_parser().parse_args(_join_grid(sys.argv[1:] if argv is None else list(argv)))
        return int(args.func(args) or 0)
    except InputError as err:
        if _rank() == 0:
            print(f"remc-mpi: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (remc-mpi analyze ... | head): nothing to say
        _silence_stdout()
        return 141
    except OutputError as err:
        return _write_fault(err)
    except DamagedFile as err:  # raised on every rank alike
        if _rank() == 0:
            print(f"remc-mpi: error: {err}", file=sys.stderr, flush=True)
        return 1
    except OSError as err:
        if err.errno not in WRITE_FAULTS or err.filename is None:
            return _failed(err)
        return _write_fault(OutputError(err.filename, err))
    except Exception as err:  # noqa: BLE001 - any other failure: exit 1, and end every rank
        return _failed(err)


def entry() -> NoReturn:
    """The ``remc-mpi`` command and ``python -m remc_mpi``: :func:`main`, then the process's exit.

    Before it, every object is moved out of the garbage collector's reach (``gc.freeze``): the
    interpreter's final collection otherwise walks numba's compiler objects for 0.15 s of every
    command's exit (0.20 s against 0.05 s, benchmarks/bench_startup.py), to free memory the
    operating system takes back anyway. The exit handlers (MPI_Finalize, h5py's) run before that
    collection and are not affected; the files are closed by then."""
    import gc

    code = main()
    gc.freeze()
    raise SystemExit(code)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush into a closed pipe is silent."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _failed(err: BaseException) -> int:
    """An unexpected failure: its traceback, one line naming the rank, and the job ended."""
    import traceback

    traceback.print_exception(err)
    print(f"remc-mpi: failed on rank {_rank()}: {err.__class__.__name__}: {err}", file=sys.stderr)
    _abort_all(1)
    return 1


def _write_fault(err: OutputError) -> int:
    """A refused write: one line, exit status 1. Raised on every rank alike by a run (printed
    once); raised on one rank only, it ends the MPI job so that no rank is left waiting."""
    if err.collective and _rank() != 0:
        return 1
    print(f"remc-mpi: error: {err}", file=sys.stderr, flush=True)
    if not err.collective:
        _abort_all(1)
    return 1


#: seconds between printing the failure and aborting the job: MPICH's launcher drops output
#: still in its pipes when it kills the ranks (seen on a loaded machine: only the first line of
#: the traceback arrived)
ABORT_GRACE_S = 0.5


def _abort_all(code: int) -> None:
    """Abort the whole MPI job when other ranks may be waiting in a collective."""
    if "mpi4py.MPI" not in sys.modules:
        return
    from mpi4py import MPI

    if MPI.Is_initialized() and not MPI.Is_finalized() and MPI.COMM_WORLD.Get_size() > 1:
        import time

        sys.stderr.flush()
        time.sleep(ABORT_GRACE_S)  # the launcher forwards what was printed before it kills the job
        MPI.COMM_WORLD.Abort(code)
