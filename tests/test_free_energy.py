"""Free-energy estimators: exact toy energies, honest error bars, model probabilities."""

import copy
import math

import numpy as np
import pytest
from mpi4py import MPI
from scipy import optimize, stats

from analytic import linear_gaussian_evidence
from remc_mpi.evidence import bootstrap, mbar
from remc_mpi.evidence import freeenergy as fe
from remc_mpi.config import parse_config
from remc_mpi.evidence.diagnostics import integrated_time
from remc_mpi.driver.engine import run
from remc_mpi.evidence.selection import model_probabilities

LAM = np.concatenate([[0.0], np.geomspace(0.01, 100.0, 15)])


def toy_energies(n, seed, lam=LAM):
    """U = x^2/2 with prior x ~ N(0, 1): tempered x ~ N(0, 1/(1+lam)), log Z = -log(1+lam)/2."""
    rng = np.random.default_rng(seed)
    return np.stack([0.5 * rng.normal(0, 1 / np.sqrt(1 + l), n) ** 2 for l in lam], axis=1)


def exact_log_z(lam):
    return -0.5 * np.log1p(lam)


@pytest.mark.parametrize("name", ["mbar", "bar", "stepping_stone"])
def test_estimators_on_exact_draws(name):
    U = toy_energies(4000, 1)
    res = fe.estimate_all(LAM, U, n_boot=60)
    err = res["log_z"][name] - exact_log_z(LAM)
    se = res["stderr"][name]
    assert np.all(np.abs(err[1:]) < 4 * se[1:]), (err, se)
    assert res["log_z"][name][0] == 0.0


def restricted_energies(n, seed, lam=LAM):
    """The toy above with the support restricted to |x| <= 1 (U = +inf outside, as a
    lines_in_window model's): the lam = 0 rung draws the whole prior, the others the tempered
    normal truncated to [-1, 1]; log Z = -log(1+lam)/2 + log erf(sqrt((1+lam)/2))."""
    rng = np.random.default_rng(seed)
    cols = []
    for l in lam:
        x = rng.normal(0, 1 / np.sqrt(1 + l), 4 * n)
        x = x if l == 0 else x[np.abs(x) <= 1][:n]
        u = 0.5 * x[:n] ** 2
        cols.append(np.where(np.abs(x[:n]) <= 1, u, np.inf))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("name", ["mbar", "bar", "stepping_stone"])
def test_estimators_count_a_zero_likelihood_outside_the_support(name):
    """+inf energies at lam = 0 weigh 0 at every lam > 0 and 1 at lam = 0 (0 inf is taken as 0),
    so every estimator measures the restricted integral; MBAR's reweighting between rungs too."""
    from scipy.special import erf

    U = restricted_energies(4000, 2)
    assert 0.25 < np.mean(np.isinf(U[:, 0])) < 0.4  # P(|x| > 1) = 0.317
    exact = -0.5 * np.log1p(LAM) + np.log(erf(np.sqrt((1 + LAM) / 2)))
    res = fe.estimate_all(LAM, U, n_boot=60)
    err, se = res["log_z"][name] - exact, res["stderr"][name]
    assert np.all(np.isfinite(se[1:])) and np.all(np.abs(err[1:]) < 4 * se[1:]), (err, se)
    if name == "mbar":
        at = mbar.LogZCurve(LAM, U, res["log_z"]["mbar"])(np.array([0.05, 3.0]))
        ref = -0.5 * np.log1p([0.05, 3.0]) + np.log(erf(np.sqrt((1 + np.array([0.05, 3.0])) / 2)))
        assert np.all(np.abs(at - ref) < 4 * se[1:].max()), (at, ref)
        assert np.all(np.isfinite(res["overlap"]))


def test_ti_hermite_rule_is_exact_for_cubic_integrands():
    """Hermite's rule integrates cubics exactly: with <U>(lam) a cubic whose derivative is
    supplied as -Var, TI must return the exact integral (checked via synthetic moments)."""
    lam = np.array([0.0, 0.3, 1.0, 2.5])
    a, b, c, d = 2.0, -1.0, 0.1, -0.05
    mean = a + b * lam + c * lam**2 + d * lam**3
    slope = b + 2 * c * lam + 3 * d * lam**2  # = -Var, so Var = -slope must be >= 0
    assert np.all(slope < 0)
    # two-point samples with the required mean and variance at each rung
    sd = np.sqrt(-slope)
    U = np.stack([mean - sd, mean + sd])
    got = fe.ti_log_z(lam, U)
    exact = -(a * lam + b * lam**2 / 2 + c * lam**3 / 3 + d * lam**4 / 4)
    np.testing.assert_allclose(got, exact, rtol=1e-13, atol=1e-13)


def test_bar_matches_a_scalar_root_finder():
    U = toy_energies(2000, 2)
    got = fe.bar_log_z(LAM, U)
    for l in (0, 7, 14):
        d = LAM[l + 1] - LAM[l]
        wf, wr = d * U[:, l], -d * U[:, l + 1]

        def g(df):
            return (np.sum(1 / (1 + np.exp(wf - df))) - np.sum(1 / (1 + np.exp(wr + df))))

        df = optimize.brentq(g, -20, 20, xtol=1e-14)
        assert got[l + 1] - got[l] == pytest.approx(-df, abs=1e-9)


def test_mbar_reweights_between_rungs_and_reports_overlap():
    U = toy_energies(4000, 3)
    log_z = fe.mbar_log_z(LAM, U)
    mid = np.sqrt(LAM[5] * LAM[6])
    assert mbar.mbar_log_z_at(LAM, U, log_z, [mid])[0] == pytest.approx(exact_log_z(mid), abs=0.02)
    overlap = mbar.neighbour_overlap(LAM, U, log_z)
    assert overlap.shape == (15,) and np.all((overlap > 0) & (overlap < 1))
    # far-apart rungs overlap less; identical rungs overlap fully
    sparse = mbar.neighbour_overlap(LAM[::3], U[:, ::3], log_z[::3])
    for k in range(len(sparse)):
        assert sparse[k] < overlap[3 * k:3 * k + 3].min()
    same = mbar.neighbour_overlap(np.array([1.0, 1.0]), U[:, [3, 3]], np.zeros(2))
    assert same[0] == pytest.approx(1.0, rel=1e-12)


def test_block_edges_and_counts_cover_every_row_once():
    edges = bootstrap.block_edges(1003, 50)
    assert edges[0] == 0 and edges[-1] == 1003 and len(edges) == 21
    assert set(np.diff(edges)) <= {50, 51}
    counts = bootstrap.bootstrap_counts(20, 7, np.random.default_rng(1))
    assert counts.shape == (7, 20) and np.all(counts.sum(axis=1) == 20)
    rows = bootstrap.resample(np.arange(1003)[:, None], edges, counts[0])
    assert rows.shape[0] == counts[0] @ np.diff(edges)
    # every replicate is made of whole blocks
    starts = set(edges[:-1].tolist())
    runs = np.flatnonzero(np.diff(rows[:, 0]) != 1) + 1
    assert rows[0, 0] in starts and all(rows[r, 0] in starts for r in runs)


@pytest.mark.parametrize("name", list(fe.ESTIMATORS))
def test_replicates_from_block_sums_equal_re_solving_each_replicate(name):
    """The block-sum replicates (exact for TI and stepping stone, one Newton step for BAR and
    MBAR) against the estimator re-run on each replicate's rows: the difference must be far
    below the bootstrap spread it estimates (2% of it; measured 0.5% for MBAR)."""
    U = toy_energies(4000, 2)
    est = fe.ESTIMATORS[name]
    point = est.point(LAM, U)
    edges = bootstrap.block_edges(U.shape[0], 20)
    counts = bootstrap.bootstrap_counts(len(edges) - 1, 30, np.random.default_rng(3))
    rep = est.replicates(LAM, est.block_sums(LAM, U, point, edges), counts, np.diff(edges).astype(float), point)
    exact = np.array([est.point(LAM, bootstrap.resample(U, edges, c)) for c in counts])
    spread = rep.std(axis=0, ddof=1)
    assert np.all(np.abs(rep - exact)[:, 1:] < 0.02 * spread[1:]), (np.abs(rep - exact).max(axis=0), spread)


def test_integrated_time_of_ar1():
    rng = np.random.default_rng(0)
    phi, n = 0.9, 200000
    x = np.empty(n)
    x[0] = 0
    e = rng.normal(size=n)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    assert integrated_time(x) == pytest.approx((1 + phi) / (1 - phi), rel=0.1)


def test_error_bars_are_honest_over_seeds(tmp_path):
    """20 independent runs of the linear-Gaussian case: z = (estimate - exact) / stderr must
    look standard normal. Accept when sum z^2 lies inside the central 99% of chi2(20) and the
    mean inside +-3/sqrt(20), for each estimator whose error bar claims to be complete (TI's
    discretisation error is not in its bar, see docs/free_energy.md)."""
    from test_engine import LINEAR

    raw = copy.deepcopy(LINEAR)
    raw["ladder"] = {"n_temps": 8}
    raw["sampler"] = {"sweeps": 3000, "burn_in": 500, "thin": 5}
    zs: dict[str, list[float]] = {}
    for seed in range(20):
        cfg = parse_config(dict(raw, seed=100 + seed, output=str(tmp_path / f"z{seed}.h5")), "z.yaml")
        s = run(cfg, MPI.COMM_SELF)[0]
        exact = linear_gaussian_evidence(np.vander(cfg.data.energy, 3, increasing=True), cfg.data.intensity, 0.1,
                                         np.array([0.0, 0.5, 0.0]), np.array([1.0, 2.0, 1.0]))
        for k, e in s["estimators"].items():
            zs.setdefault(k, []).append((e["value"] - exact) / e["stderr"])
    lo, hi = stats.chi2.ppf([0.005, 0.995], 20)
    for name in ("mbar", "bar", "stepping_stone"):
        z = np.array(zs[name])
        assert lo < np.sum(z**2) < hi, (name, z)
        assert abs(z.mean()) < 3 / np.sqrt(20), (name, z)


def test_model_probabilities_and_their_uncertainty():
    res = model_probabilities(np.array([-10.0, -12.0]), np.array([0.0, 0.0]))
    assert res["probability"][0] == pytest.approx(1 / (1 + np.exp(-2)))
    assert res["sd"][0] == pytest.approx(0.0, abs=1e-12)
    noisy = model_probabilities(np.array([-10.0, -12.0]), np.array([1.0, 1.0]))
    assert noisy["sd"][0] > 0.05 and noisy["q025"][0] < noisy["probability"][0] < noisy["q975"][0]
    weighted = model_probabilities(np.array([-10.0, -10.0]), np.zeros(2), prior=np.array([3.0, 1.0]))
    np.testing.assert_allclose(weighted["probability"], [0.75, 0.25])


def test_reweighting_curve_with_kept_denominators_equals_the_chunked_reference():
    """LogZCurve (compiled denominators, kept) gives mbar_log_z_at's log Z(x) at every x; above
    REWEIGHT_KEEP it falls back to the reference itself."""
    from remc_mpi.evidence.freeenergy import mbar_log_z
    from remc_mpi.evidence.mbar import LogZCurve, mbar_log_z_at

    rng = np.random.default_rng(4)
    lam = np.concatenate([[0.0], np.geomspace(1e-3, 1.0, 11)])
    U = 50.0 + rng.gamma(3.0, 1.0, (700, lam.size)) / (lam + 0.05)
    log_z = mbar_log_z(lam, U)
    x = np.geomspace(lam[1], 1.5, 23)
    ref = mbar_log_z_at(lam, U, log_z, x)
    np.testing.assert_allclose(LogZCurve(lam, U, log_z)(x), ref, rtol=1e-13, atol=1e-11)
    keep, mbar.REWEIGHT_KEEP = mbar.REWEIGHT_KEEP, 10
    try:
        curve = LogZCurve(lam, U, log_z)
        assert curve.terms is None
        np.testing.assert_array_equal(curve(x), ref)
    finally:
        mbar.REWEIGHT_KEEP = keep


def test_mbar_keeps_its_best_point_when_newton_cannot_descend(monkeypatch):
    """A Newton direction that no fraction of lowers the objective (a near-singular Hessian between
    rungs that do not overlap) ends the iteration at the best f so far: finite, and no worse than
    the start, where accepting the shortest trial step gave log Z of -1e298 on a measured spectrum."""
    from remc_mpi.evidence import freeenergy

    rng = np.random.default_rng(6)
    lam = np.array([0.0, 0.3, 1.0, 3.0])
    U = 10.0 + rng.gamma(3.0, 1.0, (500, 4)) / (lam + 0.1)
    start = -freeenergy.stepping_stone_log_z(lam, U)
    monkeypatch.setattr(mbar, "newton_direction", lambda grad, hess: 1e304 * np.sign(grad[1:] + 1e-300))
    log_z, _, converged = mbar.mbar_solve(lam, U, -start)
    assert np.all(np.isfinite(log_z)) and not converged
    n_log = np.full(4, np.log(500))
    obj = lambda f: mbar.mbar_pass(lam, f - f[0], n_log, U, with_hessian=False)[0]
    assert obj(-log_z) <= obj(start)


def test_an_mbar_solve_that_does_not_converge_is_failed_and_never_the_headline(monkeypatch):
    """Newton directions that lower nothing (as between rungs without overlap) leave MBAR
    unconverged: estimate_all marks it failed, the summary's headline is the next usable
    estimator (BAR), the warnings say so, and the trust gate names it and leaves it out."""
    from remc_mpi.evidence import freeenergy, trust
    from remc_mpi.driver import summary

    rng = np.random.default_rng(6)
    lam = np.array([0.0, 0.3, 1.0, 3.0])
    U = 10.0 + rng.gamma(3.0, 1.0, (500, 4)) / (lam + 0.1)
    assert freeenergy.estimate_all(lam, U, n_boot=20)["failed"] == {}
    # the solver's steps only (the bootstrap's one-step replicates go through freeenergy's own name)
    monkeypatch.setattr(mbar, "newton_direction", lambda grad, hess: 1e304 * np.sign(grad[1:] + 1e-300))
    est = freeenergy.estimate_all(lam, U, n_boot=20)
    assert est["failed"] == {"mbar": "Newton's iteration did not converge"}
    entries = {k: {"value": float(v[-1]), "stderr": float(est["stderr"][k][-1])} for k, v in est["log_z"].items()}
    entries = summary._mark_failed(entries, est)
    assert summary.headline(entries) == "bar"
    warns = summary.run_warnings(entries, False, est["overlap"], np.ones(3), np.array([20]), {})
    assert any(w.startswith("mbar failed (Newton's iteration did not converge)") for w in warns)
    s = {"log_evidence": {**entries["bar"], "method": "bar"}, "estimators": entries,
         "diagnostics": {"round_trips": 50}}
    status = trust.trust_status(s)
    assert status["not_computed"] == ["mbar"] and not any("mbar" in r for r in status["reasons"])


def test_the_headline_is_the_bridge_where_it_is_reported_and_usable_then_mbar():
    from remc_mpi.driver import summary

    mbar_e, bar_e = {"value": 1.0, "stderr": 0.1}, {"value": 1.1, "stderr": 0.1}
    assert summary.headline({"mbar": mbar_e, "bar": bar_e}) == "mbar"  # not reported: noise mode, too few draws
    assert summary.headline({"mbar": mbar_e, "bar": bar_e, "bridge": {"value": 1.02, "stderr": 0.01}}) == "bridge"
    for unusable in ({"value": math.nan, "stderr": 0.01}, {"value": 1.0, "stderr": math.inf},
                     {"value": 1.0, "stderr": 0.01, "failed": "why"}):
        assert summary.headline({"mbar": mbar_e, "bar": bar_e, "bridge": unusable}) == "mbar"
