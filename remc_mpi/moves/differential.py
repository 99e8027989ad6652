"""Differential-evolution proposals from a frozen archive of the slot's own past states.

    theta'_free = theta_free + gamma w (z_a - z_b),   a != b uniform over the archive,
    w ~ uniform(1 - W, 1 + W),

accepted with the tempered Metropolis ratio (DE-MC with an archive of past states, "DE-MCz":
ter Braak, Stat. Comput. 16, 239 (2006); ter Braak & Vrugt, Stat. Comput. 18, 435 (2008)).
The proposal is symmetric, because the pair (b, a) with the same w gives the opposite step, so
the ratio is the target's alone; fixed parameters keep their values. The random w spreads the
step lengths, so that with at least d independent differences every free direction is reached
(and the component-wise move keeps the chain irreducible anyway).

The archive z_1..z_n holds the slot's states of the burn-in's learning window (every
ARCHIVE_EVERY sweeps, the last ARCHIVE_SIZE of them), written by the sweep kernel; it grows
and gamma follows Robbins-Monro toward DE_TARGET acceptance during the burn-in only, and both
are frozen after it, so the chain is an exact Metropolis chain from then on (a fixed symmetric
proposal for each slot, the ladder fixed too). The archive is checkpointed with the slot.

Why: at the hot end of a measured spectrum's ladder (b ~ 10^-4 - 10^-3 of the data's
precision) the posterior is broad, curved and several-moded: the data fix the line positions,
which the cluster parameters (Delta, V, U_ff, U_fc, the shift) reach along curved ridges. A
Gaussian random walk with the slot's covariance then takes small steps (the covariance spans
the whole curved set), while differences of two archive states point along the set itself.
Measured on the CeO2 Ce 3d states of a cluster3 run (docs/measured.md): the expected squared
jump in the slot's whitened coordinates was 2-7 times the joint move's at b ~ 4*10^-4 - 5*10^-3
(with an archive of post-burn-in states); in runs, over five seeds, the round trips per
CPU-second rose by a quarter, within their scatter, so the move is off by default
(``sampler.differential_moves``). Off, it takes no random numbers: the streams and results
are those of a sampler without it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from remc_mpi.kernels import jit
from remc_mpi.kernels.spectra import ALL
from remc_mpi.moves.base import Move, adapted, log_prior_ratio, start_proposal

#: states kept per slot, and sweeps between two writes: the last ARCHIVE_SIZE * ARCHIVE_EVERY
#: sweeps of the burn-in (written every 5th sweep, the archive of the CeO2 run in
#: docs/measured.md held modes the slots had left and was up to 30 times too broad)
ARCHIVE_SIZE = 256
ARCHIVE_EVERY = 1
#: states the archive must hold before the move runs (per free parameter, and at least)
MIN_ARCHIVE_PER_DIM, MIN_ARCHIVE = 2, 10
#: initial gamma 2.38 / sqrt(2 d), the optimum for Gaussian targets (ter Braak 2006, section 2)
DE_SCALE = 2.38
#: acceptance targeted by the adapted gamma (near the 0.234 optimum of random walks,
#: Roberts, Gelman, Gilks 1997; DE-MC behaves like a random walk with the target's covariance)
DE_TARGET = 0.25
#: half width of the step-length spread w
W = 0.5


class DifferentialState(NamedTuple):
    """What the kernels receive each sweep (named across the compiled boundary)."""

    ready: bool  # the archive holds enough states
    archive: np.ndarray  # (rows, ARCHIVE_SIZE, d)
    filled: int  # states in it
    log_gamma: np.ndarray  # (rows,)
    accepted: np.ndarray  # (rows,) counters
    tried: np.ndarray
    target: float  # acceptance targeted during burn-in
    write_row: int  # archive row this sweep's state goes to (-1: none)


class DifferentialMove(Move):
    name = "differential"
    counters = ("accepted", "tried")
    rate_name = "differential_acceptance"
    default_on = False

    def __init__(self, **settings) -> None:
        super().__init__(**settings)
        self.enabled = self.switched_on
        self.scalars = {"seen": 0, "filled": 0}
        self.min_filled = MIN_ARCHIVE

    def uniforms(self, n_free: int) -> int:
        return 4 if self.enabled else 0  # the pair (a, b), the step length w, the accept decision

    def init_state(self, n_slots: int, priors) -> dict[str, np.ndarray]:
        d = len(priors.free_index)
        self.enabled = self.enabled and d > 1
        self.min_filled = max(MIN_ARCHIVE, MIN_ARCHIVE_PER_DIM * d)
        return {"archive": np.zeros((n_slots, ARCHIVE_SIZE if self.enabled else 1, d)),
                "log_gamma": np.full(n_slots, math.log(DE_SCALE / math.sqrt(2 * max(1, d)))),
                "accepted": np.zeros(n_slots, dtype=np.int64), "tried": np.zeros(n_slots, dtype=np.int64)}

    def kernel_state(self, state, adapt):
        seen, filled = self.scalars["seen"], self.scalars["filled"]
        write = (seen // ARCHIVE_EVERY) % ARCHIVE_SIZE if self.enabled and adapt and seen % ARCHIVE_EVERY == 0 else -1
        return DifferentialState(bool(self.enabled and filled >= self.min_filled), state["archive"], int(filled),
                                 state["log_gamma"], state["accepted"], state["tried"], DE_TARGET, int(write))

    def after_sweep(self, states, adapt) -> None:
        """Count the sweep; a written state joins the archive."""
        if not (self.enabled and adapt):
            return
        if self.scalars["seen"] % ARCHIVE_EVERY == 0:
            self.scalars["filled"] = min(self.scalars["filled"] + 1, ARCHIVE_SIZE)
        self.scalars["seen"] += 1

    def restart_learning(self, states) -> None:
        """Second window: the archive starts afresh (the first half's states are transient)."""
        self.scalars["seen"] = 0
        self.scalars["filled"] = 0


@jit
def differential_propose(theta, logprior, prop, lp_prop, prior, log_u, archive, filled, log_gamma):
    """theta' = theta + gamma w (z_a - z_b) on the free parameters, (a, b, w) from the three
    log-uniforms ``log_u``. Fills the proposed state and its log prior; returns (stage ALL, -1,
    log prior ratio, inside support)."""
    free = prior.free
    start_proposal(theta, logprior, prop, lp_prop)
    a = min(int(math.exp(log_u[0]) * filled), filled - 1)
    b = (a + 1 + min(int(math.exp(log_u[1]) * (filled - 1)), filled - 2)) % filled
    step = math.exp(log_gamma) * (1.0 - W + 2.0 * W * math.exp(log_u[2]))
    for k in range(free.size):
        prop[free[k]] += step * (archive[a, k] - archive[b, k])
    ratio, lp_sum = log_prior_ratio(prior, prop, lp_prop, logprior)
    return ALL, -1, ratio, lp_sum > -math.inf


@jit
def differential_record(ok, adapt, gain, target, log_gamma):
    """gamma after one proposal (adapted during burn-in)."""
    return adapted(log_gamma, gain, ok, target) if adapt else log_gamma


@jit
def archive_write(theta, free, row):
    """The slot's state (its free parameters) into its archive row."""
    for k in range(free.size):
        row[k] = theta[free[k]]
