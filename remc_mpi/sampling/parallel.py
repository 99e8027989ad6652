"""The MPI layer: which rank owns which temperature slots, and moving data between ranks.

Knows nothing of physics: it moves the flat row vectors of :meth:`SlotBlock.pack_row`
(energy first) and arrays.
Slots are spread in contiguous, balanced blocks (the first L mod P ranks get one more).
An exchange of the pair (l, l+1) across a rank boundary is one message each way between the
two neighbours (non-blocking send/receive of the boundary configurations); both sides then
apply the same test with the same uniform, so no further message is needed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from remc_mpi.kernels.rows import pair_tried, swap_accepted

if TYPE_CHECKING:  # the block is only moved, never looked into: no import at run time
    from remc_mpi.sampling.sampler import SlotBlock


#: environment variables through which launchers announce how many tasks they started
#: (Slurm's srun inside a job step, MPICH/Hydra's and Intel MPI's PMI, Open MPI, PMIx)
LAUNCHER_SIZE_VARIABLES = ("SLURM_STEP_NUM_TASKS", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")


def launched_tasks(environ=None) -> tuple[int, str] | None:
    """(tasks, variable) when a launcher says it started more than one task, else None.
    Slurm's count is taken only inside a job step (``SLURM_STEP_ID`` set): a batch script's own
    environment announces the allocation, not a launch."""
    import os

    env = os.environ if environ is None else environ
    for var in LAUNCHER_SIZE_VARIABLES:
        if var == "SLURM_STEP_NUM_TASKS" and "SLURM_STEP_ID" not in env:
            continue
        try:
            n = int(env.get(var, "1"))
        except ValueError:
            continue
        if n > 1:
            return n, var
    return None


def check_launch(world_size: int, environ=None) -> str | None:
    """Why this process should not run: the launcher started several tasks but MPI sees a world
    of one (each task would run alone, all on the same output), or None."""
    launched = launched_tasks(environ)
    if world_size > 1 or launched is None:
        return None
    n, var = launched
    return (f"the launcher started {n} tasks ({var}={n}) but MPI sees 1 rank: each would run alone on the same "
            "output. With the PyPI MPICH runtime (pip install 'remc-mpi[mpich]') launch with its "
            f"`mpiexec -n {n}`; with a Slurm-aware system MPI use `srun --mpi=pmix` (or pmi2)")


def partition(n_slots: int, n_ranks: int) -> list[tuple[int, int]]:
    """Contiguous balanced blocks [lo, hi) of ``n_slots`` over ``n_ranks`` (n_ranks <= n_slots)."""
    if not 1 <= n_ranks <= n_slots:
        raise ValueError(f"need 1 <= ranks ({n_ranks}) <= temperatures ({n_slots})")
    base, extra = divmod(n_slots, n_ranks)
    bounds, lo = [], 0
    for r in range(n_ranks):
        hi = lo + base + (1 if r < extra else 0)
        bounds.append((lo, hi))
        lo = hi
    return bounds


def partition_by_cost(cost: np.ndarray, n_ranks: int) -> list[tuple[int, int]]:
    """Contiguous blocks [lo, hi) of the slots whose summed ``cost`` (one non-negative number
    per slot) is as even as cuts between slots allow: block r ends at the cut nearest the
    fraction (r + 1) / n_ranks of the total cost (the best cut for two ranks; within one slot's
    cost of the best for more), each block keeping at least one slot. Without a cost (all
    zero) the blocks of :func:`partition`."""
    cost = np.asarray(cost, dtype=np.float64)
    n_slots = cost.size
    bounds = partition(n_slots, n_ranks)
    total = float(cost.sum())
    if not total > 0.0:
        return bounds
    edges = np.concatenate([[0.0], np.cumsum(cost)])  # edges[k]: the cost of slots 0..k-1
    cuts, lo = [], 0
    for r in range(1, n_ranks):
        target = total * r / n_ranks
        k = int(np.searchsorted(edges, target))  # edges[k-1] < target <= edges[k]
        k = k - 1 if target - edges[k - 1] <= edges[k] - target else k  # the nearer cut
        k = min(max(k, lo + 1), n_slots - (n_ranks - r))  # at least one slot each
        cuts.append(k)
        lo = k
    return list(zip([0, *cuts], [*cuts, n_slots]))


def block_costs(cost: np.ndarray, blocks: list[tuple[int, int]]) -> np.ndarray:
    """The summed cost of each block."""
    return np.array([float(np.sum(cost[lo:hi])) for lo, hi in blocks])


class LadderComm:
    """One rank's view of the ladder: its slot block and its neighbours."""

    def __init__(self, comm, n_slots: int, rungs: int | None = None):
        self.rungs = n_slots if rungs is None else rungs  # slots per chain (independent ladders)
        self.comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.n_slots = n_slots
        self._buffers: dict[tuple[int, bool], tuple[np.ndarray, np.ndarray]] = {}  # _row_buffers
        self.set_blocks(partition(n_slots, self.size))

    def set_blocks(self, blocks: list[tuple[int, int]]) -> None:
        """Every rank's contiguous block of slots [lo, hi), in rank order (the same on every rank)."""
        self.blocks = blocks
        self.lo, self.hi = blocks[self.rank]

    def exchange(self, block: SlotBlock, uniforms: np.ndarray, parity: int, tried: np.ndarray,
                 accepted: np.ndarray) -> None:
        """Attempt every pair (s, s+1) of one chain whose rung has this parity, counting in
        ``tried[s]`` and ``accepted[s]`` the pairs whose lower slot s this rank holds (each
        pair on one rank only, so that the counts sum over the ranks)."""
        lam = block.slot_lam  # every slot's lambda
        block.exchange_local(uniforms, parity, tried, accepted)
        lo, hi = self.lo, self.hi
        right = hi < self.n_slots and pair_tried(hi - 1, self.rungs, parity)
        left = lo > 0 and pair_tried(lo - 1, self.rungs, parity)
        if not (right or left):
            return
        from mpi4py import MPI

        reqs, recv = [], []
        for is_right, active, mine, peer in ((True, right, hi - 1, self.rank + 1), (False, left, lo, self.rank - 1)):
            if not active:
                continue
            out, inc = self._row_buffers(block.row_size, is_right)
            block.pack_row(mine, out)
            recv.append((is_right, mine, inc, out))
            tag = mine if is_right else mine - 1  # the pair's lower slot
            reqs.append(self.comm.Isend(out, dest=peer, tag=tag))
            reqs.append(self.comm.Irecv(inc, source=peer, tag=tag))
        MPI.Request.Waitall(reqs)
        for is_right, mine, inc, out in recv:
            l, u_lo, u_hi = (mine, out[0], inc[0]) if is_right else (mine - 1, inc[0], out[0])
            ok = swap_accepted(lam[l], lam[l + 1], u_lo, u_hi, uniforms[l])
            if ok:
                block.unpack_row(mine, inc)
            if is_right:
                tried[l] += 1
                accepted[l] += ok

    def _row_buffers(self, n: int, is_right: bool) -> tuple[np.ndarray, np.ndarray]:
        """The send and receive vectors of n entries for one side's boundary pair, made once:
        each exchange's messages complete before it returns, so the next one may reuse them."""
        key = (n, is_right)
        if key not in self._buffers:
            self._buffers[key] = (np.empty(n), np.empty(n))
        return self._buffers[key]

    def gather_slots(self, local: np.ndarray, axis: int = 1) -> np.ndarray | None:
        """Concatenate per-rank arrays along the slot ``axis`` on rank 0 (None elsewhere)."""
        parts = self.comm.gather(local, root=0)
        return np.concatenate(parts, axis=axis) if self.rank == 0 else None

    def allgather_slots(self, local: np.ndarray) -> np.ndarray:
        """Concatenate per-rank arrays along the slot axis 0, on every rank (slot order)."""
        return np.concatenate(self.comm.allgather(local), axis=0) if self.size > 1 else local.copy()

    def reduce_sum(self, value):
        """Sum over all ranks, on every rank."""
        return self.comm.allreduce(value)

    def reduce_max(self, value: int) -> int:
        from mpi4py import MPI

        return int(self.comm.allreduce(value, op=MPI.MAX))


#: seconds between polls of a rank that waits for others (idle_barrier): short against any
#: work worth waiting for, long enough that the waiting core is free for the worker
IDLE_POLL_S = 0.002


def idle_barrier(comm) -> None:
    """A barrier that sleeps while it waits: MPI implementations busy-poll inside blocking
    collectives (MPICH always), which would take the core a working rank needs while rank 0
    alone writes results or one group of ranks finishes its candidate."""
    if comm.Get_size() == 1:
        return
    req = comm.Ibarrier()
    while not req.Test():
        time.sleep(IDLE_POLL_S)


def on_root(comm, fn: Callable[[], object]) -> object:
    """Run ``fn`` on rank 0 only and broadcast its result (or its exception) to all ranks;
    the other ranks sleep meanwhile (:func:`idle_barrier`)."""
    result, error = None, None
    if comm.Get_rank() == 0:
        try:
            result = fn()
        except Exception as err:  # noqa: BLE001 - re-raised on every rank below
            error = err
    idle_barrier(comm)
    error = comm.bcast(error, root=0)
    if error is not None:
        raise error
    return comm.bcast(result, root=0)
