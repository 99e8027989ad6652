"""Closed-form references for the linear-Gaussian model and a uniform-amplitude model."""

import math

import numpy as np
from scipy import special


def linear_gaussian_evidence(X, y, sigma, m0, s0):
    """log N(y; X m0, sigma^2 I + X diag(s0^2) X^T)."""
    C = sigma**2 * np.eye(len(y)) + (X * s0**2) @ X.T
    r = y - X @ m0
    sign, logdet = np.linalg.slogdet(2 * np.pi * C)
    return -0.5 * (logdet + r @ np.linalg.solve(C, r))


def linear_gaussian_posterior(X, y, sigma, m0, s0, lam_fraction=1.0):
    """Mean and covariance of the tempered posterior exp(-beta b0 |y - X c|^2 / 2) N(c; m0, s0^2)."""
    b = lam_fraction / sigma**2
    prec = b * X.T @ X + np.diag(1 / s0**2)
    cov = np.linalg.inv(prec)
    return cov @ (b * X.T @ y + m0 / s0**2), cov


def uniform_amplitude_evidence(g, y, sigma, lo, hi):
    """y = a g + noise, a ~ U(lo, hi): the evidence via erf.

    |y - a g|^2 = |y|^2 - 2 a g.y + a^2 |g|^2 is quadratic in a, so
    Z = (2 pi sigma^2)^(-N/2) / (hi - lo) * exp(-(|y|^2 - (g.y)^2/|g|^2) / (2 sigma^2))
        * sqrt(pi/2) (sigma/|g|) [erf((hi - a*) |g| / (sigma sqrt 2)) - erf((lo - a*) |g| / (sigma sqrt 2))],
    a* = g.y / |g|^2.
    """
    n = len(y)
    gg, gy = g @ g, g @ y
    a_star = gy / gg
    s = sigma / math.sqrt(gg)
    resid = y @ y - gy * gy / gg
    mass = 0.5 * (special.erf((hi - a_star) / (s * math.sqrt(2))) - special.erf((lo - a_star) / (s * math.sqrt(2))))
    return (-0.5 * n * math.log(2 * math.pi * sigma**2) - resid / (2 * sigma**2)
            + math.log(math.sqrt(2 * math.pi) * s * mass / (hi - lo)))


def slope_decisive_probability(x, c1, sigma, s0=1.0, odds=19.0):
    """P over the noise that y = c0 + c1 x + N(0, sigma^2) makes the line (c0, c1 ~ N(0, s0^2))
    win over the constant (c0 ~ N(0, s0^2)) with Bayes factor >= ``odds``, for sum(x) = 0.

    With sum(x) = 0 the constant's direction cancels from the Bayes factor; along x / |x| the
    data t = x.y / |x| are N(0, sigma^2 + q s0^2) under the line's prior, N(0, sigma^2) under
    the constant (q = |x|^2), so
        log B = -(1/2) log(1 + q s0^2 / sigma^2) + (t^2 / 2) (1/sigma^2 - 1/(sigma^2 + q s0^2)),
    and log B >= log odds  <=>  t^2 >= tau. Under the truth t ~ N(sqrt(q) c1, sigma^2).
    """
    q = float(np.sum(np.asarray(x) ** 2))
    s2 = sigma * sigma
    tau = (2 * math.log(odds) + math.log1p(q * s0**2 / s2)) / (1 / s2 - 1 / (s2 + q * s0**2))
    mu, root = math.sqrt(q) * c1, math.sqrt(tau)
    ndtr = special.ndtr
    return float(ndtr((-root - mu) / sigma) + ndtr((mu - root) / sigma))
