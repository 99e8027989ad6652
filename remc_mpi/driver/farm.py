"""A task farm: a campaign's (or a plan's) tasks inside one MPI allocation.

The world's P ranks split into G = P // g groups of ``group_size`` g consecutive ranks (a
remainder of fewer than g ranks joins the last group). Each group's leader takes the next task
from a shared counter — one integer in an MPI window on world rank 0, advanced with
``MPI_Fetch_and_op(MPI_SUM)``: an atomic fetch-and-add, so the queue needs no master rank and
no group waits for another — broadcasts it to its group, and the group runs it exactly as
``remc-mpi run config.yaml --resume`` would (:func:`remc_mpi.driver.engine.run` on the group's
communicator: the same results file, checkpoints and locks). One interpreter and one kernel load
per rank serve every task, where a SLURM array pays them in every task.

A task's result does not depend on the group that ran it (the same seed gives the same result at
any rank count: docs/contract.md §4); which group runs which task does. For a plan, which
repeats an early stop skips can therefore differ between a farm and a sequential run (each skip
is decided from the repeats finished when the task is taken).

Signals: the farm installs one set of handlers (remc_mpi.driver.signals) for all its tasks. SIGTERM
stops every group's run at its next collective check with a checkpoint, and no group takes
another task; the farm then ends with :class:`~remc_mpi.errors.Interrupted` (exit status 1) and
a re-run (``--resume`` semantics, as always) continues: finished tasks are skipped, interrupted
ones resume from their checkpoints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from remc_mpi.errors import InputError, OutputError

#: a task as the farm sees it: anything with a ``folder`` (remc_mpi.ui.campaign.Task); the farm
#: knows nothing of what a task holds, the caller's ``run_one`` does
Task = Any


@dataclass
class FarmStats:
    """What the farm did (the same on every rank): tasks run, skipped and failed, groups, wall time."""
    ran: int
    skipped: int
    failed: int
    groups: int
    group_size: int
    seconds: float


def group_of(rank: int, size: int, group_size: int) -> int:
    """The group of a world rank: consecutive blocks of ``group_size``, the remainder in the last."""
    groups = max(1, size // group_size)
    return min(rank // group_size, groups - 1)


class TaskCounter:
    """The shared next-task index: an MPI window of one 64-bit integer on world rank 0."""

    def __init__(self, comm):
        import numpy as np
        from mpi4py import MPI

        self._MPI, self._np = MPI, np
        self.value = np.zeros(1, dtype=np.int64)  # held by rank 0's window, the others expose nothing
        self.win = MPI.Win.Create(self.value if comm.Get_rank() == 0 else MPI.BOTTOM, disp_unit=8, comm=comm)

    def take(self) -> int:
        """The next index (atomic: each index is handed out once)."""
        np, MPI = self._np, self._MPI
        one, got = np.ones(1, dtype=np.int64), np.zeros(1, dtype=np.int64)
        self.win.Lock(0, MPI.LOCK_SHARED)
        self.win.Fetch_and_op(one, got, 0, 0, MPI.SUM)
        self.win.Unlock(0)
        return int(got[0])

    def free(self) -> None:
        self.win.Free()


def run_farm(tasks: Sequence[Task], run_one: Callable[[Task, object, object], None], group_size: int = 1, comm=None,
             skip: Callable[[Task], str | None] | None = None,
             report: Callable[[str], None] | None = None) -> FarmStats:
    """Run ``tasks`` in groups of ``group_size`` ranks pulling from a shared counter
    (module docstring). ``run_one(task, group_comm, signals)`` runs one task on its group;
    ``skip(task)`` (on the group's leader) gives a reason not to run it; ``report`` (world
    rank 0) receives a line per task that rank 0's own group takes."""
    from mpi4py import MPI

    from remc_mpi.errors import Interrupted
    from remc_mpi.driver.engine import load_kernels
    from remc_mpi.driver.signals import Signals

    comm = MPI.COMM_WORLD if comm is None else comm
    t0, rank, size = time.time(), comm.Get_rank(), comm.Get_size()
    if not 1 <= group_size <= size:
        raise InputError(f"a group of {group_size} ranks needs 1 to {size} (the job's ranks)", "command line",
                         "--group-size")
    load_kernels(comm)
    group = comm.Split(group_of(rank, size, group_size), rank)
    counter = TaskCounter(comm)
    counts = {"ran": 0, "skipped": 0, "failed": 0, "interrupted": 0}
    fault = None
    try:
        with Signals() as signals:
            while not counts["interrupted"] and fault is None:
                index = group.bcast(_next(counter, signals) if group.Get_rank() == 0 else None)
                if index is None or index >= len(tasks):
                    break
                try:
                    line = _one_task(tasks[index], group, signals, run_one, skip, counts, Interrupted)
                except OutputError as err:  # a full disk: no group starts another task
                    fault, line = err, f"stopped: {err}"
                if report is not None and rank == 0:
                    report(f"task {index + 1}/{len(tasks)} ({tasks[index].folder.name}) {line}")
    finally:
        comm.Barrier()
        counter.free()
    fault = next((f for f in comm.allgather(fault) if f is not None), None)
    if fault is not None:  # raised on every rank alike: one line, exit status 1
        raise fault.with_hint("make space, then run the farm again (finished tasks are kept)", collective=True)
    total = {k: comm.allreduce(v if group.Get_rank() == 0 else 0) for k, v in counts.items()}
    if total["interrupted"]:
        raise Interrupted(f"the farm stopped on a signal after {total['ran']} tasks; run it again to continue "
                          "(finished tasks are kept, interrupted ones resume)")
    return FarmStats(total["ran"], total["skipped"], total["failed"], max(1, size // group_size), group_size,
                     time.time() - t0)


def _one_task(task: Task, group, signals, run_one, skip, counts: dict, interrupted: type) -> str:
    """Skip, run or fail one task on its group (counting it); the line that says which."""
    reason = group.bcast(skip(task) if skip is not None and group.Get_rank() == 0 else None)
    if reason:
        counts["skipped"] += 1
        return reason
    try:
        run_one(task, group, signals)
    except interrupted:
        counts["interrupted"] += 1
        return "interrupted (checkpoint written)"
    except InputError as err:  # this task's input: its line says why, the farm goes on
        counts["failed"] += 1
        return f"failed: {err}"
    counts["ran"] += 1
    return "finished"


def _next(counter: TaskCounter, signals) -> int | None:
    """The leader's next task index, or None once a stop was asked for (no new task starts)."""
    from remc_mpi.driver.signals import Request

    if signals.code >= Request.STOP:
        return None
    return counter.take()


__all__ = ["FarmStats", "TaskCounter", "group_of", "run_farm"]
