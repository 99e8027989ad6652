"""When a candidate run checkpoints, and the bookkeeping beside the state it writes.

A checkpoint is due every ``checkpoint.every_sweeps`` sweeps (deterministic: the same sweep at
any rank count), after ``checkpoint.every_minutes`` of wall time, on SIGUSR1 (checkpoint and go
on) and on SIGTERM (checkpoint and stop); time and signals are looked at only at the collective
checks every CHECK_EVERY sweeps, where every rank takes the same decision. What a checkpoint
holds is the run's (:meth:`remc_mpi.driver.candidate.CandidateRun.gathered_state`); the file format
is :mod:`remc_mpi.io.checkpoint`. The checkpointer keeps the closed sample segments' records
(their SHA-256, which a resume verifies) and the sweep of the newest checkpoint, from which a
refused write says how to go on.
"""

from __future__ import annotations

import time
from pathlib import Path

from remc_mpi.io import checkpoint
from remc_mpi.config import CheckpointSpec
from remc_mpi.io.output import segment_record
from remc_mpi.sampling.parallel import LadderComm, on_root
from remc_mpi.driver.signals import Request, Signals

#: sweeps between the collective checks for signals, the wall clock and the time cap
CHECK_EVERY = 10


class Checkpointer:
    """A candidate run's checkpoints on ``out_path`` (see module docstring)."""

    def __init__(self, spec: CheckpointSpec, lc: LadderComm, out_path: Path, signals: Signals, heartbeat=None):
        self.spec, self.lc, self.out_path, self.signals = spec, lc, out_path, signals
        self.heartbeat = heartbeat  # called at the collective checks: refreshes the output locks
        self.sweep: int | None = None  # the sweep of the newest checkpoint
        self.records: list[dict] = []  # rank 0: what the checkpoints record of the closed segments
        self.last = time.monotonic()

    def restored(self, sweep: int, scalars: dict) -> None:
        """The run continues from the checkpoint of ``sweep`` (its scalars on rank 0)."""
        self.sweep = sweep
        if self.lc.rank == 0:
            self.records = list(scalars.get("segments", []))

    def request(self, sweep: int) -> Request:
        """Go on, checkpoint, or checkpoint and stop after ``sweep``; the same on every rank
        (collective every CHECK_EVERY sweeps, deterministic otherwise)."""
        spec = self.spec
        due_by_sweeps = spec.every_sweeps and (sweep + 1) % spec.every_sweeps == 0
        code = Request.CHECKPOINT if due_by_sweeps else Request.GO_ON
        if (sweep + 1) % CHECK_EVERY == 0:
            if self.heartbeat is not None:
                self.heartbeat()  # the output lock's holder is alive (throttled)
            late = spec.every_minutes is not None and time.monotonic() - self.last > 60 * spec.every_minutes
            code = Request(self.lc.reduce_max(max(code, self.signals.take(), int(late and self.lc.rank == 0))))
        return code

    def write(self, state: tuple[dict, dict] | None, writer, next_sweep: int, mpio: bool) -> None:
        """Collective: close the writer's sample segment and, on rank 0, write the gathered
        ``state`` (arrays, scalars) with the closed segments' records."""
        if mpio:
            writer.close_segment()  # collective

        def write() -> None:  # rank 0; a refused write is raised on every rank
            arrays, scalars = state
            n = writer.close_segment()
            self.records += [segment_record(self.out_path, k) for k in range(len(self.records), n)]
            checkpoint.write(self.out_path, arrays, {**scalars, "n_segments": n, "segments": self.records})

        on_root(self.lc.comm, write)
        self.last = time.monotonic()
        self.sweep = next_sweep

    def resume_hint(self) -> str:
        """What to do after a refused write: where --resume will continue from."""
        if self.sweep is None:
            return "no checkpoint was written yet: make space, then --resume starts this candidate again"
        return f"the checkpoint of sweep {self.sweep} is intact: make space, then continue with --resume"
