"""When a candidate run ends before its last sweep: the wall-clock cap and the target error.

- ``sampler.max_minutes``: looked at on rank 0 at the collective checks (every CHECK_EVERY
  sweeps), so every rank stops after the same sweep.
- ``sampler.target_error``: at the checks the run checkpoints and rank 0 estimates the
  headline error from the closed segments; the run stops when the error is at most the target
  *and* the round trips reach MIN_ROUND_TRIPS (an error that small with fewer round trips is
  not trusted: remc_mpi.evidence.trust). The checks fall at post-burn-in sweeps n_1 =
  check_every, n_{k+1} = n_k + max(check_every, check_growth n_k rounded up to whole
  check_every): a check re-reads every sample so far, so at fixed gaps the checks of a long run
  cost in proportion to the square of its length (most of a run to a tight target: docs/
  free_energy.md), with gaps growing by a share of the run they cost in proportion to its length,
  and the run overshoots the sweep where the target was reached by at most that share.
  Checked at fixed sweeps from samples that do not depend on the rank count, the same seed
  stops at the same sweep at any rank count, and a resumed run at the uninterrupted run's.

The policy decides and keeps the last check's figures for the progress line; the run does the
checkpoint and the estimate (:meth:`remc_mpi.driver.candidate.CandidateRun.stop_reason`).
"""

from __future__ import annotations

import math
import time

from remc_mpi.driver.checkpointer import CHECK_EVERY
from remc_mpi.config import SamplerSpec
from remc_mpi.sampling.parallel import LadderComm
from remc_mpi.driver.progress import format_duration
from remc_mpi.evidence.trust import MIN_ROUND_TRIPS


def next_check(post: int, check_every: int, check_growth: float) -> int:
    """The post-burn-in sweeps of the check after the one at ``post`` (module docstring)."""
    gap = -(-int(math.ceil(check_growth * post)) // check_every) * check_every
    return post + max(check_every, gap)


def check_sweeps(check_every: int, check_growth: float, up_to: int) -> list[int]:
    """The post-burn-in sweeps of every check up to ``up_to`` (module docstring)."""
    out = [check_every]
    while out[-1] + check_every <= up_to:
        out.append(next_check(out[-1], check_every, check_growth))
    return [n for n in out if n <= up_to]


class StopPolicy:
    """The early stops of one run (see module docstring); ``target_error`` None: none."""

    def __init__(self, sampler: SamplerSpec, target_error: float | None, lc: LadderComm, t_start: float):
        """``t_start``: the run's start (time.time()), from which max_minutes counts."""
        self.sampler, self.target_error, self.lc, self.t_start = sampler, target_error, lc, t_start
        self.error: float | None = None  # the headline error at the last check of the target
        self._next_check = sampler.check_every  # post-burn-in sweeps of the next check (check_sweeps)
        self.checked_trips = 0  # the round trips at that check

    def time_up(self, sweep: int) -> bool:
        """Collective at the checks: the wall-clock cap has run out after ``sweep``."""
        cap = self.sampler.max_minutes
        if cap is None or (sweep + 1) % CHECK_EVERY:
            return False
        late = self.lc.rank == 0 and time.time() - self.t_start > 60.0 * cap
        return bool(self.lc.reduce_max(int(late)))

    def target_due(self, sweep: int) -> bool:
        """The target is checked after ``sweep`` (at :func:`check_sweeps`)."""
        post = sweep + 1 - self.sampler.burn_in
        if self.target_error is None or post <= 0 or post % self.sampler.check_every:
            return False
        while self._next_check < post:
            self._next_check = next_check(self._next_check, self.sampler.check_every, self.sampler.check_growth)
        return self._next_check == post

    def reached(self, error: float, trips: int) -> bool:
        """Record a check's headline error and round trips; whether the target is reached."""
        self.error, self.checked_trips = error, trips
        return error <= self.target_error and trips >= MIN_ROUND_TRIPS

    def note(self, done: int, rate: float) -> str:
        """The error against the target and the sweeps to it (error ~ 1 / sqrt(post-burn-in
        sweeps), round trips ~ post-burn-in sweeps), as of the last check; ``rate`` in sweeps/s."""
        if self.error is None:
            return ""
        trips, post = self.checked_trips, done - self.sampler.burn_in
        need = int(post * max((self.error / self.target_error) ** 2, MIN_ROUND_TRIPS / max(trips, 1))) - post
        eta = f" (ETA {format_duration(need / rate)})" if rate > 0 else ""
        few = f", {trips} of {MIN_ROUND_TRIPS} round trips" if trips < MIN_ROUND_TRIPS else ""
        return (f"log Z error {self.error:.3g} / target {self.target_error:g}{few}"
                + (f", about {need} more sweeps{eta}" if need > 0 else ", reached"))
