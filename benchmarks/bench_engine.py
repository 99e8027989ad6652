"""Engine throughput and weak scaling (issue 4).

    python benchmarks/bench_engine.py [--sweeps 400]

Relaunches itself under the venv's ``mpiexec -n 2``. In one invocation it runs cluster3
(N = 400) twice with the same number of slots per rank: on rank 0 alone with L = 16, then on
both ranks with L = 32, and prints replica-sweeps per second, the share of the sampling loop's
wall time spent inside model evaluation (model + energies), and the weak-scaling efficiency
t(1 rank, 16 slots) / t(2 ranks, 32 slots) per sweep.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path


import os as _os
EXI = int(_os.environ.get("EXI", "1"))


def config(n_temps: int, sweeps: int, out: str) -> dict:
    return {
        "data": {"synthetic": {"model": "cluster3",
                               "params": {"delta": 1.6, "v": 0.76, "uff": 10.5, "ufc": 12.5, "gamma": 0.7,
                                          "shift": 0.0, "amp": 1.0},
                               "grid": [-8.0, 16.0, 400], "noise": 0.01, "seed": 1}},
        "model": {"name": "cluster3"},
        "noise": {"sigma": 0.01},
        "priors": {"delta": {"uniform": [-5.0, 15.0]}, "v": {"uniform": [0.1, 2.0]},
                   "uff": {"uniform": [5.0, 15.0]}, "ufc": {"uniform": [5.0, 20.0]},
                   "gamma": {"uniform": [0.1, 2.0]}, "shift": {"uniform": [-3.0, 3.0]}, "amp": {"fixed": 1.0}},
        "ladder": {"n_temps": n_temps},
        "sampler": {"sweeps": sweeps, "burn_in": sweeps // 4, "thin": 10, "exchange_interval": EXI},
        "seed": 3, "progress": False, "output": out,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweeps", type=int, default=400)
    args = ap.parse_args()
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    if comm.Get_size() == 1 and "REMC_BENCH_CHILD" not in os.environ:
        mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"
        env = dict(os.environ, REMC_BENCH_CHILD="1")
        os.execvpe(mpiexec, [mpiexec, "-n", "2", sys.executable, "-m", "mpi4py", __file__, *sys.argv[1:]], env)
    from remc_mpi.config import parse_config
    from remc_mpi.engine import run

    folder = comm.bcast(tempfile.mkdtemp() if comm.Get_rank() == 0 else None)
    rows = []
    s1 = None
    if comm.Get_rank() == 0:
        s1 = run(parse_config(config(16, args.sweeps, f"{folder}/one.h5")), MPI.COMM_SELF, force=True)[0]
    comm.Barrier()
    s2 = run(parse_config(config(32, args.sweeps, f"{folder}/two.h5")), comm, force=True)[0]
    if comm.Get_rank() == 0:
        for label, s, L, ranks in (("1 rank, L=16", s1, 16, 1), ("2 ranks, L=32", s2, 32, 2)):
            p = s["provenance"]
            rate = args.sweeps * L / p["sampling_s"]
            rows.append((label, rate, p["model_s"] / p["sampling_s"], p["sampling_s"] / args.sweeps))
            print(f"{label:<16} {rate:10.0f} replica-sweeps/s   model share {p['model_s'] / p['sampling_s']:.2f}   "
                  f"{1e3 * p['sampling_s'] / args.sweeps:.2f} ms/sweep")
        print(f"weak-scaling efficiency (1 -> 2 ranks, 16 slots each): {rows[0][3] / rows[1][3]:.3f}")
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
