"""Free-energy estimators: time and peak memory against the number of samples (issue 5).

    python benchmarks/bench_free_energy.py

For L = 32 rungs and n saved sweeps per rung (pooled samples n L), prints the wall time of
each estimator and the peak memory MBAR allocates beyond its input, next to the size a dense
L x (n L) weight matrix would have. MBAR visits the pooled samples in chunks, so its extra
memory stays flat while the dense matrix grows with n.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from remc_mpi import freeenergy as fe


def energies(lam: np.ndarray, n: int, d: int = 6, seed: int = 0) -> np.ndarray:
    """Exact tempered draws of U = |x|^2 / 2 with a d-dimensional N(0, 1) prior."""
    rng = np.random.default_rng(seed)
    return np.stack([0.5 * rng.chisquare(d, n) / (1 + l) for l in lam], axis=1)


def main() -> None:
    L = 32
    lam = np.concatenate([[0.0], np.geomspace(1e-3, 1e3, L - 1)])
    print(f"{'n per rung':>10} {'pooled':>9} {'mbar s':>8} {'bar s':>7} {'ss s':>7} {'ti s':>7} "
          f"{'mbar extra MB':>14} {'dense W MB':>11}")
    for n in (2000, 10000, 50000):
        U = energies(lam, n)
        row = []
        for name in ("mbar", "bar", "stepping_stone", "ti"):
            t0 = time.perf_counter()
            fe.ESTIMATORS[name].point(lam, U)
            row.append(time.perf_counter() - t0)
        tracemalloc.start()
        fe.mbar_log_z(lam, U)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        extra = (peak - U.nbytes) / 2**20  # the pooled copy of U is part of the input
        dense = 8 * L * n * L / 2**20
        print(f"{n:>10} {n * L:>9} {row[0]:8.2f} {row[1]:7.2f} {row[2]:7.3f} {row[3]:7.3f} {extra:14.1f} {dense:11.1f}")


if __name__ == "__main__":
    main()
