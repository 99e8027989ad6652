"""Campaigns: many runs over a grid of noise levels, true parameters, seeds and candidate models
(or over a list of real data files), run locally or as a SLURM job array, then collected.

A campaign file (YAML, paths relative to it)::

    name: ceo2-delta                # optional, default: the file's stem
    folder: ceo2-delta-out          # where tasks, job scripts and the table go
    base: base.yaml                 # a run config: priors, ladder, sampler, models ...
    models: [{name: cluster2}, {name: cluster3}]   # optional: override the base's candidates
    grid:
      noise: [0.005, 0.02]          # Gaussian sigma of the synthetic data (and noise.sigma)
      truth:                        # true parameters: fixed ones and one or more swept
        model: cluster3
        params: {v: 0.76, uff: 10.5, ufc: 12.5, gamma: 0.7, shift: 0.0, amp: 1.0}
        sweep: {delta: [12.5, 6.0, 1.6]}
      grid: [-8.0, 16.0, 200]       # energy grid of the synthetic spectra
      seeds: [1, 2]                 # data and sampler seeds
    # or, for measured spectra instead of truth/noise:
    # files: [a.csv, b.csv]
    slurm: {ntasks: 2, time: "01:00:00", partition: null, launcher: auto, extra: []}

Every grid point is a *task* with its own folder ``tasks/NNNN`` holding ``data.csv``,
``config.yaml`` (the base config with this point's data, noise, seed and output) and
``point.json`` (the grid coordinates). Tasks run with ``--resume`` semantics, so re-running a
campaign skips finished tasks and continues interrupted ones.
"""

from __future__ import annotations

import copy
import itertools
import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any, Callable

import numpy as np
import yaml

from remc_mpi.config import Validator, read_yaml
from remc_mpi.errors import InputError
from remc_mpi.io.safeio import write_text_atomic

CAMPAIGN_KEYS = {"name", "folder", "base", "models", "grid", "files", "slurm"}
GRID_KEYS = {"noise", "truth", "grid", "seeds"}
SLURM_KEYS = {"ntasks", "time", "partition", "launcher", "extra", "signal_seconds", "farm_ntasks"}
JOBS = Path(__file__).resolve().parents[1] / "jobs"
#: the marker of a task that need not run (a plan's level decided by earlier repeats: remc_mpi.ui.plan)
SKIPPED = "skipped.json"


@dataclass
class Task:
    index: int
    point: dict[str, Any]
    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / "config.yaml"


@dataclass
class Campaign:
    name: str
    source: Path
    folder: Path
    base: dict
    tasks: list[Task]
    slurm: dict[str, Any] = field(default_factory=dict)
    #: what the validator found worth saying (truths whose lines fall outside their grid)
    warnings: list[str] = field(default_factory=list)


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign file (through the config's validator: the same one-line
    errors, with line numbers for invalid YAML) and expand its grid into tasks."""
    src = Path(path)
    raw, _ = read_yaml(src, "campaign")
    v = Validator(str(src))
    c = v.mapping(raw, "", CAMPAIGN_KEYS, ("base",))
    if ("grid" in c) == ("files" in c):
        v.fail("grid", "give exactly one of 'grid' (synthetic data) or 'files' (measured spectra)")
    here = src.parent
    base = read_base(v, c["base"], here)
    if "models" in c:
        if not isinstance(c["models"], list) or not c["models"]:
            v.fail("models", "must be a non-empty list of models")
        base.pop("model", None)
        base["models"] = c["models"]
    folder = (here / c.get("folder", src.stem + "-out")).resolve()
    points = _file_points(v, c, here, base) if "files" in c else _grid_points(v, c, base)
    tasks = [Task(i, p, folder / "tasks" / f"{i:04d}") for i, p in enumerate(points)]
    slurm = v.mapping(c.get("slurm") or {}, "slurm", SLURM_KEYS)
    warnings = [] if "files" in c else lines_outside_grid(points)
    return Campaign(str(c.get("name", src.stem)), src, folder, base, tasks, dict(slurm), warnings)


def read_base(v: Validator, name: Any, here: Path) -> dict:
    """The base run config a campaign or plan file names (``base``), as a fresh mapping."""
    base_path = here / v.string(name, "base")
    if not base_path.is_file():
        v.fail("base", f"{base_path} does not exist")
    base, _ = read_yaml(base_path)
    if not isinstance(base, dict):
        v.fail("base", f"{base_path} is not a config mapping")
    return copy.deepcopy(base)


#: a truth's line counts when its weight is at least INSIDE_SHARE of the strongest line's
#: (remc_mpi.models.spectral, the share lines_in_window uses); it must lie this many of its
#: Lorentzian half widths inside the grid (the tails beyond 3 widths hold
#: about 21 % of a Lorentzian's area: nearer the edge the line is not seen whole)
LINE_EDGE_WIDTHS = 3.0


def lines_outside_grid(points: list[dict[str, Any]]) -> list[str]:
    """One warning per truth of a grid campaign whose final-state lines (of weight at least
    INSIDE_SHARE of the largest) lie within LINE_EDGE_WIDTHS widths of the grid's ends or beyond
    them: the phase diagram would compare the models on spectra that miss those lines."""
    from remc_mpi.models import get_model
    from remc_mpi.models.spectral import INSIDE_SHARE

    out, seen = [], set()
    for p in points:
        key = tuple(sorted(p["truth"].items()))
        if key in seen:
            continue
        seen.add(key)
        model = get_model(p["truth_model"], **p["truth_options"])
        theta = np.array([[p["truth"][n] for n in model.param_names]])
        try:
            pk = model.peaks(theta)
        except NotImplementedError:
            continue
        centre, height, width = pk["center"][0], pk["height"][0], pk["width"][0]
        lo, hi = (min(p["energy"]), max(p["energy"])) if "energy" in p else (p["grid"][0], p["grid"][1])
        lo, hi = float(lo), float(hi)
        strong = height >= INSIDE_SHARE * np.max(height)
        off = strong & ((centre - LINE_EDGE_WIDTHS * width < lo) | (centre + LINE_EDGE_WIDTHS * width > hi))
        if np.any(off):
            where = ", ".join(f"{c:.2f} eV (weight {h:.2f})" for c, h in zip(centre[off], height[off]))
            swept = [k[len("sweep_"):] for k in p if k.startswith("sweep_")] or list(p["truth"])
            truth = ", ".join(f"{k}={p['truth'][k]:g}" for k in swept)
            out.append(f"truth {truth}: lines at {where} lie outside the grid [{lo:g}, {hi:g}] (or within "
                       f"{LINE_EDGE_WIDTHS:g} widths of its ends): widen grid.grid")
    return out


def _file_points(v: Validator, c: dict, here: Path, base: dict) -> list[dict[str, Any]]:
    """One task per measured spectrum of ``files``."""
    files = c["files"]
    if not isinstance(files, list) or not files:
        v.fail("files", "must be a non-empty list of data files")
    for f in files:
        if not (here / f).is_file():
            v.fail("files", f"{here / f} does not exist")
    return [{"file": str((here / f).resolve()), "seed": int(base.get("seed", 0))} for f in files]


def _grid_points(v: Validator, c: dict, base: dict) -> list[dict[str, Any]]:
    """One task per (swept truth, noise level, seed) of ``grid``."""
    g = v.mapping(c["grid"], "grid", GRID_KEYS, ("noise", "truth"))
    noises = v.numbers(g["noise"], "grid.noise", positive=True)
    t = v.mapping(g["truth"], "grid.truth", {"model", "options", "params", "sweep"}, ("model",))
    params = _model_params(v, t)
    sweep = v.mapping(t.get("sweep") or {}, "grid.truth.sweep", set(params))
    sweep_vals = {k: v.numbers(x, f"grid.truth.sweep.{k}") for k, x in sweep.items()}
    seeds = v.integers(g.get("seeds", [int(base.get("seed", 0))]), "grid.seeds")
    grid = g.get("grid", [-8.0, 16.0, 200])
    fixed = dict(t.get("params") or {})
    names = list(sweep_vals)
    points = []
    for combo in itertools.product(*(sweep_vals[k] for k in names)):
        truth = {**fixed, **dict(zip(names, combo))}
        missing = [p for p in params if p not in truth]
        if missing:
            v.fail("grid.truth.params", f"no value for {', '.join(missing)}")
        points += [{"truth_model": t["model"], "truth_options": t.get("options") or {}, "truth": truth,
                    "noise": sigma, "seed": seed, "grid": grid, **{f"sweep_{k}": x for k, x in zip(names, combo)}}
                   for sigma in noises for seed in seeds]
    return points


def _model_params(v: Validator, truth: dict) -> tuple[str, ...]:
    from remc_mpi.models import get_model

    try:
        return get_model(truth["model"], **(truth.get("options") or {})).param_names
    except ValueError as err:
        v.fail("grid.truth.model", str(err))


#: the base's data keys a synthetic task's data.csv keeps (a window and a normalisation apply
#: to any spectrum; instrument keys such as block or work_function do not apply to a CSV)
SYNTHETIC_DATA_KEYS = ("window", "normalize")


def task_data(base_data: dict, point: dict) -> dict:
    """A task's ``data`` section: its measured file with the base's other data keys, or its
    data.csv with the base's SYNTHETIC_DATA_KEYS."""
    if "file" in point:
        return {**{k: v for k, v in base_data.items() if k != "synthetic"}, "file": point["file"]}
    return {**{k: v for k, v in base_data.items() if k in SYNTHETIC_DATA_KEYS}, "file": "data.csv"}


def task_config(camp: Campaign, task: Task) -> dict:
    """The full run config of one task (data file in the task folder)."""
    cfg = copy.deepcopy(camp.base)
    p = task.point
    cfg["data"] = task_data(cfg.get("data") or {}, p)
    if "count_scale" in p:  # counting noise of a known scale (remc_mpi.ui.plan)
        cfg["noise"] = {"model": "scaled_counts", "scale": p["count_scale"]}
    elif "noise" in p and not (cfg.get("noise") or {}).get("estimate"):
        cfg["noise"] = {"sigma": p["noise"]}
    cfg["seed"] = int(p["seed"])
    cfg["output"] = "result.h5"
    cfg["progress"] = False
    return cfg


def write_tasks(camp: Campaign) -> list[Task]:
    """Write each task's data, config and grid point (existing task folders are kept as they
    are, so a re-run never disturbs finished or interrupted work)."""
    from remc_mpi.config import parse_config, synthesize
    from remc_mpi.io.data import write_spectrum
    from remc_mpi.models import get_model

    for task in camp.tasks:
        if task.config.exists():
            continue
        task.folder.mkdir(parents=True, exist_ok=True)
        p = task.point
        if "truth" in p:
            model = get_model(p["truth_model"], **p["truth_options"])
            energy = np.asarray(p["energy"]) if "energy" in p else np.linspace(p["grid"][0], p["grid"][1],
                                                                                 int(p["grid"][2]))
            counts = p["counts"] if "count_scale" in p else None
            e, y = synthesize(model, p["truth"], energy, p.get("noise", 0.0), int(p["seed"]), counts=counts)
            write_spectrum(task.folder / "data.csv", e, y)
        cfg = task_config(camp, task)
        write_text_atomic(task.folder / "point.json", json.dumps({"index": task.index, **p}, indent=1))
        # written last and whole: its presence marks a task folder as complete
        write_text_atomic(task.folder / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
        parse_config(cfg, str(task.config), base=task.folder)  # validate now, not on the cluster
    return camp.tasks


def task_done(task: Task) -> bool:
    """All of the task's result files exist and are complete."""
    from remc_mpi.config import load_config
    from remc_mpi.io.paths import output_paths
    from remc_mpi.io.output import complete_summary

    try:
        paths = output_paths(load_config(task.config))
    except InputError:
        return False
    return all(complete_summary(path) is not None for path in paths)


def task_running(task: Task) -> dict | None:
    """The live holder of a lock on one of the task's outputs (another run is writing it), or None."""
    from remc_mpi.config import load_config
    from remc_mpi.io.lock import holder
    from remc_mpi.io.paths import output_paths

    try:
        paths = output_paths(load_config(task.config))
    except InputError:
        return None
    return next((h for h in map(holder, paths) if h is not None), None)


def run_local(camp: Campaign, comm=None, skip: Callable[[Task], str | None] | None = None) -> int:
    """Run the unfinished tasks one after another on ``comm`` (resume semantics), skipping those
    another run is writing (a campaign re-run while its array is still running) and those for
    which ``skip`` (called on rank 0) gives a reason."""
    from remc_mpi.config import load_config
    from remc_mpi.driver.engine import run

    if comm is None:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    done = 0
    for task in camp.tasks:
        reason = comm.bcast(_skip_reason(task, skip) if comm.Get_rank() == 0 else None)
        if comm.Get_rank() == 0:
            print(f"campaign {camp.name}: task {task.index + 1}/{len(camp.tasks)} ({task.folder.name}) "
                  f"{reason or 'running'}", flush=True)
        if reason:
            continue
        run(load_config(task.config), comm, resume=True, progress=False)
        done += 1
    return done


def _skip_reason(task: Task, skip: Callable[[Task], str | None] | None) -> str | None:
    live = task_running(task)
    if live:
        return f"skipped: running on {live.get('host')} (pid {live.get('pid')})"
    return skip(task) if skip is not None else None


def launcher_command(launcher: str, ntasks: int) -> str:
    """How a task's ranks are started: ``srun``, ``mpiexec`` (the one beside this Python when
    there is one), or ``auto``: that mpiexec when this environment has it (the PyPI MPICH
    runtime, with which srun would start independent one-rank runs), srun otherwise."""
    local = Path(sys.executable).parent / "mpiexec"
    if launcher == "auto":
        launcher = "mpiexec" if local.exists() else "srun"
    if launcher == "srun":
        return "srun"
    return f"{shlex.quote(str(local)) if local.exists() else 'mpiexec'} -n {ntasks}"


def _render(name: str, **values: str) -> str:
    return Template((JOBS / name).read_text()).substitute(values)


#: what an array task runs in its task folder, and what the collection job runs (a plan gives its own)
TASK_COMMAND = "run config.yaml --resume -q"


def _job_knobs(camp: Campaign, ranks: int) -> dict[str, str]:
    """The template values every job script of a campaign shares (its ``slurm:`` section), with
    the launcher line for a job of ``ranks`` ranks."""
    s = camp.slurm
    python = shlex.quote(sys.executable)
    return {"NAME": camp.name, "TIME": str(s.get("time", "01:00:00")),
            "PARTITION": f"#SBATCH --partition={s['partition']}" if s.get("partition") else "",
            "EXTRA": "\n".join(f"#SBATCH {x}" for x in s.get("extra", [])),
            "SIGNAL": str(int(s.get("signal_seconds", 120))), "FOLDER": shlex.quote(str(camp.folder)),
            "RUN": launcher_command(s.get("launcher", "auto"), ranks) + f" {python} -m remc_mpi"}


def write_slurm(camp: Campaign, task_command: str = TASK_COMMAND, collect_command: str | None = None) -> dict[str, Path]:
    """Job scripts for the unfinished tasks (array) and the collection step."""
    todo = [t.index for t in camp.tasks if not task_done(t) and task_running(t) is None]
    ntasks = int(camp.slurm.get("ntasks", 2))
    knobs = _job_knobs(camp, ntasks)
    jobs = camp.folder / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    array = _render("campaign-array.sbatch", **knobs, NTASKS=str(ntasks), ARRAY=",".join(map(str, todo)) or "0",
                    COMMAND=task_command)
    collect_command = collect_command or (f"{shlex.quote(sys.executable)} -m remc_mpi collect "
                                          f"{shlex.quote(str(camp.folder))}")
    collect = _render("collect.sbatch", **knobs, COLLECT=collect_command)
    paths = {"array": jobs / "array.sbatch", "collect": jobs / "collect.sbatch"}
    write_text_atomic(paths["array"], array)
    write_text_atomic(paths["collect"], collect)
    return paths | {"todo": todo}  # type: ignore[return-value]


def write_farm_slurm(camp: Campaign, command: str) -> Path:
    """The job script of a task farm: one allocation of ``slurm.farm_ntasks`` ranks (default
    ``ntasks``) running ``command`` (a ``--farm`` invocation) under the launcher."""
    s = camp.slurm
    farm = int(s.get("farm_ntasks", s.get("ntasks", 2)))
    script = _render("campaign-farm.sbatch", **_job_knobs(camp, farm), FARM=str(farm),
                     GROUP=str(int(s.get("ntasks", 2))), COMMAND=command)
    (camp.folder / "jobs").mkdir(parents=True, exist_ok=True)
    return write_text_atomic(camp.folder / "jobs" / "farm.sbatch", script)


def run_in_farm(camp: Campaign, group_size: int, skip: Callable[[Task], str | None] | None = None):
    """Every task of the campaign in a task farm on COMM_WORLD (remc_mpi.driver.farm): FarmStats."""
    from remc_mpi.config import load_config
    from remc_mpi.driver.engine import run
    from remc_mpi.driver.farm import run_farm

    def run_one(task: Task, group, signals) -> None:
        run(load_config(task.config), group, resume=True, progress=False, signals=signals)

    return run_farm(camp.tasks, run_one, group_size, skip=skip,
                    report=lambda line: print(f"{camp.name}: {line}", flush=True))


def submit(paths: dict) -> tuple[str, str]:
    """sbatch the array, then the collection step after it (afterany)."""
    import subprocess

    def sbatch(*args: str) -> str:
        out = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True, check=True).stdout
        return out.strip().split(";")[0]

    job = sbatch(str(paths["array"]))
    col = sbatch(f"--dependency=afterany:{job}", str(paths["collect"]))
    return job, col


__all__ = ["Campaign", "Task", "load_campaign", "write_tasks", "run_local", "write_slurm", "submit", "task_done",
           "task_running", "write_farm_slurm", "run_in_farm"]
