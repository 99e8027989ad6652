"""Mode jumps: independence proposals from the mixture of the chain's learnt Gaussians.

    m ~ uniform{1..M},   theta'_free = mu_m + r_m C_m z,   z ~ N(0, I),   r_m = sqrt(lambda_m / lambda),
    q(x) = (1/M) sum_m N(x; mu_m, r_m^2 C_m C_m^T),
    accept with min(1, exp(-lambda (U' - U)) phi(theta') q(theta) / (phi(theta) q(theta'))),

the independence Metropolis-Hastings sampler (Tierney, Ann. Statist. 22, 1701 (1994)) with a
fixed proposal; fixed parameters keep their values. The components are the means and
covariances C_m C_m^T that the joint move (:mod:`remc_mpi.moves.joint`) learnt in the second
burn-in window, one per lambda > 0 slot of the slot's own chain, frozen after the burn-in and
gathered across ranks in slot order (:meth:`MixtureMove.set_components`), so every rank
proposes from the same mixture (rank-count invariance); the move runs after the burn-in only.
Component m was learnt at lambda_m; offered to a slot at lambda it is widened by
r_m = sqrt(lambda_m / lambda), as a Gaussian mode's width scales with the temperature, so the
sharp, well-learnt Gaussians of the cold slots also serve the hot ones (on the CeO2 run below,
scaled components were accepted 10-100 times more often at lambda < 0.01 than unscaled ones).
The proposal is fixed per slot after the burn-in (the ladder is fixed then), as the independence
sampler requires.

Why: a measured spectrum's posterior can have several modes far apart (the Ce 3d of CeO2 under
cluster3: two assignments of the broad 4f1L-like line, ~10^2 nats apart at the data's noise),
and replica exchange only carries replicas between temperatures: a replica crosses between
modes by local moves at the temperature where both hold comparable mass, which random walks in
a sharp posterior do once in ~10^3 sweeps there (docs/measured.md). The slots on either side of
such a temperature sit in different modes, so their Gaussians, offered to every slot, propose
the jump directly; where a component fits the slot's mode the acceptance is tens of per cent.
A component far from the slot's posterior costs one rejected evaluation.

log q is a log-sum-exp over the components of

    -|(r_m C_m)^-1 (x - mu_m)|^2 / 2 - log det(r_m C_m)
        = -(lambda / lambda_m) |C_m^-1 (x - mu_m)|^2 / 2 - log det C_m - (d/2) log lambda_m + (d/2) log lambda

(the last term and the common constants cancel in the ratio), with the inverse factors C_m^-1 and
the constants log det C_m + (d/2) log lambda_m computed once when the components are set: M d (d + 1) / 2
multiply-adds with no division, laid out component-last so that each runs over all M at once.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from remc_mpi.kernels import jit
from remc_mpi.kernels.spectra import ALL
from remc_mpi.moves.base import Move, log_prior_ratio, start_proposal


class MixtureState(NamedTuple):
    """What the kernels receive each sweep (named across the compiled boundary); per chain c
    of the block's rows, its M components."""

    ready: bool  # after the burn-in, with components
    mean: np.ndarray  # (C, M, d)
    chol: np.ndarray  # (C, M, d, d)
    comp_lam: np.ndarray  # (C, M) the lambda each was learnt at
    mean_t: np.ndarray  # (C, d, M) the means, component last
    inv_chol_t: np.ndarray  # (C, d, d, M) C_m^-1, component last
    log_norm: np.ndarray  # (C, M) log det C_m + (d/2) log lambda_m
    inv_lam: np.ndarray  # (C, M) 1 / lambda_m
    chain_of_row: np.ndarray  # (rows,) int64
    work: np.ndarray  # scratch of (d + 2) M
    accepted: np.ndarray  # (rows,) counters
    tried: np.ndarray


class MixtureMove(Move):
    name = "mixture"
    counters = ("accepted", "tried")
    rate_name = "mixture_acceptance"

    def __init__(self, **settings) -> None:
        super().__init__(**settings)
        self.enabled = self.switched_on and bool(settings.get("joint", True))  # its Gaussians: the joint move's
        #: per chain: mean (C, M, d), chol (C, M, d, d), lambda (C, M), then what log q reads
        #: (MixtureState's mean_t, inv_chol_t, log_norm, inv_lam)
        self.components: tuple | None = None
        self.chain_of_row = np.zeros(0, dtype=np.int64)
        self.work = np.zeros(0)
        #: the arrays of a kernel state without components (same types as with them: one signature)
        self._idle = (np.zeros((1, 1, 1)), np.zeros((1, 1, 1, 1)), np.ones((1, 1)), np.zeros((1, 1, 1)),
                      np.zeros((1, 1, 1, 1)), np.zeros((1, 1)), np.ones((1, 1)), np.zeros(1, dtype=np.int64),
                      np.zeros(3))

    def normals(self, n_free: int) -> int:
        return n_free

    def uniforms(self, n_free: int) -> int:
        return 2  # the component, the accept decision

    def init_state(self, n_slots: int, priors) -> dict[str, np.ndarray]:
        d = len(priors.free_index)
        self.enabled = self.enabled and d > 1
        return {"accepted": np.zeros(n_slots, dtype=np.int64), "tried": np.zeros(n_slots, dtype=np.int64)}

    def set_components(self, slot_lam: np.ndarray, rungs: int, lo: int, hi: int, mean: np.ndarray,
                       chol: np.ndarray) -> None:
        """Every slot's frozen mean (S, d) and C (S, d, d) in slot order: each chain's lambda > 0
        slots become its components; rows [lo, hi) of this block propose from their chain's."""
        if not self.enabled:
            return
        chains = len(slot_lam) // rungs
        keep = [np.flatnonzero(slot_lam[c * rungs:(c + 1) * rungs] > 0) + c * rungs for c in range(chains)]
        n = min(len(k) for k in keep)
        if n == 0:
            return
        idx = np.array([k[:n] for k in keep])
        self.set_gaussians(mean[idx], chol[idx], slot_lam[idx], np.arange(lo, hi) // rungs)

    def set_gaussians(self, mean: np.ndarray, chol: np.ndarray, lam: np.ndarray, chain_of_row: np.ndarray) -> None:
        """The components themselves: per chain M means (C, M, d), lower Cholesky factors
        (C, M, d, d) and the lambda each was learnt at (C, M); ``chain_of_row``: the chain of
        each row of the block."""
        mean, chol, lam = (np.ascontiguousarray(a, dtype=np.float64) for a in (mean, chol, lam))
        logdet = np.log(np.abs(np.diagonal(chol, axis1=2, axis2=3))).sum(axis=2)
        if not np.all(np.isfinite(logdet)):
            return  # a covariance that was never learnt: no mode jumps
        n_comp, d = mean.shape[1], mean.shape[2]
        component_last = (np.ascontiguousarray(np.moveaxis(a, 1, -1)) for a in (mean, np.linalg.inv(chol)))
        self.components = (mean, chol, lam, *component_last, logdet + 0.5 * d * np.log(lam), 1.0 / lam)
        self.chain_of_row = np.asarray(chain_of_row, dtype=np.int64)
        self.work = np.zeros((d + 2) * n_comp)

    def kernel_state(self, state, adapt):
        if self.components is None or adapt:
            return MixtureState(False, *self._idle, state["accepted"], state["tried"])
        return MixtureState(True, *self.components, self.chain_of_row, self.work, state["accepted"], state["tried"])


@jit
def mixture_logq(theta, free, mean_t, inv_chol_t, log_norm, inv_lam, lam, work):
    """log q(theta) at ``lam`` up to the terms common to every component (module docstring),
    each loop over the M components; ``work``: scratch of (d + 2) M."""
    d, n_comp = mean_t.shape
    terms, r = work[:n_comp], work[n_comp:2 * n_comp]
    dx = work[2 * n_comp:(d + 2) * n_comp].reshape((d, n_comp))
    for b in range(d):
        x_b, dx_b, mean_b = theta[free[b]], dx[b], mean_t[b]
        for m in range(n_comp):
            dx_b[m] = x_b - mean_b[m]
    for m in range(n_comp):
        terms[m] = 0.0
    for a in range(d):
        for m in range(n_comp):
            r[m] = 0.0
        for b in range(a + 1):
            inv_ab, dx_b = inv_chol_t[a, b], dx[b]
            for m in range(n_comp):
                r[m] += inv_ab[m] * dx_b[m]
        for m in range(n_comp):
            terms[m] += r[m] * r[m]
    half_lam = -0.5 * lam
    top = -math.inf
    for m in range(n_comp):
        terms[m] = half_lam * inv_lam[m] * terms[m] - log_norm[m]
        top = max(top, terms[m])
    total = 0.0
    for m in range(n_comp):
        total += math.exp(terms[m] - top)
    return top + math.log(total)


@jit
def mixture_propose(theta, logprior, prop, lp_prop, prior, z, log_u_pick, comps, c, lam):
    """theta'_free = mu_m + r_m C_m z at ``lam`` with m from exp(log_u_pick), among the components
    of chain c of ``comps`` (a :class:`MixtureState`). Fills the proposed
    state and its log prior; returns (stage ALL, -1, log prior ratio + log q(theta) -
    log q(theta'), inside support)."""
    free = prior.free
    mean, chol, comp_lam = comps.mean[c], comps.chol[c], comps.comp_lam[c]
    d, n_comp = free.size, mean.shape[0]
    start_proposal(theta, logprior, prop, lp_prop)
    m = min(int(math.exp(log_u_pick) * n_comp), n_comp - 1)
    widen = math.sqrt(comp_lam[m] / lam)
    for a in range(d):
        step = 0.0
        for b in range(a + 1):
            step += chol[m, a, b] * z[b]
        prop[free[a]] = mean[m, a] + widen * step
    ratio, lp_sum = log_prior_ratio(prior, prop, lp_prop, logprior)
    if not lp_sum > -math.inf:
        return ALL, -1, -math.inf, False
    log_q = (comps.mean_t[c], comps.inv_chol_t[c], comps.log_norm[c], comps.inv_lam[c], lam, comps.work)
    log_q_ratio = mixture_logq(theta, free, *log_q) - mixture_logq(prop, free, *log_q)
    return ALL, -1, ratio + log_q_ratio, True
