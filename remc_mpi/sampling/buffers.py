"""Each slot's random numbers, drawn RAND_BLOCK sweeps at a time from the slot's own stream.

Slot s has its generator (:func:`remc_mpi.sampling.streams.slot_generator`), so its draws do not
depend on which rank holds it. Every RAND_BLOCK sweeps the generator refills the slot's
buffers: normals and log-uniforms for a slot at lambda > 0 (each move's columns at its offset,
from the moves' declarations), prior draws for the lambda = 0 slot. The buffers and the
position in them are part of a checkpoint's state.
"""

from __future__ import annotations

import numpy as np

from remc_mpi.moves.prior_draw import PriorDrawMove
from remc_mpi.moves.sweep import Draws
from remc_mpi.priors import PriorSet

#: sweeps of random numbers each slot draws at once (part of the state: buffers are saved)
RAND_BLOCK = 64


class RandomBuffers:
    """The random buffers of a block's rows (see module docstring); ``normals``/``uniforms``:
    each move's columns per sweep, in the moves' order."""

    #: the per-row arrays and the scalar of a checkpoint's state
    ARRAYS = ("rand_z", "rand_logu", "rand_prior")

    def __init__(self, rngs: list[np.random.Generator], n_params: int, normals: list[int], uniforms: list[int]):
        r = len(rngs)
        self.rngs = rngs
        self.z_off = np.cumsum([0] + normals[:-1]).astype(np.int64)
        self.u_off = np.cumsum([0] + uniforms[:-1]).astype(np.int64)
        self.rand_z = np.zeros((r, RAND_BLOCK, sum(normals)))
        self.rand_logu = np.zeros((r, RAND_BLOCK, sum(uniforms)))
        self.rand_prior = np.zeros((r, RAND_BLOCK, n_params))
        self.rand_pos = RAND_BLOCK

    def next_sweep(self, row_lam: np.ndarray, priors: PriorSet) -> tuple[Draws, int]:
        """The buffers and the sweep's position in them, refilled first when used up."""
        if self.rand_pos == RAND_BLOCK:
            self._refill(row_lam, priors)
        pos = self.rand_pos
        self.rand_pos += 1
        return Draws(self.rand_z, self.rand_logu, self.rand_prior, self.z_off, self.u_off), pos

    def _refill(self, row_lam: np.ndarray, priors: PriorSet) -> None:
        for i, g in enumerate(self.rngs):
            if row_lam[i] > 0.0:
                g.standard_normal(out=self.rand_z[i])
                g.random(out=self.rand_logu[i])
                np.log(self.rand_logu[i], out=self.rand_logu[i])
            else:
                self.rand_prior[i] = PriorDrawMove.draw(priors, g, RAND_BLOCK)
        self.rand_pos = 0
