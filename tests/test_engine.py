"""The exchange Monte Carlo engine against exact posteriors, priors and evidences (1 process)."""

import copy

import numpy as np
import pytest
from mpi4py import MPI

from analytic import linear_gaussian_evidence, linear_gaussian_posterior, uniform_amplitude_evidence
from remc_mpi.config import parse_config
from remc_mpi.driver.engine import run
from remc_mpi.errors import InputError

LINEAR = {
    "data": {"synthetic": {"model": "polynomial", "options": {"degree": 2},
                           "params": {"c0": 0.3, "c1": 0.5, "c2": -0.2}, "grid": [-1.0, 1.0, 30],
                           "noise": 0.1, "seed": 3}},
    "model": {"name": "polynomial", "options": {"degree": 2}},
    "noise": {"sigma": 0.1},
    "priors": {"c0": {"normal": [0.0, 1.0]}, "c1": {"normal": [0.5, 2.0]}, "c2": {"normal": [0.0, 1.0]}},
    "ladder": {"n_temps": 12},
    "sampler": {"sweeps": 13000, "burn_in": 1000, "thin": 1},
    "seed": 11,
    "progress": False,
}


def run_dict(tmp_path, raw, name="out.h5"):
    raw = dict(raw, output=str(tmp_path / name))
    cfg = parse_config(raw, "test.yaml", base=tmp_path)
    return cfg, run(cfg, MPI.COMM_SELF)[0]


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory):
    return run_dict(tmp_path_factory.mktemp("lin"), LINEAR)


def _design(cfg):
    return np.vander(cfg.data.energy, 3, increasing=True)


def test_linear_gaussian_posterior_moments(linear_run):
    cfg, s = linear_run
    m0, s0 = np.array([0.0, 0.5, 0.0]), np.array([1.0, 2.0, 1.0])
    mean, cov = linear_gaussian_posterior(_design(cfg), cfg.data.intensity, 0.1, m0, s0)
    for j, name in enumerate(("c0", "c1", "c2")):
        p = s["posterior"][name]
        sd = np.sqrt(cov[j, j])
        se = sd / np.sqrt(s["diagnostics"]["ess"][name])
        assert abs(p["mean"] - mean[j]) < 4 * se, (name, p["mean"], mean[j], se)
        # the sample sd of n_eff draws has relative error ~ 1/sqrt(2 n_eff)
        assert abs(p["sd"] / sd - 1) < 4 / np.sqrt(2 * s["diagnostics"]["ess"][name])
        assert p["q025"] < mean[j] < p["q975"]


def test_linear_gaussian_evidence_all_estimators(linear_run):
    cfg, s = linear_run
    exact = linear_gaussian_evidence(_design(cfg), cfg.data.intensity, 0.1, np.array([0.0, 0.5, 0.0]),
                                     np.array([1.0, 2.0, 1.0]))
    assert s["log_evidence"]["stderr"] < 0.05
    for name, e in s["estimators"].items():
        assert abs(e["value"] - exact) < 3 * e["stderr"], (name, e, exact)
    assert s["free_energy"] == pytest.approx(-s["log_evidence"]["value"])


def test_prior_is_sampled_exactly_at_beta_zero(linear_run):
    import h5py

    cfg, s = linear_run
    with h5py.File(s["file"]) as h5:
        th = h5["samples/theta"][:, 0, :]
        assert h5["ladder/beta"][0] == 0.0 and h5["ladder/beta"][-1] == 1.0
    n = th.shape[0]
    # exact independent draws: standard error sd / sqrt(n)
    for j, (m, sd) in enumerate([(0.0, 1.0), (0.5, 2.0), (0.0, 1.0)]):
        assert abs(th[:, j].mean() - m) < 4 * sd / np.sqrt(n)
        assert abs(th[:, j].std() / sd - 1) < 4 / np.sqrt(2 * n)


def test_uniform_amplitude_evidence_via_erf(tmp_path):
    raw = {
        "data": {"synthetic": {"model": "gauss_peaks", "options": {"n_peaks": 1},
                               "params": {"a1": 1.2, "mu1": 0.0, "b1": 4.0}, "grid": [-3.0, 3.0, 40],
                               "noise": 0.05, "seed": 4}},
        "model": {"name": "gauss_peaks", "options": {"n_peaks": 1}},
        "noise": {"sigma": 0.05},
        "priors": {"a1": {"uniform": [0.0, 5.0]}, "mu1": {"fixed": 0.0}, "b1": {"fixed": 4.0}},
        "ladder": {"n_temps": 12},
        "sampler": {"sweeps": 5000, "burn_in": 1000},
        "seed": 5, "progress": False,
    }
    cfg, s = run_dict(tmp_path, raw)
    g = np.exp(-4.0 * cfg.data.energy**2 / 2)
    exact = uniform_amplitude_evidence(g, cfg.data.intensity, 0.05, 0.0, 5.0)
    le = s["log_evidence"]
    assert le["stderr"] < 0.05
    assert abs(le["value"] - exact) < 3 * le["stderr"], (le, exact)


def test_two_temperature_exchange_detailed_balance(tmp_path):
    """L = 2: slot 0 draws the prior exactly, slot 1 is the posterior c ~ N(mu, s^2). The
    exchange keeps prior x posterior stationary, so slot 1 stays exactly N(mu, s^2) and the
    swap rate equals E[min(1, exp(lam (U_1 - U_0)))] under independent draws."""
    raw = copy.deepcopy(LINEAR)
    raw["data"]["synthetic"].update(model="polynomial", options={"degree": 0}, params={"c0": 0.4},
                                    noise=0.3, grid=[0.0, 1.0, 12])
    raw["model"] = {"name": "polynomial", "options": {"degree": 0}}
    raw["noise"] = {"sigma": 0.3}
    raw["priors"] = {"c0": {"normal": [0.0, 0.5]}}
    raw["ladder"] = {"betas": [0.0, 1.0]}
    raw["sampler"] = {"sweeps": 20000, "burn_in": 500, "thin": 1}
    cfg, s = run_dict(tmp_path, raw)
    y, n = cfg.data.intensity, cfg.data.n
    prec = n / 0.09 + 1 / 0.25
    mu, sd = (y.sum() / 0.09) / prec, prec**-0.5
    p = s["posterior"]["c0"]
    se = sd / np.sqrt(s["diagnostics"]["ess"]["c0"])
    assert abs(p["mean"] - mu) < 4 * se
    rng = np.random.default_rng(0)
    c_prior, c_post = rng.normal(0, 0.5, 400000), rng.normal(mu, sd, 400000)

    def U(c):
        return 0.5 * ((y[None, :] - c[:, None]) ** 2).sum(axis=1)

    expected = np.minimum(1, np.exp((1 / 0.09) * (U(c_post) - U(c_prior)))).mean()
    rate = s["diagnostics"]["swap_rate"][0]
    n_try = 20000 - 500
    # swaps of consecutive sweeps are correlated only through slot 1 (slot 0 is redrawn),
    # so a binomial error inflated by sqrt(2 tau) with tau = 1 + 2 * acceptance bounds it
    se_rate = np.sqrt(expected * (1 - expected) / n_try) * np.sqrt(2 * (1 + 2 * 0.5))
    assert abs(rate - expected) < 4 * se_rate, (rate, expected, se_rate)


def test_peak_tables_read_peak_by_peak_and_the_option_turns_it_off(tmp_path):
    """Two peaks with exchangeable priors: the sampler swaps their labels, the reported table
    (and what plots and export read) orders them by position in every sample."""
    from remc_mpi.io.output import ResultsFile
    from remc_mpi.ui.report import format_summary

    truth = {"a1": 1.0, "mu1": -0.8, "b1": 10.0, "a2": 0.8, "mu2": 0.9, "b2": 10.0}
    raw = {"data": {"synthetic": {"model": "gauss_peaks", "options": {"n_peaks": 2}, "params": truth,
                                  "grid": [-3.0, 3.0, 80], "noise": 0.05, "seed": 2}},
           "model": {"name": "gauss_peaks", "options": {"n_peaks": 2}}, "noise": {"sigma": 0.05},
           "priors": {**{f"a{k}": {"gamma": [5.0, 5.0]} for k in (1, 2)},
                      **{f"mu{k}": {"normal": [0.0, 1.5]} for k in (1, 2)},
                      **{f"b{k}": {"gamma": [5.0, 0.5]} for k in (1, 2)}},
           "ladder": {"n_temps": 16}, "sampler": {"sweeps": 3000, "burn_in": 1000}, "seed": 3, "progress": False}
    ordered = run(parse_config(dict(raw, output=str(tmp_path / "o.h5")), "o.yaml"), MPI.COMM_SELF)[0]
    raw_labels = run(parse_config(dict(raw, output=str(tmp_path / "r.h5"), order_peaks=False), "r.yaml"),
                     MPI.COMM_SELF)[0]
    assert ordered["peaks_ordered"] and not raw_labels["peaks_ordered"]
    assert "peaks ordered by position" in format_summary(ordered)
    post = ordered["posterior"]
    for k in (1, 2):  # each peak's own interval holds its true centre
        assert post[f"mu{k}"]["q025"] < truth[f"mu{k}"] < post[f"mu{k}"]["q975"], post[f"mu{k}"]
    # the sampler did swap the labels: the unordered marginals mix both peaks
    assert raw_labels["posterior"]["mu1"]["q025"] < truth["mu1"] and raw_labels["posterior"]["mu1"]["q975"] > truth["mu2"]
    with ResultsFile(tmp_path / "o.h5") as rf:
        theta = rf.posterior_theta()
        stored = rf.samples("theta", ordered["posterior_rung"])
    names = ordered["param_names"]
    assert np.all(theta[:, names.index("mu1")] <= theta[:, names.index("mu2")])
    assert np.any(stored[:, names.index("mu1")] > stored[:, names.index("mu2")])  # the file keeps the raw labels


def _two_peak_config(tmp_path, name, **ladder):
    truth = {"a1": 1.0, "mu1": -0.8, "b1": 10.0, "a2": 0.8, "mu2": 0.9, "b2": 10.0}
    return {"data": {"synthetic": {"model": "gauss_peaks", "options": {"n_peaks": 2}, "params": truth,
                                   "grid": [-3.0, 3.0, 60], "noise": 0.05, "seed": 2}},
            "model": {"name": "gauss_peaks", "options": {"n_peaks": 2}}, "noise": {"sigma": 0.05},
            "priors": {**{f"a{k}": {"gamma": [5.0, 5.0]} for k in (1, 2)},
                       **{f"mu{k}": {"normal": [0.0, 1.5]} for k in (1, 2)},
                       **{f"b{k}": {"gamma": [5.0, 0.5]} for k in (1, 2)}},
            "ladder": {"n_temps": 8, **ladder}, "sampler": {"sweeps": 1200, "burn_in": 400, "thin": 2}, "seed": 9,
            "progress": False, "output": str(tmp_path / name)}


def test_chain_zero_of_independent_ladders_is_the_single_ladder(tmp_path):
    """ladder.chains = 3: the first chain has the single ladder's streams, so (with a fixed
    ladder) its columns are that run's samples exactly; the summary pools the chains."""
    import h5py

    from remc_mpi.io.paths import output_bytes

    one = run(parse_config(_two_peak_config(tmp_path, "one.h5", adapt=False), "one.yaml"), MPI.COMM_SELF)[0]
    three = run(parse_config(_two_peak_config(tmp_path, "three.h5", chains=3, adapt=False), "three.yaml"),
                MPI.COMM_SELF)[0]
    with h5py.File(tmp_path / "one.h5") as a, h5py.File(tmp_path / "three.h5") as b:
        for name in ("energy", "replica", "theta"):
            np.testing.assert_array_equal(b[f"samples/{name}"][:, :8], a[f"samples/{name}"][:])
        assert b.attrs["chains"] == 3 and b["samples/energy"].shape[1] == 24
        stored = sum(b["samples"][k].id.get_storage_size() for k in b["samples"])
        from remc_mpi.io.samples import SAMPLE_LAYOUT

        assert sorted(b["samples"]) == sorted(s.name for s in SAMPLE_LAYOUT)
        for s in SAMPLE_LAYOUT:  # the one description: type and per-row shape of every set
            ds = b["samples"][s.name]
            assert ds.dtype == np.dtype(s.dtype) and ds.shape[1:] == s.row_shape(24, 6), s.name
    cfg3 = parse_config(_two_peak_config(tmp_path, "three.h5", chains=3, adapt=False), "three.yaml")
    assert stored == output_bytes(cfg3, cfg3.candidates[0])  # the size estimate counts every chain
    with h5py.File(tmp_path / "one.h5") as a, h5py.File(tmp_path / "three.h5") as b:
        assert not np.array_equal(b["samples/energy"][:, 8:16], b["samples/energy"][:, :8])  # own streams
    ch = three["chains"]
    assert ch["count"] == 3 and len(ch["log_evidence"]) == 3 and "chains" not in one
    assert min(ch["log_evidence"]) <= three["log_evidence"]["value"] <= max(ch["log_evidence"])
    assert set(ch["rhat"]) == {"a1", "a2", "mu1", "mu2", "b1", "b2"} and all(r < 1.2 for r in ch["rhat"].values())
    assert three["diagnostics"]["round_trips"] > one["diagnostics"]["round_trips"]
    from remc_mpi.ui.report import format_summary

    assert "3 independent ladders: log evidence" in format_summary(three)
    assert len(three["diagnostics"]["swap_rate"]) == 7  # per rung pair, pooled over the chains


def test_independent_ladders_reach_export_plots_and_campaigns(tmp_path):
    az = pytest.importorskip("arviz")
    pytest.importorskip("matplotlib")
    from remc_mpi.ui.campaign import load_campaign, write_tasks
    from remc_mpi.config import load_config
    from remc_mpi.ui.export import export_arviz
    from remc_mpi.ui.plots import plot_run

    s = run(parse_config(_two_peak_config(tmp_path, "c.h5", chains=2), "c.yaml"), MPI.COMM_SELF)[0]
    idata = az.from_netcdf(str(export_arviz(tmp_path / "c.h5", tmp_path / "c.nc")))
    assert idata.posterior.sizes["chain"] == 2 and idata.sample_stats["lp"].shape[0] == 2
    assert np.all(idata.posterior["mu1"].values <= idata.posterior["mu2"].values)  # peaks ordered in each chain
    assert {p.name for p in plot_run(tmp_path / "c.h5", tmp_path / "fig")} >= {"ladder.png", "marginals.png"}
    assert s["chains"]["count"] == 2
    base = _two_peak_config(tmp_path, "x.h5", chains=2)
    base.pop("output")
    import yaml
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    truth = base["data"]["synthetic"]
    (tmp_path / "camp.yaml").write_text(yaml.safe_dump({"name": "ch", "folder": "camp", "base": "base.yaml", "grid": {
        "noise": [0.05], "truth": {"model": truth["model"], "options": truth["options"], "params": truth["params"]},
        "grid": truth["grid"], "seeds": [1, 2]}}))
    tasks = write_tasks(load_campaign(tmp_path / "camp.yaml"))
    assert all(load_config(t.config).ladder.chains == 2 for t in tasks)


def test_chains_must_be_a_positive_integer(tmp_path):
    with pytest.raises(InputError, match="ladder.chains"):
        parse_config(_two_peak_config(tmp_path, "x.h5", chains=0), "bad.yaml")


def test_poisson_counts_evidence_against_the_conjugate_closed_form(tmp_path):
    """Counts d_i ~ Poisson(a g_i) of one line of fixed shape g with a Gamma(alpha, rate beta)
    prior on its height a: the evidence is sum d log g - sum log d! + alpha log beta
    - lnGamma(alpha) + lnGamma(alpha + D) - (alpha + D) log(beta + G), D = sum d, G = sum g."""
    from scipy.special import gammaln

    from remc_mpi.io.data import write_spectrum
    from remc_mpi.likelihood import energies

    x = np.linspace(-3.0, 3.0, 60)
    g = np.exp(-0.5 * 2.0 * x**2)
    d = np.random.default_rng(8).poisson(50.0 * g).astype(float)
    write_spectrum(tmp_path / "counts.csv", x, d)
    alpha, beta = 2.0, 0.02
    D, G = d.sum(), g.sum()
    exact = (np.sum(d * np.log(g)) - np.sum(gammaln(d + 1)) + alpha * np.log(beta) - gammaln(alpha)
             + gammaln(alpha + D) - (alpha + D) * np.log(beta + G))
    raw = {"data": {"file": str(tmp_path / "counts.csv")}, "model": {"name": "gauss_peaks", "options": {"n_peaks": 1}},
           "noise": {"model": "poisson"},
           "priors": {"a1": {"gamma": [alpha, beta]}, "mu1": {"fixed": 0.0}, "b1": {"fixed": 2.0}},
           "ladder": {"n_temps": 12}, "sampler": {"sweeps": 8000, "burn_in": 1000, "thin": 2}, "seed": 3,
           "progress": False, "output": str(tmp_path / "p.h5")}
    s = run(parse_config(raw, "p.yaml"), MPI.COMM_SELF)[0]
    for name, e in s["estimators"].items():
        if name != "ti":
            assert abs(e["value"] - exact) < 3 * e["stderr"], (name, e, exact)
    post = s["posterior"]["a1"]  # the posterior is Gamma(alpha + D, beta + G)
    assert post["mean"] == pytest.approx((alpha + D) / (beta + G), rel=3 * post["sd"] / post["mean"])
    assert s["sigma"] is None and "Poisson counts" in __import__("remc_mpi.ui.report", fromlist=["x"]).format_summary(s)
    # the compiled energy is the numpy one
    from remc_mpi.kernels.spectra import kernel_model, spectra
    from remc_mpi.models import get_model

    m = get_model("gauss_peaks", n_peaks=1)
    th = np.array([[40.0, 0.0, 2.0], [55.0, 0.1, 2.5], [-1.0, 0.0, 2.0]])
    _, u = spectra(kernel_model(m, x, "poisson"), th, d)
    ref = energies(m.spectrum(th, x), d, "poisson")
    np.testing.assert_allclose(u[:2], ref[:2], rtol=1e-12)
    assert u[2] == ref[2] == np.inf  # a negative expectation where counts were seen


def _scaled_counts_case(tmp_path, noise: dict, sweeps: int = 8000):
    """Intensities d = s x, x ~ Poisson(a g / s), s = 2.5 (non-integer d, and at least 600 counts a
    point, as measured spectra have: the scale is learnt from counts, not from their discreteness),
    one broad line of fixed shape g with a Gamma(alpha, rate beta) prior on a; the exact log
    evidence at precision b = 1/s is
    b sum d log g + alpha log beta - lnGamma(alpha) + lnGamma(alpha + b D) - (alpha + b D) log(beta + b G)
    + C(b), D = sum d, G = sum g, C(b) of remc_mpi.likelihood."""
    from scipy.special import gammaln

    from remc_mpi.io.data import write_spectrum
    from remc_mpi.likelihood import evidence_constant

    x = np.linspace(-3.0, 3.0, 60)
    g = np.exp(-0.5 * 0.05 * x**2)
    d = 2.5 * np.random.default_rng(8).poisson(2000.0 * g / 2.5)
    write_spectrum(tmp_path / "scaled.csv", x, d)
    alpha, beta = 2.0, 0.02

    def exact(b):
        b = np.asarray(b, dtype=float)
        return (b * np.sum(d * np.log(g)) + alpha * np.log(beta) - gammaln(alpha) + gammaln(alpha + b * d.sum())
                - (alpha + b * d.sum()) * np.log(beta + b * g.sum()) + evidence_constant("scaled_counts", d.size, b, d))

    raw = {"data": {"file": str(tmp_path / "scaled.csv")}, "model": {"name": "gauss_peaks", "options": {"n_peaks": 1}},
           "noise": noise, "priors": {"a1": {"gamma": [alpha, beta]}, "mu1": {"fixed": 0.0}, "b1": {"fixed": 0.05}},
           "ladder": {"n_temps": 12}, "sampler": {"sweeps": sweeps, "burn_in": 1000, "thin": 2}, "seed": 3,
           "progress": False, "output": str(tmp_path / "s.h5")}
    return run(parse_config(raw, "s.yaml"), MPI.COMM_SELF)[0], exact


def test_scaled_counts_evidence_against_the_conjugate_closed_form(tmp_path):
    s, exact = _scaled_counts_case(tmp_path, {"model": "scaled_counts", "scale": 2.5})
    for name, e in s["estimators"].items():
        if name != "ti":
            assert abs(e["value"] - exact(0.4)) < 3 * e["stderr"], (name, e, exact(0.4))
    assert s["likelihood"] == "scaled_counts" and s["scale"] == 2.5 and s["fit"]["statistic"] == "deviance/N"
    # scale 1 is the Poisson likelihood: the constants agree on integer counts
    from remc_mpi.likelihood import evidence_constant

    k = np.array([0.0, 3.0, 7.0, 12.0])
    assert evidence_constant("scaled_counts", 4, 1.0, k) == pytest.approx(evidence_constant("poisson", 4, 1.0, k),
                                                                          rel=1e-14)


def test_scaled_counts_scale_is_learnt_at_the_minimum_of_the_exact_free_energy(tmp_path):
    """With estimate: true the ladder runs over b = 1/s and b_hat minimises F(b) = -log P(D | b):
    the exact curve's minimiser lies within 3 bootstrap errors of b_hat."""
    from scipy.optimize import minimize_scalar

    s, exact = _scaled_counts_case(tmp_path, {"model": "scaled_counts", "estimate": True})
    best = minimize_scalar(lambda lb: -exact(np.exp(lb)), bounds=(np.log(0.01), np.log(10.0)), method="bounded").x
    n = s["noise"]
    assert abs(n["b_hat"] - np.exp(best)) < 3 * n["b_hat_stderr"], (n["b_hat"], np.exp(best), n["b_hat_stderr"])
    assert n["scale_q025"] < 1.0 / np.exp(best) < n["scale_q975"] and "sigma_hat" not in n
    assert abs(s["log_evidence"]["value"] - exact(n["b_hat"])) < 3 * s["log_evidence"]["stderr"]


def test_prior_draws_outside_the_counts_support_leave_every_estimator_finite(tmp_path):
    """A background prior that reaches below zero puts some lambda = 0 draws where the model
    predicts negative counts (U = +inf): the estimators weigh them exp(-0 U) = 1 at the prior and
    0 above it, instead of IEEE's 0 x inf = NaN (MBAR was nan; TI alone cannot use them)."""
    from remc_mpi.io.data import write_spectrum

    x = np.linspace(-3.0, 3.0, 60)
    d = np.random.default_rng(5).poisson(200.0 * np.exp(-0.5 * x**2) + 20.0).astype(float)
    write_spectrum(tmp_path / "c.csv", x, d)
    raw = {"data": {"file": str(tmp_path / "c.csv")},
           "model": {"name": "gauss_peaks", "options": {"n_peaks": 1, "background": "constant"}},
           "noise": {"model": "poisson"},
           "priors": {"a1": {"uniform": [0.0, 400.0]}, "mu1": {"fixed": 0.0}, "b1": {"fixed": 1.0},
                      "bg_const": {"uniform": [-100.0, 100.0]}},
           "ladder": {"n_temps": 12}, "sampler": {"sweeps": 6000, "burn_in": 1000, "thin": 2}, "seed": 3,
           "progress": False, "output": str(tmp_path / "o.h5")}
    s = run(parse_config(raw, "o.yaml"), MPI.COMM_SELF)[0]
    e = {k: v for k, v in s["estimators"].items() if k != "ti"}
    assert all(np.isfinite(v["value"]) and np.isfinite(v["stderr"]) for v in e.values()), e
    ref = e["bar"]
    for name, v in e.items():
        assert abs(v["value"] - ref["value"]) < 3 * np.hypot(v["stderr"], ref["stderr"]), (name, e)


def test_swap_stats_count_reset_and_reduce_by_name():
    """The exchange counts: a ladder re-spacing resets the pair counts but keeps the round
    trips, the end of the burn-in resets all, a replica ending twice counts twice, and the
    reduced counts carry the checkpoint's names (one rank: the sums are the counts)."""
    from remc_mpi.driver.swaps import SwapStats
    from remc_mpi.sampling.parallel import LadderComm

    lc = LadderComm(MPI.COMM_SELF, 4, rungs=4)
    stats = SwapStats(4)
    stats.tried[[0, 2]] += 1  # as the exchanges count: pairs 0 and 2 tried, 0 accepted
    stats.accepted[0] += 1
    stats.trips[1] += 2  # replica 1 ended twice, 3 once
    stats.trips[3] += 1
    stats.tried[1] += 1
    stats.accepted[1] += 1
    got = stats.reduced(lc)
    assert list(got) == ["swap_try", "swap_ok", "trips"]
    np.testing.assert_array_equal(got["swap_try"], [1, 1, 1])
    np.testing.assert_array_equal(got["swap_ok"], [1, 1, 0])
    np.testing.assert_array_equal(got["trips"], [0, 2, 0, 1])
    assert stats.local_rate() == 2 / 3
    stats.reset(trips=False)
    assert stats.tried.sum() == stats.accepted.sum() == 0 and stats.trips.sum() == 3
    stats.load({"swap_try": np.array([4, 5, 6]), "swap_ok": np.array([1, 2, 3]), "trips": np.array([7, 0, 0, 1])})
    assert list(stats.reduced(lc, trips=False)) == ["swap_try", "swap_ok"] and stats.trips.sum() == 8
    stats.reset()
    assert not any(v.any() for v in stats.reduced(lc).values())


def test_the_exchange_kernels_count_tries_acceptances_and_round_trips_in_place():
    """kernels.rows: exchange_block counts every pair it tries by lower slot (accepted ones
    also in ``accepted``) and swaps exactly those; mark_ends counts a round trip when a
    replica reaches a bottom row coming from a top (twice when it does so twice), and the
    tries of a parity never touch the other parity's pairs."""
    from remc_mpi.kernels.rows import exchange_block, mark_ends

    n, p = 4, 2
    lam = np.array([0.0, 0.5, 1.0, 2.0])
    U = np.array([3.0, 1.0, 5.0, 0.5])  # pair 0: (0.5 - 0)(1 - 3) = -1; pair 2: (2 - 1)(0.5 - 5) = -4.5
    theta, logprior = np.arange(n * p, dtype=float).reshape(n, p), np.zeros((n, p))
    replica, direction = np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    stages = [np.zeros((n, 3)), np.zeros((n, 2, 3)), np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 3))]
    tried, accepted = np.zeros(n - 1, dtype=np.int64), np.zeros(n - 1, dtype=np.int64)
    # parity 0 tries pairs 0 and 2: log 0.5 = -0.69 is not below -1 (rejected), log 0.001 = -6.9 is below -4.5
    uniforms = np.array([0.5, 0.5, 0.001])
    exchange_block(0, n, 0, lam, uniforms, tried, accepted, theta, U, logprior, replica, direction, *stages)
    np.testing.assert_array_equal(tried, [1, 0, 1])
    np.testing.assert_array_equal(accepted, [0, 0, 1])
    np.testing.assert_array_equal(replica, [0, 1, 3, 2])
    np.testing.assert_array_equal(U, [3.0, 1.0, 0.5, 5.0])
    np.testing.assert_array_equal(theta[2:], [[6.0, 7.0], [4.0, 5.0]])
    trips = np.zeros(n, dtype=np.int64)
    bottoms, tops = np.array([0]), np.array([3])
    mark_ends(bottoms, tops, replica, direction, trips)
    assert trips.sum() == 0 and direction[0] == 1 and direction[3] == -1
    expected = ([0, 0, 1, 0], [1, 0, 1, 0], [1, 0, 2, 0])  # replica 2 (at the top) and 0 change ends, three times
    for want in expected:
        replica[[0, 3]], direction[[0, 3]] = replica[[3, 0]], direction[[3, 0]]
        mark_ends(bottoms, tops, replica, direction, trips)
        np.testing.assert_array_equal(trips, want)


def test_a_packed_row_has_the_documented_layout_and_unpacks_to_the_same_bits():
    """What an exchange across ranks sends (Replicas.pack, compiled): [U, replica, direction,
    theta, log prior, every stage flattened in C order], and unpacking it into another row makes
    that row equal the packed one in every per-configuration array, bit for bit."""
    from remc_mpi.kernels.spectra import kernel_model
    from remc_mpi.models import get_model
    from remc_mpi.sampling.replicas import Replicas

    m = get_model("cluster3", lineshape="voigt", doublet=True, background=["constant", "shirley", "tougaard"])
    km = kernel_model(m, np.linspace(0.0, 10.0, 50))
    rng = np.random.default_rng(3)
    rows = Replicas(km, rng.normal(size=(3, len(m.param_names))), 5)
    for a in (rows.U, rows.logprior, *rows.stages):
        a[...] = rng.normal(size=a.shape)
    rows.direction[:] = [1, -1, 0]
    layout = np.concatenate([[rows.U[1], rows.replica[1], rows.direction[1]], rows.theta[1], rows.logprior[1],
                             *(part[1].ravel() for part in rows.stages)])
    vec = rows.pack(1)
    assert vec.size == rows.row_size and all(part.shape[1:] != (0,) for part in rows.stages)
    np.testing.assert_array_equal(vec, layout)
    rows.unpack(2, vec)
    for a in rows.travelling():
        np.testing.assert_array_equal(a[2], a[1])


def test_the_recorder_writes_about_every_flush_bytes_within_its_bounds():
    """Recorder.full: a write every FLUSH_BYTES of buffered samples per rank, but no sooner than
    every FLUSH_RECORDS[0] saved sweeps (each write costs a few ms whatever its size) and no later
    than every FLUSH_RECORDS[1]."""
    from remc_mpi.io.samples import FLUSH_BYTES, FLUSH_RECORDS, SAMPLE_LAYOUT, Recorder

    def every(n_local, n_params):
        rec = Recorder(None, None, n_local, n_params)
        sizes = []
        while not rec.full():
            rec.rows["sweep"].append(len(sizes))
            sizes.append(0)
        return len(sizes), sum(s.row_bytes(n_local, n_params) for s in SAMPLE_LAYOUT)

    assert every(4, 2)[0] == FLUSH_RECORDS[1]  # small rows: the most sweeps
    assert every(4000, 40)[0] == FLUSH_RECORDS[0]  # huge rows: the fewest
    n, row = every(24, 6)  # 24 slots of 6 parameters: about 2900 sweeps
    assert FLUSH_RECORDS[0] < n < FLUSH_RECORDS[1] and FLUSH_BYTES - row < n * row <= FLUSH_BYTES
