"""Compiled reductions of the free-energy estimators, in a fixed order.

BLAS and LAPACK pick their inner kernels by the alignment of the arrays they are handed, so a
matrix product of the same numbers can round differently from one run to the next (seen here:
the MBAR error bar of a resumed run differed from the uninterrupted run's in the 16th digit).
Results must not depend on where an array happens to lie in memory (resume and rank-count
invariance are bit for bit), so the estimators' sums over samples and their small linear
solves are these loops, whose order is fixed.

MBAR weights of one pooled sample U_n at f (shift_k = f_k + log N_k):
    a_nk = exp(shift_k - lam_k U_n - top) / sum_l exp(shift_l - lam_l U_n - top),
    log sum_l N_l exp(f_l - lam_l U_n) = log sum_l exp(...) + top,
with lam_k U_n = 0 at lam_k = 0 whatever U_n (the prior's draws, +inf outside a restricted
model's support included: remc_mpi.evidence.window).
"""

from __future__ import annotations

import math

import numpy as np

from remc_mpi.kernels import jit
from remc_mpi.kernels.spectra import exp_into


@jit
def sample_weights(u, lam, shift, terms, a, bits):
    """a_k = exp(shift_k - lam_k u - top) for one pooled energy u (the module docstring's weights
    before their normalisation), and (log sum_l exp(shift_l - lam_l u), sum_k a_k)."""
    L = lam.size
    top = -math.inf
    for k in range(L):
        terms[k] = shift[k] - (u * lam[k] if lam[k] != 0.0 else 0.0)
        top = max(top, terms[k])
    for k in range(L):
        terms[k] -= top
    exp_into(terms, a, bits)
    tot = 0.0
    for k in range(L):
        tot += a[k]
    return math.log(tot) + top, tot


@jit
def mbar_accumulate(U, r0, r1, lam, shift, g, h, with_h, terms, a, bits):
    """Over rows r0..r1-1 of U (every slot's sample of those sweeps): g += sum_n a_n and, with
    ``with_h``, h += sum_n a_n a_n^T (whole rows: they vectorise, where the triangle's short
    rows did not). Returns sum_n log-denominator.
    ``terms``, ``a`` (L,) and ``bits`` (2L,) are scratch."""
    L = lam.size
    obj = 0.0
    for t in range(r0, r1):
        for s in range(U.shape[1]):
            log_den, tot = sample_weights(U[t, s], lam, shift, terms, a, bits)
            obj += log_den
            for k in range(L):
                a[k] /= tot
                g[k] += a[k]
            if with_h:
                for k in range(L):
                    ak = a[k]
                    for m in range(L):
                        h[k, m] += ak * a[m]
    return obj


@jit
def log_denominators(u, lam, shift, out, terms, a, bits):
    """out[n] = log sum_l exp(shift_l - lam_l u_n) for pooled energies u (the MBAR denominator,
    shift = f + log N), stabilised by the largest term. ``terms``, ``a`` (L,), ``bits`` (2L,) scratch."""
    for n in range(u.size):
        out[n] = sample_weights(u[n], lam, shift, terms, a, bits)[0]


@jit
def mbar_block_sums(U, edges, lam, shift, out):
    """out[b] = sum of a_n over the samples of block b (rows edges[b] .. edges[b+1]-1)."""
    L = lam.size
    terms, a, bits = np.empty(L), np.empty(L), np.empty(2 * L, dtype=np.int64)
    h = np.empty((0, 0))
    for b in range(edges.size - 1):
        mbar_accumulate(U, edges[b], edges[b + 1], lam, shift, out[b], h, False, terms, a, bits)


@jit
def counted(counts, x):
    """out[r] = sum_b counts[r, b] x[b] for (R, B) counts and (B, K) x, summed in block order."""
    out = np.zeros((counts.shape[0], x.shape[1]))
    for r in range(counts.shape[0]):
        for b in range(counts.shape[1]):
            c = counts[r, b]
            if c != 0.0:
                for k in range(x.shape[1]):
                    out[r, k] += c * x[b, k]
    return out


@jit
def cholesky_solve(A, B):
    """X with A X = B for a symmetric positive-definite A (n, n) and B (n, m); returns
    (X, True), or (zeros, False) when A is not positive definite."""
    n = A.shape[0]
    C = np.zeros((n, n))
    for j in range(n):
        d = A[j, j]
        for k in range(j):
            d -= C[j, k] * C[j, k]
        if not d > 0.0:
            return np.zeros(B.shape), False
        C[j, j] = math.sqrt(d)
        for i in range(j + 1, n):
            s = A[i, j]
            for k in range(j):
                s -= C[i, k] * C[j, k]
            C[i, j] = s / C[j, j]
    X = B.copy()
    for col in range(B.shape[1]):
        for i in range(n):
            s = X[i, col]
            for k in range(i):
                s -= C[i, k] * X[k, col]
            X[i, col] = s / C[i, i]
        for i in range(n - 1, -1, -1):
            s = X[i, col]
            for k in range(i + 1, n):
                s -= C[k, i] * X[k, col]
            X[i, col] = s / C[i, i]
    return X, True
