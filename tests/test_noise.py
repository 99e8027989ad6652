"""Noise-estimation mode (Tokuda 2017) on synthetic data of known sigma, against the exact F(b)."""

import copy

import numpy as np
import pytest
from scipy import optimize

from analytic import linear_gaussian_evidence
from test_engine import LINEAR, run_dict

M0, S0 = np.array([0.0, 0.5, 0.0]), np.array([1.0, 2.0, 1.0])


@pytest.fixture(scope="module")
def noise_run(tmp_path_factory):
    raw = copy.deepcopy(LINEAR)
    raw["data"]["synthetic"].update(noise=0.1, grid=[-1.0, 1.0, 80])
    raw["noise"] = {"estimate": True}
    raw["ladder"] = {"n_temps": 14}
    raw["sampler"] = {"sweeps": 3000, "burn_in": 800, "thin": 2}
    return run_dict(tmp_path_factory.mktemp("noise"), raw)


def exact_F(cfg, b):
    X = np.vander(cfg.data.energy, 3, increasing=True)
    return -linear_gaussian_evidence(X, cfg.data.intensity, b**-0.5, M0, S0)


def test_b_hat_is_the_minimiser_of_the_exact_free_energy(noise_run):
    cfg, s = noise_run
    n = s["noise"]
    res = optimize.minimize_scalar(lambda lb: exact_F(cfg, np.exp(lb)), bounds=(np.log(10), np.log(1000)),
                                   method="bounded", options={"xatol": 1e-10})
    b_exact = float(np.exp(res.x))
    assert abs(n["b_hat"] - b_exact) < 4 * n["b_hat_stderr"], (n["b_hat"], b_exact, n["b_hat_stderr"])
    # b_hat lies between rungs: it was reweighted, not picked from the ladder
    assert min(abs(np.array(n["curve"]["b"]) - n["b_hat"])) > 1e-6
    assert n["sigma_hat"] == pytest.approx(n["b_hat"] ** -0.5)


def test_true_sigma_inside_the_95_percent_interval(noise_run):
    _, s = noise_run
    n = s["noise"]
    assert n["sigma_q025"] < 0.1 < n["sigma_q975"]
    # the posterior width of sigma is about sigma / sqrt(2N) for N = 80 points
    assert n["sigma_posterior_sd"] == pytest.approx(0.1 / np.sqrt(160), rel=0.3)


def test_free_energy_curve_matches_exact(noise_run):
    cfg, s = noise_run
    c = s["noise"]["curve"]
    for b, F, se in zip(c["b"], c["F"], c["stderr"]):
        assert abs(F - exact_F(cfg, b)) < 4 * se + 1e-9, (b, F, exact_F(cfg, b), se)
    assert s["log_evidence"]["value"] == pytest.approx(-exact_F(cfg, s["noise"]["b_hat"]),
                                                       abs=4 * s["log_evidence"]["stderr"])


def test_the_report_says_at_which_b_each_estimator_is_read(noise_run):
    """The headline is reweighted to b_hat, the others read at the rung nearest it: each line of
    the text report names its b, so that their difference is not read as disagreement."""
    from remc_mpi.ui.report import format_summary

    _, s = noise_run
    est = s["estimators"]
    rung = {e["b"] for name, e in est.items() if name != "mbar"}
    assert len(rung) == 1 and est["mbar"]["b"] == s["noise"]["b_hat"] != rung.pop()
    lines = {ln.split()[0]: ln for ln in format_summary(s).splitlines()[2:2 + len(est)]}
    assert set(lines) == set(est)
    for name, e in est.items():
        assert lines[name].endswith(f"(at b = {e['b']:.6g})"), lines[name]


def test_an_estimator_without_a_value_names_no_b():
    """TI with lines_in_window has no value: its line says so and claims no b it was read at."""
    from remc_mpi.ui.report import estimator_lines

    lines = estimator_lines({"mbar": {"value": -3.0, "stderr": 0.1, "b": 0.09},
                             "bar": {"value": -3.1, "stderr": 0.1, "b": 0.1},
                             "ti": {"value": None, "stderr": None, "b": 0.1}})
    assert lines[0].endswith("(at b = 0.09)") and lines[1].endswith("(at b = 0.1)")
    assert lines[2].split() == ["ti", "not", "computed"]


def test_a_noise_estimate_at_the_top_of_the_ladder_is_warned_about():
    from remc_mpi.driver.summary import noise_edge_warning

    assert noise_edge_warning(0.007, 0.1) == []
    assert "raise noise.b_max" in noise_edge_warning(0.06, 0.1)[0]
