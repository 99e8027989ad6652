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

Errors: :func:`block_bootstrap` resamples whole blocks of sweeps (the same blocks for every
slot, keeping the cross-slot correlation that exchanges create), with the block length set
from the integrated autocorrelation time of the energies.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from remc_mpi.diagnostics import integrated_time

_CHUNK = 8192


def logsumexp(a: np.ndarray, axis: int | None = None) -> np.ndarray:
    """log sum exp(a) along ``axis``, stabilised by the maximum (scipy's, minus its overhead)."""
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out.squeeze(axis) if axis is not None else out.reshape(())[()]


def ti_log_z(lam: np.ndarray, U: np.ndarray) -> np.ndarray:
    """log Z at every rung by thermodynamic integration with the Hermite correction."""
    mean = U.mean(axis=0)
    slope = -U.var(axis=0)
    h = np.diff(lam)
    pieces = h / 2 * (mean[:-1] + mean[1:]) + h * h / 12 * (slope[:-1] - slope[1:])
    return -np.concatenate([[0.0], np.cumsum(pieces)])


def ti_discretization(lam: np.ndarray, U: np.ndarray) -> np.ndarray:
    """Richardson estimate of TI's discretisation error at every rung.

    The Hermite rule's global error is O(h^4), so with I_h on the ladder up to rung l and I_2h
    on every other rung of it (rung l kept), the error of I_h is about (I_h - I_2h) / 15.
    """
    full = ti_log_z(lam, U)
    err = np.zeros(len(lam))
    for l in range(2, len(lam)):
        idx = np.unique(np.concatenate([np.arange(0, l + 1, 2), [l]]))
        err[l] = abs(full[l] - ti_log_z(lam[idx], U[:, idx])[-1]) / 15.0
    return err


def stepping_stone_log_z(lam: np.ndarray, U: np.ndarray) -> np.ndarray:
    """log Z at every rung by forward exponential averaging between neighbours."""
    n = U.shape[0]
    steps = [logsumexp(-(lam[l + 1] - lam[l]) * U[:, l]) - np.log(n) for l in range(len(lam) - 1)]
    return np.concatenate([[0.0], np.cumsum(steps)])


def _bar_solve(w_f: np.ndarray, w_r: np.ndarray, guess: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Bennett's Delta f for every pair at once: columns of w_f (forward works, from the lower
    rung) and w_r (reverse works, from the upper rung).

    h(df) = log sum_i s(df - M - w_f,i) - log sum_j s(M + w_r,j - df), s the logistic
    function, is increasing in df; its root is found by Newton steps kept inside a bracket
    (bisection where a step would leave it).
    """
    m = np.log(w_f.shape[0] / w_r.shape[0])

    def h(df):
        a = -np.logaddexp(0.0, m + w_f - df)  # log s_i
        b = -np.logaddexp(0.0, -m + w_r + df)  # log t_j
        la, lb = logsumexp(a, axis=0), logsumexp(b, axis=0)
        sa, sb = np.exp(a), np.exp(b)
        da = np.sum(sa * (1 - sa), axis=0) / np.exp(la)
        db = np.sum(sb * (1 - sb), axis=0) / np.exp(lb)
        return la - lb, da + db

    lo = np.full_like(guess, -np.inf)
    hi = np.full_like(guess, np.inf)
    x = np.asarray(guess, dtype=np.float64).copy()
    for _ in range(200):
        g, dg = h(x)
        lo = np.where(g < 0, x, lo)
        hi = np.where(g > 0, x, hi)
        step = -g / np.where(dg > 0, dg, np.inf)
        step = np.clip(step, -5.0, 5.0)  # far from the root, walk; h is monotone
        nxt = x + step
        outside = (nxt <= lo) | (nxt >= hi)
        nxt = np.where(outside & np.isfinite(lo) & np.isfinite(hi), 0.5 * (lo + hi), nxt)
        if np.all((np.abs(nxt - x) < tol * (1 + np.abs(x))) | (g == 0)):
            return nxt
        x = nxt
    return x


def bar_log_z(lam: np.ndarray, U: np.ndarray) -> np.ndarray:
    """log Z at every rung by Bennett's acceptance ratio between neighbours."""
    ss = stepping_stone_log_z(lam, U)
    d = np.diff(lam)[None, :]
    df = _bar_solve(d * U[:, :-1], -d * U[:, 1:], -np.diff(ss))
    return np.concatenate([[0.0], -np.cumsum(df)])


def _log_denominator(lam: np.ndarray, f: np.ndarray, log_n: np.ndarray, u: np.ndarray) -> np.ndarray:
    """log sum_l N_l exp(f_l - lam_l U_n) for a chunk of pooled energies u (c,)."""
    return logsumexp(f[None, :] + log_n[None, :] - u[:, None] * lam[None, :], axis=1)


def _mbar_pass(lam, f, log_n, pooled):
    """Objective, gradient and Hessian of the MBAR objective at f.

    Objective g(f) = sum_n log sum_l N_l exp(f_l - lam_l U_n) - sum_l N_l f_l (convex; its
    minimum with f_0 = 0 is the MBAR solution); gradient sum_n N_k W_nk - N_k.
    """
    L = len(lam)
    obj = 0.0
    wsum = np.zeros(L)
    wtw = np.zeros((L, L))  # sum_n (N W)^T (N W), for the Hessian
    shift = f + log_n
    ones = np.ones(L)
    for s in range(0, pooled.size, _CHUNK):
        u = pooled[s:s + _CHUNK]
        a = shift[None, :] - u[:, None] * lam[None, :]
        # subtracting each row's largest term keeps exp() in range
        top = a.max(axis=1)
        a -= top[:, None]
        np.exp(a, out=a)
        tot = a @ ones  # BLAS row sums: much faster than a.sum(axis=1) for short rows
        obj += float(np.log(tot).sum() + top.sum())
        a /= tot[:, None]  # N_k W_nk: each row sums to 1
        wsum += np.ones(a.shape[0]) @ a
        wtw += a.T @ a
    n_k = np.exp(log_n)
    obj -= float(n_k @ f)
    return obj, wsum - n_k, np.diag(wsum) - wtw


def mbar_log_z(lam: np.ndarray, U: np.ndarray, guess: np.ndarray | None = None,
               tol: float = 1e-7, max_iter: int = 100) -> np.ndarray:
    """log Z at every rung by MBAR."""
    lam = np.asarray(lam, dtype=np.float64)
    n, L = U.shape
    pooled = np.ascontiguousarray(U.T).ravel()
    log_n = np.full(L, np.log(n))
    # start from stepping stone: close enough for Newton, and O(n) memory (BAR needs O(n L))
    f = -(stepping_stone_log_z(lam, U) if guess is None else np.asarray(guess, dtype=np.float64))
    f = f - f[0]
    obj, grad, hess = _mbar_pass(lam, f, log_n, pooled)
    for _ in range(max_iter):
        g, h = grad[1:], hess[1:, 1:]
        try:
            step = np.linalg.solve(h, -g)
        except np.linalg.LinAlgError:
            step = -g / np.maximum(np.diag(h), 1e-300)
        if np.max(np.abs(step)) < tol:
            # Newton converges quadratically: the error after this step is O(tol^2)
            f = f.copy()
            f[1:] += step
            break
        t = 1.0
        while True:
            trial = f.copy()
            trial[1:] += t * step
            obj_t, grad_t, hess_t = _mbar_pass(lam, trial, log_n, pooled)
            if obj_t <= obj + 1e-12 * abs(obj) or t < 1e-6:
                break
            t *= 0.5
        f, obj, grad, hess = trial, obj_t, grad_t, hess_t
    return -f


def mbar_log_z_at(lam: np.ndarray, U: np.ndarray, log_z: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Reweight to new lam values: log Z(x) = log sum_n exp(-x U_n) / sum_l N_l exp(f_l - lam_l U_n)."""
    n, L = U.shape
    pooled = np.ascontiguousarray(U.T).ravel()
    f = -np.asarray(log_z)
    log_n = np.full(L, np.log(n))
    targets = np.atleast_1d(np.asarray(targets, dtype=np.float64))
    acc = np.full(targets.size, -np.inf)
    for s in range(0, pooled.size, _CHUNK):
        u = pooled[s:s + _CHUNK]
        den = _log_denominator(lam, f, log_n, u)
        acc = np.logaddexp(acc, logsumexp(-np.outer(targets, u) - den[None, :], axis=1))
    return acc


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


ESTIMATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "mbar": mbar_log_z,
    "bar": bar_log_z,
    "stepping_stone": stepping_stone_log_z,
    "ti": ti_log_z,
}
PRIMARY = "mbar"


def block_length(U: np.ndarray) -> int:
    """Bootstrap block length: 3 x the largest integrated autocorrelation time over slots."""
    taus = [integrated_time(U[:, l]) for l in range(U.shape[1]) if np.ptp(U[:, l]) > 0]
    tau = max(taus) if taus else 1.0
    return int(min(max(1, np.ceil(3.0 * tau)), max(1, U.shape[0] // 10)))


def block_bootstrap(U: np.ndarray, n_boot: int, rng: np.random.Generator,
                    block: int | None = None) -> tuple[list[np.ndarray], int]:
    """``n_boot`` moving-block resamples of the rows (sweeps) of U, and the block length."""
    n = U.shape[0]
    b = block or block_length(U)
    n_blocks = int(np.ceil(n / b))
    out = []
    for _ in range(n_boot):
        starts = rng.integers(0, n - b + 1, n_blocks)
        idx = (starts[:, None] + np.arange(b)[None, :]).ravel()[:n]
        out.append(U[idx])
    return out, b


def estimate_all(lam: np.ndarray, U: np.ndarray, n_boot: int = 100, seed: int = 0,
                 extra: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> dict:
    """Every estimator's log Z at every rung, with block-bootstrap standard errors.

    ``extra(U, log_z_mbar)``, if given, is a further statistic computed on the data and on
    every resample (for example b_hat in noise estimation).
    Returns {"log_z": {name: (L,)}, "stderr": {name: (L,)}, "boot": {name: (n_boot, L)},
    "overlap": (L-1,), "block": int, "extra": value, "extra_boot": (n_boot, ...)}.
    """
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(2**31 + 2,))))
    point: dict[str, np.ndarray] = {}
    mbar = mbar_log_z(lam, U)
    point["mbar"] = mbar
    for name in ("bar", "stepping_stone", "ti"):
        point[name] = ESTIMATORS[name](lam, U)
    samples, block = block_bootstrap(U, n_boot, rng)
    boot = {name: np.empty((n_boot, len(lam))) for name in point}
    extra_boot = []
    for i, Ub in enumerate(samples):
        boot["mbar"][i] = mbar_log_z(lam, Ub, guess=mbar)
        for name in ("bar", "stepping_stone", "ti"):
            boot[name][i] = ESTIMATORS[name](lam, Ub)
        if extra is not None:
            extra_boot.append(extra(Ub, boot["mbar"][i]))
    stderr = {name: b.std(axis=0, ddof=1) if n_boot > 1 else np.zeros(len(lam)) for name, b in boot.items()}
    # TI's error bar also carries its discretisation error (the others have none)
    stderr["ti"] = np.hypot(stderr["ti"], ti_discretization(lam, U))
    overlap = neighbour_overlap(lam, U, point["bar"])
    return {"log_z": point, "stderr": stderr, "boot": boot, "overlap": overlap, "block": block,
            "extra": extra(U, mbar) if extra is not None else None,
            "extra_boot": np.array(extra_boot)}


def disagreements(values: dict[str, float], errors: dict[str, float], z: float = 3.0) -> list[str]:
    """Pairs of estimators whose difference exceeds ``z`` times their combined error."""
    names = list(values)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            comb = np.hypot(errors[a], errors[b])
            if abs(values[a] - values[b]) > z * comb:
                out.append(f"{a} and {b} differ by {abs(values[a] - values[b]):.3g} nats "
                           f"(> {z:g} x combined error {comb:.3g})")
    return out
