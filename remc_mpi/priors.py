"""Prior distributions phi(theta), one per parameter, independent.

Forms (config syntax ``name: {form: args}``):
  uniform [lo, hi]; loguniform [lo, hi] (0 < lo); normal [mean, sd];
  truncnormal [mean, sd, lo, hi]; gamma [shape, rate] (density ∝ x^(shape-1) e^(-rate x));
  fixed value (not sampled).
Each prior samples exactly (the beta = 0 rung draws from it), gives its log density (up to
nothing: normalised, -inf outside the support), and a scale for initial step sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special


@dataclass(frozen=True)
class Prior:
    form: str
    args: tuple[float, ...]

    @property
    def fixed(self) -> bool:
        return self.form == "fixed"

    def sample(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray | float:
        f, a = self.form, self.args
        if f == "uniform":
            return rng.uniform(a[0], a[1], size)
        if f == "loguniform":
            return np.exp(rng.uniform(math.log(a[0]), math.log(a[1]), size))
        if f == "normal":
            return rng.normal(a[0], a[1], size)
        if f == "truncnormal":
            m, s, lo, hi = a
            plo, phi = special.ndtr((lo - m) / s), special.ndtr((hi - m) / s)
            u = rng.uniform(plo, phi, size)
            return np.clip(m + s * special.ndtri(u), lo, hi)
        if f == "gamma":
            return rng.gamma(a[0], 1.0 / a[1], size)
        return np.full(size, a[0]) if size is not None else a[0]

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Normalised log density, -inf outside the support."""
        x = np.asarray(x, dtype=np.float64)
        f, a = self.form, self.args
        if f == "uniform":  # the common case, kept to two vector operations
            return np.where((x >= a[0]) & (x <= a[1]), -math.log(a[1] - a[0]), -np.inf)
        if f == "normal":
            z = (x - a[0]) / a[1]
            return -0.5 * z * z - math.log(a[1] * math.sqrt(2.0 * math.pi))
        inside = self.in_support(x)
        safe = np.where(inside, x, self.bounds()[0] if f != "gamma" else 1.0)
        if f == "loguniform":
            out = -np.log(safe) - math.log(math.log(a[1] / a[0]))
        elif f == "truncnormal":
            m, s, lo, hi = a
            z = (safe - m) / s
            mass = special.ndtr((hi - m) / s) - special.ndtr((lo - m) / s)
            out = -0.5 * z * z - math.log(s * math.sqrt(2.0 * math.pi) * mass)
        elif f == "gamma":
            k, rate = a
            out = k * math.log(rate) - special.gammaln(k) + (k - 1.0) * np.log(safe) - rate * safe
        else:
            out = np.zeros_like(x)
        return np.where(inside, out, -np.inf)

    def in_support(self, x: np.ndarray) -> np.ndarray:
        f, a = self.form, self.args
        if f in ("uniform", "loguniform"):
            return (x >= a[0]) & (x <= a[1])
        if f == "truncnormal":
            return (x >= a[2]) & (x <= a[3])
        if f == "gamma":
            return x > 0.0
        if f == "normal":
            return np.isfinite(x)
        return x == a[0]

    def scale(self) -> float:
        """A typical width of the prior, for initial proposal step sizes."""
        f, a = self.form, self.args
        if f == "uniform":
            return a[1] - a[0]
        if f == "loguniform":
            return a[1] - a[0]
        if f == "normal":
            return a[1]
        if f == "truncnormal":
            return min(a[1], a[3] - a[2])
        if f == "gamma":
            return math.sqrt(a[0]) / a[1]
        return 0.0

    def bounds(self) -> tuple[float, float]:
        f, a = self.form, self.args
        if f in ("uniform", "loguniform"):
            return a[0], a[1]
        if f == "truncnormal":
            return a[2], a[3]
        if f == "gamma":
            return 0.0, math.inf
        if f == "fixed":
            return a[0], a[0]
        return -math.inf, math.inf


#: number of arguments of each form
PRIOR_ARITY = {"uniform": 2, "loguniform": 2, "normal": 2, "truncnormal": 4, "gamma": 2, "fixed": 1}


def check_prior(form: str, args: tuple[float, ...]) -> str | None:
    """Why ``form``/``args`` is not a proper prior, or None when it is."""
    if form not in PRIOR_ARITY:
        return f"unknown prior form {form!r}"
    if len(args) != PRIOR_ARITY[form]:
        return f"{form} takes {PRIOR_ARITY[form]} number(s), got {len(args)}"
    if not all(math.isfinite(v) for v in args):
        return f"{form} arguments must be finite numbers"
    if form in ("uniform", "loguniform") and not args[0] < args[1]:
        return f"{form} bounds [{args[0]}, {args[1]}] are empty or inverted"
    if form == "loguniform" and args[0] <= 0:
        return "loguniform needs a positive lower bound"
    if form in ("normal", "truncnormal") and args[1] <= 0:
        return f"{form} needs a positive sd"
    if form == "truncnormal" and not args[2] < args[3]:
        return f"truncnormal bounds [{args[2]}, {args[3]}] are empty or inverted"
    if form == "truncnormal":
        m, s, lo, hi = args
        if special.ndtr((hi - m) / s) - special.ndtr((lo - m) / s) <= 1e-300:
            return "truncnormal has no probability mass between its bounds"
    if form == "gamma" and not (args[0] > 0 and args[1] > 0):
        return "gamma needs positive shape and rate"
    return None


class PriorSet:
    """The priors of all of a model's parameters, in theta's column order."""

    def __init__(self, names: tuple[str, ...], priors: dict[str, Prior]):
        self.names = tuple(names)
        self.priors = [priors[n] for n in self.names]
        self.free = np.array([not p.fixed for p in self.priors])
        self.free_index = np.flatnonzero(self.free)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One draw theta (P,), free parameters in column order from ``rng``."""
        return np.array([p.sample(rng) for p in self.priors], dtype=np.float64)

    def logpdf_col(self, j: int, x: np.ndarray) -> np.ndarray:
        return self.priors[j].logpdf(x)

    def logpdf_rows(self, theta: np.ndarray) -> np.ndarray:
        """Per-parameter log densities (R, P) of theta (R, P) (0 for fixed parameters)."""
        theta = np.atleast_2d(theta)
        out = np.zeros(theta.shape)
        for j in self.free_index:
            out[:, j] = self.priors[j].logpdf(theta[:, j])
        return out

    def logpdf(self, theta: np.ndarray) -> np.ndarray:
        """Joint log density of each row of theta (R, P)."""
        return self.logpdf_rows(theta).sum(axis=1)
