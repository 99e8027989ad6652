"""Bridge sampling from the posterior (remc_mpi.evidence.bridge): the transforms and their Jacobians,
the estimator and its error on targets of known normaliser (a Gaussian, a banana, draws from an
autocorrelated chain), and the runs' bridge estimate against the linear-Gaussian closed form.
Tolerances: sum z^2 over seeds in the central 99 % of chi^2, z = (estimate - exact) / error."""

import math

import numpy as np
import pytest
from mpi4py import MPI
from scipy import stats

from analytic import linear_gaussian_evidence
from remc_mpi.evidence.bridge import bridge_log_z, from_free, to_free
from remc_mpi.config import parse_config
from remc_mpi.driver.engine import run
from test_engine import LINEAR

SEEDS = 20
LO, HI = np.array([-1.0, 0.5, -np.inf]), np.array([2.0, np.inf, np.inf])


def chi2_central(z):
    lo, hi = stats.chi2.ppf([0.005, 0.995], len(z))
    return lo < float(np.sum(np.square(z))) < hi


def test_transforms_invert_each_other_with_their_jacobians():
    rng = np.random.default_rng(1)
    x = np.stack([rng.uniform(-1, 2, 50), 0.5 + rng.exponential(1, 50), rng.normal(0, 3, 50)], axis=1)
    xi, lj = to_free(x, LO, HI)
    back, lj_back = from_free(xi, LO, HI)
    np.testing.assert_allclose(back, x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lj_back, lj, rtol=1e-10, atol=1e-10)
    h = 1e-6  # d theta / d xi column by column, by central differences
    num = sum(np.log(np.abs((from_free(xi + h * e, LO, HI)[0] - from_free(xi - h * e, LO, HI)[0])[:, j] / (2 * h)))
              for j, e in enumerate(np.eye(3)))
    np.testing.assert_allclose(lj, num, atol=1e-6)
    assert np.all(np.isfinite(from_free(np.array([[800.0, 700.0, 1.0], [-800.0, -700.0, 1.0]]), LO, HI)[0]))


def _gaussian_target(dim, log_z0):
    cov = np.diag(np.linspace(0.5, 2.0, dim)) + 0.3
    prec, (_, logdet) = np.linalg.inv(cov), np.linalg.slogdet(cov)
    log_norm = -0.5 * logdet - 0.5 * dim * math.log(2 * math.pi)

    def log_q(x):
        return log_z0 + log_norm - 0.5 * np.einsum("ij,jk,ik->i", x, prec, x)

    return cov, log_q


def test_iid_gaussian_target_scatters_as_its_errors_say():
    cov, log_q = _gaussian_target(4, 3.7)
    z = []
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        x = rng.multivariate_normal(np.zeros(4), cov, size=600)
        got = bridge_log_z(x, log_q(x), log_q, rng)
        z.append((got["value"] - 3.7) / got["stderr"])
    assert chi2_central(z), z


def test_banana_target_with_a_gaussian_proposal_scatters_as_its_errors_say():
    """x1 ~ N(0, 1), x2 = y + b (x1^2 - 1), y ~ N(0, 1): a curved posterior (the map has unit
    Jacobian, so Z is known) that a normal proposal fits badly."""
    b, log_z0 = 0.6, -1.3

    def log_q(x):
        y = x[:, 1] - b * (x[:, 0] ** 2 - 1)
        return log_z0 - 0.5 * (x[:, 0] ** 2 + y**2) - math.log(2 * math.pi)

    z, errors = [], []
    for seed in range(SEEDS):
        rng = np.random.default_rng(100 + seed)
        x1 = rng.normal(size=1000)
        x = np.stack([x1, rng.normal(size=1000) + b * (x1**2 - 1)], axis=1)
        got = bridge_log_z(x, log_q(x), log_q, rng)
        z.append((got["value"] - log_z0) / got["stderr"])
        errors.append(got["stderr"])
    assert chi2_central(z), z
    assert np.median(errors) < 0.1


def test_autocorrelated_draws_scatter_as_their_errors_say():
    """Draws of an AR(1) chain (rho = 0.9, tau = 19) with the right stationary law: the error
    must carry the autocorrelation time (iid formulas would be about sqrt(19) too small)."""
    cov, log_q = _gaussian_target(2, 0.4)
    chol, rho = np.linalg.cholesky(cov), 0.9
    z = []
    for seed in range(SEEDS):
        rng = np.random.default_rng(200 + seed)
        e = rng.standard_normal((4000, 2)) @ chol.T
        x = np.empty_like(e)
        x[0] = e[0]
        for t in range(1, len(e)):
            x[t] = rho * x[t - 1] + math.sqrt(1 - rho * rho) * e[t]
        got = bridge_log_z(x, log_q(x), log_q, rng)
        z.append((got["value"] - 0.4) / got["stderr"])
    assert chi2_central(z), z


def test_runs_bridge_estimate_covers_the_linear_gaussian_evidence(tmp_path):
    """Ten runs of the linear model (3 free parameters): the bridge estimate against the exact
    evidence, and at least five times more precise than MBAR's on the same samples."""
    z, ratio = [], []
    for s in range(10):
        cfg = parse_config(dict(LINEAR, output=str(tmp_path / f"b{s}.h5"),
                                sampler={"sweeps": 3000, "burn_in": 1000, "thin": 2}), "b.yaml")
        cfg.seed = 300 + s
        e = run(cfg, MPI.COMM_SELF)[0]["estimators"]
        x = np.vander(cfg.data.energy, 3, increasing=True)
        exact = linear_gaussian_evidence(x, cfg.data.intensity, 0.1, np.array([0.0, 0.5, 0.0]), np.array([1.0, 2.0, 1.0]))
        z.append((e["bridge"]["value"] - exact) / e["bridge"]["stderr"])
        ratio.append(e["mbar"]["stderr"] / e["bridge"]["stderr"])
    assert stats.chi2.ppf(0.005, 10) < np.sum(np.square(z)) < stats.chi2.ppf(0.995, 10), z
    assert np.median(ratio) > 5, ratio


def _two_peak_config(tmp_path, heights, name, y):
    from test_calibration import X, SIGMA, TWO_MODE_TRUTH, MU_RANGE
    from remc_mpi.io.data import write_spectrum

    write_spectrum(tmp_path / "two.csv", X, y)
    b = TWO_MODE_TRUTH["b1"]
    return {"data": {"file": str(tmp_path / "two.csv")}, "model": {"name": "gauss_peaks", "options": {"n_peaks": 2}},
            "noise": {"sigma": SIGMA}, "output": str(tmp_path / f"{name}.h5"), "progress": False,
            "priors": {"a1": {"fixed": heights[0]}, "a2": {"fixed": heights[1]}, "b1": {"fixed": b}, "b2": {"fixed": b},
                       "mu1": {"uniform": list(MU_RANGE)}, "mu2": {"uniform": list(MU_RANGE)}},
            "ladder": {"n_temps": 16}, "sampler": {"sweeps": 3000, "burn_in": 1000, "thin": 1}}


def test_no_bridge_estimate_for_interchangeable_peaks_with_different_priors(tmp_path):
    """Heights fixed at different values: relabelling is no symmetry of the prior."""
    from test_calibration import two_mode_data

    raw = _two_peak_config(tmp_path, (1.0, 0.7), "t", two_mode_data())
    assert "bridge" not in run(parse_config(raw, "t.yaml"), MPI.COMM_SELF)[0]["estimators"]


@pytest.mark.parametrize("centres", [(-0.6, 0.7), (-0.04, 0.04)])
def test_exchangeable_peaks_are_bridged_in_canonical_order_to_the_exact_evidence(tmp_path, centres):
    """Two lines of equal fixed height with the same centre prior: two mirror modes, apart or
    (lines 0.08 apart, each 0.35 wide) meeting at mu1 = mu2, where the proposal fitted to the
    ordered samples spills into the other ordering (counted as q = 0 there). The bridge of the
    canonically ordered samples, plus log 2!, against the evidence by quadrature over 10 seeds;
    and its error well below MBAR's from the same runs."""
    from test_calibration import two_mode_data, two_mode_exact_log_evidence

    heights = (0.85, 0.85)
    y = two_mode_data(a1=heights[0], a2=heights[1], mu1=centres[0], mu2=centres[1])
    exact = two_mode_exact_log_evidence(y, heights=heights)
    z, ratio = [], []
    for s in range(10):
        cfg = parse_config(_two_peak_config(tmp_path, heights, f"x{s}", y), "x.yaml")
        cfg.seed = 700 + s
        e = run(cfg, MPI.COMM_SELF)[0]["estimators"]
        z.append((e["bridge"]["value"] - exact) / e["bridge"]["stderr"])
        ratio.append(e["mbar"]["stderr"] / e["bridge"]["stderr"])
    assert stats.chi2.ppf(0.005, 10) < np.sum(np.square(z)) < stats.chi2.ppf(0.995, 10), z
    assert np.median(ratio) > 3, ratio


def test_too_few_draws_give_no_estimate():
    cov, log_q = _gaussian_target(6, 1.0)
    rng = np.random.default_rng(4)
    x = rng.multivariate_normal(np.zeros(6), cov, size=60)  # 30 to fit 6 dimensions: fewer than 10 (d + 1)
    got = bridge_log_z(x, log_q(x), log_q, rng)
    assert got["effective_samples"] == 0.0 and math.isnan(got["value"])


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_outside_points_weigh_nothing(bad):
    """Proposal draws where q is 0 (U = +inf outside a count likelihood's support) or undefined
    count as q = 0, not as a failure."""
    cov, log_q = _gaussian_target(2, 1.0)
    rng = np.random.default_rng(3)
    x = rng.multivariate_normal(np.zeros(2), cov, size=800)

    def cut(p):
        out = log_q(p)
        return np.where(p[:, 0] > 2.5, -bad if bad == np.inf else bad, out)

    got = bridge_log_z(x, log_q(x), cut, rng)
    assert math.isfinite(got["value"]) and math.isfinite(got["stderr"])


def _ridge_in_a_box(c=2.0, s=0.01, side=10.0):
    """Uniform prior on the box [0, side]^2, likelihood N(x1 - x2; c, s): a straight ridge the
    box's edges cut (the shape of cluster2's delta and U_fc). log Z by quadrature of its
    one-dimensional form, and an exact sampler (rejection of the unboxed law)."""
    from scipy import integrate

    def log_q(x):
        r = (x[:, 0] - x[:, 1] - c) / s
        return -0.5 * r * r - math.log(s * math.sqrt(2 * math.pi)) - 2 * math.log(side)

    inner = lambda x2: stats.norm.cdf((side - x2 - c) / s) - stats.norm.cdf((-x2 - c) / s)  # noqa: E731
    log_z = math.log(integrate.quad(inner, 0.0, side, points=[side - c], limit=200)[0] / side**2)

    def draws(rng, n):
        out = np.empty((0, 2))
        while len(out) < n:
            x2 = rng.uniform(0, side, 2 * n)
            x1 = x2 + rng.normal(c, s, 2 * n)
            ok = (x1 >= 0) & (x1 <= side)
            out = np.concatenate([out, np.stack([x1[ok], x2[ok]], axis=1)])
        return out[:n]

    return log_q, log_z, draws


def test_a_ridge_cut_by_the_box_is_bridged_in_the_parameters_own_coordinates():
    """Mapped to R^2 by the logits the straight ridge bends, and normal mixtures fit it badly
    (cluster2's bridge error 0.10 nats there, 0.007 in its own coordinates:
    docs/free_energy.md); the proposal's coordinates are chosen by BIC on the fitting half."""
    log_q, log_z, draws = _ridge_in_a_box()
    lo, hi = np.zeros(2), np.full(2, 10.0)
    z, errors = [], []
    for seed in range(SEEDS):
        rng = np.random.default_rng(500 + seed)
        x = draws(rng, 2000)
        got = bridge_log_z(x, log_q(x), log_q, rng, lo, hi)
        assert got["coordinates"] == "parameters"
        z.append((got["value"] - log_z) / got["stderr"])
        errors.append(got["stderr"])
    assert chi2_central(z), z
    assert np.median(errors) < 0.03


def test_a_posterior_pressed_against_its_bound_is_bridged_in_unbounded_coordinates():
    """x ~ Gamma(1.2, scale 0.05) under a flat prior on [0, 5]: its mass piles against 0, where a
    normal in x spills half its draws outside; log x makes it nearly normal."""
    shape, scale, top = 1.2, 0.05, 5.0
    law = stats.gamma(shape, scale=scale)
    log_z = math.log(law.cdf(top) / top)

    def log_q(x):
        return law.logpdf(x[:, 0]) - math.log(top)

    z = []
    for seed in range(SEEDS):
        rng = np.random.default_rng(600 + seed)
        x = law.rvs(size=(1200, 1), random_state=rng)
        got = bridge_log_z(x, log_q(x), log_q, rng, np.zeros(1), np.full(1, top))
        assert got["coordinates"] == "unbounded"
        z.append((got["value"] - log_z) / got["stderr"])
    assert chi2_central(z), z


def test_mixture_densities_match_scipy_and_one_component_em_is_the_closed_form_fit():
    """NormalMixture.component_log_pdf (a product with each inverse Cholesky factor) against
    scipy's multivariate normal; EM for one component stops at once (EM_TOL) at the maximum
    likelihood mean and covariance, and from a start in each of two well-separated clusters it
    finds both."""
    from scipy.stats import multivariate_normal

    from remc_mpi.evidence.bridge import COV_FLOOR, NormalMixture, fit_mixture

    rng = np.random.default_rng(11)
    d = 5
    a = rng.normal(size=(3, d, d))
    covs = a @ a.transpose(0, 2, 1) + 0.1 * np.eye(d)
    means, weights = rng.normal(size=(3, d)), np.array([0.2, 0.3, 0.5])
    x = rng.normal(size=(2000, d)) * 2.0
    got = NormalMixture(weights, means, covs).component_log_pdf(x)
    for k in range(3):
        ref = np.log(weights[k]) + multivariate_normal(means[k], covs[k] + COV_FLOOR * np.eye(d)).logpdf(x)
        np.testing.assert_allclose(got[:, k], ref, rtol=0, atol=1e-9)
    y = rng.multivariate_normal(means[0], covs[0], size=3000)
    one = fit_mixture(y, 1, rng)
    np.testing.assert_allclose(one.means[0], y.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(one.chol[0] @ one.chol[0].T, np.cov(y, rowvar=False, bias=True) + 2 * COV_FLOOR * np.eye(d),
                               rtol=1e-10, atol=1e-12)
    # two clusters 50 apart: EM finds both from every seed (k-means++ starts; uniform picks put
    # both starts in one cluster for half the seeds, and EM stays at the saddle between them)
    for seed in range(12):
        two = fit_mixture(np.concatenate([y, y + 50.0]), 2, np.random.default_rng(seed))
        np.testing.assert_allclose(np.sort(two.means[:, 0]), np.sort([y[:, 0].mean(), y[:, 0].mean() + 50.0]),
                                   atol=1e-6)
        np.testing.assert_allclose(two.weights, [0.5, 0.5], atol=1e-9)
