"""Temperature ladders: lambda_l = beta_l * b0 (known noise) or b_l (noise estimation).

The sampler only sees lambda, the coefficient of U = N E(theta) in the tempered density
p_l(theta) ∝ exp(-lambda_l U(theta)) phi(theta), with lambda_0 = 0 (the prior).

Default spacing is geometric above beta_1. Unless ``beta_min`` is given, beta_1 comes from the
spread of U over the prior: lambda_1 = 1 / sd_prior(U), so that the first exchange
(acceptance ~ exp(-lambda_1 |dU|)) succeeds often, capped so that the ladder still rises by a
factor MIN_RATIO per rung.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from remc_mpi.sampling.streams import ladder_generator

if TYPE_CHECKING:
    from remc_mpi.config import Candidate, RunConfig

MIN_RATIO = 1.2  # the automatic ladder climbs by at least this factor per rung
#: prior draws whose energies set the automatic beta_1 (the spread of U to about 5 %)
PROBE_DRAWS = 256
#: noise estimation without ``b_max``: the ladder tops out at this multiple of the precision
#: guessed from first differences of the data, whose variance 2 sigma^2 + (signal slope)^2
#: overestimates the noise: the factor lets b reach well above the true precision
NOISE_B_MAX_FACTOR = 25.0


def auto_lambda_min(u_prior: np.ndarray, lam_max: float, n_temps: int) -> float:
    """lambda_1 = 1 / sd(U over prior draws), capped at lam_max / MIN_RATIO^(n_temps - 2) so
    that the geometric ladder above it still climbs by at least MIN_RATIO per rung."""
    spread = float(np.std(u_prior))
    cap = lam_max * MIN_RATIO ** -(n_temps - 2)
    return cap if not spread > 0 else float(min(1.0 / spread, cap))


def make_ladder(n_temps: int, lam_min: float, lam_max: float, spacing: str = "geometric") -> np.ndarray:
    """lambda_0 = 0, then n_temps - 1 values from lam_min to lam_max (geometric or linear)."""
    if n_temps < 2:
        raise ValueError("a ladder needs at least two temperatures")
    if n_temps == 2:
        return np.array([0.0, lam_max])
    if spacing == "linear":
        upper = np.linspace(lam_max / (n_temps - 1), lam_max, n_temps - 1)
    else:
        upper = np.geomspace(lam_min, lam_max, n_temps - 1)
    upper[-1] = lam_max
    return np.concatenate([[0.0], upper])


# ---- the communication barrier (Syed, Bouchard-Cote, Deligiannidis, Doucet, JRSS B 84, 321 (2022)) ----
#
# The swap rejection rate r_l of the pair (l, l+1) estimates the integral of the local barrier
# lambda(beta) over [beta_l, beta_{l+1}], so Lambda(beta_l) = sum_{k<l} r_k is the cumulative
# barrier and Lambda = sum_l r_l the global communication barrier. With deterministic even-odd
# swaps (what the engine does) the ladder's round trips per exchange round are
# 1 / (2 + 2 sum_l r_l / (1 - r_l)), tending to 1 / (2 + 2 Lambda) for many rungs; the rungs
# are best placed at equal rejection, and about 2 Lambda of them suffice.

#: rungs per unit of the barrier chosen by ``n_temps: auto`` (Syed et al.'s rule of thumb, 2)
RUNGS_PER_BARRIER = 2.0
#: the fewest rungs n_temps: auto chooses (lambda_0 = 0, one intermediate, beta = 1 ... and room)
MIN_AUTO_RUNGS = 4
#: burn-in sweeps of the first adaptation round; each later round is twice as long
ADAPT_FIRST_ROUND = 100
#: rejection rates are floored at this when the cumulative barrier is inverted (a pair that
#: never rejects still occupies some of the schedule)
MIN_REJECTION = 1e-3


def communication_barrier(rejection: np.ndarray) -> float:
    """Lambda = sum of the neighbour pairs' swap rejection rates."""
    return float(np.sum(rejection))


def barrier_below(lam: np.ndarray, rejection: np.ndarray, top: float) -> float:
    """The communication barrier of the part of ladder ``lam`` below ``top``: the rejections of
    the pairs below it, the pair it cuts in the fraction of log lambda it keeps."""
    total = 0.0
    for l, r in enumerate(np.asarray(rejection, dtype=np.float64)):
        lo, hi = float(lam[l]), float(lam[l + 1])
        if hi <= top:
            total += r
        elif lo < top:
            total += r * (math.log(top / lo) / math.log(hi / lo) if lo > 0 else 1.0)
    return float(total)


def round_trip_rate_ideal(rejection: np.ndarray) -> float:
    """Round trips per exchange round of deterministic even-odd swaps with these rejection
    rates (Syed et al. 2022, Theorem 3): 1 / (2 + 2 sum r / (1 - r))."""
    r = np.clip(np.asarray(rejection, dtype=np.float64), 0.0, 1.0 - 1e-12)
    return float(1.0 / (2.0 + 2.0 * np.sum(r / (1.0 - r))))


def equal_rejection_ladder(lam: np.ndarray, rejection: np.ndarray, n_temps: int | None = None) -> np.ndarray:
    """The ladder of ``n_temps`` rungs (default: as many as now) spaced evenly in the cumulative
    barrier measured on ``lam`` (monotone cubic interpolation of beta against it), ends kept."""
    lam = np.asarray(lam, dtype=np.float64)
    n = len(lam) if n_temps is None else n_temps
    r = np.maximum(np.asarray(rejection, dtype=np.float64), MIN_REJECTION)
    cum = np.concatenate([[0.0], np.cumsum(r)])
    beta = lam / lam[-1]
    new = pchip(cum, beta, np.linspace(0.0, cum[-1], n))
    new[0], new[-1] = 0.0, 1.0
    return np.maximum.accumulate(new) * lam[-1]


def pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The derivatives of the monotone piecewise-cubic Hermite interpolant (Fritsch & Carlson,
    SIAM J. Numer. Anal. 17, 238 (1980); Fritsch & Butland's weighted harmonic mean inside, the
    shape-preserving three-point formula at the ends, as in scipy's PchipInterpolator):
    d_k = 0 where the secants m_{k-1}, m_k change sign, else
    1 / d_k = (w1 / m_{k-1} + w2 / m_k) / (w1 + w2), w1 = 2 h_k + h_{k-1}, w2 = h_k + 2 h_{k-1}."""
    h, m = np.diff(x), np.diff(y) / np.diff(x)
    if len(x) == 2:
        return np.array([m[0], m[0]])
    d = np.zeros_like(y)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    same = (m[:-1] * m[1:]) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = (w1 + w2) / (w1 / m[:-1] + w2 / m[1:])
    d[1:-1] = np.where(same, inner, 0.0)
    d[0] = _pchip_end(h[0], h[1], m[0], m[1])
    d[-1] = _pchip_end(h[-1], h[-2], m[-1], m[-2])
    return d


def _pchip_end(h0: float, h1: float, m0: float, m1: float) -> float:
    """The end derivative: the three-point formula, kept to the secant's sign and 3 |m0|."""
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if np.sign(d) != np.sign(m0):
        return 0.0
    if np.sign(m0) != np.sign(m1) and abs(d) > abs(3 * m0):
        return 3 * m0
    return float(d)


def pchip(x: np.ndarray, y: np.ndarray, xnew: np.ndarray) -> np.ndarray:
    """The monotone cubic interpolant of (x, y) (x increasing) at ``xnew`` in [x[0], x[-1]]
    (the cubic Hermite form on each interval with :func:`pchip_slopes`)."""
    x, y, xnew = (np.asarray(a, dtype=np.float64) for a in (x, y, xnew))
    d = pchip_slopes(x, y)
    k = np.clip(np.searchsorted(x, xnew, side="right") - 1, 0, len(x) - 2)
    h = x[k + 1] - x[k]
    t = (xnew - x[k]) / h
    h00, h10, h01, h11 = (2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2)
    return h00 * y[k] + h10 * h * d[k] + h01 * y[k + 1] + h11 * h * d[k + 1]


def adapt_points(burn_in: int) -> list[int]:
    """The sweeps after which the ladder is re-spaced during burn-in: rounds of doubling length
    (100, 300, 700, 1500, ...), the last one ending before the burn-in does."""
    points, end, length = [], ADAPT_FIRST_ROUND, ADAPT_FIRST_ROUND
    while end < burn_in:
        points.append(end)
        length *= 2
        end += length
    return points


def auto_rungs(barrier: float) -> int:
    """n_temps: auto: about RUNGS_PER_BARRIER x Lambda rungs (at least MIN_AUTO_RUNGS)."""
    return max(MIN_AUTO_RUNGS, int(math.ceil(RUNGS_PER_BARRIER * barrier)) + 1)


def noise_scale_guess(intensity: np.ndarray, likelihood: str = "gaussian") -> float:
    """A rough noise precision from first differences: sigma_d^2 = var(diff y) / 2, or for scaled
    counts 1/s with s = sigma_d^2 / mean(y) (variance s f)."""
    d = np.diff(intensity)
    var = float(np.var(d)) / 2.0
    if likelihood == "scaled_counts":
        var /= max(float(np.mean(intensity)), 1e-300)
    return 1.0 / var if var > 0 else 1.0


def build_ladder(cfg: "RunConfig", cand: "Candidate") -> tuple[np.ndarray, float]:
    """(lambda (L,), lambda_max): lambda = beta b0 (known noise) or b itself (estimation)."""
    spec = cfg.ladder
    if cfg.noise.model == "poisson":
        lam_max = 1.0  # counts: the likelihood is exp(-U) itself
    elif cfg.noise.estimate:
        lam_max = cfg.noise.b_max or NOISE_B_MAX_FACTOR * noise_scale_guess(cfg.data.intensity, cfg.noise.model)
    elif cfg.noise.model == "scaled_counts":
        lam_max = 1.0 / cfg.noise.scale
    else:
        lam_max = 1.0 / cfg.noise.sigma**2
    if spec.betas is not None:
        betas = np.array(spec.betas, dtype=np.float64)
        return betas / betas[-1] * lam_max, lam_max
    if spec.beta_min is not None:
        lam_min = spec.beta_min * lam_max
    else:
        rng = ladder_generator(cfg.seed)
        draws = np.array([cand.priors.sample(rng) for _ in range(PROBE_DRAWS)])
        u = cand.model.energies(draws, cfg.data.energy, cfg.data.intensity, cfg.noise.model)
        lam_min = auto_lambda_min(u[np.isfinite(u)], lam_max, spec.n_temps)
    return make_ladder(spec.n_temps, lam_min, lam_max, spec.spacing), lam_max


# ---- independent chains (ladder.chains = M): slot s = c L + l is rung l of chain c ----------

def slot_ladder(lam: np.ndarray, chains: int) -> np.ndarray:
    """Every slot's lambda: the rung ladder repeated for each chain."""
    return np.tile(np.asarray(lam, dtype=np.float64), chains)


def rung_sums(per_slot: np.ndarray, chains: int) -> np.ndarray:
    """Per-slot counts (M L, ...) summed over the chains: per rung (L, ...)."""
    return per_slot.reshape(chains, -1, *per_slot.shape[1:]).sum(axis=0)


def pair_sums(per_pair: np.ndarray, chains: int) -> np.ndarray:
    """Counts of the pairs (s, s+1), s < M L - 1, summed over the chains: per rung pair (L - 1,)
    (the non-pairs between chains dropped)."""
    padded = np.append(per_pair, np.zeros(1, dtype=per_pair.dtype))
    return padded.reshape(chains, -1)[:, :-1].sum(axis=0)
