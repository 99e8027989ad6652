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

from remc_mpi.kernels.rows import ROW_HEAD, mark_ends, row_vector
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

    @property
    def row_size(self) -> int:
        """The length of a packed row (:meth:`pack`)."""
        return ROW_HEAD + 2 * self.theta.shape[1] + sum(part[0].size for part in self.stages)

    def pack(self, i: int, out: np.ndarray | None = None) -> np.ndarray:
        """Row i as one vector (into ``out`` when given): [U, replica, direction, theta (P),
        log prior (P), model stages] (kernels.rows.row_vector: one compiled call)."""
        out = np.empty(self.row_size) if out is None else out
        row_vector(i, out, True, *self.travelling())
        return out

    def unpack(self, i: int, vec: np.ndarray) -> None:
        """Row i from a vector of :meth:`pack`."""
        row_vector(i, vec, False, *self.travelling())

    def snapshot(self, with_theta: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Copies of what a recorded sweep saves, in slot order: the energies U, the replica
        labels (int32) and, ``with_theta``, the configurations."""
        return self.U.copy(), self.replica.astype(np.int32), self.theta.copy() if with_theta else None

    def mark_ends(self, bottoms: np.ndarray, tops: np.ndarray, trips: np.ndarray) -> None:
        """Update the direction labels at the rows of the ladders' bottoms and tops; count in
        ``trips`` (by replica) those that just completed a round trip (reached the bottom after
        the top): one compiled call (kernels.rows.mark_ends)."""
        mark_ends(bottoms, tops, self.replica, self.direction, trips)
