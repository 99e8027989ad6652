"""Component-wise random-walk Metropolis: every free parameter once per sweep.

For each free parameter j in column order,

    theta'_j = theta_j + s_j z,   z ~ N(0, 1),
    accept with prob min(1, exp(-lambda (U' - U) + log phi_j(theta'_j) - log phi_j(theta_j))),

a proposal outside the prior's support being rejected without evaluating the model. Only the
stage that parameter j touches is recomputed (one peak of a peak model, the output stage for
amp and the background, the levels for the cluster couplings). During burn-in log s_j follows
Robbins-Monro toward the target acceptance a*: log s_j <- log s_j + (1[accepted] - a*) / (n + 1)^0.6.
"""

from __future__ import annotations

import math

import numpy as np

from remc_mpi.kernels import jit
from remc_mpi.kernels.priors import logpdf
from remc_mpi.kernels.spectra import commit, trial
from remc_mpi.moves.base import Move, adapted, log_scale_init, metropolis


class ComponentwiseMove(Move):
    name = "componentwise"
    counters = ("accepted", "tried")

    def normals(self, n_free: int) -> int:
        return n_free

    def uniforms(self, n_free: int) -> int:
        return n_free

    def init_state(self, n_slots: int, priors) -> dict[str, np.ndarray]:
        p = len(priors.priors)
        log_step = np.array([log_scale_init(pr.scale()) for pr in priors.priors])
        return {"log_step": np.tile(log_step, (n_slots, 1)), "accepted": np.zeros((n_slots, p), dtype=np.int64),
                "tried": np.zeros((n_slots, p), dtype=np.int64)}

    def acceptance(self, state):
        return state["accepted"] / np.maximum(1, state["tried"])


@jit
def componentwise_step(lam, theta, logprior, u, model, prior, row, tbuf, z, logu, log_step, accepted, tried,
                       adapt, gain, target):
    """One sweep of component-wise moves on one slot; returns the slot's new energy.
    ``model`` = (ispec, fspec, stage, peak, basis, x, data), ``prior`` = (form, args, const,
    free), ``row`` = the slot's (lev, lines, S, y), ``tbuf`` the trial buffers; z and logu
    are this move's draws for this sweep."""
    ispec, fspec, stage, peak, basis, x, data = model
    form, args, const, free = prior
    lev, lines, S, y = row
    tlev, tlines, tS, ty, redo, work, bits = tbuf
    for k in range(free.size):
        j = free[k]
        old = theta[j]
        prop = old + math.exp(log_step[j]) * z[k]
        lp = logpdf(form, args, const, j, prop)
        ok = False
        if lp > -math.inf:
            theta[j] = prop
            u_new = trial(theta, stage[j], peak[j], ispec, fspec, basis, x, data, lev, lines, S, tlev, tlines, tS,
                          ty, redo, work, bits)
            ok = metropolis(lam * (u - u_new) + (lp - logprior[j]), logu[k])
            if ok:
                commit(stage[j], ispec, lev, lines, S, y, tlev, tlines, tS, ty, redo)
                u = u_new
                logprior[j] = lp
            else:
                theta[j] = old
        accepted[j] += ok
        tried[j] += 1
        if adapt:
            log_step[j] = adapted(log_step[j], gain, ok, target)
    return u
