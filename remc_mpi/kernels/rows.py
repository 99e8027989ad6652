"""Compiled row swaps for the exchanges inside one block of slots.

A local exchange of slots (l, l+1) moves the configuration and everything computed from it
(theta, U, log prior, replica label and direction, and the model state rows) between the two
rows; the slots' own step sizes and random streams stay. Done for all accepted pairs in one
call, element by element, instead of a dozen fancy-indexing copies per array in numpy.
"""

from __future__ import annotations

from remc_mpi.kernels import jit


@jit
def _swap(a, i, j):
    for k in range(a.shape[1]):
        a[i, k], a[j, k] = a[j, k], a[i, k]


@jit
def swap_rows(rows, theta, U, logprior, replica, direction, lev, lines, S, y):
    """Swap rows i and i + 1 of every per-configuration array, for each i in ``rows``."""
    for i in rows:
        j = i + 1
        U[i], U[j] = U[j], U[i]
        replica[i], replica[j] = replica[j], replica[i]
        direction[i], direction[j] = direction[j], direction[i]
        _swap(theta, i, j)
        _swap(logprior, i, j)
        _swap(lev, i, j)
        _swap(S, i, j)
        _swap(y, i, j)
        for m in range(lines.shape[1]):
            for k in range(lines.shape[2]):
                lines[i, m, k], lines[j, m, k] = lines[j, m, k], lines[i, m, k]
