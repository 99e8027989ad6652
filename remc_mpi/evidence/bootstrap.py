"""The block bootstrap's blocks: how long the energies remember, how the sweeps are cut, and
the multinomial replicates (docs/free_energy.md).

The sweeps are cut into B non-overlapping blocks (Carlstein 1986), the same for every slot, of
BLOCK_TAUS integrated autocorrelation times of the slowest mixing the estimates feel
(:func:`mixing_time`: each slot's energies, and each replica's followed through the ladder); a
replicate is a multinomial count c_b of each block (:func:`bootstrap_counts`), from which the
estimators' replicates follow by per-block sums (:func:`remc_mpi.evidence.freeenergy.estimate_all`).
"""

from __future__ import annotations

import numpy as np

from remc_mpi.evidence.diagnostics import integrated_time
from remc_mpi.kernels.rows import replica_columns

#: bootstrap blocks are this many integrated autocorrelation times long (Kunsch 1989 and
#: Politis & Romano 1994: a few tau keep the within-block correlation). Measured, 30 seeds
#: each (docs/free_energy.md): with the replicas' time the reported error reaches the scatter
#: of the values from about 2 tau (K = 3 peaks) and 2-3 tau (cluster3) on; with the slots'
#: time alone it fell short by 15% and 58%)
BLOCK_TAUS = 3.0
#: at least this many blocks (fewer makes the bootstrap's own variance large), and at most
#: MAX_BLOCKS (beyond it, longer blocks cost nothing in accuracy and bound the O(B L^2) sums)
MIN_BLOCKS = 10
MAX_BLOCKS = 1000


#: replicas gathered per pass when their energy series are built (memory n x this many floats)
REPLICA_CHUNK = 8
def replica_time(U: np.ndarray, replica: np.ndarray) -> float:
    """The mean over replicas of the integrated autocorrelation time of each replica's energy
    followed through the ladder (rows t, replica[t, l] = the replica in slot l): how long a
    replica remembers its configuration as it wanders between rungs. Energies at one rung can
    decorrelate fast (other replicas arrive) while a replica stuck in a minor mode keeps it for
    this long, and carries it from rung to rung: the slowest mixing that log Z feels."""
    n, L = U.shape
    taus = []
    buf = np.empty((n, min(REPLICA_CHUNK, L)))
    for r0 in range(0, L, REPLICA_CHUNK):
        out = buf[:, :min(REPLICA_CHUNK, L - r0)]
        replica_columns(U, replica, r0, out)
        taus += [integrated_time(out[:, k]) for k in range(out.shape[1])]
    return float(np.mean(taus))


def mixing_time(U: np.ndarray, replica: np.ndarray | None = None) -> float:
    """The slowest of the integrated autocorrelation times (in rows) of the energies at each
    slot and, with the replica labels, of :func:`replica_time`."""
    taus = [integrated_time(U[:, l]) for l in range(U.shape[1]) if np.ptp(U[:, l]) > 0]
    tau = max(taus) if taus else 1.0
    return max(tau, replica_time(U, replica)) if replica is not None else tau


def block_length(n: int, tau: float) -> int:
    """Bootstrap block length for n rows: BLOCK_TAUS x tau (:func:`mixing_time`), within
    [n / MAX_BLOCKS, n / MIN_BLOCKS]."""
    return int(min(max(1, np.ceil(BLOCK_TAUS * tau), np.ceil(n / MAX_BLOCKS)), max(1, n // MIN_BLOCKS)))


def block_edges(n: int, block: int) -> np.ndarray:
    """Edges of max(1, n // block) non-overlapping blocks of rows covering all n rows (sizes
    differ by at most one)."""
    n_blocks = max(1, n // block)
    return (np.arange(n_blocks + 1) * n) // n_blocks


def bootstrap_counts(n_blocks: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_blocks) multinomial counts: each replicate draws n_blocks blocks with replacement."""
    picks = rng.integers(0, n_blocks, (n_boot, n_blocks))
    return np.stack([np.bincount(p, minlength=n_blocks) for p in picks]).astype(np.float64)


def resample(U: np.ndarray, edges: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The rows of one replicate (blocks repeated by their counts), for statistics that need them."""
    idx = np.concatenate([np.arange(edges[b], edges[b + 1]) for b in np.repeat(np.arange(len(counts)),
                                                                               counts.astype(np.int64))])
    return U[idx]
