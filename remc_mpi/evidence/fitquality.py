r"""How well a model describes the data, and which parameters the data determine: pure functions
of posterior samples (docs/free_energy.md, "Can the result be trusted?").

Discrepancy T(d, mu) of the data d against a model spectrum mu:

    Gaussian noise sigma:  T = chi^2 = sum_i (d_i - mu_i)^2 / sigma^2
    counts (Poisson):      T = D = 2 sum_i [d_i log(d_i / mu_i) - (d_i - mu_i)]   (the deviance)
    scaled counts (s):     T = D / s  (the scaled deviance; replicates s Poisson(mu / s))

each reported per point (T / N, which is about 1 for an adequate model and noise) at the MAP and
averaged over the posterior, and the posterior-predictive p-value (Gelman, Meng & Stern,
Statistica Sinica 6, 733, 1996): p = P(T(d_rep, mu) >= T(d, mu)), over posterior draws mu and
replicated data d_rep drawn from the likelihood at mu. p near 0 means the data lie further from
the model than its own noise makes plausible: a misfit, whatever the evidence says.

With the noise level estimated (``noise: {estimate: true}``) sigma is fitted to the residuals,
so chi^2/N is about 1 and p about 1/2 *by construction*, whatever the misfit: they are reported
but do not judge. What judges in every mode is the structure of the residuals: the lag-1
autocorrelation rho_1 of the normalised MAP residuals r_i = (d_i - mu_i)/sd_i (sd = sigma, or
sqrt(s mu) for counts) is about N(0, 1/N) for independent noise (Box & Jenkins), and a model
that misses a line leaves runs of residuals of one sign: rho_1 > LAG1_Z / sqrt(N) is a misfit.

Parameter flags, from the reported rung's samples and the priors:

- at a bound: more than BOUND_MASS of the posterior within BOUND_EDGE of the prior range of a
  bound (a uniform prior puts BOUND_EDGE there; a loguniform prior is judged in log theta, the
  scale it is flat in, for this flag and the next);
- unconstrained: the posterior sd is at least PRIOR_LIKE of the prior's (the data say little);
- inseparable pairs: |correlation| above PAIR_CORRELATION (only a combination is determined).
"""

from __future__ import annotations

import numpy as np

from remc_mpi.likelihood import COUNTS

#: posterior draws used for the averages and the predictive p-value (evenly spaced samples)
FIT_DRAWS = 200
#: replicated data sets per draw for the p-value
REPLICATES_PER_DRAW = 5
#: a p-value below this is a misfit (the warnings, `select`, `collect`) where sigma is not estimated
MISFIT_P = 0.01
#: residuals whose lag-1 autocorrelation exceeds LAG1_Z / sqrt(N) are structured (a misfit): a
#: 5-sd excess of independent noise's N(0, 1/N), one false alarm in about 3.5 million
LAG1_Z = 5.0
BOUND_EDGE = 0.02
BOUND_MASS = 0.10
PRIOR_LIKE = 0.9
PAIR_CORRELATION = 0.99
#: prior draws for the prior's sd where it has no closed form
PRIOR_DRAWS = 4000


def count_scale(likelihood: str, level: float | None) -> float:
    """s of counting noise: 1 for Poisson, the given or estimated scale for scaled counts."""
    return 1.0 if likelihood == "poisson" else float(level)


def discrepancy(data: np.ndarray, mu: np.ndarray, likelihood: str, sigma: float | None) -> np.ndarray:
    """T of the module docstring for each row of mu (and of data, if 2-d): chi^2 or deviance
    (``sigma``: the noise level, sigma or the count scale s; None for Poisson)."""
    if likelihood in COUNTS:
        with np.errstate(divide="ignore", invalid="ignore"):
            mu_safe = np.where(mu > 0, mu, np.nan)
            log_term = np.where(data > 0, data * np.log(np.where(data > 0, data, 1.0) / mu_safe), 0.0)
            terms = 2.0 * (log_term - (data - mu))
        out = np.sum(terms, axis=-1) / count_scale(likelihood, sigma)
        return np.where(np.isfinite(out), out, np.inf)
    r = (data - mu) / sigma
    return np.sum(r * r, axis=-1)


def replicate(mu: np.ndarray, likelihood: str, sigma: float | None, rng: np.random.Generator) -> np.ndarray:
    """Data drawn from the likelihood at the model spectra mu."""
    if likelihood in COUNTS:
        s = count_scale(likelihood, sigma)
        return s * rng.poisson(np.clip(mu / s, 0.0, None)).astype(np.float64)
    return mu + sigma * rng.standard_normal(mu.shape)


def fit_quality(spectra, theta: np.ndarray, map_theta: np.ndarray, data: np.ndarray, likelihood: str,
                sigma: float | None, seed: int = 0, sigma_estimated: bool = False) -> dict:
    """The ``fit`` object of a summary: statistic name, T/N at the MAP and averaged over the
    posterior, the predictive p-value and its draws, the lag-1 autocorrelation of the MAP
    residuals and its limit. ``spectra(theta) -> (R, N)``."""
    n = data.size
    pick = np.unique(np.linspace(0, theta.shape[0] - 1, min(FIT_DRAWS, theta.shape[0])).astype(int))
    mu = spectra(theta[pick])
    t_obs = discrepancy(data, mu, likelihood, sigma)
    rng = np.random.default_rng(seed)
    mu_rep = np.repeat(mu, REPLICATES_PER_DRAW, axis=0)
    t_rep = discrepancy(replicate(mu_rep, likelihood, sigma, rng), mu_rep, likelihood, sigma)
    mu_map = spectra(map_theta[None, :])[0]
    t_map = float(discrepancy(data, mu_map, likelihood, sigma)) / n
    return {"statistic": "deviance/N" if likelihood in COUNTS else "chi2/N",
            "map": t_map, "mean": float(np.mean(t_obs)) / n,
            "p_value": float(np.mean(t_rep >= np.repeat(t_obs, REPLICATES_PER_DRAW))),
            "draws": int(pick.size * REPLICATES_PER_DRAW), "n_data": int(n), "sigma_estimated": bool(sigma_estimated),
            "residual_lag1": residual_lag1(data, mu_map, likelihood, sigma), "lag1_limit": LAG1_Z / float(np.sqrt(n))}


def residual_lag1(data: np.ndarray, mu: np.ndarray, likelihood: str, sigma: float | None) -> float:
    """rho_1 of the normalised residuals (module docstring), in energy order as the data are."""
    sd = np.sqrt(count_scale(likelihood, sigma) * np.clip(mu, 1e-300, None)) if likelihood in COUNTS else sigma
    r = (data - mu) / sd
    r = r - r.mean()
    denom = float(np.sum(r * r))
    return float(np.sum(r[1:] * r[:-1]) / denom) if denom > 0 else 0.0


def misfit_reasons(fit: dict | None) -> list[str]:
    """Why a fit is a misfit (empty: it is not): the predictive p-value where sigma is not
    estimated, structured residuals in every mode (files written before the residual check
    carry no ``residual_lag1`` and are judged by p alone)."""
    if not fit:
        return []
    out = []
    if not fit.get("sigma_estimated", False) and fit["p_value"] < MISFIT_P:
        out.append(f"{fit['statistic']} {fit['map']:.3g} at the MAP, posterior-predictive p = {fit['p_value']:.3g} "
                   f"(< {MISFIT_P:g})")
    if "residual_lag1" in fit and fit["residual_lag1"] > fit["lag1_limit"]:
        out.append(f"residuals structured (lag-1 autocorrelation {fit['residual_lag1']:.3f} > {fit['lag1_limit']:.3f})")
    return out


def misfit(fit: dict | None) -> bool:
    return bool(misfit_reasons(fit))


def parameter_flags(theta: np.ndarray, names, free: np.ndarray, priors, seed: int = 0) -> dict[str, list]:
    """``{at_bound: [...], unconstrained: [...], inseparable: [...]}`` for the free parameters."""
    rng = np.random.default_rng(seed)
    at_bound, loose = [], []
    cols = [j for j in range(len(names)) if free[j]]
    for j in cols:
        prior = priors.priors[j]
        lo, hi = prior.bounds()
        x = theta[:, j]
        draws = np.asarray(prior.sample(rng, PRIOR_DRAWS), dtype=np.float64)
        if prior.form == "loguniform":  # judged on the scale the prior is flat in
            x, lo, hi, draws = np.log(x), np.log(lo), np.log(hi), np.log(draws)
        if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
            edge = BOUND_EDGE * (hi - lo)
            for side, near in (("lower", x <= lo + edge), ("upper", x >= hi - edge)):
                mass = float(np.mean(near))
                if mass > BOUND_MASS:
                    at_bound.append({"parameter": names[j], "bound": side, "value": float(lo if side == "lower" else hi),
                                     "mass": mass})
        prior_sd = float(np.std(draws))
        ratio = float(np.std(x) / prior_sd) if prior_sd > 0 else 0.0
        if ratio >= PRIOR_LIKE:
            loose.append({"parameter": names[j], "sd_ratio": ratio})
    pairs = []
    if len(cols) > 1 and theta.shape[0] > 2:
        sub = theta[:, cols]
        sd = sub.std(axis=0)
        ok = sd > 0
        corr = np.corrcoef(sub[:, ok], rowvar=False) if ok.sum() > 1 else np.zeros((0, 0))
        kept = [c for c, k in zip(cols, ok) if k]
        for a in range(len(kept)):
            for b in range(a + 1, len(kept)):
                if abs(corr[a, b]) > PAIR_CORRELATION:
                    pairs.append({"parameters": [names[kept[a]], names[kept[b]]], "correlation": float(corr[a, b])})
    return {"at_bound": at_bound, "unconstrained": loose, "inseparable": pairs}


def flag_warnings(flags: dict[str, list]) -> list[str]:
    """The flags as warning lines."""
    out = [f"{f['parameter']}: {100 * f['mass']:.0f} % of the posterior lies within {100 * BOUND_EDGE:g} % of its "
           f"prior's {f['bound']} bound {f['value']:g}: widen the prior, or the model is straining"
           for f in flags["at_bound"]]
    out += [f"{f['parameter']}: the data say little about it (posterior sd {f['sd_ratio']:.2f} of the prior's)"
            for f in flags["unconstrained"]]
    out += [f"{p['parameters'][0]} and {p['parameters'][1]} are not separated by the data (correlation "
            f"{p['correlation']:+.3f}): only a combination of them is determined" for p in flags["inseparable"]]
    return out


def fit_warning(fit: dict) -> str | None:
    reasons = misfit_reasons(fit)
    if not reasons:
        return None
    return f"the model misfits the data: {'; '.join(reasons)}: its free energy ranks an inadequate model"
