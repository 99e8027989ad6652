r"""MBAR (Shirts & Chodera, J. Chem. Phys. 129, 124105 (2008)): the solver and its reweighting,
in a module of their own as in pymbar.

Samples U[t, l] = N E(theta) from rung l (t = 0..n-1), every rung with n samples, reduced
potentials u_k = lam_k U; f = -log Z solves

    f_k = -log sum_n exp(-lam_k U_n) / sum_l N_l exp(f_l - lam_l U_n),   f_0 = 0,

the minimum of the convex objective g(f) = sum_n log sum_l N_l exp(f_l - lam_l U_n) -
sum_l N_l f_l, found by Newton's method with a line search (:func:`mbar_solve`). The pooled
samples are visited in chunks, so memory is O(L^2 + n + chunk L); the dense L x n weight
matrix is never built, and the sums run in a fixed order (:mod:`remc_mpi.kernels.reweight`).
The same weights reweight to any lam between rungs (:func:`mbar_log_z_at`, :class:`LogZCurve`)
and give the two-state overlap of neighbours (:func:`neighbour_overlap`). The estimator
registry's entry and its bootstrap are in :mod:`remc_mpi.evidence.freeenergy`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from remc_mpi.kernels.reweight import cholesky_solve, log_denominators, mbar_accumulate

_CHUNK = 8192


def logsumexp(a: np.ndarray, axis: int | None = None) -> np.ndarray:
    """log sum exp(a) along ``axis``, stabilised by the maximum (scipy's, minus its overhead)."""
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out.squeeze(axis) if axis is not None else out.reshape(())[()]


def reduced(lam, u) -> np.ndarray:
    """The reduced potentials lam U (broadcast), with lam U = 0 at lam = 0 for every U: at
    lam = 0 the tempered density is the prior, whatever the energy (+inf outside a restricted
    model's support included: remc_mpi.evidence.window; 0 inf would be NaN)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.asarray(lam) == 0.0, 0.0, np.multiply(lam, u))


def _row_chunks(U: np.ndarray):
    """The pooled energies of U (n, L) in chunks of whole sweeps, about _CHUNK values each
    (the order of pooled samples does not matter to MBAR's sums)."""
    rows = max(1, _CHUNK // U.shape[1])
    for s in range(0, U.shape[0], rows):
        yield U[s:s + rows].ravel()


def _log_denominator(lam: np.ndarray, f: np.ndarray, log_n: np.ndarray, u: np.ndarray) -> np.ndarray:
    """log sum_l N_l exp(f_l - lam_l U_n) for a chunk of pooled energies u (c,)."""
    return logsumexp(f[None, :] + log_n[None, :] - reduced(lam[None, :], u[:, None]), axis=1)


#: The MBAR Hessian only steers Newton's method (the gradient decides where it stops) and the
#: bootstrap's one-step replicates, so beyond this many sweeps it comes from evenly strided
#: sweeps, scaled to all: its cost stays bounded (O(L^2) per sample against O(L) for the
#: gradient) and its relative error, O(1/sqrt(HESSIAN_SWEEPS)), changes nothing that is reported.
HESSIAN_SWEEPS = 4000


def _mbar_sums_at(lam, shift, U, with_h):
    L = len(lam)
    wsum, wtw = np.zeros(L), np.zeros((L, L))
    obj = mbar_accumulate(U, 0, U.shape[0], lam, shift, wsum, wtw, with_h, np.empty(L), np.empty(L),
                          np.empty(2 * L, dtype=np.int64))
    return obj, wsum, wtw


def mbar_pass(lam, f, log_n, U, with_hessian=True):
    """Objective, gradient and (``with_hessian``, else None) Hessian of the MBAR objective at f.

    Objective g(f) = sum_n log sum_l N_l exp(f_l - lam_l U_n) - sum_l N_l f_l (convex; its
    minimum with f_0 = 0 is the MBAR solution); gradient sum_n N_k W_nk - N_k; Hessian
    diag(sum_n N W) - sum_n (N W)(N W)^T (from at most HESSIAN_SWEEPS sweeps). Sums in a
    fixed order (:mod:`remc_mpi.kernels.reweight`).
    """
    n = U.shape[0]
    stride = -(-n // HESSIAN_SWEEPS)
    obj, wsum, wtw = _mbar_sums_at(lam, f + log_n, U, with_hessian and stride == 1)
    hess = None
    if with_hessian and stride == 1:
        hess = np.diag(wsum) - wtw
    elif with_hessian:
        sub = np.ascontiguousarray(U[::stride])
        _, sub_sum, sub_wtw = _mbar_sums_at(lam, f + log_n, sub, True)
        hess = (np.diag(sub_sum) - sub_wtw) * (n / sub.shape[0])
    n_k = np.exp(log_n)
    obj -= float(n_k @ f)
    return obj, wsum - n_k, hess


def newton_direction(grad: np.ndarray, hess: np.ndarray) -> np.ndarray:
    """Newton steps on f_1..f_{L-1} (f_0 = 0 is fixed) for gradients (L,) or (R, L) at one
    Hessian (L, L); a diagonal step where the Hessian is not positive definite."""
    g = np.atleast_2d(grad)[:, 1:]
    h = np.ascontiguousarray(hess[1:, 1:])
    x, ok = cholesky_solve(h, np.ascontiguousarray(-g.T))
    step = x.T if ok else -g / np.maximum(np.diagonal(h), 1e-300)
    return step if np.ndim(grad) == 2 else step[0]


#: Newton on the MBAR objective stops when the last step was below this (in f = -log Z):
#: the error left is then O(MBAR_TOL^2) with the exact Hessian, and at most O(1e-2 MBAR_TOL)
#: with the strided one (HESSIAN_SWEEPS), either way far below any error bar
MBAR_TOL = 1e-6
#: the shortest fraction of a Newton step the line search tries; a direction that lowers the
#: objective by no fraction down to this one (a near-singular Hessian between rungs that do not
#: overlap) ends the iteration at the best f so far, instead of a step of 1e298 (seen on a
#: measured spectrum with 88 rungs, 16 of them without overlap)
MBAR_MIN_STEP = 1e-6
#: a Newton step (nats) no fraction of which lowers the objective is rounding when below this
#: (the objective is then flat at its minimum to machine precision): the solve has converged;
#: far below any error bar a run reports (1e-3 nats is 1e-2 of the smallest in the tests)
MBAR_STALL = 1e-4


class MbarSolution(NamedTuple):
    """:func:`mbar_solve`'s answer: log Z (L,), the objective's Hessian (L-1, L-1) for the
    bootstrap, and whether Newton's iteration converged (its last step below ``tol``)."""

    log_z: np.ndarray
    hess: np.ndarray
    converged: bool


def mbar_solve(lam: np.ndarray, U: np.ndarray, guess: np.ndarray, tol: float = MBAR_TOL,
               max_iter: int = 100) -> MbarSolution:
    """log Z at every rung by MBAR, the objective's Hessian (for the bootstrap), and whether
    the iteration converged.

    Newton's method from ``guess`` (log Z (L,) of a neighbour estimate: BAR or stepping stone). The Hessian of the first
    iterate is kept while full steps lower the objective (near the solution, as from a BAR
    start, it changes by O(stderr), so the iteration still converges in a step or two, and a
    pass without the Hessian costs a third of one with it); it is renewed after a step that
    needed a line search. It has *not* converged when ``max_iter`` passes end with a step
    above ``tol``, or when no fraction of a Newton step lowers the objective while the step is
    above MBAR_STALL (a flat or near-singular direction, as between rungs that do not overlap:
    the best point found is returned, and the estimate is marked as failed).
    """
    lam = np.asarray(lam, dtype=np.float64)
    n, L = U.shape
    log_n = np.full(L, np.log(n))
    # start from a neighbour estimate: close enough for Newton, and O(n) memory
    f = -np.asarray(guess, dtype=np.float64)
    f = f - f[0]
    obj, grad, hess = mbar_pass(lam, f, log_n, U)
    converged = False
    for _ in range(max_iter):
        step = newton_direction(grad, hess)
        if np.max(np.abs(step)) < tol:
            f = f.copy()
            f[1:] += step
            converged = True
            break
        t = 1.0
        while True:
            trial = f.copy()
            trial[1:] += t * step
            obj_t, grad_t, _ = mbar_pass(lam, trial, log_n, U, with_hessian=False)
            if obj_t <= obj + 1e-12 * abs(obj) or t < MBAR_MIN_STEP:
                break
            t *= 0.5
        if not obj_t <= obj + 1e-12 * abs(obj):
            # no step along Newton's direction lowers the objective: keep the best f found;
            # at a step this small the objective is flat to rounding at a converged point
            converged = bool(np.max(np.abs(step)) < MBAR_STALL)
            break
        f, obj, grad = trial, obj_t, grad_t
        if t < 1.0:
            hess = mbar_pass(lam, f, log_n, U)[2]
    return MbarSolution(-f, hess, converged)


def mbar_log_z_at(lam: np.ndarray, U: np.ndarray, log_z: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Reweight to new lam values: log Z(x) = log sum_n exp(-x U_n) / sum_l N_l exp(f_l - lam_l U_n)."""
    n, L = U.shape
    f = -np.asarray(log_z)
    log_n = np.full(L, np.log(n))
    targets = np.atleast_1d(np.asarray(targets, dtype=np.float64))
    acc = np.full(targets.size, -np.inf)
    for u in _row_chunks(U):
        den = _log_denominator(lam, f, log_n, u)
        acc = np.logaddexp(acc, logsumexp(-reduced(targets[:, None], u[None, :]) - den[None, :], axis=1))
    return acc


#: pooled energies up to this many keep their MBAR denominators for repeated reweighting (8 bytes
#: each, as many as the energies themselves); beyond it each target recomputes them chunk by chunk
REWEIGHT_KEEP = 1 << 24


class LogZCurve:
    """log Z(x) at any precision x by MBAR reweighting (:func:`mbar_log_z_at`), for curves that
    are evaluated at many x: the per-sample denominators, which do not depend on x, are computed
    once (up to REWEIGHT_KEEP samples), so each further x costs one pass of exp over the samples."""

    def __init__(self, lam: np.ndarray, U: np.ndarray, log_z: np.ndarray):
        self.args = (lam, U, log_z)
        self.terms = None
        if U.size <= REWEIGHT_KEEP:
            n, L = U.shape
            u = np.ascontiguousarray(U, dtype=np.float64).ravel()
            den = np.empty(u.size)
            shift = np.ascontiguousarray(-np.asarray(log_z, dtype=np.float64) + math.log(n))
            log_denominators(u, np.ascontiguousarray(lam, dtype=np.float64), shift, den, np.empty(L), np.empty(L),
                             np.empty(2 * L, dtype=np.int64))
            self.terms = (u, den)

    def __call__(self, targets) -> np.ndarray:
        targets = np.atleast_1d(np.asarray(targets, dtype=np.float64))
        if self.terms is None:
            return mbar_log_z_at(*self.args, targets)
        u, den = self.terms
        return logsumexp(-reduced(targets[:, None], u[None, :]) - den[None, :], axis=1)


def neighbour_overlap(lam: np.ndarray, U: np.ndarray, log_z: np.ndarray) -> np.ndarray:
    """Overlap of each pair of neighbouring rungs, 1 for identical and 0 for disjoint states.

    For the 2n pooled samples of rungs l and l+1, with two-state weights
    W_nk = exp(f_k - lam_k U_n) / sum_{j in {l, l+1}} n exp(f_j - lam_j U_n) (f = -log Z),
    O = 2n sum_n W_nl W_n,l+1 (the two-state MBAR overlap, scaled to 1 for identical states).
    """
    n = U.shape[0]
    f = -np.asarray(log_z)
    out = np.empty(len(lam) - 1)
    for l in range(len(lam) - 1):
        u = np.concatenate([U[:, l], U[:, l + 1]])
        a0, a1 = f[l] - reduced(lam[l], u), f[l + 1] - reduced(lam[l + 1], u)
        den = np.logaddexp(a0, a1) + np.log(n)
        out[l] = 2 * n * np.sum(np.exp(a0 - den) * np.exp(a1 - den))
    return out
