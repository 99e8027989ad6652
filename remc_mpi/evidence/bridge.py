r"""Bridge sampling of the evidence from the reported rung's samples (Meng & Wong, Statistica
Sinica 6, 831 (1996); the recipe of Gronau et al., J. Math. Psychol. 81, 80 (2017)).

The proposal is fitted in one of two coordinate systems xi of the free parameters: the
parameters as they are (xi = theta), or mapped to R^d (a bounded prior's support [a, b] by the
logit of (x - a)/(b - a), a half-bounded one by log(x - a), an unbounded one as it is). In
either the tempered posterior has the unnormalised density

    q(xi) = exp(-lam U(theta(xi))) phi(theta(xi)) |d theta / d xi|,   Z = \int q,

(zero where theta(xi) leaves the prior's support: proposal draws there weigh nothing), the
same Z(lam) = \int exp(-lam U) phi as every other estimator (remc_mpi.evidence.freeenergy).
The first half of the samples fits a proposal g in xi (a normal mixture, below); with the
second half (N1 draws from q / Z, their effective number n1 = N1 / tau) and N2 fresh draws
from g, the optimal bridge's fixed point for r = Z is

    r = [ (1/N2) sum_j l2_j / (s1 l2_j + s2 r) ] / [ (1/N1) sum_i 1 / (s1 l1_i + s2 r) ],
    l = q / g,  s1 = n1 / (n1 + N2),  s2 = N2 / (n1 + N2),

iterated in logs to 1e-10. The proposal is a mixture of 1 to 4 normal components (EM, the
number by BIC), so that curved posteriors are covered; a single normal fits them badly. Each
coordinate system gets its mixture, and the one whose mixture, read as a density of theta
(g(xi(theta)) |d xi / d theta|: its BIC plus 2 sum log |d theta / d xi| over the fitting half),
has the least BIC is used — chosen on the fitting half alone, so the bridging half stays an
independent sample. A posterior pressed against a bound is nearly normal in the logit or log;
a straight ridge the prior's box cuts (a cluster model's delta and U_fc along the combination
the spectrum fixes) is straight only in the parameters themselves: the logits bend it.

Its error (Fruehwirth-Schnatter, Econometrics J. 7, 143 (2004)): with f1 = 1 / (s1 l1 + s2 r) on the posterior draws and f2 = l2 / (s1 l2 + s2 r) on the
proposal's,

    RE^2 = Var(f2) / (N2 E(f2)^2) + tau_f1 Var(f1) / (N1 E(f1)^2),

tau_f1 the integrated autocorrelation time of the f1 series (the samples are a Markov chain's);
the error of log Z is RE. A model with K interchangeable peaks has a posterior of K! mirror
modes the samples need not all visit; where every peak has the same priors, prior and
likelihood are symmetric under relabelling, so the caller bridges the samples in canonical
order against q restricted to the canonical region (0 elsewhere) and adds log K!
(remc_mpi.driver.summary.bridge_estimate); with different priors no bridge applies.

Functions of documented arrays: :func:`to_free`, :func:`bridge_solve`, :func:`bridge_error`;
:func:`bridge_log_z` puts them together for a log-density callable.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from remc_mpi.evidence.diagnostics import integrated_time

#: the fixed-point iteration's tolerance on log r and its most iterations
BRIDGE_TOL, BRIDGE_MAX_ITER = 1e-10, 1000
#: the least posterior draws for a bridge estimate (half fit the proposal, half bridge), and the
#: least effective number of the bridging half: with fewer (short runs with the default thinning of
#: the stored parameters) the proposal is fitted to too little and the error formula, an
#: asymptotic one, runs low (benchmarks/bench_bridge.py: a scatter 3 times the reported error at
#: about 15 effective draws), so no bridge estimate is reported
MIN_BRIDGE_SAMPLES, MIN_BRIDGE_EFFECTIVE = 40, 200


def to_free(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """xi (n, d) of parameters x (n, d) with supports [lo, hi] per column, and
    log |d theta / d xi| per row (module docstring)."""
    xi, log_jac = np.array(x, dtype=np.float64), np.zeros(len(x))
    for j in range(x.shape[1]):
        a, b = lo[j], hi[j]
        if np.isfinite(a) and np.isfinite(b):
            u = (x[:, j] - a) / (b - a)
            xi[:, j] = np.log(u) - np.log1p(-u)
            log_jac += math.log(b - a) + np.log(u) + np.log1p(-u)
        elif np.isfinite(a):
            xi[:, j] = np.log(x[:, j] - a)
            log_jac += xi[:, j]
    return xi, log_jac


def from_free(xi: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`to_free`: parameters x and log |d theta / d xi| per row."""
    x, log_jac = np.array(xi, dtype=np.float64), np.zeros(len(xi))
    for j in range(xi.shape[1]):
        a, b = lo[j], hi[j]
        if np.isfinite(a) and np.isfinite(b):
            u = 0.5 * (1.0 + np.tanh(0.5 * xi[:, j]))  # the logistic function, without overflow
            x[:, j] = a + (b - a) * u
            log_jac += math.log(b - a) - np.logaddexp(0.0, xi[:, j]) - np.logaddexp(0.0, -xi[:, j])
        elif np.isfinite(a):
            x[:, j] = a + np.exp(xi[:, j])
            log_jac += xi[:, j]
    return x, log_jac


def _log_mean_exp(a: np.ndarray) -> float:
    m = float(np.max(a))
    return m + math.log(float(np.mean(np.exp(a - m)))) if np.isfinite(m) else m


def bridge_solve(l1: np.ndarray, l2: np.ndarray, n1_eff: float) -> float:
    """log r of the optimal bridge from log(q/g) at the posterior draws (l1) and at the
    proposal's draws (l2), n1_eff the posterior draws' effective number (module docstring)."""
    n2 = len(l2)
    log_s1, log_s2 = math.log(n1_eff / (n1_eff + n2)), math.log(n2 / (n1_eff + n2))
    log_r = -_log_mean_exp(-l1[np.isfinite(l1)])  # the reciprocal importance estimate, to start from
    for _ in range(BRIDGE_MAX_ITER):
        num = _log_mean_exp(l2 - np.logaddexp(log_s1 + l2, log_s2 + log_r))
        den = _log_mean_exp(-np.logaddexp(log_s1 + l1, log_s2 + log_r))
        new = num - den
        if abs(new - log_r) < BRIDGE_TOL:
            return float(new)
        log_r = new
    return float(log_r)


def bridge_error(l1: np.ndarray, l2: np.ndarray, n1_eff: float, log_r: float) -> float:
    """The relative error of r, i.e. the error of log r (module docstring)."""
    n1, n2 = len(l1), len(l2)
    log_s1, log_s2 = math.log(n1_eff / (n1_eff + n2)), math.log(n2 / (n1_eff + n2))
    f1 = np.exp(-np.logaddexp(log_s1 + l1, log_s2 + log_r) + log_r)  # scaled by r: O(1) numbers
    f2 = np.exp(l2 - np.logaddexp(log_s1 + l2, log_s2 + log_r))
    tau = integrated_time(f1)
    return float(math.sqrt(np.var(f2) / (n2 * np.mean(f2) ** 2) + tau * np.var(f1) / (n1 * np.mean(f1) ** 2)))


#: the proposal's mixture: up to this many normal components, chosen by BIC (Schwarz 1978), fitted
#: by EM (Dempster, Laird, Rubin 1977) from EM_ITERATIONS steps, with a COV_FLOOR ridge on each covariance;
#: EM stops early when a step gains less than EM_TOL nats per draw (a single normal does after
#: one step; mixtures of a curved posterior still gain 1e-4 after 60: benchmarks' cluster2)
MAX_COMPONENTS, EM_ITERATIONS, COV_FLOOR, EM_TOL = 4, 60, 1e-9, 1e-7


class NormalMixture:
    """A mixture of K normal densities in d dimensions: weights (K,), means (K, d), Cholesky
    factors (K, d, d)."""

    def __init__(self, weights: np.ndarray, means: np.ndarray, covs: np.ndarray):
        self.weights, self.means = weights, means
        d = means.shape[1]
        self.chol = np.linalg.cholesky(covs + COV_FLOOR * np.eye(d))
        # z = L^-1 (x - m) as a product with the small triangular inverse (a solve with n
        # right-hand sides cost 5 times as much), and each component's constant
        self.inv_chol_t = np.ascontiguousarray(np.transpose(np.linalg.inv(self.chol), (0, 2, 1)))
        self.log_norm = (np.log(weights) - np.sum(np.log(np.diagonal(self.chol, axis1=1, axis2=2)), axis=1)
                         - 0.5 * d * math.log(2 * math.pi))

    def component_log_pdf(self, x: np.ndarray) -> np.ndarray:
        """(n, K): log w_k N(x; m_k, S_k)."""
        out = np.empty((len(x), len(self.weights)))
        for k, (m, inv_t) in enumerate(zip(self.means, self.inv_chol_t)):
            z = (x - m) @ inv_t
            out[:, k] = self.log_norm[k] - 0.5 * np.einsum("ij,ij->i", z, z)
        return out

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        a = self.component_log_pdf(x)
        m = a.max(axis=1, keepdims=True)
        return (m + np.log(np.sum(np.exp(a - m), axis=1, keepdims=True)))[:, 0]

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.choice(len(self.weights), size=n, p=self.weights)
        z = rng.standard_normal((n, self.means.shape[1]))
        return self.means[k] + np.einsum("nij,nj->ni", self.chol[k], z)


def seed_means(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k draws of ``x`` as EM's starting means, by k-means++ seeding (Arthur & Vassilvitskii,
    SODA 2007): the first uniformly, each next with probability proportional to its squared
    distance to the nearest mean chosen so far; uniformly among the rest where every draw sits on
    a chosen one. Distances are in each coordinate's standard deviations (whitening by the full
    covariance would shrink the very direction that separates clusters). Two starts in one of two
    separated clusters, which uniform picks give half the time, leave EM at the saddle between them."""
    n = len(x)
    white = x / np.maximum(np.std(x, axis=0), 1e-300)
    picks = [int(rng.integers(n))]
    dist2 = np.sum((white - white[picks[0]]) ** 2, axis=1)
    for _ in range(1, k):
        total = float(dist2.sum())
        if total > 0.0:
            pick = int(rng.choice(n, p=dist2 / total))
        else:
            pick = int(rng.choice(np.setdiff1d(np.arange(n), picks)))
        picks.append(pick)
        dist2 = np.minimum(dist2, np.sum((white - white[pick]) ** 2, axis=1))
    return x[picks]


def fit_mixture(x: np.ndarray, k: int, rng: np.random.Generator) -> NormalMixture:
    """EM for a k-component normal mixture, started from k draws as means (:func:`seed_means`),
    each with the draws' covariance."""
    n, d = x.shape
    cov0 = np.atleast_2d(np.cov(x, rowvar=False))
    mix = NormalMixture(np.full(k, 1.0 / k), seed_means(x, k, rng), np.repeat(cov0[None], k, 0))
    last = -math.inf
    for _ in range(EM_ITERATIONS):
        a = mix.component_log_pdf(x)
        top = a.max(axis=1, keepdims=True)
        resp = np.exp(a - top)
        total = resp.sum(axis=1, keepdims=True)
        mean_log_lik = float(np.mean(top + np.log(total)))
        if mean_log_lik - last < EM_TOL:  # converged (one component: after one step)
            break
        last = mean_log_lik
        resp /= total
        nk = resp.sum(axis=0) + 1e-300
        means = (resp.T @ x) / nk[:, None]
        covs = np.stack([((x - means[j]).T * resp[:, j]) @ (x - means[j]) / nk[j] for j in range(k)])
        mix = NormalMixture(nk / n, means, covs + COV_FLOOR * np.eye(d))
    return mix


def proposal(x: np.ndarray, rng: np.random.Generator) -> tuple[NormalMixture | None, float]:
    """The normal mixture of 1 … MAX_COMPONENTS components with the least BIC on ``x`` (each
    component needs 10 (d + 1) draws), and that BIC; (None, inf) when there are too few draws
    for one."""
    n, d = x.shape
    best, best_bic = None, math.inf
    for k in range(1, MAX_COMPONENTS + 1):
        if n < 10 * k * (d + 1):
            break
        try:
            mix = fit_mixture(x, k, rng)
        except np.linalg.LinAlgError:  # a component collapsed: stop at fewer
            break
        params = k - 1 + k * d + k * d * (d + 1) / 2
        bic = -2.0 * float(np.sum(mix.log_pdf(x))) + params * math.log(n)
        if bic < best_bic:
            best, best_bic = mix, bic
    return best, best_bic


#: the coordinates a proposal is fitted in (module docstring): the prior's supports mapped to R^d,
#: or the parameters as they are
COORDINATES = ("unbounded", "parameters")


def fitted_proposal(x: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    rng: np.random.Generator) -> tuple[NormalMixture | None, str, np.ndarray, np.ndarray]:
    """The proposal for draws ``x`` (n, d) of parameters with supports [lo, hi]: in each of
    COORDINATES a mixture by BIC, then the coordinates whose mixture, as a density of the
    parameters (its BIC plus 2 sum log |d theta / d xi|), has the least BIC. Returns the mixture,
    the coordinates' name and the (lo, hi) that :func:`to_free` maps them with."""
    best = (None, COORDINATES[0], lo, hi)
    best_bic = math.inf
    unbounded = np.full(len(lo), -np.inf), np.full(len(lo), np.inf)
    for name, (a, b) in zip(COORDINATES, ((lo, hi), unbounded)):
        xi, log_jac = to_free(x, a, b)
        g, bic = proposal(xi, rng)
        bic += 2.0 * float(np.sum(log_jac))
        if g is not None and bic < best_bic:
            best, best_bic = (g, name, a, b), bic
    return best


def bridge_log_z(x: np.ndarray, log_q_post: np.ndarray, log_q: Callable[[np.ndarray], np.ndarray],
                 rng: np.random.Generator, lo: np.ndarray | None = None,
                 hi: np.ndarray | None = None) -> dict[str, float]:
    """{value, stderr, components, effective_samples, coordinates} of log Z from posterior draws
    ``x`` (n, d, in sampling order) of parameters with supports [lo, hi] (None: unbounded) and
    their log q, and ``log_q`` for new points inside the supports (module docstring)."""
    lo = np.full(x.shape[1], -np.inf) if lo is None else np.asarray(lo, dtype=np.float64)
    hi = np.full(x.shape[1], np.inf) if hi is None else np.asarray(hi, dtype=np.float64)
    n = len(x) // 2
    g, coordinates, a, b = fitted_proposal(x[:n], lo, hi, rng)
    if g is None:  # too few draws to fit a proposal: no estimate (the caller reports none)
        return {"value": math.nan, "stderr": math.nan, "components": 0, "effective_samples": 0.0,
                "coordinates": coordinates}
    xi_post, jac_post = to_free(x[n:], a, b)
    l1 = log_q_post[n:] + jac_post - g.log_pdf(xi_post)
    xi_draws = g.draw(len(xi_post), rng)
    draws, jac_draws = from_free(xi_draws, a, b)
    l2 = np.full(len(draws), -np.inf)  # outside the supports q is 0: log q is not asked there
    inside = np.all((draws >= lo) & (draws <= hi), axis=1)
    l2[inside] = log_q(draws[inside]) + jac_draws[inside] - g.log_pdf(xi_draws[inside])
    l2 = np.where(np.isnan(l2), -np.inf, l2)  # q undefined there (outside the model): weight 0
    n1_eff = len(xi_post) / integrated_time(l1)
    log_r = bridge_solve(l1, l2, n1_eff)
    return {"value": log_r, "stderr": bridge_error(l1, l2, n1_eff, log_r), "components": len(g.weights),
            "effective_samples": float(n1_eff), "coordinates": coordinates}


__all__ = ["to_free", "from_free", "bridge_solve", "bridge_error", "bridge_log_z", "MIN_BRIDGE_SAMPLES",
           "NormalMixture", "fit_mixture", "proposal", "fitted_proposal", "COORDINATES"]
