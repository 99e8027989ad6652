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
from remc_mpi.kernels.spectra import full_row
from remc_mpi.moves.base import Move


class PriorDrawMove(Move):
    name = "prior_draw"

    @staticmethod
    def draw(priors, rng: np.random.Generator, n_sweeps: int) -> np.ndarray:
        """``n_sweeps`` prior draws (n_sweeps, P) from ``rng``, parameter by parameter."""
        return np.stack([np.broadcast_to(np.asarray(p.sample(rng, n_sweeps), dtype=np.float64), (n_sweeps,))
                         for p in priors.priors], axis=1)


@jit
def prior_draw_step(theta, logprior, model, prior, row, tbuf, fresh):
    """Replace the slot's configuration by the draw ``fresh``; returns its energy."""
    ispec, fspec, stage, peak, basis, x, data = model
    form, args, const, free = prior
    lev, lines, S, y = row
    tlev, tlines, tS, ty, redo, work, bits = tbuf
    for j in range(theta.size):
        theta[j] = fresh[j]
        logprior[j] = 0.0
    for k in range(free.size):
        j = free[k]
        logprior[j] = logpdf(form, args, const, j, theta[j])
    return full_row(theta, ispec, fspec, basis, x, data, lev, lines, S, y, tlev, tlines, tS, ty, redo, work, bits)
