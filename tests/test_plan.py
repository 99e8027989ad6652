"""Measurement planning (remc_mpi.ui.plan, remc_mpi.ui.decisiveness): the interval and threshold
arithmetic, counting-noise tasks, a small plan end to end, a threshold known in closed form,
truths drawn from a pilot, early stops and the SLURM path's scripts."""

import csv
import json
import math
import re

import h5py
import numpy as np
import pytest
import yaml
from analytic import slope_decisive_probability

from remc_mpi.ui.campaign import SKIPPED, write_tasks
from remc_mpi.ui.cli import main
from remc_mpi.ui.decisiveness import crossing, threshold
from remc_mpi.ui.plan import WILSON_Z, level_decided, load_plan, skip_reason, wilson, write_plan_slurm

BASE = {
    "data": {"file": "data.csv"},
    "models": [{"name": "polynomial", "options": {"degree": 0}}, {"name": "polynomial", "options": {"degree": 1}}],
    "noise": {"sigma": 0.1},
    "priors": {"c0": {"normal": [0.0, 1.0]}, "c1": {"normal": [0.0, 1.0]}},
    "ladder": {"n_temps": 6},
    "sampler": {"sweeps": 1500, "burn_in": 300, "thin": 1},
    "seed": 1,
}
GRID = [-1.0, 1.0, 41]
TRUTH = {"c0": 1.0, "c1": 0.05}
PLAN = {"folder": "out", "base": "base.yaml", "truths": [{"candidate": "polynomial1", "params": TRUTH}],
        "grid": GRID, "levels": {"counts": [300, 3000]}, "repeats": 2, "min_repeats": 2,
        "slurm": {"ntasks": 2, "time": "00:05:00", "launcher": "mpiexec"}}


def write_plan(tmp_path, **changes):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump({**PLAN, **changes}))
    return tmp_path / "plan.yaml"


# ---- arithmetic ------------------------------------------------------------------------------
def test_wilson_interval_closed_forms():
    z2 = WILSON_Z**2
    for n in (1, 5, 40):
        assert wilson(0, n) == (0.0, pytest.approx(z2 / (n + z2), rel=1e-12))
        assert wilson(n, n) == (pytest.approx(n / (n + z2), rel=1e-12), 1.0)
        for k in range(n + 1):  # symmetric under success <-> failure
            lo, hi = wilson(k, n)
            lo2, hi2 = wilson(n - k, n)
            assert lo == pytest.approx(1 - hi2, abs=1e-12) and lo <= k / n <= hi
    assert wilson(0, 0) == (0.0, 1.0)


def test_early_stop_needs_min_repeats_and_a_clear_side():
    assert not level_decided(0, 2, 0.9, 3)  # too few repeats
    assert level_decided(0, 3, 0.9, 3)  # upper end 0.56 < 0.9
    assert not level_decided(3, 3, 0.9, 3)  # lower end 0.44: not yet above 0.9
    n = math.ceil(0.9 * WILSON_Z**2 / 0.1)  # k = n: lower end n / (n + z^2) >= 0.9 from here
    assert level_decided(n, n, 0.9, 3) and not level_decided(n - 1, n - 1, 0.9, 3)


def test_threshold_interpolates_in_log_level():
    levels = np.array([100.0, 1000.0, 10000.0])
    share, lo, hi = np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.2, 0.7]), np.array([0.3, 0.8, 1.0])
    # share 0.5 -> 1.0 between 1000 and 10000: 0.9 at 10^(3 + 0.8)
    assert crossing(levels, share, 0.9) == pytest.approx(10**3.8, rel=1e-12)
    t = threshold(levels, share, lo, hi, 0.9)
    assert t["lo"] == pytest.approx(10 ** (3 + 0.1 / 0.2), rel=1e-12)  # hi reaches 0.9 first
    assert t["hi"] is None and t["reached"]  # lo never reaches 0.9: open above the largest level
    assert crossing(levels, np.array([0.95, 1.0, 1.0]), 0.9) == 100.0  # already there at the first
    assert crossing(levels, np.array([0.1, 0.2, 0.3]), 0.9) is None


# ---- tasks -----------------------------------------------------------------------------------
def test_counting_noise_tasks_hold_scaled_counts(tmp_path):
    plan = load_plan(write_plan(tmp_path, levels={"counts": [50, 500]}, repeats=3, sampler={"sweeps": 900}))
    tasks = write_tasks(plan.campaign)
    assert len(tasks) == 2 * 3
    # repeat-major: every level's first repeat comes before any level's second
    assert [(t.point["repeat"], t.point["level"]) for t in tasks] == [(r, c) for r in range(3) for c in (50, 500)]
    f_max = TRUTH["c0"] + TRUTH["c1"]
    for t in tasks:
        cfg = yaml.safe_load(t.config.read_text())
        s = f_max / t.point["level"]
        assert cfg["noise"] == {"model": "scaled_counts", "scale": pytest.approx(s, rel=1e-12)}
        assert cfg["sampler"]["target_error"] == 0.3  # the plan's default error: the base sets none
        assert cfg["sampler"]["sweeps"] == 900 and cfg["sampler"]["burn_in"] == BASE["sampler"]["burn_in"]
        y = np.loadtxt(t.folder / "data.csv", delimiter=",", skiprows=1)[:, 1]
        counts = y / s
        assert np.allclose(counts, np.round(counts), atol=1e-9)  # whole counts of size s
        assert abs(np.mean(counts) / (TRUTH["c0"] / s) - 1) < 5 / math.sqrt(np.sum(counts))
    assert len({t.point["seed"] for t in tasks}) == len(tasks)


def test_small_plan_end_to_end_table_figure_and_rerun(tmp_path, capsys):
    path = write_plan(tmp_path)
    assert main(["plan", str(path)]) == 0
    out = capsys.readouterr().out
    assert "truth polynomial1 (candidate polynomial1):" in out and "core-hours in 4 runs" in out
    folder = tmp_path / "out"
    answer = json.loads((folder / "plan.json").read_text())
    rows = list(csv.DictReader(open(folder / "plan.csv")))
    assert [float(r["counts"]) for r in rows] == [300.0, 3000.0] and all(r["repeats"] == "2" for r in rows)
    # every row is consistent with the runs' own selections (collect's table of every run)
    runs = list(csv.DictReader(open(folder / "collected.csv")))
    assert len(runs) == 4 and {r["status"] for r in runs} == {"complete"}
    for r in rows:
        mine = [x for x in runs if float(x["level"]) == float(r["counts"])]
        trusted = [x for x in mine if x["decided"] == "True"]  # untrusted repeats are counted apart
        right = [x["selected"] == "polynomial1" and float(x["P_polynomial1"]) >= 0.95 for x in trusted]
        assert int(r["decisive_right"]) == sum(right) and int(r["untrusted"]) == len(mine) - len(trusted)
        lo, hi = wilson(sum(right), len(right))
        assert (float(r["share_lo"]), float(r["share_hi"])) == pytest.approx((lo, hi), rel=1e-12)
    assert answer["cost"]["core_hours"] > 0 and answer["cost"]["runs"] == 4
    with h5py.File(folder / "plan.h5") as h5:
        assert h5["share"].shape == (2,) and json.loads(h5.attrs["answer_json"])["truths"][0]["truth"] == "polynomial1"
    assert (folder / "decisiveness.png").read_bytes()[:4] == b"\x89PNG"
    stamps = {p: p.stat().st_mtime_ns for p in folder.glob("tasks/*/result-*.h5")}
    assert main(["plan", str(path)]) == 0  # a re-run redoes nothing
    assert {p: p.stat().st_mtime_ns for p in folder.glob("tasks/*/result-*.h5")} == stamps


def test_threshold_of_nested_linear_models_lies_in_its_band(tmp_path, capsys):
    """Gaussian noise of c counts at the maximum: sigma = f_max / sqrt(c). The line against the
    constant has P(decisive) in closed form (tests/analytic.py); the plan's threshold band
    (from the repeats' Wilson intervals) must hold the closed-form threshold."""
    from scipy.optimize import brentq

    levels, target, repeats = [150.0, 300.0, 550.0, 1000.0, 1800.0], 0.5, 12
    path = write_plan(tmp_path, levels={"counts": levels}, repeats=repeats, target=target, noise="gaussian",
                      min_repeats=6)
    assert main(["plan", str(path)]) == 0
    capsys.readouterr()
    x, f_max = np.linspace(*GRID[:2], GRID[2]), TRUTH["c0"] + TRUTH["c1"]

    def p_decisive(c):
        return slope_decisive_probability(x, TRUTH["c1"], f_max / math.sqrt(c))

    exact = math.exp(brentq(lambda lc: p_decisive(math.exp(lc)) - target, math.log(10), math.log(1e5)))
    answer = json.loads((tmp_path / "out" / "plan.json").read_text())
    thr = answer["truths"][0]["threshold"]
    assert thr["lo"] is not None and thr["hi"] is not None, thr
    assert thr["lo"] <= exact <= thr["hi"], (thr, exact)
    for row in answer["table"]:  # every level's share agrees with the closed form (99.9 % band)
        lo, hi = wilson(row["decisive_right"], row["repeats"] - row["untrusted"], z=3.29)
        assert lo <= p_decisive(row["counts"]) <= hi, row


def test_closed_form_decisive_probability_against_simulation():
    """tests/analytic.slope_decisive_probability against Bayes factors of simulated data from
    the brute-force linear-Gaussian evidence."""
    from analytic import linear_gaussian_evidence

    x = np.linspace(-1, 1, 21)
    sigma, rng = 0.035, np.random.default_rng(5)
    X1, X0 = np.stack([np.ones_like(x), x], axis=1), np.ones((x.size, 1))
    n, wins = 3000, 0
    for _ in range(n):
        y = 1.0 + 0.05 * x + rng.normal(0, sigma, x.size)
        lb = (linear_gaussian_evidence(X1, y, sigma, np.zeros(2), np.ones(2))
              - linear_gaussian_evidence(X0, y, sigma, np.zeros(1), np.ones(1)))
        wins += lb >= math.log(19)
    p = slope_decisive_probability(x, 0.05, sigma)
    assert 0.2 < p < 0.8  # a case where the test has power
    assert abs(wins / n - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_truths_from_a_pilot_posterior(tmp_path):
    from remc_mpi.config import load_config, synthesize
    from remc_mpi.io.data import write_spectrum
    from remc_mpi.driver.engine import run
    from remc_mpi.models import get_model
    from remc_mpi.io.output import ResultsFile

    e, y = synthesize(get_model("polynomial", degree=1), {"c0": 40.0, "c1": 5.0}, np.linspace(-1, 1, 30), counts=45.0)
    write_spectrum(tmp_path / "pilot.csv", e, y)
    pilot = {**BASE, "data": {"file": "pilot.csv"}, "noise": {"model": "poisson"}, "output": "pilot.h5",
             "priors": {"c0": {"uniform": [10.0, 80.0]}, "c1": {"uniform": [-20.0, 20.0]}}}
    (tmp_path / "pilot.yaml").write_text(yaml.safe_dump(pilot))
    run(load_config(tmp_path / "pilot.yaml"), progress=False)
    plan = {"folder": "out", "base": "pilot.yaml", "pilot": {"results": ["pilot-polynomial1.h5"], "draws": 3},
            "levels": {"time": [0.5, 4.0]}, "repeats": 1}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    p = load_plan(tmp_path / "plan.yaml")
    with ResultsFile(tmp_path / "pilot-polynomial1.h5") as rf:
        theta = rf.posterior_theta()
    assert len(p.truths) == 3 and {t.group for t in p.truths} == {"polynomial1"}
    for t in p.truths:  # each truth is a posterior sample, on the pilot's energies
        assert np.any(np.all(theta == [t.params["c0"], t.params["c1"]], axis=1))
        assert np.array_equal(t.energy, e)
    for task in write_tasks(p.campaign):  # a time t (multiples of the pilot's) scales the counts by t
        cfg = yaml.safe_load(task.config.read_text())
        assert cfg["noise"]["scale"] == pytest.approx(1.0 / task.point["level"], rel=1e-12)
        assert "file" not in pilot["data"] or cfg["data"]["file"] == "data.csv"


# ---- early stops and SLURM -------------------------------------------------------------------
def test_decided_level_skips_its_remaining_repeats(tmp_path, capsys):
    path = write_plan(tmp_path, levels={"counts": [30]}, repeats=4, min_repeats=2, noise="gaussian")
    assert main(["plan", str(path)]) == 0
    out = capsys.readouterr().out
    # at 30 counts the slope is invisible: two not-decisive repeats decide the level (upper end 0.66 < 0.9)
    assert out.count("skipped: polynomial1 at counts 30 is decided (0 of 2 decisive)") == 2
    plan = load_plan(path)
    assert [(t.folder / SKIPPED).exists() for t in plan.campaign.tasks] == [False, False, True, True]
    assert "counts 30         0/2 decisive and right" in out and "2 skipped" in out
    assert skip_reason(plan, plan.campaign.tasks[3]).startswith("skipped")
    assert main(["plan", str(path), "--task", "3"]) == 0  # an array task of a decided level does nothing
    assert "task 3: skipped" in capsys.readouterr().out
    assert not list(plan.campaign.tasks[3].folder.glob("*.h5"))


def test_slurm_scripts_run_plan_tasks_and_collect(tmp_path, capsys):
    path = write_plan(tmp_path)
    assert main(["plan", str(path), "--slurm"]) == 0
    assert "4 array tasks" in capsys.readouterr().out
    jobs = tmp_path / "out" / "jobs"
    array, collect = (jobs / "array.sbatch").read_text(), (jobs / "collect.sbatch").read_text()
    assert f'plan {path.resolve()} --task "${{SLURM_ARRAY_TASK_ID}}"' in array
    assert "#SBATCH --array=0,1,2,3" in array and "mpiexec -n 2" in array
    assert f"remc_mpi plan {path.resolve()} --collect" in collect
    leftover = re.findall(r"\$\{?[A-Z]+\}?", array.replace("${SLURM_ARRAY_TASK_ID}", "").replace("${SLURM_JOB_ID}", ""))
    assert leftover == []
    assert write_plan_slurm(load_plan(path))["todo"] == [0, 1, 2, 3]


def test_collecting_a_plan_that_never_ran_is_one_line(tmp_path, capsys):
    assert main(["plan", str(write_plan(tmp_path)), "--collect"]) == 2
    err = capsys.readouterr().err
    assert "no repeats of this plan have been written" in err and err.count("\n") == 1


def test_a_truth_whose_lines_leave_the_grid_is_warned(tmp_path, capsys):
    base = dict(BASE, models=[{"name": "lorentz_peaks", "options": {"n_peaks": 1}}],
                priors={"a1": {"fixed": 1.0}, "mu1": {"uniform": [-1.0, 1.0]}, "w1": {"uniform": [0.01, 1.0]}})
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    truths = [{"candidate": "lorentz_peaks1", "params": {"mu1": 0.95, "w1": 0.1}}]
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(dict(PLAN, truths=truths, levels={"counts": [10]})))
    assert "lie outside the grid" in load_plan(tmp_path / "plan.yaml").campaign.warnings[0]


@pytest.mark.parametrize("change,match", [
    ({"levels": {"counts": [0]}}, "levels.counts: 0 is not a positive number"),
    ({"truths": [{"candidate": "cubic", "params": TRUTH}]}, "truths[0].candidate: no candidate 'cubic'"),
    ({"truths": [{"candidate": "polynomial1", "params": {"c0": 1.0}}]}, "truths[0].params: no value for c1"),
    ({"levels": {"time": [1.0]}}, "levels.rate: time levels of given truths need a rate"),
    ({"target": 1.5}, "target: must lie between 0 and 1"),
    ({"noise": "white"}, "noise: must be one of counts, gaussian"),
    ({"pilot": {"results": ["x.h5"]}}, "truths: give exactly one of"),
    ({"grid": [1.0, 0.0, 10]}, "grid: must be [low, high, points]"),
    ({"sampler": {"swepes": 10}}, "sampler.swepes: unknown key"),
])
def test_bad_plan_files_get_one_line(tmp_path, capsys, change, match):
    assert main(["plan", str(write_plan(tmp_path, **change))]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1, err


def test_paper_example_plan_expands_and_holds_every_line():
    from pathlib import Path

    from remc_mpi.models import get_model

    plan = load_plan(Path(__file__).resolve().parents[1] / "examples" / "planning" / "paper.yaml")
    assert [t.group for t in plan.truths] == ["CeO2", "CeO2, delta 5", "La2O3"]
    assert len(plan.campaign.tasks) == 3 * len(plan.levels) * plan.repeats
    for t in plan.truths:  # every final-state line of weight >= 1 % three widths inside the grid
        model = get_model(t.model, **t.options)
        pk = model.peaks(np.array([[t.params[n] for n in model.param_names]]))
        strong = pk["height"][0] >= 0.01 * pk["height"][0].max()
        centre, width = pk["center"][0][strong], pk["width"][0][strong]
        assert np.all(centre - 3 * width > t.energy[0]) and np.all(centre + 3 * width < t.energy[-1]), t.group
