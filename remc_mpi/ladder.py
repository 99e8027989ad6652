"""Temperature ladders: lambda_l = beta_l * b0 (known noise) or b_l (noise estimation).

The sampler only sees lambda, the coefficient of U = N E(theta) in the tempered density
p_l(theta) ∝ exp(-lambda_l U(theta)) phi(theta), with lambda_0 = 0 (the prior).

Default spacing is geometric above beta_1. Unless ``beta_min`` is given, beta_1 comes from the
spread of U over the prior: lambda_1 = 1 / sd_prior(U), so that the first exchange
(acceptance ~ exp(-lambda_1 |dU|)) succeeds often, capped so that the ladder still rises by a
factor MIN_RATIO per rung.
"""

from __future__ import annotations

import numpy as np


MIN_RATIO = 1.2  # the automatic ladder climbs by at least this factor per rung


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


def adapt_ladder(lam: np.ndarray, swap_rate: np.ndarray, damping: float = 0.5) -> np.ndarray:
    """One step toward equal swap rates between neighbours, keeping both ends fixed.

    Works on the log-spacings s_l = log(lambda_{l+1} / lambda_l), l >= 1: each gap shrinks
    where the swap rate is below the mean and widens where it is above,
    s_l <- s_l * exp(damping * (rate_l - mean rate)), then all gaps are rescaled so the top
    stays at lambda_max. The pair (0, 1) is left alone: lambda_1 fixes the prior end.
    """
    lam = np.asarray(lam, dtype=np.float64)
    if lam.size <= 3:
        return lam.copy()
    logs = np.log(lam[1:])
    gaps = np.diff(logs)
    rates = np.asarray(swap_rate, dtype=np.float64)[1:]
    gaps = gaps * np.exp(damping * (rates - rates.mean()))
    gaps *= (logs[-1] - logs[0]) / gaps.sum()
    new = np.exp(logs[0] + np.concatenate([[0.0], np.cumsum(gaps)]))
    new[-1] = lam[-1]
    return np.concatenate([[0.0], new])
