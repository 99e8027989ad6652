"""Compiled prior log densities: a :class:`~remc_mpi.priors.PriorSet` as arrays.

Each parameter j has a form code (its position in :data:`remc_mpi.priors.FORMS`), up to four
arguments and the registry's log normalising constant, so the kernel's log phi_j(x) is the
reference's to rounding:

    uniform [lo, hi]           -log(hi - lo)                      on [lo, hi]
    loguniform [lo, hi]        -log x - log log(hi / lo)          on [lo, hi]
    normal [m, s]              -z^2 / 2 - log(s sqrt(2 pi))       z = (x - m) / s
    truncnormal [m, s, lo, hi] -z^2 / 2 - log(s sqrt(2 pi) mass)  on [lo, hi]
    gamma [k, rate]            k log rate - log Gamma(k) + (k - 1) log x - rate x,  x > 0
    fixed [v]                  0 at v
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from remc_mpi.kernels import jit
from remc_mpi.priors import FORMS, PriorSet

#: the kernel's branch of each form (logpdf below); its order is the registry's
FORM_CODES = {name: code for code, name in enumerate(FORMS)}
if list(FORM_CODES) != ["uniform", "loguniform", "normal", "truncnormal", "gamma", "fixed"]:  # pragma: no cover
    raise ImportError("remc_mpi.priors.FORMS changed: give the new form its branch in kernels/priors.logpdf")


class KernelPriors(NamedTuple):
    """A prior set as the kernels read it, by field name."""

    form: np.ndarray  # (P,) int64
    args: np.ndarray  # (P, 4)
    const: np.ndarray  # (P,) log normalising constants (the registry's log_norm)
    free: np.ndarray  # (n_free,) int64, the free columns


def kernel_priors(priors: PriorSet) -> KernelPriors:
    p = len(priors.priors)
    form = np.empty(p, dtype=np.int64)
    args = np.zeros((p, 4))
    const = np.zeros(p)
    for j, pr in enumerate(priors.priors):
        form[j] = FORM_CODES[pr.form]
        args[j, :len(pr.args)] = pr.args
        const[j] = FORMS[pr.form].log_norm(pr.args)
    return KernelPriors(form, args, const, np.asarray(priors.free_index, dtype=np.int64))


@jit
def logprior_row(prior, theta, out):
    """out[j] = log phi_j(theta[j]) for the free columns, 0 for the fixed ones."""
    free = prior.free
    for j in range(theta.size):
        out[j] = 0.0
    for k in range(free.size):
        out[free[k]] = logpdf(prior, free[k], theta[free[k]])


@jit
def logpdf(prior, j, x):
    """log phi_j(x), -inf outside the support (see module docstring)."""
    f = prior.form[j]
    a = prior.args[j]
    const = prior.const
    if f == 0:
        return const[j] if a[0] <= x <= a[1] else -math.inf
    if f == 1:
        return -math.log(x) + const[j] if a[0] <= x <= a[1] else -math.inf
    if f == 2:
        z = (x - a[0]) / a[1]
        return -0.5 * z * z + const[j]
    if f == 3:
        if not a[2] <= x <= a[3]:
            return -math.inf
        z = (x - a[0]) / a[1]
        return -0.5 * z * z + const[j]
    if f == 4:
        if not x > 0.0:
            return -math.inf
        return const[j] + (a[0] - 1.0) * math.log(x) - a[1] * x
    return 0.0 if x == a[0] else -math.inf
