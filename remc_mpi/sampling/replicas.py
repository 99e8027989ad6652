"""The configurations of a block of temperature slots, and what travels with one between slots.

Row i holds slot lo + i's configuration: theta (P,), its energy U, its log prior per parameter,
its replica label and direction (the round-trip bookkeeping: +1 after the bottom rung, -1 after
the top), and its model stages (:class:`remc_mpi.kernels.spectra.Stages`). An exchange moves
all of them together, as one flat vector between ranks (:meth:`Replicas.pack`), so that the
receiver needs no evaluation and gets exactly the bits a local swap would (rank-count
invariance). What stays with the slot (its step sizes, its random stream) is elsewhere.
"""

from __future__ import annotations

import numpy as np

from remc_mpi.kernels.rows import mark_ends
from remc_mpi.kernels.spectra import KernelModel, Stages


class Replicas:
    """The rows of slots [lo, lo + n_rows) (see module docstring)."""

    def __init__(self, km: KernelModel, theta: np.ndarray, lo: int):
        n_rows, n_params = theta.shape
        self.theta = theta
        self.U = np.zeros(n_rows)
        self.logprior = np.zeros((n_rows, n_params))
        self.replica = np.arange(lo, lo + n_rows, dtype=np.int64)
        self.direction = np.zeros(n_rows, dtype=np.int64)
        self.stages = Stages.zeros(km, n_rows)  # each row's cached model stages (levels, lines, S, T, y)

    def travelling(self) -> tuple[np.ndarray, ...]:
        """The per-row arrays that move with a configuration, in the exchange kernel's order."""
        return (self.theta, self.U, self.logprior, self.replica, self.direction, *self.stages)

    def pack(self, i: int) -> np.ndarray:
        """Row i as one vector: [U, replica, direction, theta (P), log prior (P), model stages]."""
        return np.concatenate([[self.U[i], self.replica[i], self.direction[i]], self.theta[i], self.logprior[i],
                               *(part[i].ravel() for part in self.stages)])

    def unpack(self, i: int, vec: np.ndarray) -> None:
        """Row i from a vector of :meth:`pack`."""
        p = self.theta.shape[1]
        self.U[i], self.replica[i], self.direction[i] = vec[0], int(vec[1]), int(vec[2])
        self.theta[i] = vec[3:3 + p]
        self.logprior[i] = vec[3 + p:3 + 2 * p]
        pos = 3 + 2 * p
        for part in self.stages:
            dst = part[i]
            dst[...] = vec[pos:pos + dst.size].reshape(dst.shape)
            pos += dst.size

    def snapshot(self, with_theta: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Copies of what a recorded sweep saves, in slot order: the energies U, the replica
        labels (int32) and, ``with_theta``, the configurations."""
        return self.U.copy(), self.replica.astype(np.int32), self.theta.copy() if with_theta else None

    def mark_ends(self, bottoms: np.ndarray, tops: np.ndarray, trips: np.ndarray) -> None:
        """Update the direction labels at the rows of the ladders' bottoms and tops; count in
        ``trips`` (by replica) those that just completed a round trip (reached the bottom after
        the top): one compiled call (kernels.rows.mark_ends)."""
        mark_ends(bottoms, tops, self.replica, self.direction, trips)
