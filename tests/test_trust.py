"""Fit quality, parameter flags and the convergence gates (remc_mpi.evidence.fitquality, remc_mpi.evidence.trust),
and how select and collect show them: analytic fit statistics, constructed flag cases, and
deliberately unconverged, nan and misfit summaries through `select` (text, JSON, --strict)."""

import json

import h5py
import numpy as np
import pytest

from remc_mpi.evidence.fitquality import (MISFIT_P, discrepancy, fit_quality, fit_warning, flag_warnings, misfit,
                                  parameter_flags)
from remc_mpi.priors import Prior, PriorSet
from remc_mpi.evidence.selection import format_table, select
from remc_mpi.evidence.trust import MIN_ROUND_TRIPS, trust_status


# ---- fit statistics ----------------------------------------------------------------------------

def test_chi2_of_a_known_curve_and_residuals_is_exact():
    mu = np.linspace(0, 1, 50)
    r = np.where(np.arange(50) % 2 == 0, 0.3, -0.3)  # sum r^2 = 50 * 0.09
    assert discrepancy(mu + r, mu, "gaussian", 0.3) == pytest.approx(50.0, rel=1e-14)
    assert discrepancy(mu + r, mu, "gaussian", 0.15) == pytest.approx(200.0, rel=1e-14)


def test_deviance_is_zero_at_the_data_and_matches_its_closed_form():
    d = np.array([0.0, 1.0, 4.0, 10.0])
    assert discrepancy(d, np.where(d > 0, d, 1e-300), "poisson", None) == pytest.approx(0.0, abs=1e-12)
    mu = np.array([0.5, 2.0, 4.0, 5.0])
    expect = 2 * (0.5 + (np.log(0.5) + 1.0) + 0.0 + (10 * np.log(2.0) - 5.0))
    assert discrepancy(d, mu, "poisson", None) == pytest.approx(expect, rel=1e-13)


@pytest.mark.parametrize("likelihood", ["gaussian", "poisson"])
def test_an_adequate_model_is_not_a_misfit_and_a_wrong_one_is(likelihood):
    """Data drawn from the model: T/N near 1 (within 4 sd of its sampling spread sqrt(2/N)) and
    p above MISFIT_P; a model missing a peak: p = 0."""
    x = np.linspace(-5, 5, 400)
    truth = 2000 * np.exp(-x**2 / 2) + 300 if likelihood == "poisson" else np.exp(-x**2 / 2)
    rng = np.random.default_rng(3)
    data = rng.poisson(truth).astype(float) if likelihood == "poisson" else truth + 0.05 * rng.standard_normal(x.size)
    sigma = None if likelihood == "poisson" else 0.05
    theta = np.ones((40, 1))
    good = fit_quality(lambda th: np.repeat(truth[None], th.shape[0], 0), theta, theta[0], data, likelihood, sigma)
    assert abs(good["map"] - 1) < 4 * np.sqrt(2 / x.size) and good["p_value"] > MISFIT_P and not misfit(good)
    wrong = truth * (1 + 0.2 * np.sign(x))
    bad = fit_quality(lambda th: np.repeat(wrong[None], th.shape[0], 0), theta, theta[0], data, likelihood, sigma)
    assert bad["p_value"] == 0.0 and misfit(bad) and bad["map"] > 1 + 10 * np.sqrt(2 / x.size)


# ---- parameter flags ---------------------------------------------------------------------------

def _priors():
    return PriorSet(("a", "b", "c"), {"a": Prior("uniform", (0.0, 1.0)), "b": Prior("uniform", (-1.0, 1.0)),
                                      "c": Prior("normal", (0.0, 1.0))})


def test_flags_fire_on_a_bound_a_flat_marginal_and_an_inseparable_pair():
    rng = np.random.default_rng(0)
    n = 4000
    a = 1.0 - 0.01 * rng.random(n)  # piled at the upper bound
    b = rng.uniform(-1, 1, n)  # the prior itself
    c = 3 * b + 1e-3 * rng.standard_normal(n)  # tied to b
    flags = parameter_flags(np.stack([a, b, c], 1), ("a", "b", "c"), np.array([True, True, True]), _priors())
    assert [(f["parameter"], f["bound"]) for f in flags["at_bound"]] == [("a", "upper")]
    assert [f["parameter"] for f in flags["unconstrained"]] == ["b", "c"]
    assert flags["inseparable"][0]["parameters"] == ["b", "c"] and flags["inseparable"][0]["correlation"] > 0.99
    text = flag_warnings(flags)
    assert "a: 100 % of the posterior lies within 2 % of its prior's upper bound 1" in text[0]
    assert any("b and c are not separated by the data" in w for w in text)


def test_no_flags_on_a_well_determined_posterior():
    rng = np.random.default_rng(1)
    theta = np.stack([0.5 + 0.01 * rng.standard_normal(3000), 0.1 * rng.standard_normal(3000),
                      0.2 * rng.standard_normal(3000)], 1)
    flags = parameter_flags(theta, ("a", "b", "c"), np.array([True, True, True]), _priors())
    assert flags == {"at_bound": [], "unconstrained": [], "inseparable": []}


# ---- the gates ---------------------------------------------------------------------------------

def summary(label, value, stderr=0.05, trips=50, est=None, fit_map=1.0, fit_p=0.5):
    est = est or {"mbar": (value, stderr), "bar": (value + 0.01, stderr), "stepping_stone": (value - 0.02, stderr)}
    return {"model": label, "label": label, "file": f"{label}.h5",
            "log_evidence": {"value": est["mbar"][0], "stderr": est["mbar"][1], "method": "mbar"},
            "estimators": {k: {"value": v, "stderr": e} for k, (v, e) in est.items()},
            "diagnostics": {"round_trips": trips}, "warnings": [f"{label} says hello"],
            "fit": {"statistic": "chi2/N", "map": fit_map, "mean": fit_map, "p_value": fit_p}}


def test_a_converged_summary_is_trusted_and_each_gate_can_fail():
    assert trust_status(summary("m", -10.0))["trusted"]
    apart = summary("m", -10.0, est={"mbar": (-10.0, 0.5), "bar": (-1010.0, 0.5)}, trips=1)
    st = trust_status(apart)
    assert not st["trusted"] and st["reasons"] == ["estimators 1e+03 nats apart", f"1 round trip (< {MIN_ROUND_TRIPS})"]
    assert st["remedy"] == "run longer, or with more temperatures"
    nan = trust_status(summary("m", -10.0, est={"mbar": (-10.0, 0.1), "bar": (-10.05, 0.1),
                                                "stepping_stone": (float("nan"), float("nan"))}))
    assert nan["trusted"] and nan["not_computed"] == ["stepping_stone"]
    inf = trust_status(summary("m", -10.0, est={"mbar": (-10.0, float("inf")), "bar": (-10.0, 0.1)}))
    assert not inf["trusted"] and "no finite error for mbar" in inf["reasons"]


def test_select_prints_no_selected_line_for_an_untrusted_candidate_and_every_warning():
    good = summary("cluster2", -100.0)
    bad = summary("cluster3", -50.0, est={"mbar": (-50.0, 0.4), "bar": (-1050.0, 0.4)}, trips=1)
    sel = select([good, bad])
    assert sel["best"] == "cluster3" and not sel["decided"]
    text = format_table(sel)
    assert "selected:" not in text
    assert "cluster3: estimators 1e+03 nats apart, 1 round trip (< 10) — run longer, or with more temperatures" in text
    assert "warning: cluster2: cluster2 says hello" in text and "warning: cluster3: cluster3 says hello" in text
    assert "UNTRUSTED" in text.splitlines()[1] and "trusted" in text.splitlines()[2]
    assert "selected: cluster2" in format_table(select([good, summary("x", -200.0)]))


def test_select_says_when_every_candidate_misfits():
    sel = select([summary("cluster2", -100.0, fit_map=246.0, fit_p=0.0),
                  summary("cluster3", -50.0, fit_map=45.7, fit_p=0.0)])
    assert sel["all_misfit"] and sel["decided"]
    assert ("warning: no candidate describes the data (chi2/N 246, 45.7): the ranking compares inadequate models"
            in format_table(sel))
    assert not select([summary("a", -1.0, fit_p=0.0), summary("b", -2.0)])["all_misfit"]


def _results_with(path, src, edit):
    """A copy of results file src whose summary is edited by ``edit`` (a deliberately broken run)."""
    import shutil

    from remc_mpi.io.output import SUMMARY_JSON

    shutil.copy(src, path)
    with h5py.File(path, "r+") as h5:
        s = json.loads(h5[SUMMARY_JSON][()])
        edit(s)
        del h5[SUMMARY_JSON]
        h5.create_dataset(SUMMARY_JSON, data=json.dumps(s), dtype=h5py.string_dtype())
    return path


def test_select_cli_shows_status_in_json_and_strict_exits_1(cli, linear_case):
    assert cli("run", "config.yaml", "-q", cwd=linear_case).returncode == 0
    src = linear_case / "out.h5"

    def unconverged(s):
        s["label"] = "broken"
        s["diagnostics"]["round_trips"] = 1
        s["estimators"]["stepping_stone"]["value"] = float("nan")

    _results_with(linear_case / "broken.h5", src, unconverged)
    r = cli("select", "out.h5", "broken.h5", cwd=linear_case)
    assert r.returncode == 0 and "no model selected" in r.stdout and "broken: 1 round trip (< 10)" in r.stdout
    j = json.loads(cli("select", "out.h5", "broken.h5", "--json", cwd=linear_case).stdout)
    status = {m["name"]: m["status"] for m in j["models"]}
    assert j["decided"] is False and status["broken"]["not_computed"] == ["stepping_stone"]
    strict = cli("select", "out.h5", "broken.h5", "--strict", cwd=linear_case)
    assert strict.returncode == 1 and strict.stderr.count("\n") == 1

    def converged(s):
        s["label"] = "converged"
        s["diagnostics"]["round_trips"] = 50

    _results_with(linear_case / "converged.h5", src, converged)
    _results_with(linear_case / "converged2.h5", src, converged)
    r = cli("select", "converged.h5", "converged2.h5", "--strict", cwd=linear_case)
    assert r.returncode == 0 and "selected: converged" in r.stdout


def summary_of(path):
    from remc_mpi.io.output import read_summary

    return read_summary(path)


def test_a_run_summary_carries_fit_flags_and_trust(cli, linear_case):
    assert cli("run", "config.yaml", "-q", cwd=linear_case).returncode == 0
    s = summary_of(linear_case / "out.h5")
    assert s["fit"]["statistic"] == "chi2/N" and s["fit"]["draws"] > 0
    # the data are the model's truth plus N(0, 0.1) noise with sigma = 0.1 given: an adequate fit
    assert abs(s["fit"]["map"] - 1) < 4 * np.sqrt(2 / 25) + 3 / 25 and not misfit(s["fit"])
    assert set(s["parameter_flags"]) == {"at_bound", "unconstrained", "inseparable"}
    assert set(s["trust"]) == {"trusted", "reasons", "remedy", "not_computed"}
    r = cli("analyze", "out.h5", cwd=linear_case)
    assert "fit: chi2/N" in r.stdout and "evidence: " in r.stdout


def test_noise_mode_estimators_are_not_compared():
    """In noise mode the estimators sit at different precisions (the rung nearest b_hat, the
    headline at b_hat): the gate does not compare them, as the run's warnings do not."""
    s = summary("m", -10.0, est={"mbar": (-10.0, 0.1), "bar": (-15.0, 0.1)})
    assert not trust_status(s)["trusted"]
    s["noise"] = {"b_hat": 1e4}
    assert trust_status(s)["trusted"]


def test_with_sigma_estimated_structured_residuals_still_make_a_misfit():
    """With sigma fitted to the residuals chi^2/N is ~1 and p ~ 1/2 whatever the model: the lag-1
    autocorrelation of the residuals still finds a missing line; white residuals pass."""
    x = np.linspace(-5, 5, 400)
    rng = np.random.default_rng(5)
    truth = np.exp(-x**2 / 2) + 0.5 * np.exp(-(x - 2)**2 / 0.5)
    data = truth + 0.01 * rng.standard_normal(x.size)
    theta = np.ones((40, 1))
    missing = np.exp(-x**2 / 2)  # the second line left out
    sigma_hat = float(np.sqrt(np.mean((data - missing) ** 2)))  # what the noise mode would find
    bad = fit_quality(lambda th: np.repeat(missing[None], th.shape[0], 0), theta, theta[0], data, "gaussian",
                      sigma_hat, sigma_estimated=True)
    assert abs(bad["map"] - 1) < 1e-12 and bad["p_value"] > MISFIT_P  # chi2 says nothing here
    assert bad["residual_lag1"] > bad["lag1_limit"] and misfit(bad)
    assert "residuals structured (lag-1 autocorrelation" in fit_warning(bad)
    good = fit_quality(lambda th: np.repeat(truth[None], th.shape[0], 0), theta, theta[0], data, "gaussian", 0.01,
                       sigma_estimated=True)
    assert abs(good["residual_lag1"]) < good["lag1_limit"] and not misfit(good)


def test_probabilities_with_an_infinite_error_are_the_whole_interval_and_silent():
    import warnings

    from remc_mpi.evidence.selection import model_probabilities

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = model_probabilities(np.array([-10.0, -12.0]), np.array([0.1, np.inf]))
    assert list(res["q025"]) == [0.0, 0.0] and list(res["q975"]) == [1.0, 1.0]
    assert res["probability"][0] == pytest.approx(1 / (1 + np.exp(-2.0)))


def test_a_loguniform_parameter_is_judged_on_its_log_scale():
    """amp ~ loguniform [1e4, 1e7] with its posterior at 1.2e5 (a decade above the lower bound) is not
    at a bound, though it lies in the lowest 2 % of the linear range; at 1.01e4 it is."""
    rng = np.random.default_rng(2)
    ps = PriorSet(("amp",), {"amp": Prior("loguniform", (1e4, 1e7))})
    away = 1.2e5 * (1 + 0.02 * rng.standard_normal(3000))
    assert parameter_flags(away[:, None], ("amp",), np.array([True]), ps)["at_bound"] == []
    near = 1.0e4 * (1 + 0.01 * rng.random(3000))
    assert parameter_flags(near[:, None], ("amp",), np.array([True]), ps)["at_bound"][0]["bound"] == "lower"


def test_select_decides_nothing_for_candidates_fitted_to_different_data():
    a, b = summary("cluster2", -100.0), summary("cluster3", -90.0)
    a["data_digest"], b["data_digest"] = "0" * 64, "1" * 64
    sel = select([a, b])
    assert not sel["decided"] and "data digests differ" in sel["different_data"]
    text = format_table(sel)
    assert "no model selected: the candidates were fitted to different data" in text and "\nselected: " not in text
    b["data_digest"] = a["data_digest"]
    assert select([a, b])["decided"]
    del a["data_digest"], b["data_digest"]  # files written before the digest: their point counts
    a["n_data"], b["n_data"] = 100, 120
    assert "100, 120 points" in select([a, b])["different_data"]


def test_a_trusted_but_close_selection_says_it_is_not_decisive():
    close = select([summary("ct3", 910.22, stderr=0.19), summary("ct4", 910.28, stderr=0.19)])
    assert close["decided"]
    assert "selected: ct4 (not decisive: P = 0.515 < 0.95" in format_table(close)
    clear = format_table(select([summary("ct3", 910.0), summary("ct2", -1531.8)]))
    assert "selected: ct3\n" in clear + "\n" and "not decisive" not in clear
