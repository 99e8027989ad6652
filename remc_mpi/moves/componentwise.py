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
from typing import NamedTuple

import numpy as np

from remc_mpi.kernels import jit, jit_inline
from remc_mpi.kernels.priors import logpdf
from remc_mpi.moves.base import Move, adapted, log_scale_init, start_proposal


class ComponentwiseState(NamedTuple):
    """What the kernels receive each sweep (named across the compiled boundary)."""

    on: bool  # off only to test the other moves alone
    log_step: np.ndarray  # (rows, P) log step sizes
    accepted: np.ndarray  # (rows, P) counters
    tried: np.ndarray
    target: float  # acceptance targeted during burn-in


class ComponentwiseMove(Move):
    name = "componentwise"
    counters = ("accepted", "tried")
    essential = True

    def normals(self, n_free: int) -> int:
        return n_free

    def uniforms(self, n_free: int) -> int:
        return n_free

    def init_state(self, n_slots: int, priors) -> dict[str, np.ndarray]:
        p = len(priors.priors)
        log_step = np.array([log_scale_init(pr.scale()) for pr in priors.priors])
        return {"log_step": np.tile(log_step, (n_slots, 1)), "accepted": np.zeros((n_slots, p), dtype=np.int64),
                "tried": np.zeros((n_slots, p), dtype=np.int64)}

    def kernel_state(self, state, adapt):
        return ComponentwiseState(self.switched_on, state["log_step"], state["accepted"],
                                  state["tried"], float(self.settings["target_acceptance"]))


@jit_inline
def componentwise_propose(k, theta, logprior, prop, lp_prop, prior, stage, peak, z, log_step):
    """Proposal k of the sweep: free parameter j = free[k] moved by s_j z_k. Fills the proposed
    state and its log prior; returns (stage to recompute, peak, log prior ratio, inside support)."""
    free = prior.free
    j = free[k]
    start_proposal(theta, logprior, prop, lp_prop)
    prop[j] = theta[j] + math.exp(log_step[j]) * z[k]
    lp_prop[j] = logpdf(prior, j, prop[j])
    return stage[j], peak[j], lp_prop[j] - logprior[j], lp_prop[j] > -math.inf


@jit_inline
def componentwise_record(k, free, accepted, tried, log_step, ok, adapt, gain, target):
    """Count proposal k's outcome and, during burn-in, adapt its step size."""
    j = free[k]
    accepted[j] += ok
    tried[j] += 1
    if adapt:
        log_step[j] = adapted(log_step[j], gain, ok, target)
