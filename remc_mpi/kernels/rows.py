"""Compiled exchanges inside one block of slots.

The exchange test of neighbours (l, l+1) (docs/free_energy.md): accept with
min(1, exp((lam_{l+1} - lam_l)(U_{l+1} - U_l))), decided by the pair's uniform u as
log u < (lam_{l+1} - lam_l)(U_{l+1} - U_l) — one function for the pairs inside a block and
those across ranks. An accepted local exchange moves the configuration and everything computed
from it (theta, U, log prior, replica label and direction, and the model state rows) between the
two rows; the slots' own step sizes and random streams stay. All pairs of a block in one call,
counted in place; the ladders' ends labelled and the round trips counted in another; and the one
layout of a row as it crosses to another rank (:func:`row_vector`, both ways).
"""

from __future__ import annotations

import math

import numpy as np

from remc_mpi.kernels import jit


@jit
def swap_accepted(lam_lo, lam_hi, u_lo, u_hi, uniform):
    """The exchange test of one pair (see module docstring)."""
    return math.log(uniform) < (lam_hi - lam_lo) * (u_hi - u_lo)


@jit
def _swap(a, i, j):
    for k in range(a.shape[1]):
        a[i, k], a[j, k] = a[j, k], a[i, k]


@jit
def swap_pair(i, theta, U, logprior, replica, direction, lev, lines, S, T, y):
    """Swap rows i and i + 1 of every per-configuration array."""
    j = i + 1
    U[i], U[j] = U[j], U[i]
    replica[i], replica[j] = replica[j], replica[i]
    direction[i], direction[j] = direction[j], direction[i]
    _swap(theta, i, j)
    _swap(logprior, i, j)
    _swap(lev, i, j)
    _swap(S, i, j)
    _swap(T, i, j)
    _swap(y, i, j)
    for m in range(lines.shape[1]):
        for k in range(lines.shape[2]):
            lines[i, m, k], lines[j, m, k] = lines[j, m, k], lines[i, m, k]


@jit
def pair_tried(s, rungs, parity):
    """Whether the pair (s, s + 1) of slots is tried at an exchange of this parity: both slots
    in the same chain (s mod rungs < rungs - 1) and its rung of that parity."""
    l = s % rungs
    return l < rungs - 1 and l % 2 == parity


@jit
def exchange_block(lo, rungs, parity, lam, uniforms, tried, accepted, theta, U, logprior, replica, direction, lev,
                   lines, S, T, y):
    """Attempt every pair (s, s+1) inside the block [lo, lo + len(U)) that :func:`pair_tried`
    (``lam`` and ``uniforms`` are the whole ladder's, all chains); swap the accepted ones, and
    count each pair in ``tried[s]`` and, accepted, in ``accepted[s]`` (the exchange counts by
    lower slot, in place: no arrays come back to Python)."""
    n = U.size
    for s in range(lo, lo + n - 1):
        if not pair_tried(s, rungs, parity):
            continue
        tried[s] += 1
        i = s - lo
        if swap_accepted(lam[s], lam[s + 1], U[i], U[i + 1], uniforms[s]):
            accepted[s] += 1
            swap_pair(i, theta, U, logprior, replica, direction, lev, lines, S, T, y)


@jit
def mark_ends(bottoms, tops, replica, direction, trips):
    """The round-trip labels after an exchange: a replica at a ladder's bottom row that came
    from the top (direction -1) completes a round trip (``trips[replica] += 1``) and turns up
    (+1); the replicas at the tops turn down (-1)."""
    for i in bottoms:
        if direction[i] == -1:
            trips[replica[i]] += 1
        direction[i] = 1
    for i in tops:
        direction[i] = -1


#: the leading entries of a packed row (:func:`row_vector`): U, the replica label, its direction
ROW_HEAD = 3


@jit
def _copy(vec, k, a, into_vec):
    """vec[k:k + a.size] = a, or a = vec[k:k + a.size] (a contiguous, of any shape); returns the
    next position."""
    flat = a.reshape(a.size)
    if into_vec:
        for j in range(flat.size):
            vec[k + j] = flat[j]
    else:
        for j in range(flat.size):
            flat[j] = vec[k + j]
    return k + flat.size


@jit
def row_vector(i, vec, into_vec, theta, U, logprior, replica, direction, lev, lines, S, T, y):
    """Row i of every per-configuration array into ``vec`` (``into_vec``), or from it: the one
    layout of what an exchange across ranks sends, [U, replica, direction, theta (P), log prior
    (P), lev, lines, S, T, y], each stage flattened in C order (the labels exact as float64)."""
    if into_vec:
        vec[0], vec[1], vec[2] = U[i], replica[i], direction[i]
    else:
        U[i], replica[i], direction[i] = vec[0], np.int64(vec[1]), np.int64(vec[2])
    k = ROW_HEAD
    for a in (theta[i], logprior[i], lev[i]):
        k = _copy(vec, k, a, into_vec)
    k = _copy(vec, k, lines[i], into_vec)
    for a in (S[i], T[i], y[i]):
        k = _copy(vec, k, a, into_vec)


@jit
def replica_columns(U, replica, r0, out):
    """out[t, r - r0] = U[t, l] where replica[t, l] = r, for the replicas r0 <= r < r0 + out.shape[1]:
    each replica's energy as it travels through the ladder (one pass over the rows)."""
    r1 = r0 + out.shape[1]
    for t in range(U.shape[0]):
        for l in range(U.shape[1]):
            r = replica[t, l]
            if r0 <= r < r1:
                out[t, r - r0] = U[t, l]
