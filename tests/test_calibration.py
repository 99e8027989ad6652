"""Error bars that hold on multimodal posteriors: 20 seeds of a problem, their scatter against
the error bars they report, at run lengths a user would choose.

- two peaks of different heights whose centres have the same (exchangeable) prior: two modes
  (either assignment of the centres), unequal in weight, joined only through the hot rungs.
  Its evidence is a two-dimensional integral, done here on a grid fine enough to be exact to
  far below the error bars: sum z^2 of (value - exact) / stderr must lie in the central 99 %
  of chi^2(20).
- three Gaussian peaks with exchangeable priors (label switching, and the false optima of
  merged peaks): no exact value, so z about the seeds' inverse-variance weighted mean, against
  chi^2(19).

MBAR is tested on both, and the bridge estimate (the headline where it applies) on the three
exchangeable peaks, where it bridges their canonical order; the linear-Gaussian calibration
lives in tests/test_free_energy.py and tests/test_bridge.py.
"""

import math

import numpy as np
import pytest
from mpi4py import MPI
from scipy import stats

from remc_mpi.config import parse_config
from remc_mpi.io.data import write_spectrum
from remc_mpi.driver.engine import run
from remc_mpi.evidence.freeenergy import PRIMARY
from remc_mpi.models import get_model
from remc_mpi.ui.report import format_summary

SEEDS = 20
X = np.linspace(-3.0, 3.0, 60)
SIGMA = 0.1
TWO_MODE_TRUTH = {"a1": 1.0, "mu1": -0.6, "b1": 8.0, "a2": 0.7, "mu2": 0.7, "b2": 8.0}
MU_RANGE = (-2.0, 2.0)


def two_mode_data(**truth):
    """The two-line spectrum of TWO_MODE_TRUTH (entries of ``truth`` replacing its own) with
    its noise."""
    model = get_model("gauss_peaks", n_peaks=2)
    theta = np.array([[{**TWO_MODE_TRUTH, **truth}[n] for n in model.param_names]])
    rng = np.random.default_rng(11)
    return model.spectrum(theta, X)[0] + rng.normal(0.0, SIGMA, X.size)


def two_mode_exact_log_evidence(y, n_grid=4001, mu_range=MU_RANGE, heights=None):
    """log of the integral of N(y; f(mu1, mu2), sigma^2 I) over the uniform prior of the
    centres on ``mu_range``, by the trapezoid rule on an n_grid^2 grid (spacing 1e-3, against
    posterior widths of about 2e-2: its error is far below 1e-6), with |y - f|^2 expanded
    through the Gram matrix of the lines so the grid costs one matrix product. ``heights``:
    the lines' (a1, a2), TWO_MODE_TRUTH's unless given."""
    t = TWO_MODE_TRUTH
    a1, a2 = (t["a1"], t["a2"]) if heights is None else heights
    mu = np.linspace(*mu_range, n_grid)
    g = np.exp(-0.5 * t["b1"] * (X[None, :] - mu[:, None]) ** 2)  # the same width for both lines
    g1, g2 = a1 * g, a2 * g
    gram = g1 @ g2.T  # (mu1, mu2)
    sq = (y @ y - 2 * (g1 @ y)[:, None] - 2 * (g2 @ y)[None, :] + (g1 * g1).sum(1)[:, None]
          + (g2 * g2).sum(1)[None, :] + 2 * gram)
    log_f = -sq / (2 * SIGMA**2)
    w = np.full(n_grid, 1.0)
    w[[0, -1]] = 0.5
    h = mu[1] - mu[0]
    log_w = np.log(np.outer(w, w) * h * h / (mu_range[1] - mu_range[0]) ** 2)
    top = log_f.max()
    log_int = top + math.log(np.sum(np.exp(log_f - top + log_w)))
    return log_int - 0.5 * X.size * math.log(2 * math.pi * SIGMA**2)


def run_seeds(raw, tmp_path, name, seeds=SEEDS, estimator=PRIMARY):
    """(value, stderr) of ``estimator`` per seed; with estimator=None a dict of every
    estimator's that every seed reports."""
    out = []
    for s in range(seeds):
        cfg = parse_config(dict(raw, seed=100 + s, progress=False, output=str(tmp_path / f"{name}{s}.h5")), "c.yaml")
        out.append(run(cfg, MPI.COMM_SELF)[0]["estimators"])
    names = [estimator] if estimator else [k for k in out[0] if all(k in e for e in out)]
    table = {k: np.array([(e[k]["value"], e[k]["stderr"]) for e in out]) for k in names}
    return table if estimator is None else table[estimator]


def central_99(dof):
    return stats.chi2.ppf([0.005, 0.995], dof)


@pytest.mark.parametrize("chains,sweeps", [(1, 3000), (4, 1000)])
def test_two_mode_problem_errors_cover_the_exact_evidence(tmp_path, chains, sweeps):
    """One ladder, and four independent ladders (the error pooling their scatter)."""
    y = two_mode_data()
    exact = two_mode_exact_log_evidence(y)
    t = TWO_MODE_TRUTH
    write_spectrum(tmp_path / "two.csv", X, y)
    raw = {"data": {"file": str(tmp_path / "two.csv")},
           "model": {"name": "gauss_peaks", "options": {"n_peaks": 2}},
           "noise": {"sigma": SIGMA},
           "priors": {"a1": {"fixed": t["a1"]}, "a2": {"fixed": t["a2"]}, "b1": {"fixed": t["b1"]},
                      "b2": {"fixed": t["b2"]}, "mu1": {"uniform": list(MU_RANGE)},
                      "mu2": {"uniform": list(MU_RANGE)}},
           "ladder": {"n_temps": 16, "chains": chains}, "sampler": {"sweeps": sweeps, "burn_in": sweeps // 3}}
    v = run_seeds(raw, tmp_path, "two")
    z2 = np.sum(((v[:, 0] - exact) / v[:, 1]) ** 2)
    lo, hi = central_99(SEEDS)
    assert lo < z2 < hi, (z2, exact, v)


def test_lines_in_window_evidence_is_that_of_the_prior_truncated_to_the_window(tmp_path):
    """lines_in_window on the two-mode problem with centre priors twice as wide as the data's
    range [-3, 3]: both lines must lie inside, so the restricted prior is uniform on the window
    square, a quarter of the box (f = 1/4 exactly). The renormalised evidence must cover the
    exact evidence of that truncated prior (quadrature) within its errors over five seeds, and
    the measured f its binomial error."""
    y = two_mode_data()
    exact = two_mode_exact_log_evidence(y, n_grid=6001, mu_range=(X[0], X[-1]))
    t = TWO_MODE_TRUTH
    write_spectrum(tmp_path / "two.csv", X, y)
    raw = {"data": {"file": str(tmp_path / "two.csv")},
           "model": {"name": "gauss_peaks", "options": {"n_peaks": 2, "lines_in_window": True}},
           "noise": {"sigma": SIGMA},
           "priors": {"a1": {"fixed": t["a1"]}, "a2": {"fixed": t["a2"]}, "b1": {"fixed": t["b1"]},
                      "b2": {"fixed": t["b2"]}, "mu1": {"uniform": [-6.0, 6.0]}, "mu2": {"uniform": [-6.0, 6.0]}},
           "ladder": {"n_temps": 16}, "sampler": {"sweeps": 3000, "burn_in": 1000}}
    seeds, out = 5, []
    for s in range(seeds):
        cfg = parse_config(dict(raw, seed=200 + s, progress=False, output=str(tmp_path / f"win{s}.h5")), "c.yaml")
        summary = run(cfg, MPI.COMM_SELF)[0]
        mass = summary["prior_window"]
        assert abs(mass["fraction"] - 0.25) < 4 * math.sqrt(0.25 * 0.75 / mass["draws"]), mass
        report = format_summary(summary)  # TI has no value here (<U> at beta = 0 is infinite): said, not NaN
        assert "ti                not computed" in report and "nan" not in report
        e = summary["estimators"][PRIMARY]
        out.append((e["value"], e["stderr"]))
    v = np.array(out)
    z2 = np.sum(((v[:, 0] - exact) / v[:, 1]) ** 2)
    lo, hi = central_99(seeds)
    assert lo < z2 < hi, (z2, exact, v)


def test_three_exchangeable_peaks_scatter_matches_the_error_bars(tmp_path):
    truth = {"a1": 0.8, "mu1": -1.0, "b1": 20.0, "a2": 1.2, "mu2": 0.1, "b2": 30.0, "a3": 0.6, "mu3": 1.1, "b3": 25.0}
    raw = {"data": {"synthetic": {"model": "gauss_peaks", "options": {"n_peaks": 3}, "params": truth,
                                  "grid": [-3.0, 3.0, 150], "noise": SIGMA, "seed": 5}},
           "model": {"name": "gauss_peaks", "options": {"n_peaks": 3}},
           "noise": {"sigma": SIGMA},
           "priors": {**{f"a{k}": {"gamma": [5.0, 5.0]} for k in (1, 2, 3)},
                      **{f"mu{k}": {"normal": [0.0, 1.0]} for k in (1, 2, 3)},
                      **{f"b{k}": {"gamma": [5.0, 0.2]} for k in (1, 2, 3)}},
           "ladder": {"n_temps": 24}, "sampler": {"sweeps": 4000, "burn_in": 1500, "thin": 1}}
    table = run_seeds(raw, tmp_path, "three", estimator=None)
    assert {PRIMARY, "bridge"} <= set(table)  # the bridge in canonical order: the headline here
    lo, hi = central_99(SEEDS - 1)
    for name in (PRIMARY, "bridge"):
        v = table[name]
        w = 1 / v[:, 1] ** 2
        mean = np.sum(w * v[:, 0]) / np.sum(w)
        z2 = np.sum(((v[:, 0] - mean) / v[:, 1]) ** 2)
        assert lo < z2 < hi, (name, z2, v)
    # both estimate the same evidence: their seed means within their combined standard errors
    gap = table["bridge"][:, 0].mean() - table[PRIMARY][:, 0].mean()
    se = math.hypot(*(table[k][:, 0].std(ddof=1) / math.sqrt(SEEDS) for k in ("bridge", PRIMARY)))
    assert abs(gap) < 3 * se, (gap, se)
