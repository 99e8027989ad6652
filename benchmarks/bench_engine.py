"""Engine throughput per model family, kernel share, post-processing, strong and weak scaling.

    python benchmarks/bench_engine.py [--families k3,cluster2,cluster3,cluster3_states,cluster3_voigt] [--scale 1.0]

Relaunches itself under the venv's ``mpiexec -n 2``. For every problem of benchmarks/problems.py
it runs the whole engine (``remc_mpi.driver.engine.run``, as ``remc-mpi run`` does) on rank 0 alone
and then on both ranks with the same ladder, and prints, all from one invocation:

- evaluations/s per core: sweeps x L x free parameters (one model evaluation per parameter per
  replica-sweep) / (sampling seconds x ranks);
- kernel share: time inside the compiled sweep kernel / sampling time;
- post-processing: estimators with their bootstrap errors, posterior table and diagnostics
  (seconds, and as a share of the sampling time);
- strong scaling: sampling time on 1 rank / on 2 ranks, same L; and the same for the whole run
  (``run()``, set-up to results file, without the interpreter's start);
- weak scaling (cluster3): 1 rank at L/2 against 2 ranks at L, time per sweep.

``--scale`` multiplies the sweeps (0.25 for a quick look).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from problems import n_free, problem  # noqa: E402
from two_ranks import relaunch_on_two_ranks  # noqa: E402


def timed_run(comm, cfg_dict):
    from remc_mpi.config import parse_config
    from remc_mpi.driver.engine import run

    comm.Barrier()
    t0 = time.perf_counter()
    summary = run(parse_config(cfg_dict), comm, force=True)[0]
    return summary, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", default="k3,cluster2,cluster3,cluster3_states,cluster3_voigt")
    ap.add_argument("--scale", type=float, default=1.0)
    args = ap.parse_args()
    from mpi4py import MPI

    relaunch_on_two_ranks(__file__, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    folder = Path(comm.bcast(tempfile.mkdtemp() if rank == 0 else None))
    if rank == 0:
        print(f"{'problem':<10}{'ranks':>6}{'L':>4}{'evals/s/core':>14}{'kernel':>8}{'post s':>8}{'post/samp':>10}"
              f"{'sampling s':>12}{'run s':>8}{'log Z':>12}{'+-':>8}{'exch us':>9}{'other us':>9}")
    for name in args.families.split(","):
        base = problem(name, "x.h5")
        L, sweeps = base["ladder"]["n_temps"], int(base["sampler"]["sweeps"] * args.scale)
        rows = {}
        for ranks in (1, 2):
            cfg = problem(name, str(folder / f"{name}-{ranks}.h5"), sweeps=sweeps)
            if ranks == 1:
                res = timed_run(MPI.COMM_SELF, cfg) if rank == 0 else None
                comm.Barrier()
            else:
                res = timed_run(comm, cfg)
            if rank == 0:
                s, wall = res
                p = s["provenance"]
                rate = sweeps * L * n_free(name) / (p["sampling_s"] * ranks)
                rows[ranks] = (p["sampling_s"], wall)
                print(f"{name:<10}{ranks:>6}{L:>4}{rate:>14.3g}{p['model_s'] / p['sampling_s']:>8.2f}"
                      f"{p['postprocess_s']:>8.3f}{p['postprocess_s'] / p['sampling_s']:>10.3f}"
                      f"{p['sampling_s']:>12.3f}{wall:>8.3f}{s['log_evidence']['value']:>12.4f}"
                      f"{s['log_evidence']['stderr']:>8.4f}{1e6 * p['exchange_s'] / sweeps:>9.1f}"
                      f"{1e6 * (p['sampling_s'] - p['model_s'] - p['exchange_s']) / sweeps:>9.1f}", flush=True)
        if rank == 0:
            print(f"{'':<10}strong scaling 1 -> 2 ranks (L = {L}): sampling {rows[1][0] / rows[2][0]:.2f}x, "
                  f"whole run {rows[1][1] / rows[2][1]:.2f}x", flush=True)
    if "cluster3" in args.families.split(","):
        L, sweeps = 32, int(2000 * args.scale)
        half = timed_run(MPI.COMM_SELF, problem("cluster3", str(folder / "w1.h5"), n_temps=L // 2,
                                                sweeps=sweeps)) if rank == 0 else None
        comm.Barrier()
        full = timed_run(comm, problem("cluster3", str(folder / "w2.h5"), n_temps=L, sweeps=sweeps))
        if rank == 0:
            t1, t2 = half[0]["provenance"]["sampling_s"], full[0]["provenance"]["sampling_s"]
            print(f"weak scaling (cluster3, {L // 2} slots per rank): 1 rank L={L // 2} {t1:.3f} s, "
                  f"2 ranks L={L} {t2:.3f} s: efficiency {t1 / t2:.2f}")
    if rank == 0:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
