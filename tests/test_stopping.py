"""Runs that size themselves: stopping at a target error (checked against the closed-form
evidence of the linear-Gaussian model; the headline there is the bridge estimate, so the target
is checked on its error), at the sweep cap, and at a wall-clock cap."""

import time

import numpy as np
import pytest
from mpi4py import MPI
from scipy import stats

from analytic import linear_gaussian_evidence
from remc_mpi.config import parse_config
from remc_mpi.driver.engine import run
from remc_mpi.errors import InputError
from remc_mpi.ui.report import format_summary
from test_engine import LINEAR

SEEDS = 20
TARGET = 0.05


def target_config(tmp_path, name, **sampler):
    return parse_config(dict(LINEAR, output=str(tmp_path / name), sampler={
        "sweeps": 2000, "burn_in": 1000, "thin": 2, "check_every": 500, "target_error": TARGET,
        "max_sweeps": 60000, **sampler}), "t.yaml")


def test_target_error_runs_stop_at_the_target_and_cover_the_exact_evidence(tmp_path):
    """20 seeds stop by themselves with a reported error at or below the target, and their
    values scatter about the exact evidence as those errors say (sum z^2 in the central 99 %
    of chi^2(20))."""
    z = []
    for s in range(SEEDS):
        cfg = target_config(tmp_path, f"t{s}.h5")
        cfg.seed = 200 + s
        summary = run(cfg, MPI.COMM_SELF)[0]
        stop, le = summary["stop"], summary["log_evidence"]
        assert stop["reason"] == "target_error" and le["stderr"] <= TARGET, (stop, le)
        assert le["method"] == "bridge"  # the headline, and what the target was checked on
        assert (stop["sweep"] - 1000) % 500 == 0 and summary["n_saved"] == stop["sweep"] - 1000
        x = np.vander(cfg.data.energy, 3, increasing=True)
        exact = linear_gaussian_evidence(x, cfg.data.intensity, 0.1, np.array([0.0, 0.5, 0.0]),
                                         np.array([1.0, 2.0, 1.0]))
        z.append((le["value"] - exact) / le["stderr"])
    lo, hi = stats.chi2.ppf([0.005, 0.995], SEEDS)
    assert lo < np.sum(np.square(z)) < hi, z
    assert f"target error {TARGET:g} reached: ended at sweep" in format_summary(summary)


def test_a_target_reached_with_too_few_round_trips_does_not_stop_the_run(tmp_path):
    """An error target met at the first check with fewer round trips than the trust gate asks
    for (remc_mpi.evidence.trust.MIN_ROUND_TRIPS) is not a stop: the run goes on, check by check, until
    both hold, and is trusted on that count."""
    from remc_mpi.evidence.trust import MIN_ROUND_TRIPS

    cfg = target_config(tmp_path, "few.h5", target_error=50.0, check_every=20, burn_in=200)
    cfg.ladder.n_temps = 12
    s = run(cfg, MPI.COMM_SELF)[0]
    trips = s["diagnostics"]["round_trips"]
    assert s["stop"]["reason"] == "target_error" and trips >= MIN_ROUND_TRIPS, (s["stop"], trips)
    assert s["stop"]["sweep"] > 200 + 20  # not at the first check, where the error alone was met
    # one check earlier the trips were short: a run capped there ends at the cap instead
    from remc_mpi.driver.stopping import check_sweeps

    checks = check_sweeps(20, cfg.sampler.check_growth, s["stop"]["sweep"] - 200)
    assert checks[-1] == s["stop"]["sweep"] - 200
    early = target_config(tmp_path, "cap.h5", target_error=50.0, check_every=20, burn_in=200,
                          max_sweeps=200 + checks[-2])
    early.ladder.n_temps = 12
    e = run(early, MPI.COMM_SELF)[0]
    assert e["stop"]["reason"] == "max_sweeps" and e["diagnostics"]["round_trips"] < MIN_ROUND_TRIPS


def test_an_unreachable_target_ends_at_the_cap(tmp_path):
    s = run(target_config(tmp_path, "cap.h5", target_error=1e-6, max_sweeps=3000), MPI.COMM_SELF)[0]
    assert s["stop"] == {"reason": "max_sweeps", "sweep": 3000, "target_error": 1e-6}
    assert s["n_saved"] == 2000 and "not reached (max_sweeps)" in format_summary(s)


def test_the_wall_clock_cap_ends_the_run_with_results(tmp_path):
    cfg = parse_config(dict(LINEAR, output=str(tmp_path / "m.h5"),
                            sampler={"sweeps": 10**8, "burn_in": 100, "max_minutes": 0.02}), "m.yaml")
    t0 = time.monotonic()
    s = run(cfg, MPI.COMM_SELF)[0]
    assert time.monotonic() - t0 < 30
    assert s["stop"]["reason"] == "max_minutes" and 100 < s["stop"]["sweep"] < 10**8
    assert s["n_saved"] == s["stop"]["sweep"] - 100 and np.isfinite(s["log_evidence"]["value"])


@pytest.mark.parametrize("sampler,key", [({"max_sweeps": 5000}, "sampler.max_sweeps"),
                                         ({"target_error": 0.0}, "sampler.target_error"),
                                         ({"target_error": 0.1, "max_sweeps": 500}, "sampler.burn_in")])
def test_bad_stopping_settings_are_one_line(sampler, key):
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        parse_config(dict(LINEAR, sampler={"sweeps": 2000, "burn_in": 1000, **sampler}), "bad.yaml")


# ---- continuing a finished run --------------------------------------------------------------

def _cli(tmp_path, *args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "remc_mpi", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)


def _write(tmp_path, name, output, **sampler):
    import yaml

    (tmp_path / name).write_text(yaml.safe_dump(dict(LINEAR, output=output, sampler={
        "burn_in": 1000, "thin": 2, **sampler})))


def _same_samples(a, b):
    import h5py

    with h5py.File(a) as fa, h5py.File(b) as fb:
        for k in fa["samples"]:
            np.testing.assert_array_equal(fa["samples"][k][:], fb["samples"][k][:], err_msg=k)
        for k in fa["free_energy"]:
            np.testing.assert_array_equal(fa["free_energy"][k][:], fb["free_energy"][k][:], err_msg=k)


def test_extend_and_a_raised_length_with_resume_equal_the_longer_run(tmp_path):
    _write(tmp_path, "short.yaml", "x.h5", sweeps=3000)
    _write(tmp_path, "long.yaml", "long.h5", sweeps=5000)
    assert _cli(tmp_path, "run", "short.yaml", "-q").returncode == 0
    assert _cli(tmp_path, "run", "long.yaml", "-q").returncode == 0
    r = _cli(tmp_path, "run", "short.yaml", "-q", "--extend", "2000")
    assert r.returncode == 0, r.stderr
    _same_samples(tmp_path / "x.h5", tmp_path / "long.h5")
    # the same through the config: sweeps raised, then --resume
    _write(tmp_path, "raised.yaml", "y.h5", sweeps=3000)
    assert _cli(tmp_path, "run", "raised.yaml", "-q").returncode == 0
    _write(tmp_path, "raised.yaml", "y.h5", sweeps=5000)
    assert _cli(tmp_path, "run", "raised.yaml", "-q", "--resume").returncode == 0
    _same_samples(tmp_path / "y.h5", tmp_path / "long.h5")
    # unchanged config: --resume has nothing to do and leaves the file alone
    before = (tmp_path / "y.h5").stat().st_mtime_ns
    assert _cli(tmp_path, "run", "raised.yaml", "-q", "--resume").returncode == 0
    assert (tmp_path / "y.h5").stat().st_mtime_ns == before and not list(tmp_path.glob("y.h5.*"))


def test_a_tighter_target_with_resume_continues_to_it(tmp_path):
    _write(tmp_path, "t.yaml", "t.h5", sweeps=2000, target_error=0.08, max_sweeps=60000, check_every=500)
    assert _cli(tmp_path, "run", "t.yaml", "-q").returncode == 0
    from remc_mpi.io.output import read_summary

    first = read_summary(tmp_path / "t.h5")
    tighter = first["log_evidence"]["stderr"] / 2  # below what the first run reached
    _write(tmp_path, "t.yaml", "t.h5", sweeps=2000, target_error=tighter, max_sweeps=60000, check_every=500)
    r = _cli(tmp_path, "run", "t.yaml", "-q", "--resume")
    assert r.returncode == 0, r.stderr
    second = read_summary(tmp_path / "t.h5")
    assert first["log_evidence"]["stderr"] <= 0.08 and second["log_evidence"]["stderr"] <= tighter
    assert second["stop"]["reason"] == "target_error" and second["stop"]["sweep"] > first["stop"]["sweep"]


def test_extend_refuses_what_it_cannot_continue(tmp_path):
    _write(tmp_path, "c.yaml", "c.h5", sweeps=3000)
    r = _cli(tmp_path, "run", "c.yaml", "-q", "--extend", "100")
    assert r.returncode == 2 and "not a finished run" in r.stderr and r.stderr.count("\n") == 1
    assert _cli(tmp_path, "run", "c.yaml", "-q").returncode == 0
    for args, msg in ((["--extend", "100", "--force"], "--force would discard"), (["--extend", "0"], "positive")):
        r = _cli(tmp_path, "run", "c.yaml", "-q", *args)
        assert r.returncode == 2 and msg in r.stderr, r.stderr


# ---- a ladder chosen from its barrier -------------------------------------------------------

def test_n_temps_auto_chooses_the_rungs_from_the_barrier_and_reports_it(tmp_path):
    import h5py

    from remc_mpi.sampling.ladder import auto_rungs

    cfg = parse_config(dict(LINEAR, output=str(tmp_path / "a.h5"), ladder={"n_temps": "auto", "adapt": True},
                            sampler={"sweeps": 4000, "burn_in": 1500, "thin": 2}), "a.yaml")
    s = run(cfg, MPI.COMM_SELF)[0]
    choice, d = s["ladder_choice"], s["diagnostics"]
    assert choice["n_temps"] == auto_rungs(choice["pilot_barrier"]) == len(s["lambda"])
    assert 0 < d["barrier"] == pytest.approx(sum(d["rejection"]))
    # the run's own barrier agrees with the pilot's (same problem, both at equal rejection)
    assert abs(d["barrier"] - choice["pilot_barrier"]) < 0.3 * choice["pilot_barrier"]
    # the ideal rate is an expectation, the measured one a count: within its Poisson error of it
    trips = d["round_trips"]
    assert 0 < d["round_trip_rate"] <= d["round_trip_rate_ideal"] * (1 + 3 / np.sqrt(trips))
    assert d["round_trip_rate_ideal"] <= 0.5
    with h5py.File(tmp_path / "a.h5") as h5:
        assert h5["ladder/barrier"][()] == d["barrier"] and len(h5["ladder/lambda"]) == choice["n_temps"]
    text = format_summary(s)
    assert f"n_temps: auto chose {choice['n_temps']} rungs" in text and "communication barrier" in text
    # extended, it keeps its rungs (from the saved choice, no new pilot)
    longer = run(cfg, MPI.COMM_SELF, extend=500)[0]
    assert longer["ladder_choice"] == choice and longer["lambda"] == s["lambda"]


def test_each_candidate_stops_at_its_own_target(tmp_path):
    """Two candidates side by side: each one's run ends when its own error reaches the target."""
    raw = dict(LINEAR, output=str(tmp_path / "m.h5"), sampler={"sweeps": 2000, "burn_in": 1000, "thin": 2,
                                                                "check_every": 500, "target_error": TARGET,
                                                                "max_sweeps": 60000})
    raw.pop("model")
    raw["priors"] = {k: v for k, v in LINEAR["priors"].items() if k != "c2"}  # shared: c0, c1
    raw["models"] = [{"name": "polynomial", "options": {"degree": 2}, "priors": {"c2": LINEAR["priors"]["c2"]}},
                     {"name": "polynomial", "options": {"degree": 1}}]
    summaries = run(parse_config(raw, "m.yaml"), MPI.COMM_SELF)
    for s in summaries:
        assert s["stop"]["reason"] == "target_error" and s["log_evidence"]["stderr"] <= TARGET
    assert len({s["label"] for s in summaries}) == 2


def test_a_time_cap_that_ends_in_the_burn_in_checkpoints_and_says_so(tmp_path):
    """No sample kept yet: no summary of nothing, but one line naming the cap and the sweep, a
    checkpoint, and --resume carrying on from it (each run with the cap anew)."""
    from remc_mpi.io import checkpoint
    from remc_mpi.errors import Interrupted

    cfg = parse_config(dict(LINEAR, output=str(tmp_path / "b.h5"),
                            sampler={"sweeps": 10**8 + 1, "burn_in": 10**8, "max_minutes": 0.01}), "b.yaml")
    with pytest.raises(Interrupted, match=r"sampler.max_minutes \(0.01\) ran out in the burn-in, at sweep (\d+) of "
                                          "100000000, before any sample was kept; checkpoint written") as first:
        run(cfg, MPI.COMM_SELF)
    done = int(str(first.value).split("at sweep ")[1].split()[0])
    assert checkpoint.read(tmp_path / "b.h5")[1]["sweep"] == done
    with pytest.raises(Interrupted) as second:
        run(cfg, MPI.COMM_SELF, resume=True)
    assert int(str(second.value).split("at sweep ")[1].split()[0]) > done


def test_n_temps_auto_with_the_noise_learnt_tops_the_ladder_at_a_multiple_of_the_pilots_b_hat(tmp_path):
    """No noise.b_max: the pilot's energies give b_hat (the minimum of F(b)), the ladder stops
    at AUTO_B_MAX_FACTOR b_hat instead of 25 x the first-differences guess, the rungs follow the pilot's barrier
    up to there, and the run's own b_hat lands well inside (no edge warning); a given b_max, or
    a fixed n_temps, leaves the ladder as it was."""
    from remc_mpi.driver.pilot import AUTO_B_MAX_FACTOR
    from remc_mpi.sampling.ladder import NOISE_B_MAX_FACTOR, auto_rungs, noise_scale_guess

    raw = dict(LINEAR, output=str(tmp_path / "n.h5"), noise={"estimate": True}, ladder={"n_temps": "auto"},
               sampler={"sweeps": 3000, "burn_in": 1000, "thin": 2})
    cfg = parse_config(raw, "n.yaml")
    s = run(cfg, MPI.COMM_SELF)[0]
    choice = s["ladder_choice"]
    assert choice["b_max"] == pytest.approx(AUTO_B_MAX_FACTOR * choice["pilot_b_hat"], rel=1e-12)
    assert s["lambda"][-1] == pytest.approx(choice["b_max"], rel=1e-12)
    assert choice["b_max"] < NOISE_B_MAX_FACTOR * noise_scale_guess(cfg.data.intensity)
    assert choice["n_temps"] == auto_rungs(choice["barrier_to_b_max"]) and choice["barrier_to_b_max"] < \
        choice["pilot_barrier"]
    b = s["noise"]["b_hat"]
    assert choice["b_max"] / (2 * AUTO_B_MAX_FACTOR) < b < choice["b_max"] / 2
    assert not any("b_max" in w for w in s["warnings"])
    sd_log_b = 2.0 * s["noise"]["sigma_posterior_sd"] / s["noise"]["sigma_hat"]  # sigma = b^(-1/2)
    assert abs(np.log(b / choice["pilot_b_hat"])) < 5 * sd_log_b
    given = run(parse_config(dict(raw, output=str(tmp_path / "g.h5"), noise={"estimate": True, "b_max": 2000.0}),
                             "g.yaml"), MPI.COMM_SELF)[0]
    assert given["lambda"][-1] == 2000.0 and "b_max" not in given["ladder_choice"]


def test_stop_policy_checks_the_target_at_fixed_sweeps_and_needs_the_round_trips():
    """The target is looked at at the checks only (every check_every post-burn-in sweeps, the
    gaps growing with the run: check_growth), a small error with
    fewer than MIN_ROUND_TRIPS round trips does not stop the run, and the progress note says
    which of the two is missing; no cap, no time stop; a spent cap stops at the next check."""
    import dataclasses
    import time

    from mpi4py import MPI

    from remc_mpi.driver.checkpointer import CHECK_EVERY
    from remc_mpi.config import SamplerSpec
    from remc_mpi.sampling.parallel import LadderComm
    from remc_mpi.driver.stopping import StopPolicy
    from remc_mpi.evidence.trust import MIN_ROUND_TRIPS

    lc = LadderComm(MPI.COMM_SELF, 4)
    sp = dataclasses.replace(SamplerSpec(), burn_in=100, check_every=50, max_minutes=None)
    policy = StopPolicy(sp, 0.1, lc, time.time())
    # every check_every while 0.25 of the post-burn-in sweeps is less, then by that share
    assert [s + 1 for s in range(600) if policy.target_due(s)] == [150, 200, 250, 300, 350, 450, 550]
    fixed = StopPolicy(dataclasses.replace(sp, check_growth=0.0), 0.1, lc, time.time())
    assert [s + 1 for s in range(400) if fixed.target_due(s)] == [150, 200, 250, 300, 350, 400]
    assert policy.note(150, 1.0) == ""  # nothing checked yet
    assert not policy.reached(0.05, MIN_ROUND_TRIPS - 1)
    assert f"{MIN_ROUND_TRIPS - 1} of {MIN_ROUND_TRIPS} round trips" in policy.note(150, 1.0)
    assert not policy.reached(0.2, MIN_ROUND_TRIPS) and "about 150 more sweeps" in policy.note(150, 0.0)
    assert policy.reached(0.1, MIN_ROUND_TRIPS) and policy.note(150, 1.0).endswith(", reached")
    assert not any(policy.time_up(s) for s in range(3 * CHECK_EVERY))
    assert not any(StopPolicy(sp, None, lc, 0.0).target_due(s) for s in range(400))
    spent = StopPolicy(dataclasses.replace(sp, max_minutes=1.0), None, lc, time.time() - 61.0)
    assert [s for s in range(2 * CHECK_EVERY) if spent.time_up(s)] == [CHECK_EVERY - 1, 2 * CHECK_EVERY - 1]
