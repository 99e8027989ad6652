"""Adaptive joint Metropolis: all free parameters together along the slot's learnt covariance.

    theta' = theta + s C z,   z ~ N(0, I),  C C^T = Sigma (the slot's posterior covariance),

accepted with the tempered Metropolis ratio of the whole vector (Haario, Saksman, Tamminen,
Bernoulli 7, 223 (2001)). Strongly correlated parameters, such as delta, uff, ufc and shift
along the cluster models' near-degenerate ridges, then mix in sweeps instead of thousands.

Sigma is learnt during burn-in by Welford's running mean and covariance of every slot's state
after each sweep, in two windows: from the first sweep, then afresh from the middle of the
burn-in (:meth:`JointMove.restart_learning`), so that the covariance finally used holds
neither the first half's transient from the prior draws nor the early ladders' temperatures
(on the measured CeO2 spectrum the whole burn-in's covariances, offered as the mode jumps'
components, were never accepted at any slot; docs/measured.md). From JOINT_START sweeps of a window on, every JOINT_EVERY sweeps,
C is renewed by a Cholesky factorisation of Sigma plus a floor of 1e-4 s_j^2 on the diagonal
(s_j the component-wise step sizes) that keeps it positive definite, and once more from the
whole second window at the end of the burn-in (:meth:`JointMove.finish_learning`), so that the
frozen mean and C describe the same samples. The scale s starts at 2.38 / sqrt(d) (the optimal
random-walk scale for d-dimensional Gaussian targets, Gelman, Roberts, Gilks 1996) and follows
Robbins-Monro toward JOINT_TARGET acceptance during burn-in; mean, C and s are frozen after
burn-in (the mixture move, :mod:`remc_mpi.moves.mixture`, proposes from them).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from remc_mpi.kernels import jit
from remc_mpi.kernels.spectra import ALL
from remc_mpi.moves.base import Move, adapted, log_prior_ratio, start_proposal

#: burn-in sweeps of covariance learning before the first joint move, and between renewals
JOINT_START = 200
JOINT_EVERY = 50
#: acceptance targeted by the joint scale (near the 0.234 optimum of Roberts, Gelman, Gilks 1997)
JOINT_TARGET = 0.25
#: optimal random-walk scale 2.38 / sqrt(d) for d-dimensional Gaussian targets (Gelman et al. 1996)
OPTIMAL_RW_SCALE = 2.38
#: floor on the learnt variances, relative to the component step sizes squared
VARIANCE_FLOOR = 1e-4


class JointState(NamedTuple):
    """What the kernels receive each sweep (named across the compiled boundary)."""

    ready: bool  # C has been learnt
    chol: np.ndarray  # (rows, d, d) Cholesky factors C
    log_scale: np.ndarray  # (rows,) log s
    accepted: np.ndarray  # (rows,) counters
    tried: np.ndarray
    target: float  # acceptance targeted during burn-in
    learn_n: int  # n of the observation to learn this sweep (0: none)
    mean: np.ndarray  # (rows, d) running mean
    m2: np.ndarray  # (rows, d, d) running co-moment


class JointMove(Move):
    name = "joint"
    counters = ("accepted", "tried")
    rate_name = "joint_acceptance"

    def __init__(self, **settings) -> None:
        super().__init__(**settings)
        self.enabled = self.switched_on
        self.scalars = {"stat_n": 0, "ready": False}

    def normals(self, n_free: int) -> int:
        return n_free

    def uniforms(self, n_free: int) -> int:
        return 1

    def init_state(self, n_slots: int, priors) -> dict[str, np.ndarray]:
        d = len(priors.free_index)
        self.free = np.asarray(priors.free_index)
        self.enabled = self.enabled and d > 1
        return {"mean": np.zeros((n_slots, d)), "m2": np.zeros((n_slots, d, d)), "chol": np.zeros((n_slots, d, d)),
                "log_scale": np.full(n_slots, np.log(OPTIMAL_RW_SCALE / np.sqrt(max(1, d)))),
                "accepted": np.zeros(n_slots, dtype=np.int64), "tried": np.zeros(n_slots, dtype=np.int64)}

    def learning(self, adapt: bool) -> bool:
        return self.enabled and adapt

    def kernel_state(self, state, adapt):
        learn_n = self.scalars["stat_n"] + 1 if self.learning(adapt) else 0
        return JointState(bool(self.scalars["ready"]), state["chol"], state["log_scale"], state["accepted"],
                          state["tried"], JOINT_TARGET, learn_n, state["mean"], state["m2"])

    def after_sweep(self, states, adapt) -> None:
        """Count the sweep the kernel learnt from; renew C every JOINT_EVERY sweeps."""
        if not self.learning(adapt):
            return
        n = self.scalars["stat_n"] = self.scalars["stat_n"] + 1
        if n >= JOINT_START and n % JOINT_EVERY == 0:
            self._renew(states)

    def _renew(self, states) -> None:
        """C from the window's covariance (plus the variance floor)."""
        state, log_step = states[self.name], states["componentwise"]["log_step"]
        cov = state["m2"] / (self.scalars["stat_n"] - 1)
        floor = np.exp(2 * log_step[:, self.free]) * VARIANCE_FLOOR
        idx = np.arange(cov.shape[1])
        cov[:, idx, idx] += floor + 1e-300
        state["chol"][...] = np.linalg.cholesky(cov)
        self.scalars["ready"] = True

    def restart_learning(self, states) -> None:
        """Open the second window: forget the running mean and co-moment (C stays in use until
        the new window renews it)."""
        if self.enabled:
            states[self.name]["mean"][...] = 0.0
            states[self.name]["m2"][...] = 0.0
            self.scalars["stat_n"] = 0

    def finish_learning(self, states) -> None:
        """End of burn-in: C from the whole last window, when it holds more sweeps than dimensions."""
        if self.enabled and self.scalars["stat_n"] > len(self.free):
            self._renew(states)


@jit
def welford(theta, free, n, mean, m2, delta):
    """Add the n-th observation x = theta[free] to the running mean and co-moment m2:
    delta = x - mean; mean += delta / n; m2 += delta (x - mean)^T (``delta`` is scratch)."""
    d = free.size
    for a in range(d):
        delta[a] = theta[free[a]] - mean[a]
        mean[a] += delta[a] / n
    for a in range(d):
        for b in range(d):
            m2[a, b] += delta[a] * (theta[free[b]] - mean[b])


@jit
def joint_propose(theta, logprior, prop, lp_prop, prior, z, chol, log_scale):
    """theta' = theta + s C z on the free parameters. Fills the proposed state and its log
    prior; returns (stage ALL: every free parameter moves, -1, log prior ratio, inside support)."""
    free = prior.free
    start_proposal(theta, logprior, prop, lp_prop)
    s = math.exp(log_scale)
    d = free.size
    for a in range(d):
        step = 0.0
        for b in range(a + 1):
            step += chol[a, b] * z[b]
        prop[free[a]] += step * s
    ratio, lp_sum = log_prior_ratio(prior, prop, lp_prop, logprior)
    return ALL, -1, ratio, lp_sum > -math.inf


@jit
def joint_record(ok, adapt, gain, target, log_scale):
    """The joint scale after one joint move (adapted during burn-in)."""
    return adapted(log_scale, gain, ok, target) if adapt else log_scale
