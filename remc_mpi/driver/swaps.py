"""The exchange statistics of one candidate's run: tries and acceptances per slot pair, round
trips per replica, counted per rank and reduced over the ranks under the names the checkpoint
and the summary use (``swap_try``, ``swap_ok``, ``trips``).
"""

from __future__ import annotations

import numpy as np

from remc_mpi.sampling.ladder import pair_sums
from remc_mpi.sampling.parallel import LadderComm


class SwapStats:
    """This rank's exchange counts: tries and acceptances per slot pair (the pairs whose lower
    slot it holds) and round trips per replica, which the exchanges fill in place
    (LadderComm.exchange, SlotBlock.mark_ends: compiled, no arrays back to Python each sweep);
    :meth:`reduced` sums them over the ranks under the names the checkpoint and the summary use."""

    NAMES = ("swap_try", "swap_ok", "trips")

    def __init__(self, n_slots: int):
        self.tried = np.zeros(n_slots - 1, dtype=np.int64)
        self.accepted = np.zeros(n_slots - 1, dtype=np.int64)
        self.trips = np.zeros(n_slots, dtype=np.int64)

    def _counts(self, trips: bool) -> tuple[np.ndarray, ...]:
        """The count arrays in NAMES order, the round trips with ``trips``."""
        return (self.tried, self.accepted, self.trips) if trips else (self.tried, self.accepted)

    def reset(self, trips: bool = True) -> None:
        """Start counting afresh (after a ladder re-spacing the round trips go on)."""
        for counts in self._counts(trips):
            counts[:] = 0

    def reduced(self, lc: LadderComm, trips: bool = True) -> dict[str, np.ndarray]:
        """Collective: the counts summed over the ranks, by name (valid on rank 0)."""
        return {name: lc.reduce_sum(x) for name, x in zip(self.NAMES, self._counts(trips))}

    def load(self, arrays: dict) -> None:
        """Rank 0 after a restore: the checkpoint's reduced counts."""
        self.tried[:], self.accepted[:], self.trips[:] = (arrays[name] for name in self.NAMES)

    def local_rate(self) -> float:
        """The acceptance rate of this rank's pairs (for the progress line)."""
        return self.accepted.sum() / max(1, self.tried.sum())

    def rejection(self, lc: LadderComm, chains: int) -> np.ndarray:
        """Collective: the swap rejection rate of every rung pair since the counters were last
        reset, pooled over the chains (what the ladder's re-spacing equalises)."""
        swaps = self.reduced(lc, trips=False)
        ok, tried = (pair_sums(swaps[name], chains) for name in ("swap_ok", "swap_try"))
        return 1.0 - ok / np.maximum(1, tried)
