"""Post-processing at scale: all estimators with their bootstrap errors, time and peak memory.

    python benchmarks/bench_free_energy.py [--sweeps 100000,500000,2000000] [--rungs 50]

For each number of saved sweeps n at L rungs, a child process reads the energies (n, L) from
an HDF5 file as a run's summary does, scales them in place, and runs ``estimate_all`` (MBAR,
BAR, stepping stone, TI, 100 bootstrap replicates); it prints the seconds, the seconds per
million sweeps (flat when the time is linear in n) and the process's peak resident memory.
The energies are exact tempered draws of U = |x|^2 / 2 under a 6-dimensional N(0, 1) prior.
The largest default, 2e6 sweeps at L = 50, is the length of the C++ exchange-MC code's own
reference run; it needs about 1 GB of disk in the temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
import h5py, numpy as np
from remc_mpi.evidence import freeenergy as fe
path, L = sys.argv[1], int(sys.argv[2])
lam = np.concatenate([[0.0], np.geomspace(1e-3, 1e3, L - 1)])
fe.estimate_all(lam, np.ones((50, L)) + np.arange(50)[:, None] * 0.01, n_boot=3)  # load the kernels
t0 = time.perf_counter()
with h5py.File(path) as h5:
    U = h5["energy"][:]
U *= 1.0
t1 = time.perf_counter()
fe.estimate_all(lam, U)
t2 = time.perf_counter()
print(json.dumps({"read_s": t1 - t0, "estimate_s": t2 - t1,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_energies(path: Path, n: int, L: int, seed: int = 0) -> None:
    import h5py

    lam = np.concatenate([[0.0], np.geomspace(1e-3, 1e3, L - 1)])
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset("energy", (n, L), dtype="f8")
        for s in range(0, n, 200_000):
            m = min(200_000, n - s)
            ds[s:s + m] = np.stack([0.5 * rng.chisquare(6, m) / (1 + l) for l in lam], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweeps", default="100000,500000,2000000")
    ap.add_argument("--rungs", type=int, default=50)
    args = ap.parse_args()
    L = args.rungs
    print(f"L = {L} rungs; 100 bootstrap replicates; every estimator with its error")
    print(f"{'sweeps':>10} {'read s':>8} {'estimate s':>11} {'s per 1e6 sweeps':>17} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in map(int, args.sweeps.split(",")):
            path = Path(tmp) / "u.h5"
            write_energies(path, n, L)
            r = subprocess.run([sys.executable, "-c", CHILD, str(path), str(L)], capture_output=True, text=True,
                               check=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
            out = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"{n:>10} {out['read_s']:8.2f} {out['estimate_s']:11.2f} {out['estimate_s'] / n * 1e6:17.2f} "
                  f"{out['peak_mb']:12.0f}", flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
