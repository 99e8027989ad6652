r"""Noise estimation (Tokuda, Nagata, Okada 2017): the ladder runs over the precision b.

p_b(theta) ∝ exp(-N b E(theta)) phi(theta) and the Bayes free energy as a function of b,
    F(b) = -(N/2) log(b / 2 pi) - log Z(b),
whose minimiser b_hat is the empirical-Bayes noise precision, sigma_hat = b_hat^(-1/2); for
scaled counts (remc_mpi.likelihood) b = 1/s and C(b) replaces (N/2) log(b / 2 pi). Two
uncertainties are reported: the Monte Carlo error of b_hat (bootstrap, like every free energy)
and the posterior width of the noise level itself, from the curvature of F in log b.
log Z(b) between rungs comes from MBAR reweighting of all rungs' samples, so b_hat is not
restricted to the ladder's values.
"""

from __future__ import annotations

import numpy as np

from remc_mpi.evidence.mbar import LogZCurve
from remc_mpi.likelihood import evidence_constant


def free_energy_curve(b: np.ndarray, log_z: np.ndarray, data: np.ndarray, likelihood: str = "gaussian") -> np.ndarray:
    """F(b) = -C(b) - log Z(b), C(b) = (N/2) log(b/2pi) for Gaussian noise (remc_mpi.likelihood)."""
    data = np.asarray(data)
    return -evidence_constant(likelihood, data.size, np.asarray(b, dtype=np.float64), data) - np.asarray(log_z)


def b_hat(lam: np.ndarray, U: np.ndarray, log_z: np.ndarray, data: np.ndarray, likelihood: str = "gaussian",
          n_grid: int = 64) -> float:
    """argmin_b F(b) over [lam_1, lam_max]: a log-spaced scan, then a bounded refinement."""
    grid = np.geomspace(lam[1], lam[-1], n_grid)
    log_z_at = LogZCurve(lam, U, log_z)

    def F(b):
        return free_energy_curve(b, log_z_at(b), data, likelihood)

    values = F(grid)
    k = int(np.argmin(values))
    lo, hi = np.log(grid[max(0, k - 1)]), np.log(grid[min(n_grid - 1, k + 1)])
    if hi <= lo:
        return float(grid[k])
    from scipy import optimize  # imported here: a second of start-up that runs without noise estimation skip

    res = optimize.minimize_scalar(lambda x: float(F(np.exp(x))[0]), bounds=(lo, hi), method="bounded",
                                   options={"xatol": 1e-6})
    return float(np.exp(res.x)) if res.fun <= values[k] else float(grid[k])


def log_b_sd(log_z_at: LogZCurve, data: np.ndarray, b_hat: float, likelihood: str = "gaussian",
             h: float = 0.05) -> float:
    """Posterior sd of log b under a flat prior on log b: exp(-F(b)) ∝ p(D | b), so
    sd(log b) = F''(log b_hat)^(-1/2), F'' by central differences (step h in log b)."""
    b = b_hat * np.exp(np.array([-h, 0.0, h]))
    f = free_energy_curve(b, log_z_at(b), data, likelihood)
    curv = (f[0] - 2.0 * f[1] + f[2]) / (h * h)
    return float(curv ** -0.5) if curv > 0 else float("nan")
