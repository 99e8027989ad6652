"""The prior renormalised to a model's support: the evidence of a ``lines_in_window`` model.

A model with a constraint beyond its parameters' priors (``Model.admissible``: with
``lines_in_window`` every core line of weight lies inside the data window, remc_mpi.models.spectral)
has the prior

    pi'(theta) = pi(theta) 1[theta admissible] / f,    f = P_pi(admissible),

the box prior pi restricted to its support and renormalised. The sampler never needs f: the
energy is +inf outside (a zero likelihood), so every estimator of the ladder (and the bridge)
measures Z = int pi 1 L = f Z' against pi, whose draws the lambda = 0 rung makes. The evidence
of the model is Z' = Z / f:

    log Z' = log Z - log f,

the same constant for every estimator and every rung (so the noise estimate b_hat, the minimum
of F(b), is unchanged). f is estimated from n independent prior draws (their own stream,
streams.WINDOW_KEY): f_hat = k / n, with the standard error of log f_hat from the binomial
variance, sqrt((1 - f) / (f n)) (0.003 at f = 0.3 and n = 200 000), added in quadrature to each
estimator's error. Without a constraint f = 1 exactly and nothing changes.
"""

from __future__ import annotations

import math

import numpy as np

#: prior draws that estimate f (in chunks of WINDOW_CHUNK, bounded memory)
WINDOW_DRAWS = 200_000
WINDOW_CHUNK = 20_000


def prior_mass(admissible, sample, n: int = WINDOW_DRAWS) -> dict:
    """f, the share of ``n`` prior draws ``sample(k)`` (k, P) that ``admissible`` (R, P) -> (R,)
    accepts: {fraction, log_fraction, stderr (of the log), draws}. No accepted draw: f = 0 and
    log f = -inf (nothing of the prior lies in the support)."""
    inside = 0
    for start in range(0, n, WINDOW_CHUNK):
        inside += int(np.count_nonzero(admissible(sample(min(WINDOW_CHUNK, n - start)))))
    f = inside / n
    log_f = math.log(f) if f > 0 else -math.inf
    stderr = math.sqrt((1.0 - f) / (f * n)) if f > 0 else math.inf
    return {"fraction": f, "log_fraction": log_f, "stderr": stderr, "draws": n}


def renormalised(estimators: dict, mass: dict) -> dict:
    """Each estimator's log evidence against the renormalised prior: value - log f, the error
    of log f added in quadrature (module docstring)."""
    out = {}
    for name, e in estimators.items():
        e = dict(e)
        e["value"] = float(e["value"] - mass["log_fraction"])
        e["stderr"] = float(math.hypot(e["stderr"], mass["stderr"]))
        out[name] = e
    return out
