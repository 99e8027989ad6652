"""Prior distributions phi(theta), one per parameter, independent; the registry of prior forms.

Forms (config syntax ``name: {form: args}``), each one :class:`PriorForm` in :data:`FORMS`:

    uniform [lo, hi]            on [lo, hi]          log phi = -log(hi - lo)
    loguniform [lo, hi], 0 < lo on [lo, hi]          log phi = -log x - log log(hi / lo)
    normal [mean, sd]           on R                 log phi = -z^2/2 - log(sd sqrt(2 pi))
    truncnormal [m, sd, lo, hi] on [lo, hi]          log phi = -z^2/2 - log(sd sqrt(2 pi) mass)
    gamma [shape, rate]         on (0, inf)          log phi = (shape - 1) log x - rate x
                                                               + shape log rate - log Gamma(shape)
    fixed [value]               the value only       (not sampled)

with z = (x - mean) / sd and mass = Phi((hi - m) / sd) - Phi((lo - m) / sd).

log phi = shape(x) + log_norm: the registry gives each part once, and the compiled kernels
(:mod:`remc_mpi.kernels.priors`) take the form's code and its log_norm from here. Every form
samples exactly (the beta = 0 rung draws from it) and gives a scale for initial step sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def _special():
    """scipy.special, imported when a truncated normal or gamma prior first needs it (half a
    second of start-up that validate, and runs without these priors, do not pay)."""
    from scipy import special

    return special


def _ndtr_mass(m: float, s: float, lo: float, hi: float) -> float:
    ndtr = _special().ndtr
    return float(ndtr((hi - m) / s) - ndtr((lo - m) / s))


def _truncnormal_sample(rng, a, size):
    m, s, lo, hi = a
    special = _special()
    u = rng.uniform(special.ndtr((lo - m) / s), special.ndtr((hi - m) / s), size)
    return np.clip(m + s * special.ndtri(u), lo, hi)


def _truncnormal_check(a) -> str | None:
    m, s, lo, hi = a
    if not s > 0:
        return "truncnormal needs a positive sd"
    if not lo < hi:
        return f"truncnormal bounds [{lo}, {hi}] are empty or inverted"
    if _ndtr_mass(m, s, lo, hi) <= 1e-300:
        return "truncnormal has no probability mass between its bounds"
    return None


def _interval_check(name: str) -> Callable[[tuple[float, ...]], str | None]:
    def check(a) -> str | None:
        if not a[0] < a[1]:
            return f"{name} bounds [{a[0]}, {a[1]}] are empty or inverted"
        if name == "loguniform" and a[0] <= 0:
            return "loguniform needs a positive lower bound"
        return None

    return check


@dataclass(frozen=True)
class PriorForm:
    """A prior form: its number of arguments, exact sampler, log density on its support
    (``shape(x, args) + log_norm(args)``), support, step-size scale and argument check."""

    arity: int
    sample: Callable  # (rng, args, size) -> draws
    shape: Callable  # (x, args) -> unnormalised log density, x inside the support
    log_norm: Callable  # args -> log normalising constant
    support: Callable  # args -> (lo, hi, lo_open): x in [lo, hi], or (lo, hi] when lo_open
    scale: Callable  # args -> a typical width (0 for fixed)
    check: Callable = lambda a: None  # args -> why they are not a proper prior, or None


#: every prior form by its config name; the position is the compiled kernels' form code
FORMS: dict[str, PriorForm] = {
    "uniform": PriorForm(2, lambda rng, a, n: rng.uniform(a[0], a[1], n), lambda x, a: np.zeros_like(x),
                         lambda a: -math.log(a[1] - a[0]), lambda a: (a[0], a[1], False), lambda a: a[1] - a[0],
                         _interval_check("uniform")),
    "loguniform": PriorForm(2, lambda rng, a, n: np.exp(rng.uniform(math.log(a[0]), math.log(a[1]), n)),
                            lambda x, a: -np.log(x), lambda a: -math.log(math.log(a[1] / a[0])),
                            lambda a: (a[0], a[1], False), lambda a: a[1] - a[0], _interval_check("loguniform")),
    "normal": PriorForm(2, lambda rng, a, n: rng.normal(a[0], a[1], n), lambda x, a: -0.5 * ((x - a[0]) / a[1]) ** 2,
                        lambda a: -math.log(a[1] * math.sqrt(2.0 * math.pi)), lambda a: (-math.inf, math.inf, False),
                        lambda a: a[1], lambda a: None if a[1] > 0 else "normal needs a positive sd"),
    "truncnormal": PriorForm(4, _truncnormal_sample, lambda x, a: -0.5 * ((x - a[0]) / a[1]) ** 2,
                             lambda a: -math.log(a[1] * math.sqrt(2.0 * math.pi) * _ndtr_mass(*a)),
                             lambda a: (a[2], a[3], False), lambda a: min(a[1], a[3] - a[2]), _truncnormal_check),
    "gamma": PriorForm(2, lambda rng, a, n: rng.gamma(a[0], 1.0 / a[1], n),
                       lambda x, a: (a[0] - 1.0) * np.log(x) - a[1] * x,
                       lambda a: a[0] * math.log(a[1]) - float(_special().gammaln(a[0])), lambda a: (0.0, math.inf, True),
                       lambda a: math.sqrt(a[0]) / a[1],
                       lambda a: None if a[0] > 0 and a[1] > 0 else "gamma needs positive shape and rate"),
    "fixed": PriorForm(1, lambda rng, a, n: np.full(n, a[0]) if n is not None else a[0], lambda x, a: np.zeros_like(x),
                       lambda a: 0.0, lambda a: (a[0], a[0], False), lambda a: 0.0),
}



@dataclass(frozen=True)
class Prior:
    form: str
    args: tuple[float, ...]

    @property
    def fixed(self) -> bool:
        return self.form == "fixed"

    def sample(self, rng: np.random.Generator, size: int | None = None) -> np.ndarray | float:
        return FORMS[self.form].sample(rng, self.args, size)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Normalised log density, -inf outside the support."""
        x = np.asarray(x, dtype=np.float64)
        form = FORMS[self.form]
        inside = self.in_support(x)
        lo = self.bounds()[0]
        safe = np.where(inside, x, lo if math.isfinite(lo) and not form.support(self.args)[2] else 1.0)
        return np.where(inside, form.shape(safe, self.args) + form.log_norm(self.args), -np.inf)

    def support(self) -> tuple[float, float, bool]:
        """(lo, hi, lo_open): x in [lo, hi], or (lo, hi] when lo_open."""
        return FORMS[self.form].support(self.args)

    def in_support(self, x: np.ndarray) -> np.ndarray:
        lo, hi, lo_open = self.support()
        return ((x > lo) if lo_open else (x >= lo)) & (x <= hi) & np.isfinite(x)

    def scale(self) -> float:
        """A typical width of the prior, for initial proposal step sizes."""
        return FORMS[self.form].scale(self.args)

    def bounds(self) -> tuple[float, float]:
        lo, hi, _ = self.support()
        return lo, hi


def check_prior(form: str, args: tuple[float, ...]) -> str | None:
    """Why ``form``/``args`` is not a proper prior, or None when it is."""
    if form not in FORMS:
        return f"unknown prior form {form!r}"
    if len(args) != FORMS[form].arity:
        return f"{form} takes {FORMS[form].arity} number(s), got {len(args)}"
    if not all(math.isfinite(v) for v in args):
        return f"{form} arguments must be finite numbers"
    return FORMS[form].check(args)


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

    def sample_rows(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws (n, P) from ``rng``, parameter by parameter (n of the first, then n of
        the second, ...)."""
        return np.stack([np.broadcast_to(np.asarray(p.sample(rng, n), dtype=np.float64), (n,)) for p in self.priors],
                        axis=1)

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
