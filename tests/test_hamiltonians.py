"""The questions the general charge-transfer family asks, on synthetic spectra: how many
configurations, and which ground configuration (examples/charge_transfer, shortened so that CI
can afford them: 16 rungs, 3000 sweeps)."""

from pathlib import Path

import numpy as np

from remc_mpi.evidence.diagnostics import effective_sample_size
from remc_mpi.models import get_model
from test_paper import assert_quantile_inside, assert_truth_inside_intervals, reported_theta, run_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "charge_transfer"


def run_example(tmp_path, name):
    raw, summaries, sel = run_config(tmp_path, EXAMPLES / f"{name}.yaml", sweeps=3000)
    return raw, {s["label"]: s for s in summaries}, sel


def assert_derived_truth_inside_interval(summary, name, truth):
    """assert_quantile_inside (test_paper) for derived quantity ``name`` of the reported samples."""
    x = get_model(summary["model"], **summary["options"]).derived(reported_theta(summary))[name]
    assert_quantile_inside(x, truth, effective_sample_size(x), (summary["label"], name))


def test_two_configurations_cannot_make_the_ceo2_spectrum_and_three_recover_its_truth(tmp_path):
    raw, by_label, sel = run_example(tmp_path, "configurations")
    prob = {m["name"]: m["probability"] for m in sel["models"]}
    assert prob["ct2"] < 1e-6 and sel["best"] in ("ct3", "ct4")
    assert_truth_inside_intervals(by_label["ct3"], raw["data"]["synthetic"]["params"])
    truth = get_model("cluster3").derived(np.array([[1.6, 0.76, 10.5, 12.5, 0.7, 0.0, 1.0]]))["n_f"][0]
    assert_derived_truth_inside_interval(by_label["ct3"], "n_f", truth)


def test_the_4f1_candidate_reports_the_true_occupancy_of_a_ce3_like_spectrum(tmp_path):
    raw, by_label, sel = run_example(tmp_path, "ground_state")
    truth = get_model("charge_transfer", n0=1).derived(np.array([[3.0, 0.45, 9.0, 11.0, 0.7, 0.0, 1.0]]))
    assert_derived_truth_inside_interval(by_label["ground_4f1"], "n_f", truth["n_f"][0])
    assert set(by_label["ground_4f1"]["derived"]) >= {"w_4f1", "w_4f2L", "w_4f3L2"}
    assert set(by_label["ground_4f0"]["derived"]) >= {"w_4f0", "w_4f1L", "w_4f2L2"}
    assert {m["name"] for m in sel["models"]} == {"ground_4f0", "ground_4f1"}
