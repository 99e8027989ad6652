r"""Free-energy estimators: pure functions of the tempered energies.

Notation. Samples U[t, l] = N E(theta) from slot l (t = 0..n-1, post burn-in, frozen ladder),
ladder lam[0] = 0 < lam[1] < ... < lam[L-1], tempered normaliser
Z(lam) = \int exp(-lam U(theta)) phi(theta) dtheta, so log Z(0) = 0. Every estimator returns
log Z(lam[L-1]) (and, where it can, log Z at every rung).

- Thermodynamic integration, with the cubic-Hermite rule that uses the curvature
  d<U>/dlam = -Var_lam(U) at both ends of each interval [a, b], h = b - a:
      log Z(lam_max) = -\int_0^{lam_max} <U>_lam dlam,
      \int_a^b f = h/2 (f_a + f_b) + h^2/12 (f'_a - f'_b) + O(h^5);
  its error bar adds a Richardson estimate of the discretisation error in quadrature.
- Stepping stone (forward exponential averaging):
      log Z_{l+1}/Z_l = log < exp(-(lam_{l+1} - lam_l) U) >_l.
- Bennett acceptance ratio between neighbours: Delta f = f_{l+1} - f_l (f = -log Z) solves
      sum_{i in l} 1/(1 + exp(M + w_i - Df)) = sum_{j in l+1} 1/(1 + exp(-M - w_j + Df)),
  with w = (lam_{l+1} - lam_l) U and M = log(n_l / n_{l+1}).
- MBAR (Shirts & Chodera 2008) on all samples pooled, reduced potentials u_k = lam_k U:
      f_k = -log sum_n exp(-lam_k U_n) / sum_l N_l exp(f_l - lam_l U_n),   f_0 = 0,
  solved by Newton's method on the convex MBAR objective. The pooled samples are visited in
  chunks, so memory is O(L^2 + n + chunk L); the dense L x n weight matrix is never built.
  The same weights reweight to any lam between rungs (:func:`mbar_log_z_at`).

Errors: a block bootstrap over whole blocks of sweeps (the same blocks for every slot, keeping
the cross-slot correlation that exchanges create), with the block length set from the
integrated autocorrelation time of the energies. The sweeps are cut into B non-overlapping
blocks (Carlstein 1986) and a replicate is a multinomial count c_b of each block, so every
estimator's replicate follows from per-block sums computed in one pass (:func:`estimate_all`):

- TI and stepping stone are functions of block sums (of U, U^2 and exp(-dlam U)): exact;
- BAR and MBAR take one Newton step from the full-data solution, with the gradient and
  Hessian of the replicate's objective assembled from per-block sums at that solution. The
  replicate's solution differs from the full one by O(stderr), so the step leaves an error
  O(stderr^2): far below the error bar it estimates.

Memory is O(B L^2) beyond the energies themselves, and time linear in the sweeps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from remc_mpi.evidence.diagnostics import integrated_time
from remc_mpi.kernels.reweight import cholesky_solve, counted, log_denominators, mbar_accumulate, mbar_block_sums
from remc_mpi.kernels.rows import replica_columns
from remc_mpi.sampling.streams import BOOTSTRAP_KEY

_CHUNK = 8192


def logsumexp(a: np.ndarray, axis: int | None = None) -> np.ndarray:
    """log sum exp(a) along ``axis``, stabilised by the maximum (scipy's, minus its overhead)."""
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out.squeeze(axis) if axis is not None else out.reshape(())[()]


def _ti_from_moments(lam: np.ndarray, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
    """log Z at every rung from <U> and Var(U) per rung (last axis: rungs; leading axes batch)."""
    h = np.diff(lam)
    slope = -var
    pieces = h / 2 * (mean[..., :-1] + mean[..., 1:]) + h * h / 12 * (slope[..., :-1] - slope[..., 1:])
    zero = np.zeros(mean.shape[:-1] + (1,))
    return -np.concatenate([zero, np.cumsum(pieces, axis=-1)], axis=-1)


def _moments(U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of every rung's energies, one rung at a time (numpy's var of the
    whole array would make an n x L temporary: 800 MB at 2e6 sweeps and 50 rungs)."""
    mean = U.mean(axis=0)
    return mean, np.array([np.mean((U[:, l] - mean[l]) ** 2) for l in range(U.shape[1])])


def ti_log_z(lam: np.ndarray, U: np.ndarray) -> np.ndarray:
    """log Z at every rung by thermodynamic integration with the Hermite correction."""
    return _ti_from_moments(np.asarray(lam, dtype=np.float64), *_moments(U))


def ti_discretization(lam: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Richardson estimate of TI's discretisation error at every rung.

    The Hermite rule's global error is O(h^4), so with I_h on the ladder up to rung l and I_2h
    on every other rung of it (rung l kept), the error of I_h is about (I_h - I_2h) / 15.
    """
    mean, var = _moments(U)
    full = _ti_from_moments(lam, mean, var)
    err = np.zeros(len(lam))
    for l in range(2, len(lam)):
        idx = np.unique(np.concatenate([np.arange(0, l + 1, 2), [l]]))
        err[l] = abs(full[l] - _ti_from_moments(lam[idx], mean[idx], var[idx])[-1]) / 15.0
    return err


def stepping_stone_log_z(lam: np.ndarray, U: np.ndarray) -> np.ndarray:
    """log Z at every rung by forward exponential averaging between neighbours."""
    n = U.shape[0]
    steps = [logsumexp(-(lam[l + 1] - lam[l]) * U[:, l]) - np.log(n) for l in range(len(lam) - 1)]
    return np.concatenate([[0.0], np.cumsum(steps)])


def _bar_terms(df: float, w_f: np.ndarray, w_r: np.ndarray):
    """log s_i = log sigmoid(df - w_f,i) and log t_j = log sigmoid(-w_r,j - df), the terms of
    Bennett's equation (equal sample counts on both sides: every sweep gives one sample per rung)."""
    return -np.logaddexp(0.0, w_f - df), -np.logaddexp(0.0, w_r + df)


def _bar_solve(w_f: np.ndarray, w_r: np.ndarray, guess: float, tol: float = 1e-12,
               max_iter: int = 200) -> float:
    """Bennett's Delta f for one pair: w_f the forward works (from the lower rung), w_r the
    reverse works (from the upper rung), equal counts.

    h(df) = log sum_i s(df - w_f,i) - log sum_j s(-w_r,j - df), s the logistic function, is
    increasing in df; its root is found by Newton steps kept inside a bracket (bisection where
    a step would leave it).
    """
    lo, hi = -np.inf, np.inf
    x = float(guess)
    for _ in range(max_iter):
        a, b = _bar_terms(x, w_f, w_r)
        la, lb = logsumexp(a), logsumexp(b)
        sa, sb = np.exp(a - la), np.exp(b - lb)
        g = float(la - lb)
        dg = float(np.sum(sa * (1 - np.exp(a))) + np.sum(sb * (1 - np.exp(b))))
        if g < 0:
            lo = x
        elif g > 0:
            hi = x
        step = -g / dg if dg > 0 else 0.0
        step = min(max(step, -BAR_MAX_STEP), BAR_MAX_STEP)  # far from the root, walk: h is monotone
        nxt = x + step
        if (nxt <= lo or nxt >= hi) and np.isfinite(lo) and np.isfinite(hi):
            nxt = 0.5 * (lo + hi)
        if abs(nxt - x) < tol * (1 + abs(x)) or g == 0:
            return nxt
        x = nxt
    return x


#: largest Newton step of Bennett's equation in nats (far from the root h is nearly linear
#: in the log-sums only up to a few nats, so longer steps overshoot)
BAR_MAX_STEP = 5.0


def _bar_pair_works(lam: np.ndarray, U: np.ndarray, l: int) -> tuple[np.ndarray, np.ndarray]:
    d = lam[l + 1] - lam[l]
    return d * U[:, l], -d * U[:, l + 1]


def bar_log_z(lam: np.ndarray, U: np.ndarray, guess: np.ndarray | None = None) -> np.ndarray:
    """log Z at every rung by Bennett's acceptance ratio between neighbours (one pair at a
    time: O(n) temporaries), starting from ``guess`` (by default stepping stone)."""
    ss = stepping_stone_log_z(lam, U) if guess is None else guess
    df = [_bar_solve(*_bar_pair_works(lam, U, l), -(ss[l + 1] - ss[l])) for l in range(len(lam) - 1)]
    return np.concatenate([[0.0], -np.cumsum(df)])


def _row_chunks(U: np.ndarray):
    """The pooled energies of U (n, L) in chunks of whole sweeps, about _CHUNK values each
    (the order of pooled samples does not matter to MBAR's sums)."""
    rows = max(1, _CHUNK // U.shape[1])
    for s in range(0, U.shape[0], rows):
        yield U[s:s + rows].ravel()


def _log_denominator(lam: np.ndarray, f: np.ndarray, log_n: np.ndarray, u: np.ndarray) -> np.ndarray:
    """log sum_l N_l exp(f_l - lam_l U_n) for a chunk of pooled energies u (c,)."""
    return logsumexp(f[None, :] + log_n[None, :] - u[:, None] * lam[None, :], axis=1)


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


def _mbar_pass(lam, f, log_n, U, with_hessian=True):
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


def _newton_direction(grad: np.ndarray, hess: np.ndarray) -> np.ndarray:
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


def mbar_solve(lam: np.ndarray, U: np.ndarray, guess: np.ndarray | None = None, tol: float = MBAR_TOL,
               max_iter: int = 100) -> MbarSolution:
    """log Z at every rung by MBAR, the objective's Hessian (for the bootstrap), and whether
    the iteration converged.

    Newton's method from ``guess`` (by default stepping stone). The Hessian of the first
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
    f = -(stepping_stone_log_z(lam, U) if guess is None else np.asarray(guess, dtype=np.float64))
    f = f - f[0]
    obj, grad, hess = _mbar_pass(lam, f, log_n, U)
    converged = False
    for _ in range(max_iter):
        step = _newton_direction(grad, hess)
        if np.max(np.abs(step)) < tol:
            f = f.copy()
            f[1:] += step
            converged = True
            break
        t = 1.0
        while True:
            trial = f.copy()
            trial[1:] += t * step
            obj_t, grad_t, _ = _mbar_pass(lam, trial, log_n, U, with_hessian=False)
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
            hess = _mbar_pass(lam, f, log_n, U)[2]
    return MbarSolution(-f, hess, converged)


def mbar_log_z(lam: np.ndarray, U: np.ndarray, guess: np.ndarray | None = None, tol: float = MBAR_TOL,
               max_iter: int = 100) -> np.ndarray:
    """log Z at every rung by MBAR (see :func:`mbar_solve`)."""
    return mbar_solve(lam, U, guess, tol, max_iter).log_z


def mbar_log_z_at(lam: np.ndarray, U: np.ndarray, log_z: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Reweight to new lam values: log Z(x) = log sum_n exp(-x U_n) / sum_l N_l exp(f_l - lam_l U_n)."""
    n, L = U.shape
    f = -np.asarray(log_z)
    log_n = np.full(L, np.log(n))
    targets = np.atleast_1d(np.asarray(targets, dtype=np.float64))
    acc = np.full(targets.size, -np.inf)
    for u in _row_chunks(U):
        den = _log_denominator(lam, f, log_n, u)
        acc = np.logaddexp(acc, logsumexp(-np.outer(targets, u) - den[None, :], axis=1))
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
        return logsumexp(-np.outer(targets, u) - den[None, :], axis=1)


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
        a0, a1 = f[l] - lam[l] * u, f[l + 1] - lam[l + 1] * u
        den = np.logaddexp(a0, a1) + np.log(n)
        out[l] = 2 * n * np.sum(np.exp(a0 - den) * np.exp(a1 - den))
    return out


# ---- block-bootstrap replicates from per-block sums (see module docstring) ------------------------
def _ti_sums(lam, U, point, edges, aux=None):
    """Per block b and rung l: sum (U - m_l) and sum (U - m_l)^2, m_l the rung's mean (one
    rung at a time: O(n) temporaries)."""
    m = U.mean(axis=0)
    s1, s2 = np.empty((2, len(edges) - 1, U.shape[1]))
    for l in range(U.shape[1]):
        d = U[:, l] - m[l]
        s1[:, l] = np.add.reduceat(d, edges[:-1])
        s2[:, l] = np.add.reduceat(d * d, edges[:-1])
    return m, s1, s2


def _ti_replicates(lam, sums, counts, n_rows, point):
    m, s1, s2 = sums
    n = counted(counts, n_rows[:, None])
    d1 = counted(counts, s1) / n
    return _ti_from_moments(lam, m + d1, counted(counts, s2) / n - d1 * d1)


def _ss_sums(lam, U, point, edges, aux=None):
    """Per block and pair l: sum exp(w - w_max) with w = -(lam_{l+1} - lam_l) U_l."""
    top = np.empty(len(lam) - 1)
    e = np.empty((len(edges) - 1, len(lam) - 1))
    for l in range(len(lam) - 1):
        w = -(lam[l + 1] - lam[l]) * U[:, l]
        top[l] = w.max()
        e[:, l] = np.add.reduceat(np.exp(w - top[l]), edges[:-1])
    return top, e


def _ss_replicates(lam, sums, counts, n_rows, point):
    top, e = sums
    steps = top + np.log(counted(counts, e)) - np.log(counted(counts, n_rows[:, None]))
    return np.concatenate([np.zeros((counts.shape[0], 1)), np.cumsum(steps, axis=1)], axis=1)


def _bar_sums(lam, U, point, edges, aux=None):
    """Per block and pair, at the full-data root df: sums of s_i (forward) and of t_j
    (reverse), scaled by the pair's largest term; and h'(df) of the full data."""
    df = -np.diff(point)
    sums = np.empty((2, len(edges) - 1, len(lam) - 1))
    slope = np.empty(len(lam) - 1)
    for l in range(len(lam) - 1):
        slope[l] = 0.0
        for k, log_terms in enumerate(_bar_terms(df[l], *_bar_pair_works(lam, U, l))):
            x = np.exp(log_terms - log_terms.max())
            sums[k, :, l] = np.add.reduceat(x, edges[:-1])
            slope[l] += np.sum(x * (1.0 - np.exp(log_terms))) / np.sum(x)
    return df, sums, slope


def _bar_replicates(lam, sums, counts, n_rows, point):
    """One Newton step of each replicate's Bennett equation from the full-data root, with the
    full data's slope h' (the scales of the sums cancel in h - h(full))."""
    df, (sa, sb), slope = sums
    h = (np.log(counted(counts, sa)) - np.log(counted(counts, sb))
         - (np.log(sa.sum(axis=0)) - np.log(sb.sum(axis=0))))
    df_rep = df[None, :] - h / slope
    return np.concatenate([np.zeros((counts.shape[0], 1)), -np.cumsum(df_rep, axis=1)], axis=1)


def _mbar_estimate(lam, U, points):
    """MBAR from BAR's answer; a solve that did not converge is reported as failed (aux)."""
    sol = mbar_solve(lam, U, guess=points.get("bar"))
    return sol.log_z, sol.hess if sol.converged else Failed("Newton's iteration did not converge", sol.hess)


def _mbar_sums(lam, U, point, edges, aux=None):
    """Per block: sum_n a_n at the full-data solution (a_n = N W_n); and the full data's
    Hessian (``aux``, from :func:`mbar_solve`, or computed here)."""
    f = -np.asarray(point)
    log_n = np.full(len(lam), np.log(U.shape[0]))
    g = np.zeros((len(edges) - 1, len(lam)))
    mbar_block_sums(U, edges, lam, f + log_n, g)
    hess = aux.aux if isinstance(aux, Failed) else aux
    return g, hess if hess is not None else _mbar_pass(lam, f, log_n, U)[2]


def _mbar_replicates(lam, sums, counts, n_rows, point):
    """One Newton step of each replicate's MBAR objective from the full-data solution:
    gradient sum_b c_b g_b - N_rep, with the full data's Hessian (the replicate's differs by
    O(stderr), which changes the step by O(stderr^2), like the step itself)."""
    g, hess = sums
    grad = counted(counts, g) - counted(counts, n_rows[:, None])
    f = np.tile(-np.asarray(point), (counts.shape[0], 1))
    f[:, 1:] += _newton_direction(grad, hess)
    return -f


@dataclass(frozen=True)
class Failed:
    """The ``aux`` of an estimate that failed its own check (MBAR's Newton iteration that did not
    converge): the reason in words, and the auxiliary the bootstrap still needs. The run reports
    the estimator as failed; it is never the headline and drops out of the agreement check by
    name (remc_mpi.evidence.trust)."""

    reason: str
    aux: object = None


@dataclass(frozen=True)
class Estimator:
    """An estimator of log Z at every rung, as the registry :data:`ESTIMATORS` holds it.

    - ``point(lam, U)``: log Z (L,) from the energies (U (n, L), sweeps by rungs);
    - ``block_sums(lam, U, log_z, edges, aux)`` and ``replicates(lam, sums, counts, rows, log_z)``:
      its bootstrap replicates (n_boot, L) from per-block sums (module docstring; ``counts``
      (n_boot, B) multinomial block counts, ``rows`` (B,) sweeps per block);
    - ``solve(lam, U, points)``: optional, (log z, aux) given the estimates already made
      (``points``, those named in ``needs`` among them), when it can use them; ``aux`` goes to
      ``block_sums``, and a :class:`Failed` aux marks the estimate as failed;
    - ``systematic(lam, U)``: optional, an error (L,) added in quadrature to the bootstrap's.
    """

    point: Callable[[np.ndarray, np.ndarray], np.ndarray]
    block_sums: Callable
    replicates: Callable
    solve: Callable | None = None
    needs: tuple[str, ...] = ()
    systematic: Callable | None = None

    def estimate(self, lam: np.ndarray, U: np.ndarray, points: dict) -> tuple[np.ndarray, object]:
        return self.solve(lam, U, points) if self.solve else (self.point(lam, U), None)


#: every estimator, by the name used in results files and the JSON (in this order); PRIMARY is
#: the headline. BAR starts from stepping stone, MBAR from BAR (within O(stderr) of it) and
#: keeps its Hessian for the bootstrap; TI's bar carries its discretisation error.
ESTIMATORS: dict[str, Estimator] = {
    "mbar": Estimator(mbar_log_z, _mbar_sums, _mbar_replicates, solve=_mbar_estimate, needs=("bar",)),
    "bar": Estimator(bar_log_z, _bar_sums, _bar_replicates,
                     solve=lambda lam, U, points: (bar_log_z(lam, U, guess=points.get("stepping_stone")), None),
                     needs=("stepping_stone",)),
    "stepping_stone": Estimator(stepping_stone_log_z, _ss_sums, _ss_replicates),
    "ti": Estimator(ti_log_z, _ti_sums, _ti_replicates, systematic=ti_discretization),
}


def register_estimator(name: str, estimator: Estimator) -> None:
    """Add (or replace) an estimator: every run then reports it (docs/extending.md)."""
    ESTIMATORS[name] = estimator


def _solve_order() -> list[str]:
    """The estimators in an order where each comes after those it ``needs``."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name not in order:
            for dep in ESTIMATORS[name].needs:
                if dep in ESTIMATORS:
                    visit(dep)
            order.append(name)

    for name in ESTIMATORS:
        visit(name)
    return order


PRIMARY = "mbar"
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


def _point_estimates(lam: np.ndarray, U: np.ndarray) -> tuple[dict, dict]:
    """Every estimator's log Z (L,) on the rows of U, in dependency order, and its auxiliaries."""
    point, aux = {}, {}
    for name in _solve_order():
        point[name], aux[name] = ESTIMATORS[name].estimate(lam, U, point)
    return point, aux


def chain_scatter(lam: np.ndarray, U: np.ndarray, chains: int) -> tuple[dict, dict]:
    """Per estimator: each chain's own log Z (M, L) and the standard error of their mean from
    their scatter, sd / sqrt(M) (L,) — the between-ladder error, blind to nothing a single
    ladder cannot see."""
    n = U.shape[0] // chains
    per_chain = [_point_estimates(lam, U[c * n:(c + 1) * n])[0] for c in range(chains)]
    values = {name: np.array([p[name] for p in per_chain]) for name in ESTIMATORS}
    return values, {name: v.std(axis=0, ddof=1) / math.sqrt(chains) for name, v in values.items()}


def pooled_error(within: np.ndarray, dof_within: int, between: np.ndarray, chains: int) -> np.ndarray:
    """Two estimates of one variance pooled by their degrees of freedom: the bootstrap's (the
    blocks less one) and the chains' scatter (M - 1)."""
    dof_between = chains - 1
    return np.sqrt((dof_within * within**2 + dof_between * between**2) / (dof_within + dof_between))


def estimate_all(lam: np.ndarray, U: np.ndarray, n_boot: int = 100, seed: int = 0,
                 extra: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 replica: np.ndarray | None = None, chains: int = 1) -> dict:
    """Every estimator's log Z at every rung, with block-bootstrap standard errors; ``replica``
    (n, L), the replica label in each slot, lets the blocks cover the replicas' memory too
    (:func:`mixing_time`). With ``chains`` = M the rows are M independent ladders' of n / M rows
    each, stacked: the estimates pool them, blocks never straddle two, and the error pools the
    bootstrap's with the chains' scatter (:func:`chain_scatter`, :func:`pooled_error`).

    ``extra(U, log_z_mbar)``, if given, is a further statistic computed on the data and on
    every replicate's rows (for example b_hat in noise estimation).
    Returns {"log_z": {name: (L,)}, "stderr": {name: (L,)}, "boot": {name: (n_boot, L)},
    "overlap": (L-1,), "block": int, "tau": float (rows), "extra": value, "extra_boot": (n_boot, ...),
    "failed": {name: reason} of the estimates that failed their own check (:class:`Failed`),
    "chains": M, and with M > 1 "chain_log_z": {name: (M, L)}, "between": {name: (L,)},
    "within": {name: (L,)}, "dof_within": int}.
    """
    lam = np.asarray(lam, dtype=np.float64)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(BOOTSTRAP_KEY,))))
    point, aux = _point_estimates(lam, U)
    n = U.shape[0] // chains
    rows = [slice(c * n, (c + 1) * n) for c in range(chains)]
    tau = max(mixing_time(U[r], None if replica is None else replica[r]) for r in rows)
    block = block_length(n, tau)
    edges = np.concatenate([c * n + block_edges(n, block)[:-1] for c in range(chains)] + [[chains * n]])
    counts = bootstrap_counts(len(edges) - 1, n_boot, rng)
    n_rows = np.diff(edges).astype(np.float64)
    boot = {name: est.replicates(lam, est.block_sums(lam, U, point[name], edges, aux[name]), counts, n_rows,
                                 point[name]) for name, est in ESTIMATORS.items()}
    extra_boot = [extra(resample(U, edges, c), boot[PRIMARY][i]) for i, c in enumerate(counts)] if extra else []
    # a bootstrap of B blocks sees the spread of block means with divisor B: B / (B - 1) undoes
    # it (as for batch means; 5 % on the error at the 10 blocks of short runs)
    widen = math.sqrt(len(counts[0]) / max(1, len(counts[0]) - 1))
    stderr = {name: widen * b.std(axis=0, ddof=1) if n_boot > 1 else np.zeros(len(lam)) for name, b in boot.items()}
    result = {"chains": chains}
    if chains > 1:
        values, between = chain_scatter(lam, U, chains)
        result.update(chain_log_z=values, between=between, within=dict(stderr), dof_within=len(n_rows) - 1)
        stderr = {name: pooled_error(stderr[name], len(n_rows) - 1, between[name], chains) for name in stderr}
    for name, est in ESTIMATORS.items():
        if est.systematic is not None:
            stderr[name] = np.hypot(stderr[name], est.systematic(lam, U))
    overlap = neighbour_overlap(lam, U, point["bar"])  # the two-state overlap uses the pairwise estimate
    failed = {name: a.reason for name, a in aux.items() if isinstance(a, Failed)}
    return {**result, "log_z": {name: point[name] for name in ESTIMATORS}, "stderr": stderr, "boot": boot,
            "failed": failed,
            "overlap": overlap, "block": block, "tau": tau,
            "extra": extra(U, point[PRIMARY]) if extra is not None else None, "extra_boot": np.array(extra_boot)}

