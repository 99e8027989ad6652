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

Scaled counts (``noise: {model: scaled_counts, scale: s}`` or ``{..., estimate: true}``), for
intensities that are counts times an unknown or known factor (transmission-corrected, averaged
or normalised counts: non-integer, with variance proportional to the expectation): d_i / s is
Poisson with mean f_i / s, so the mean is f_i and the variance s f_i. With b = 1 / s,

    log P(D | theta, b) = -b U(theta) + C(b),   U the Poisson energy above,
    C(b) = sum_i [b d_i log b - log Gamma(b d_i + 1)] + N log b

(the density of d = s x, x the Poisson count, continued to non-integer x through Gamma; it
integrates to one up to terms of order exp(-f_i / s)). The energy is the Poisson one, tempered as
exp(-lambda U) with lambda = beta b: a given s is a fixed precision b0 = 1/s, as sigma is for
Gaussian noise, and ``estimate: true`` runs the ladder over b and finds b_hat as the noise mode
does for sigma (remc_mpi.evidence.noise), with C(b) in place of (N/2) log(b / 2 pi). s = 1 is Poisson.

:func:`energies` is the numpy form, used wherever spectra are evaluated outside the sampler;
the compiled sweep kernel sums the same terms in eight interleaved partial sums
(:func:`remc_mpi.kernels.spectra.residual_energy`, the likelihood's code in LIKELIHOOD_CODES).
"""

from __future__ import annotations

import math

import numpy as np

#: the likelihoods by name and the code the compiled kernel branches on (scaled counts have the
#: Poisson energy, at another precision)
LIKELIHOOD_CODES = {"gaussian": 0, "poisson": 1, "scaled_counts": 1}
#: the likelihoods of counting noise: the Poisson energy, variance proportional to the expectation
COUNTS = ("poisson", "scaled_counts")


def energies(y: np.ndarray, data: np.ndarray, likelihood: str = "gaussian") -> np.ndarray:
    """U of each spectrum (last axis) against the data (module docstring)."""
    y = np.asarray(y, dtype=np.float64)
    if likelihood in COUNTS:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(data > 0, y - data * np.log(np.where(y > 0, y, 1.0)), y)
            bad = np.any((y <= 0) & (data > 0), axis=-1)
        return np.where(bad, np.inf, np.sum(terms, axis=-1))
    r = y - data
    return 0.5 * np.sum(r * r, axis=-1)


def evidence_constant(likelihood: str, n_data: int, lam, data: np.ndarray):
    """What log P(D | theta) adds to -lambda U at the precision lambda (a number or an array of
    them): (N/2) log(lambda / 2 pi) for Gaussian noise, -sum log d_i! for counts (lambda = 1),
    C(lambda) of the module docstring for scaled counts."""
    if likelihood in COUNTS:
        from scipy.special import gammaln  # imported here: half a second of start-up the others need not pay
    if likelihood == "poisson":
        return float(-np.sum(gammaln(np.asarray(data, dtype=np.float64) + 1.0)))
    if likelihood == "scaled_counts":
        b = np.asarray(lam, dtype=np.float64)[..., None]
        d = np.asarray(data, dtype=np.float64)
        out = np.sum(b * d * np.log(b) - gammaln(b * d + 1.0), axis=-1) + n_data * np.log(b[..., 0])
        return float(out) if out.ndim == 0 else out
    if np.ndim(lam) == 0:
        return 0.5 * n_data * math.log(lam / (2.0 * math.pi))
    return 0.5 * n_data * np.log(np.asarray(lam) / (2.0 * math.pi))
