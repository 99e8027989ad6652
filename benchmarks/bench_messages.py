"""The cost of one boundary exchange's messages between two ranks, as the engine sends them.

    python benchmarks/bench_messages.py [--work-us 100] [--rounds 2000]

Relaunches itself under the venv's ``mpiexec -n 2``. An exchange across a rank boundary sends
one packed row each way (sampling.parallel.LadderComm.exchange: ``Isend`` and ``Irecv``, then
``Waitall``); the row holds the configuration, its energy and log prior, and the model's stages,
so it is 8 bytes x (3 + 2 P + the stages' size): 1219 doubles (9.8 kB) for the bench problem
cluster2's 300 points, 1523 (12.2 kB) for cluster3 and k3, more with more points or lines. For
row sizes from 100 to 16 000 doubles it prints, in microseconds per exchange on rank 0 (the
ranks alternate with the same busy work between exchanges, as their sweeps do):

- post: ``Isend`` + ``Irecv``;
- wait: ``Waitall`` after ``--work-us`` of work (what the engine pays once the sweep is done);
- back to back: post and ``Waitall`` with no work in between;
- sendrecv: one blocking ``Sendrecv`` after the same work.

The sum of post and wait is the floor of what a two-rank sweep pays beyond a one-rank one for
every exchange of the boundary pair (every other exchange round with alternating parities):
docs/performance.md, "The exchange's bookkeeping compiled; what stands between cluster2 and
1.7 ×". On a cluster, run it inside the
allocation to see the interconnect's figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from two_ranks import relaunch_on_two_ranks  # noqa: E402

#: row sizes (doubles) measured: a few parameters, a 300-point spectrum's stages, long spectra
ROW_DOUBLES = (100, 300, 1000, 2000, 4000, 16000)


def busy(seconds: float) -> None:
    """Spin for ``seconds`` (the sweep's work, without touching MPI)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def timed_exchanges(comm, n: int, work_s: float, rounds: int) -> dict[str, float]:
    """Microseconds per exchange of an n-double row with the other rank, by phase."""
    from mpi4py import MPI

    peer = 1 - comm.Get_rank()
    out, inc = np.ones(n), np.empty(n)
    totals = {"post": 0.0, "wait": 0.0, "back to back": 0.0, "sendrecv": 0.0}
    comm.Barrier()
    for _ in range(rounds):
        busy(work_s)
        t0 = time.perf_counter()
        reqs = [comm.Isend(out, dest=peer, tag=1), comm.Irecv(inc, source=peer, tag=1)]
        t1 = time.perf_counter()
        MPI.Request.Waitall(reqs)
        t2 = time.perf_counter()
        totals["post"] += t1 - t0
        totals["wait"] += t2 - t1
    comm.Barrier()
    for _ in range(rounds):
        t0 = time.perf_counter()
        MPI.Request.Waitall([comm.Isend(out, dest=peer, tag=2), comm.Irecv(inc, source=peer, tag=2)])
        totals["back to back"] += time.perf_counter() - t0
    comm.Barrier()
    for _ in range(rounds):
        busy(work_s)
        t0 = time.perf_counter()
        comm.Sendrecv(out, peer, 3, inc, peer, 3)
        totals["sendrecv"] += time.perf_counter() - t0
    return {k: 1e6 * v / rounds for k, v in totals.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work-us", type=float, default=100.0, help="busy work between exchanges (µs)")
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    from mpi4py import MPI

    relaunch_on_two_ranks(__file__)
    comm = MPI.COMM_WORLD
    if comm.Get_size() != 2:
        raise SystemExit("bench_messages: needs exactly 2 ranks")
    if comm.Get_rank() == 0:
        print(f"{MPI.Get_library_version().splitlines()[0]}; {args.work_us:g} us of work between exchanges")
        print(f"{'row doubles':>12}{'bytes':>9}{'post us':>9}{'wait us':>9}{'sum us':>9}{'b2b us':>9}{'sendrecv':>10}")
    for n in ROW_DOUBLES:
        t = timed_exchanges(comm, n, 1e-6 * args.work_us, args.rounds)
        if comm.Get_rank() == 0:
            print(f"{n:>12}{8 * n:>9}{t['post']:>9.1f}{t['wait']:>9.1f}{t['post'] + t['wait']:>9.1f}"
                  f"{t['back to back']:>9.1f}{t['sendrecv']:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
