r"""``remc-mpi plan PLAN.yaml``: how many counts before the selection can tell the Hamiltonians
apart — answered before the beamtime, by running the selection on synthetic spectra at a ladder
of counting levels (docs/planning.md).

A plan file (YAML, paths relative to it)::

    name: ceo2-counts             # optional, default: the file's stem
    folder: ceo2-counts-out       # tasks, job scripts, the tables and the figure
    base: base.yaml               # a run config: the candidates, priors, ladder, sampler
    truths:                       # the spectra to expect: a candidate of the base and its values
      - {candidate: cluster3, params: {delta: 1.6, v: 0.76, ...}}
    # or truths drawn from the posterior of a pilot measurement (one results file per candidate):
    # pilot: {results: [pilot-cluster2.h5, pilot-cluster3.h5], draws: 2, scale: 0.37, seconds: 600}
    grid: [-16.0, 16.0, 240]      # energies of given truths (a pilot: its data's energies)
    levels: {counts: [30, 100, 300, 1000]}  # counts per point at the spectrum's maximum
    # or {time: [60, 300], rate: 50}: seconds at `rate` counts per second at the maximum, or with
    # a pilot {time: [0.1, 1.0]}: multiples of the pilot's acquisition (seconds with pilot.seconds)
    repeats: 8                    # spectra per truth and level (each its own noise and seed)
    decisive: 0.95                # P(H | D) that counts as decisive
    target: 0.9                   # the share of repeats that must pick the truth decisively
    min_repeats: 3                # repeats before a level may be stopped early
    error: 0.3                    # sampler.target_error (nats) when the base sets none
    sampler: {sweeps: 6000}       # optional: sampler keys that replace the base's for the plan
    noise: counts                 # counts (exact) or gaussian (constant sigma, the same size)
    seed: 1
    slurm: {ntasks: 2, time: "00:30:00"}   # as for campaigns

Every (truth, level, repeat) is a task of a campaign (remc_mpi.ui.campaign: the same task folders,
local runs, SLURM array and resume semantics). Counting noise at a level: with ``c`` counts at
the truth's maximum f_max, the count scale is s = f_max / c (model units per count), the data
are y_i = s n_i with n_i ~ Poisson(f_i / s), and every candidate is fitted with the exact
likelihood of such data, ``noise: {model: scaled_counts, scale: s}`` (remc_mpi.likelihood).
``noise: gaussian`` instead adds N(0, sigma^2) with sigma = f_max / sqrt(c): the noise of c counts
at the maximum, constant over the spectrum (a background-dominated spectrum); it keeps a linear
model's evidence in closed form (tests/test_plan.py).

A repeat *succeeds* when the selection picks the truth's candidate and gives it P(H | D) >=
``decisive``; it is *untrusted* when a candidate's evidence is not (remc_mpi.evidence.trust: the sampler's
failure, not the data's — such repeats are counted apart and left out of the share; run them
longer). Per (truth, level), with k successes in n trusted repeats, the share k / n and its Wilson
score interval (Wilson 1927) at z = 1.96,

    (k + z^2/2) / (n + z^2)  +-  z / (n + z^2) sqrt(k (n - k) / n + z^2 / 4).

A level is *stopped early* once ``min_repeats`` have run and its interval lies wholly above or
below ``target``: its remaining repeats are skipped (marked ``skipped`` in their folder, also in a
SLURM array, where each task checks before it runs). The *threshold* of a truth is where the share,
interpolated linearly in log(level) between the levels run, first reaches ``target``; its band is
where the interval's upper and lower ends first reach it (open-ended when they never do). The cost
is the sum over runs of wall time x ranks.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from remc_mpi.ui.campaign import SKIPPED, Campaign, Task, lines_outside_grid, read_base, task_done
from remc_mpi.config import SAMPLER_KEYS, Validator, candidate_specs, read_yaml
from remc_mpi.io.data import MAX_POINTS
from remc_mpi.errors import InputError
from remc_mpi.io.safeio import write_text_atomic
from remc_mpi.evidence.selection import DECISIVE_P

PLAN_KEYS = {"name", "folder", "base", "truths", "pilot", "grid", "levels", "repeats", "decisive", "target",
             "min_repeats", "error", "noise", "seed", "slurm", "sampler"}
PILOT_KEYS = {"results", "draws", "scale", "seconds"}
NOISE_KINDS = ("counts", "gaussian")
#: the default share of repeats that must be decisive and right, and the default error target:
#: a tenth of ln 19 = 2.94 nats, the gap at which P(H | D) = 0.95 between two candidates (an
#: error far below the gap is wasted on the decision)
DEFAULT_TARGET, DEFAULT_ERROR = 0.9, 0.3
DEFAULT_REPEATS, DEFAULT_MIN_REPEATS = 8, 3
#: the Wilson interval's z (a two-sided 95 % band)
WILSON_Z = 1.96


@dataclass
class Truth:
    """One spectrum to expect: its group (the table's row), the candidate that generated it,
    the model (name, options), its parameter values and energies."""
    group: str
    label: str
    model: str
    options: dict
    params: dict[str, float]
    energy: np.ndarray
    #: a pilot's count scale and acquisition time (time levels), else None
    pilot_scale: float | None = None
    pilot_seconds: float = 1.0


@dataclass
class Plan:
    campaign: Campaign
    truths: list[Truth]
    level_name: str
    levels: list[float]
    repeats: int
    decisive: float
    target: float
    min_repeats: int
    noise: str
    source: Path = field(default_factory=Path)

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(t.group for t in self.truths))


# ---- reading a plan ------------------------------------------------------------------------
def load_plan(path: str | Path) -> Plan:
    """Read and validate a plan file and expand it into campaign tasks (InputError, one line)."""
    src = Path(path)
    raw, _ = read_yaml(src, "plan")
    v = Validator(str(src))
    c = v.mapping(raw, "", PLAN_KEYS, ("base", "levels"))
    if ("truths" in c) == ("pilot" in c):
        v.fail("truths", "give exactly one of 'truths' (given parameters) or 'pilot' (a pilot's results)")
    here = src.parent
    base = read_base(v, c["base"], here)  # each task's data section: campaign.task_data
    cands = {cand.label: cand for cand in candidate_specs(base, str(here / c["base"]))}
    truths = _pilot_truths(v, c, here, cands) if "pilot" in c else _given_truths(v, c, cands)
    level_name, levels = _levels(v, c, truths)
    opts = dict(repeats=v.integer(c.get("repeats", DEFAULT_REPEATS), "repeats", 1),
                decisive=v.number(c.get("decisive", DECISIVE_P), "decisive", positive=True),
                target=v.number(c.get("target", DEFAULT_TARGET), "target", positive=True),
                min_repeats=v.integer(c.get("min_repeats", DEFAULT_MIN_REPEATS), "min_repeats", 1),
                noise=c.get("noise", "counts"))
    if opts["noise"] not in NOISE_KINDS:
        v.fail("noise", f"must be one of {', '.join(NOISE_KINDS)}, got {opts['noise']!r}")
    for key in ("decisive", "target"):
        if not opts[key] < 1.0:
            v.fail(key, "must lie between 0 and 1")
    base["sampler"] = {**(base.get("sampler") or {}), **v.mapping(c.get("sampler") or {}, "sampler", SAMPLER_KEYS)}
    error = v.number(c.get("error", DEFAULT_ERROR), "error", positive=True)
    base["sampler"].setdefault("target_error", error)
    seed = v.integer(c.get("seed", 1), "seed", 0)
    folder = (here / c.get("folder", src.stem + "-out")).resolve()
    points = plan_points(truths, levels, level_name, opts["repeats"], opts["noise"], seed)
    tasks = [Task(i, p, folder / "tasks" / f"{i:04d}") for i, p in enumerate(points)]
    slurm = dict(v.mapping(c.get("slurm") or {}, "slurm", {"ntasks", "time", "partition", "launcher", "extra",
                                                           "signal_seconds"}))
    camp = Campaign(str(c.get("name", src.stem)), src, folder, base, tasks, slurm, lines_outside_grid(points))
    return Plan(camp, truths, level_name, levels, source=src.resolve(), **opts)


def _given_truths(v: Validator, c: dict, cands: dict) -> list[Truth]:
    if "grid" not in c:
        v.fail("grid", "given truths need an energy grid [low, high, points]")
    energy = _grid(v, c["grid"])
    if not isinstance(c["truths"], list) or not c["truths"]:
        v.fail("truths", "must be a non-empty list of {candidate, params}")
    out = []
    for i, t in enumerate(c["truths"]):
        where = f"truths[{i}]"
        t = v.mapping(t, where, {"candidate", "params", "name"}, ("candidate", "params"))
        label = v.string(t["candidate"], f"{where}.candidate")
        if label not in cands:
            v.fail(f"{where}.candidate", f"no candidate {label!r} in the base (it has {', '.join(cands)})")
        cand = cands[label]
        params = _truth_params(v, t["params"], cand, f"{where}.params")
        group = v.string(t.get("name", label), f"{where}.name")
        out.append(Truth(group, label, cand.model.name, dict(cand.model.options), params, energy))
    groups = [t.group for t in out]
    if len(set(groups)) != len(groups):
        v.fail("truths", "two truths of one candidate: give each a 'name'")
    return out


def _grid(v: Validator, raw: Any) -> np.ndarray:
    values = v.numbers(raw, "grid")
    if len(values) != 3 or not values[0] < values[1]:
        v.fail("grid", "must be [low, high, points] with low < high")
    return np.linspace(values[0], values[1], v.integer(values[2], "grid[2]", 2, MAX_POINTS))


def _truth_params(v: Validator, raw: Any, cand, where: str) -> dict[str, float]:
    """Every parameter's value: given, or the fixed prior's."""
    given = v.mapping(raw, where, set(cand.model.param_names))
    params = {}
    for name, prior in zip(cand.model.param_names, cand.priors.priors):
        if name in given:
            params[name] = v.number(given[name], f"{where}.{name}")
        elif prior.fixed:
            params[name] = float(prior.args[0])
        else:
            v.fail(where, f"no value for {name}")
    return params


def _pilot_truths(v: Validator, c: dict, here: Path, cands: dict) -> list[Truth]:
    """``draws`` posterior samples of each pilot results file (a candidate's run on the pilot
    measurement), drawn with the plan's seed."""
    from remc_mpi.io.output import ResultsFile, complete_summary

    p = v.mapping(c["pilot"], "pilot", PILOT_KEYS, ("results",))
    files = p["results"] if isinstance(p["results"], list) else [p["results"]]
    draws = v.integer(p.get("draws", 1), "pilot.draws", 1)
    rng = np.random.default_rng(v.integer(c.get("seed", 1), "seed", 0))
    out = []
    for i, name in enumerate(files):
        path = here / v.string(name, f"pilot.results[{i}]")
        summary = complete_summary(path)
        if summary is None:
            v.fail(f"pilot.results[{i}]", f"{path} is not a finished results file")
        if summary["label"] not in cands:
            v.fail(f"pilot.results[{i}]", f"its candidate {summary['label']!r} is not one of the base's")
        scale = _pilot_scale(v, p, summary)
        with ResultsFile(path) as rf:
            theta, (energy, _) = rf.posterior_theta(), rf.data()
        energy = _grid(v, c["grid"]) if "grid" in c else energy
        for row in rng.choice(theta.shape[0], size=draws, replace=False):
            params = dict(zip(summary["param_names"], map(float, theta[row])))
            out.append(Truth(summary["label"], summary["label"], summary["model"], summary["options"], params, energy,
                             scale, v.number(p.get("seconds", 1.0), "pilot.seconds", positive=True)))
    return out


def _pilot_scale(v: Validator, p: dict, summary: dict) -> float:
    """The pilot's count scale s (data units per count): given, learnt or 1 for raw counts."""
    if "scale" in p:
        return v.number(p["scale"], "pilot.scale", positive=True)
    if summary.get("likelihood") == "poisson":
        return 1.0
    if summary.get("likelihood") == "scaled_counts":
        return float(summary["scale"])
    v.fail("pilot.scale", "the pilot was fitted with Gaussian noise: give its count scale (data units per count)")


def _levels(v: Validator, c: dict, truths: list[Truth]) -> tuple[str, list[float]]:
    lv = v.mapping(c["levels"], "levels", {"counts", "time", "rate"})
    if ("counts" in lv) == ("time" in lv):
        v.fail("levels", "give exactly one of 'counts' (per point at the maximum) or 'time'")
    name = "counts" if "counts" in lv else "time"
    values = sorted(v.numbers(lv[name], f"levels.{name}", positive=True))
    if name == "time" and "rate" not in lv and truths[0].pilot_scale is None:
        v.fail("levels.rate", "time levels of given truths need a rate (counts per second at the maximum)")
    for t in truths:
        t.pilot_scale = None if "rate" in lv else t.pilot_scale
        if "rate" in lv:
            t.pilot_seconds = 1.0 / v.number(lv["rate"], "levels.rate", positive=True)
    return name, values


# ---- the tasks -----------------------------------------------------------------------------
def peak_height(t: Truth) -> float:
    """max |f| of the truth's spectrum on its energies."""
    from remc_mpi.models import get_model

    model = get_model(t.model, **t.options)
    theta = np.array([[t.params[n] for n in model.param_names]], dtype=np.float64)
    return float(np.max(np.abs(model.spectrum(theta, t.energy)[0])))


def counts_at(t: Truth, level_name: str, level: float, f_max: float) -> float:
    """Counts per point at the truth's maximum at this level (module docstring)."""
    if level_name == "counts":
        return level
    if t.pilot_scale is None:  # time at a rate: pilot_seconds holds 1 / rate
        return level / t.pilot_seconds
    return f_max / (t.pilot_scale * t.pilot_seconds / level)


def plan_points(truths: list[Truth], levels: list[float], level_name: str, repeats: int, noise: str,
                seed: int) -> list[dict[str, Any]]:
    """The campaign points, repeat-major (every level's first repeats run before any level's
    later ones, so that early stops save work)."""
    heights = [peak_height(t) for t in truths]
    points = []
    for r in range(repeats):
        for ti, t in enumerate(truths):
            for li, level in enumerate(levels):
                c = counts_at(t, level_name, level, heights[ti])
                task_seed = int(np.random.SeedSequence([seed, ti, li, r]).generate_state(1)[0])
                p = {"group": t.group, "truth_label": t.label, "truth_index": ti, "level": level, "repeat": r,
                     "counts": c, "truth_model": t.model, "truth_options": t.options, "truth": t.params,
                     "energy": t.energy.tolist(), "seed": task_seed}
                if noise == "gaussian":
                    p["noise"] = heights[ti] / math.sqrt(c)
                else:
                    p["count_scale"] = heights[ti] / c
                points.append(p)
    return points


# ---- outcomes, early stops -----------------------------------------------------------------
def task_outcome(task: Task, decisive: float) -> dict[str, Any] | None:
    """What a finished task's selection said, or None while it is not finished."""
    from remc_mpi.config import load_config
    from remc_mpi.io.output import complete_summary
    from remc_mpi.io.paths import output_paths
    from remc_mpi.evidence.selection import select

    try:
        paths = output_paths(load_config(task.config))
    except InputError:  # not written yet
        return None
    summaries = [complete_summary(p) for p in paths]  # read once: what task_done would read, and the answer
    if None in summaries:
        return None
    sel = select(summaries)
    p_best = next(m["probability"] for m in sel["models"] if m["name"] == sel["best"])
    right = sel["best"] == task.point["truth_label"]
    status = ("untrusted" if not sel["decided"] else "not decisive" if p_best < decisive
              else "right" if right else "wrong")
    core_s = sum(s["provenance"]["wall_s"] * s["provenance"]["ranks"] for s in summaries if "provenance" in s)
    return {"status": status, "success": status == "right", "selected": sel["best"], "p_selected": p_best,
            "core_seconds": core_s}


def level_tasks(plan: Plan, group: str, level: float) -> list[Task]:
    """The repeats of one truth group at one level."""
    return [t for t in plan.campaign.tasks if t.point["group"] == group and t.point["level"] == level]


def trusted_tally(outcomes: list[dict[str, Any] | None]) -> tuple[int, int]:
    """(successes, trusted repeats) among finished outcomes: untrusted repeats are counted apart
    (module docstring), unfinished ones (None) not at all."""
    trusted = [o for o in outcomes if o is not None and o["status"] != "untrusted"]
    return sum(o["success"] for o in trusted), len(trusted)


def wilson(k: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """The Wilson score interval of a share k / n (module docstring); (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    return max(0.0, centre - half), min(1.0, centre + half)


def level_decided(k: int, n: int, target: float, min_repeats: int) -> bool:
    """Whether k successes in n repeats already say on which side of ``target`` the level lies."""
    lo, hi = wilson(k, n)
    return n >= min_repeats and (lo >= target or hi < target)


def skip_reason(plan: Plan, task: Task) -> str | None:
    """Why ``task`` need not run (its level is decided by the finished repeats), else None."""
    p = task.point
    if (task.folder / SKIPPED).exists():
        return "skipped: its level was decided early"
    if task_done(task):
        return None
    others = [t for t in level_tasks(plan, p["group"], p["level"]) if t is not task]
    k, n = trusted_tally([task_outcome(t, plan.decisive) for t in others])
    if not level_decided(k, n, plan.target, plan.min_repeats):
        return None
    write_text_atomic(task.folder / SKIPPED, json.dumps({"successes": k, "repeats": n}))
    return f"skipped: {p['group']} at {plan.level_name} {p['level']:g} is decided ({k} of {n} decisive)"


def run_task(plan: Plan, index: int, comm=None) -> str:
    """Run one task (a SLURM array task), unless its level is decided: what was done."""
    from remc_mpi.config import load_config
    from remc_mpi.driver.engine import run

    if comm is None:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    if not 0 <= index < len(plan.campaign.tasks):
        raise InputError(f"no task {index} (the plan has {len(plan.campaign.tasks)})", "command line", "--task")
    task = plan.campaign.tasks[index]
    reason = comm.bcast(skip_reason(plan, task) if comm.Get_rank() == 0 else None)
    if reason:
        return reason
    run(load_config(task.config), comm, resume=True, progress=False)
    return "finished"


def write_plan_slurm(plan: Plan) -> dict[str, Any]:
    """The campaign's job scripts with each array task run through ``plan --task`` (which skips
    a decided level) and the collection through ``plan --collect``."""
    from remc_mpi.ui.campaign import write_slurm

    quoted = shlex.quote(str(plan.source))
    return write_slurm(plan.campaign, task_command=f'plan {quoted} --task "${{SLURM_ARRAY_TASK_ID}}"',
                       collect_command=f"{shlex.quote(sys.executable)} -m remc_mpi plan {quoted} --collect")


__all__ = ["Plan", "Truth", "load_plan", "plan_points", "task_outcome", "level_tasks", "trusted_tally", "wilson", "level_decided", "skip_reason",
           "run_task", "write_plan_slurm", "counts_at", "peak_height"]
