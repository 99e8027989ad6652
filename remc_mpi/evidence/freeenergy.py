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
  solved by Newton's method on the convex MBAR objective (the solver and the reweighting to any
  lam between rungs are :mod:`remc_mpi.evidence.mbar`).

Errors: a block bootstrap over whole blocks of sweeps (the same blocks for every slot, keeping
the cross-slot correlation that exchanges create), with the block length set from the
integrated autocorrelation time of the energies (the blocks: :mod:`remc_mpi.evidence.bootstrap`). The sweeps are cut into B non-overlapping
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

import numpy as np

from remc_mpi.evidence.bootstrap import block_edges, block_length, bootstrap_counts, mixing_time, resample
from remc_mpi.evidence.mbar import MBAR_TOL, logsumexp, mbar_pass, mbar_solve, neighbour_overlap, newton_direction
from remc_mpi.kernels.reweight import counted, mbar_block_sums
from remc_mpi.sampling.streams import BOOTSTRAP_KEY

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
    with np.errstate(invalid="ignore"):  # +inf energies (outside a support) leave <U> infinite, its variance NaN
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


def mbar_log_z(lam: np.ndarray, U: np.ndarray, guess: np.ndarray | None = None, tol: float = MBAR_TOL,
               max_iter: int = 100) -> np.ndarray:
    """log Z at every rung by MBAR (:func:`remc_mpi.evidence.mbar.mbar_solve`), from ``guess``
    (by default stepping stone)."""
    start = stepping_stone_log_z(lam, U) if guess is None else guess
    return mbar_solve(lam, U, start, tol, max_iter).log_z


# ---- block-bootstrap replicates from per-block sums (see module docstring) ------------------------
def _ti_sums(lam, U, point, edges, aux=None):
    """Per block b and rung l: sum (U - m_l) and sum (U - m_l)^2, m_l the rung's mean (one
    rung at a time: O(n) temporaries)."""
    m = U.mean(axis=0)
    s1, s2 = np.empty((2, len(edges) - 1, U.shape[1]))
    with np.errstate(invalid="ignore"):  # +inf energies: as _moments
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
    guess = points.get("bar")
    sol = mbar_solve(lam, U, stepping_stone_log_z(lam, U) if guess is None else guess)
    return sol.log_z, sol.hess if sol.converged else Failed("Newton's iteration did not converge", sol.hess)


def _mbar_sums(lam, U, point, edges, aux=None):
    """Per block: sum_n a_n at the full-data solution (a_n = N W_n); and the full data's
    Hessian (``aux``, from :func:`mbar_solve`, or computed here)."""
    f = -np.asarray(point)
    log_n = np.full(len(lam), np.log(U.shape[0]))
    g = np.zeros((len(edges) - 1, len(lam)))
    mbar_block_sums(U, edges, lam, f + log_n, g)
    hess = aux.aux if isinstance(aux, Failed) else aux
    return g, hess if hess is not None else mbar_pass(lam, f, log_n, U)[2]


def _mbar_replicates(lam, sums, counts, n_rows, point):
    """One Newton step of each replicate's MBAR objective from the full-data solution:
    gradient sum_b c_b g_b - N_rep, with the full data's Hessian (the replicate's differs by
    O(stderr), which changes the step by O(stderr^2), like the step itself)."""
    g, hess = sums
    grad = counted(counts, g) - counted(counts, n_rows[:, None])
    f = np.tile(-np.asarray(point), (counts.shape[0], 1))
    f[:, 1:] += newton_direction(grad, hess)
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

