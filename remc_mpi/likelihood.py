"""The likelihood's energy, the one quantity every sampler and estimator works with.

Gaussian noise (docs/contract.md, section 3):

    U(theta) = N E(theta) = (1/2) sum_i (y_i - f(omega_i; theta))^2,
    P(D | theta) = (b0 / 2 pi)^(N/2) exp(-b0 U(theta)),  b0 = 1 / sigma^2,

tempered as exp(-lambda U) with lambda = beta b0 (or the precision b itself in noise mode).

Poisson counts (``noise: {model: poisson}``), for data d_i that are counts and a model f that
is their expectation:

    U(theta) = sum_i (f_i - d_i log f_i),   P(D | theta) = exp(-U(theta)) / prod_i d_i!,

tempered as exp(-lambda U) with lambda = beta in [0, 1] (lambda_max = 1); a non-positive
expectation where counts were seen has U = +inf (outside the model). The evidence adds the
constant -sum_i log d_i! to -integral <U>.

:func:`energies` is the numpy form, used wherever spectra are evaluated outside the sampler;
the compiled sweep kernel accumulates the same sum in the loop that writes each spectrum
(:func:`remc_mpi.kernels.spectra.output_energy`, the likelihood's code in LIKELIHOOD_CODES).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

#: the likelihoods by name and the code the compiled kernel branches on
LIKELIHOOD_CODES = {"gaussian": 0, "poisson": 1}


def energies(y: np.ndarray, data: np.ndarray, likelihood: str = "gaussian") -> np.ndarray:
    """U of each spectrum (last axis) against the data (module docstring)."""
    y = np.asarray(y, dtype=np.float64)
    if likelihood == "poisson":
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(data > 0, y - data * np.log(np.where(y > 0, y, 1.0)), y)
            bad = np.any((y <= 0) & (data > 0), axis=-1)
        return np.where(bad, np.inf, np.sum(terms, axis=-1))
    r = y - data
    return 0.5 * np.sum(r * r, axis=-1)


def evidence_constant(likelihood: str, n_data: int, lam_max: float, data: np.ndarray) -> float:
    """What log P(D | theta) adds to -lambda_max U: (N/2) log(b0 / 2 pi) for Gaussian noise,
    -sum log d_i! for counts."""
    if likelihood == "poisson":
        return float(-np.sum(gammaln(np.asarray(data, dtype=np.float64) + 1.0)))
    return 0.5 * n_data * math.log(lam_max / (2.0 * math.pi))
