"""The beta = 0 rung: a fresh, exact draw from the prior every sweep.

At lambda = 0 the tempered posterior is the prior itself, so the slot is redrawn
independently (always accepted) instead of random-walked; this anchors log Z(0) = 0 and makes
the top of the ladder a perfect mixer. The draws come from the slot's own generator, in
blocks of sweeps, through each prior's exact sampler (:meth:`remc_mpi.priors.Prior.sample`).
"""

from __future__ import annotations

import numpy as np

from remc_mpi.kernels import jit
from remc_mpi.kernels.priors import logpdf
from remc_mpi.kernels.spectra import ALL
from remc_mpi.moves.base import Move


class PriorDrawMove(Move):
    name = "prior_draw"
    essential = True

    @staticmethod
    def draw(priors, rng: np.random.Generator, n_sweeps: int) -> np.ndarray:
        """``n_sweeps`` prior draws (n_sweeps, P) from ``rng``, parameter by parameter."""
        return priors.sample_rows(rng, n_sweeps)


@jit
def prior_draw_propose(fresh, prop, lp_prop, prior):
    """The draw ``fresh`` as the proposal: an independence proposal from the prior itself,
    whose Metropolis-Hastings ratio at lambda = 0 is exactly 1 (log ratio 0, always accepted).
    Returns (stage ALL: every parameter may change, -1, log ratio 0, True)."""
    free = prior.free
    for j in range(prop.size):
        prop[j] = fresh[j]
        lp_prop[j] = 0.0
    for k in range(free.size):
        j = free[k]
        lp_prop[j] = logpdf(prior, j, prop[j])
    return ALL, -1, 0.0, True
