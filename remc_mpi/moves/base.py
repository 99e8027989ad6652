"""What every move is: a declaration (Python) and a step (a compiled kernel).

A move of the sampler, in the manner of emcee's ``moves/``, is one small class that declares

- ``normals(n_free)`` / ``uniforms(n_free)``: how many standard normals and log-uniforms one
  slot consumes per sweep (the sampler sizes the slot's random buffers from the sum, and gives
  each move its offset into them);
- ``init_state(...)``: its per-slot arrays (step sizes, counters, learnt covariances...),
  which the sampler keeps, checkpoints under ``<move name>/<array>`` and restores;
- ``scalars``: its block-wide scalars (the same on every rank), checkpointed too;
- ``counters``: which of its arrays count post-burn-in statistics (reset after burn-in);
- ``kernel_state(state, adapt)``: the named tuple (``typing.NamedTuple``, one per move, which
  numba passes by field name) of its arrays and settings its kernels receive in a sweep (the
  sampler passes every move's tuple, in :data:`remc_mpi.moves.sweep.MOVES` order);
- ``after_sweep(states, adapt)``: adaptation done in Python between sweeps (rare work such as a
  Cholesky factorisation; ``states`` holds every move's state by name), while per-sweep
  adaptation runs inside its kernel;
- ``restart_learning(states)`` / ``finish_learning(states)``: called at the middle and at the
  end of the burn-in (learning in a second window; settling what is then frozen);
- ``report(state)``: its per-slot diagnostics under their public names (``rate_name``: the
  acceptance rate of a move that counts ``accepted`` and ``tried``), which the run averages per
  rung and writes as ``diagnostics/<name>`` (HDF5) and ``diagnostics.<name>`` (JSON) without
  knowing the move.

A move is built from the sampler's settings (``target_acceptance`` and every move's switch),
each move reading those it uses. A move's switch is the setting named like the move
(``SlotBlock(..., differential=True)``; in a run's config the built-in moves' own keys such as
``sampler.differential_moves``, and ``sampler.moves: {<name>: true}`` for moves added later),
on by ``default_on``. A move added later must take no random numbers while off, so that the
streams and results of runs without it stay as they were (the differential step does so; the
mode jumps keep their columns either way). An ``essential`` move (the component-wise walk and the
prior draw, on which the chain's irreducibility rests) is switched off only by tests.

Its kernels, ``@jit`` functions in the same module, are a *propose* (fill the proposed state
and its log prior, say which model stage it changes and the log prior ratio) and a *record*
(counters, per-sweep adaptation). The sweep kernel (:mod:`remc_mpi.moves.sweep`) runs every
proposal of every slot in one compiled call through one model evaluation and the one accept
rule :func:`metropolis`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from remc_mpi.kernels import jit, jit_inline
from remc_mpi.kernels.priors import logpdf
from remc_mpi.kernels.spectra import copy_into


@jit
def metropolis(log_ratio, log_u):
    """Accept when log u < log of the acceptance ratio (log_ratio = -inf always rejects)."""
    return log_u < log_ratio


@jit_inline
def start_proposal(theta, logprior, prop, lp_prop):
    """The proposal starts as the current state and its log priors (a move then changes some)."""
    copy_into(prop, theta)
    copy_into(lp_prop, logprior)


@jit
def log_prior_ratio(prior, prop, lp_prop, logprior):
    """After a move of every free parameter: their log priors at ``prop`` into lp_prop; returns
    (log prior ratio to ``logprior``, log prior of prop; -inf outside the support)."""
    free = prior.free
    for a in range(free.size):
        j = free[a]
        lp_prop[j] = logpdf(prior, j, prop[j])
    lp_sum = 0.0
    lp_old = 0.0
    for j in range(prop.size):
        lp_sum += lp_prop[j]
        lp_old += logprior[j]
    return lp_sum - lp_old, lp_sum


@jit
def adapted(log_scale, gain, accepted, target):
    """Robbins-Monro step on a log scale toward the target acceptance rate:
    log s <- log s + gain (1[accepted] - target)."""
    return log_scale + gain * ((1.0 if accepted else 0.0) - target)


#: exponent of the Robbins-Monro gain 1 / (n + 1)^ADAPT_EXPONENT (in (1/2, 1]: the steps stop
#: shrinking too fast to adapt and still vanish; 0.6 as in Andrieu & Thoms 2008, section 4)
ADAPT_EXPONENT = 0.6


#: the second learning window (restart_learning) opens halfway through the burn-in when it then
#: holds at least this many sweeps (the joint move's JOINT_START); shorter burn-ins learn in one
MIN_SECOND_WINDOW = 200


def second_window_start(burn_in: int) -> int | None:
    """Sweeps of burn-in after which the moves start learning afresh (None: one window)."""
    half = burn_in // 2
    return half if half >= MIN_SECOND_WINDOW else None


def adapt_gain(n_adapted: int) -> float:
    return 1.0 / (n_adapted + 1.0) ** ADAPT_EXPONENT


class Move:
    """Base of the moves (see module docstring)."""

    name: str = ""
    counters: tuple[str, ...] = ()
    #: the public name of its acceptance rate per slot (None: it reports none)
    rate_name: str | None = None
    #: on when its switch (the setting named like the move) is not given
    default_on: bool = True
    #: a run cannot switch it off (module docstring)
    essential: bool = False

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.scalars: dict[str, Any] = {}

    @property
    def switched_on(self) -> bool:
        """Its switch: the setting named like the move, else ``default_on``."""
        return bool(self.settings.get(self.name, self.default_on))

    def normals(self, n_free: int) -> int:
        return 0

    def uniforms(self, n_free: int) -> int:
        return 0

    def init_state(self, n_slots: int, priors) -> dict[str, np.ndarray]:
        return {}

    def kernel_state(self, state: dict[str, np.ndarray], adapt: bool) -> tuple:
        """What its kernels receive this sweep (arrays are the state's own, updated in place).
        Outside the burn-in (``adapt`` false) it must stay the same from sweep to sweep until the
        block hands the move something new (set_mixture, load_state, restart_ and
        finish_learning): the block builds it once and keeps it (SlotBlock._kernel_states)."""
        return ()

    def after_sweep(self, states: dict[str, dict[str, np.ndarray]], adapt: bool) -> None:
        """Python-side adaptation after a sweep (the kernel did the per-sweep part)."""

    def restart_learning(self, states: dict[str, dict[str, np.ndarray]]) -> None:
        """Middle of the burn-in: start learning afresh (what the first half learnt is transient)."""

    def finish_learning(self, states: dict[str, dict[str, np.ndarray]]) -> None:
        """End of the burn-in: settle what was learnt (it is frozen from here on)."""

    def report(self, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Its diagnostics per slot by public name: accepted / tried as ``rate_name``."""
        if self.rate_name is None:
            return {}
        return {self.rate_name: state["accepted"] / np.maximum(1, state["tried"])}


def log_scale_init(scale: float) -> float:
    """Initial log step size: a tenth of the prior's typical width (1 when it has none)."""
    return math.log(0.1 * scale) if scale > 0 else 0.0
