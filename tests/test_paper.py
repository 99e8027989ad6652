"""The experiment of Mototake et al. (2019) on synthetic spectra: Hamiltonian selection.

CeO2 parameters through cluster3 must select cluster3 (P > 0.99); La2O3 parameters through
cluster2 must select cluster2; the true parameters lie inside the 95% credible intervals.
CeO2 with a shorter run than examples/ (16 rungs, 4000 sweeps) so that CI can afford it; La2O3
with one long enough to resolve its small evidence gap (below).
"""

import math
from pathlib import Path

import h5py
import numpy as np
import yaml
from mpi4py import MPI

from remc_mpi.config import parse_config
from remc_mpi.driver.engine import run
from remc_mpi.evidence.selection import select

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_config(tmp_path, path, n_temps=16, sweeps=4000, burn_in=1000, thin=2):
    """The example config ``path`` run shortened (one process), its summaries and selection."""
    raw = yaml.safe_load(Path(path).read_text())
    raw.update(ladder={"n_temps": n_temps}, sampler={"sweeps": sweeps, "burn_in": burn_in, "thin": thin},
               output=str(tmp_path / f"{Path(path).stem}-{{model}}.h5"), progress=False)
    summaries = run(parse_config(raw, Path(path).name), MPI.COMM_SELF)
    return raw, summaries, select(summaries)


def run_example(tmp_path, name, **length):
    return run_config(tmp_path, EXAMPLES / name / f"{name}.yaml", **length)


def reported_theta(summary) -> np.ndarray:
    """The samples (n, P) of the rung a summary reports."""
    with h5py.File(summary["file"]) as h5:
        return h5["samples/theta"][:, summary["posterior_rung"], :]


def assert_quantile_inside(x, truth, ess, what):
    """The truth's posterior quantile F(truth) among samples x must lie in [0.025, 0.975] up to
    the Monte Carlo error of an interval end estimated from ESS effective draws,
    sqrt(q (1 - q) / ESS) with q = 0.025 (three of those: a few quantities are checked at once)."""
    tol = 3 * math.sqrt(0.025 * 0.975 / ess)
    q = float(np.mean(x < truth))
    assert 0.025 - tol <= q <= 0.975 + tol, (what, q, tol, ess)


def assert_truth_inside_intervals(summary, truth):
    """assert_quantile_inside for every free parameter, with its ESS from the summary."""
    theta = reported_theta(summary)
    for j, name in enumerate(summary["param_names"]):
        if not summary["posterior"][name]["fixed"]:
            assert_quantile_inside(theta[:, j], truth[name], summary["diagnostics"]["ess"][name],
                                   (summary["label"], name))


def test_ceo2_selects_the_three_level_hamiltonian(tmp_path):
    raw, summaries, sel = run_example(tmp_path, "ceo2")
    assert sel["best"] == "cluster3"
    prob = {m["name"]: m for m in sel["models"]}
    assert prob["cluster3"]["probability"] > 0.99 and prob["cluster3"]["probability_q025"] > 0.99
    assert_truth_inside_intervals(summaries[0], raw["data"]["synthetic"]["params"])


def test_la2o3_selects_the_two_level_hamiltonian(tmp_path):
    """cluster3 reproduces any cluster2 spectrum whose 4f2 configuration lies far above (large
    2 delta + U_ff), so the evidence gap here is only the Occam factor of cluster3's extra
    freedom: 0.26 +- 0.08 nats in a 40 000-sweep run (docs/free_energy.md). At 4000 sweeps the
    errors (+-0.3 each) were as large as the gap, so which model came first was a coin toss;
    30 000 sweeps at 24 rungs give +-0.09 on the difference, four times below the gap. The test
    requires cluster2 selected and, from the error bars, cluster3 not significantly better."""
    raw, summaries, sel = run_example(tmp_path, "la2o3", n_temps=24, sweeps=30000, burn_in=7500, thin=10)
    by = {s["label"]: s for s in summaries}
    assert sel["best"] == "cluster2"
    d = by["cluster2"]["log_evidence"]["value"] - by["cluster3"]["log_evidence"]["value"]
    se = math.hypot(by["cluster2"]["log_evidence"]["stderr"], by["cluster3"]["log_evidence"]["stderr"])
    assert d > -2 * se
    assert_truth_inside_intervals(by["cluster2"], raw["data"]["synthetic"]["params"])
