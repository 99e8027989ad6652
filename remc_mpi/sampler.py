"""The sampler core: the replicas of a block of temperature slots on one process.

Knows nothing of MPI or files. A :class:`SlotBlock` holds slots [lo, hi) of a ladder
lambda_0 < ... < lambda_{L-1} and, per slot, a configuration theta, its energy
U = N E(theta) = (1/2) sum_i (y_i - f(omega_i; theta))^2, its own random generator, per-parameter
step sizes and counters. One sweep updates every free parameter once, for all slots at once
(component-wise Metropolis random walk, batched model evaluation):

    theta'_j = theta_j + s_{l,j} z,  z ~ N(0, 1);
    accept with prob min(1, exp(-lambda_l (U' - U) + log phi_j(theta'_j) - log phi_j(theta_j))),

proposals outside the prior's support being rejected. The lambda = 0 slot is redrawn from
the prior exactly. During burn-in the log step sizes follow Robbins-Monro toward the target
acceptance a*: log s <- log s + (1[accepted] - a*) / (n + 1)^0.6.

After each sweep, with ``joint`` on, one more move updates all free parameters together along
the slot's own posterior covariance, learnt during burn-in (adaptive Metropolis, Haario et
al. 2001; frozen with the step sizes after burn-in): strongly correlated parameters, such as
delta, uff, ufc and shift along the cluster models' near-degenerate ridges, then mix in
sweeps instead of thousands.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from remc_mpi.models import Model
from remc_mpi.priors import PriorSet
from remc_mpi.streams import slot_generator


#: sweeps of random numbers each slot draws at once (part of the state: buffers are saved)
RAND_BLOCK = 64
#: joint moves start after this many burn-in sweeps of covariance learning, renewed every JOINT_EVERY
JOINT_START = 200
JOINT_EVERY = 50
JOINT_TARGET = 0.25


def swap_accepted(lam_lo, lam_hi, u_lo, u_hi, uniform):
    """Exchange test for neighbours (SPEC 4): accept with min(1, exp((lam_hi - lam_lo)(U_hi - U_lo))).
    Elementwise, so the pairs inside a block and those across ranks share one formula."""
    return np.log(uniform) < (lam_hi - lam_lo) * (u_hi - u_lo)


class SlotBlock:
    """Replicas of slots [lo, hi) (see module docstring)."""

    def __init__(self, model: Model, priors: PriorSet, energy: np.ndarray, intensity: np.ndarray,
                 lam: np.ndarray, lo: int, hi: int, seed: int, target_acceptance: float = 0.4,
                 joint: bool = True):
        self.model = model
        self.priors = priors
        self.ev = model.evaluator(energy)
        self.data = np.ascontiguousarray(intensity, dtype=np.float64)
        self.lo, self.hi = lo, hi
        self.n_slots_total = len(lam)
        self.lam = np.asarray(lam, dtype=np.float64)[lo:hi].copy()
        self.target = target_acceptance
        self.rngs = [slot_generator(seed, s) for s in range(lo, hi)]
        r, p = hi - lo, len(model.param_names)
        self.theta = np.array([priors.sample(g) for g in self.rngs]).reshape(r, p)
        self.cache = self.ev.full(self.theta)
        self._buf = np.empty((hi - lo, self.data.size))
        self.U = self.energies(self.cache["y"])
        self.logprior = priors.logpdf_rows(self.theta)
        scale = np.array([pr.scale() for pr in priors.priors])
        self.log_step = np.tile(np.log(np.where(scale > 0, 0.1 * scale, 1.0)), (r, 1))
        self.accepted = np.zeros((r, p), dtype=np.int64)
        self.tried = np.zeros((r, p), dtype=np.int64)
        self.n_adapt = 0
        self.replica = np.arange(lo, hi, dtype=np.int64)
        self.direction = np.zeros(r, dtype=np.int64)
        self.t_model = 0.0  # seconds inside model evaluation and energies (for benchmarks)
        n_free = len(priors.free_index)
        self.rand_z = np.zeros((r, RAND_BLOCK, 2 * n_free))
        self.rand_logu = np.zeros((r, RAND_BLOCK, n_free + 1))
        self.rand_pos = RAND_BLOCK
        # joint moves: per-slot covariance of the free parameters learnt during burn-in
        self.joint = bool(joint) and n_free > 1
        self.stat_n = 0
        self.stat_mean = np.zeros((r, n_free))
        self.stat_m2 = np.zeros((r, n_free, n_free))
        self.chol = np.zeros((r, n_free, n_free))
        self.joint_ready = False
        self.log_jscale = np.full(r, np.log(2.38 / np.sqrt(max(1, n_free))))
        self.joint_accepted = np.zeros(r, dtype=np.int64)
        self.joint_tried = np.zeros(r, dtype=np.int64)

    # ---- energies -------------------------------------------------------------------
    def energies(self, y: np.ndarray) -> np.ndarray:
        """U = (1/2) sum_i (y_i - d_i)^2 per row (row-wise, exact whatever the batch size)."""
        buf = self._buf if self._buf.shape == y.shape else np.empty_like(y)
        np.subtract(y, self.data, out=buf)
        np.multiply(buf, buf, out=buf)
        return 0.5 * np.add.reduce(buf, axis=1)

    # ---- one sweep -------------------------------------------------------------------
    def _draws(self) -> tuple[np.ndarray, np.ndarray]:
        """This sweep's normals z and log-uniforms (R, n_free), from per-slot buffers that
        each slot's own generator refills every RAND_BLOCK sweeps (one call per slot)."""
        if self.rand_pos == RAND_BLOCK:
            n = len(self.priors.free_index)
            for i, g in enumerate(self.rngs):
                if self.lam[i] > 0.0:
                    self.rand_z[i] = g.standard_normal((RAND_BLOCK, 2 * n))
                    self.rand_logu[i] = np.log(g.random((RAND_BLOCK, n + 1)))
            self.rand_pos = 0
        k = self.rand_pos
        self.rand_pos += 1
        return self.rand_z[:, k], self.rand_logu[:, k]

    def sweep(self, adapt: bool = False) -> None:
        """Update every free parameter once in every slot (see module docstring).

        The lambda = 0 slot gets a fresh prior draw, evaluated inside the first batched
        update (from scratch for every row, so no extra model call and no imbalance between
        the rank that owns it and the others)."""
        mc = self.lam > 0.0
        prior_rows = ~mc
        redraw = bool(prior_rows.any())
        if redraw:
            fresh = np.array([self.priors.sample(self.rngs[i]) for i in np.flatnonzero(prior_rows)])
        z, logu = self._draws()
        theta, U, logprior = self.theta, self.U, self.logprior
        for k, j in enumerate(self.priors.free_index):
            prop = theta.copy()
            prop[:, j] += np.exp(self.log_step[:, j]) * z[:, k]
            lp = self.priors.logpdf_col(j, prop[:, j])
            inside = (lp > -np.inf) & mc
            prop[:, j] = np.where(inside, prop[:, j], theta[:, j])
            first = redraw and k == 0
            if first:
                prop[prior_rows] = fresh
            t0 = time.perf_counter()
            trial = self.ev.update(self.cache, prop, None if first else j)
            u_new = self.energies(trial["y"])
            self.t_model += time.perf_counter() - t0
            # lp = -inf outside the support makes log_a = -inf: rejected, and no NaN arises
            log_a = self.lam * (U - u_new) + (lp - logprior[:, j])
            ok = inside & (logu[:, k] < log_a)
            if first:
                ok |= prior_rows
                theta[prior_rows] = fresh
                logprior[prior_rows] = self.priors.logpdf_rows(fresh)
            theta[:, j] = np.where(ok, prop[:, j], theta[:, j])
            np.copyto(U, u_new, where=ok)
            if first:
                lp = np.where(prior_rows, logprior[:, j], lp)
            logprior[:, j] = np.where(ok, lp, logprior[:, j])
            self.ev.accept(self.cache, trial, ok)
            self.accepted[:, j] += ok & mc
            self.tried[:, j] += mc
            if adapt:
                gain = 1.0 / (self.n_adapt + 1.0) ** 0.6
                self.log_step[:, j] += np.where(mc, gain * (ok - self.target), 0.0)
        if self.joint_ready:
            self._joint_move(z[:, len(self.priors.free_index):], logu[:, -1], mc, adapt)
        if adapt:
            self.n_adapt += 1
            if self.joint:
                self._learn_covariance()

    def _learn_covariance(self) -> None:
        """Running mean and covariance of the free parameters per slot (Welford); every
        JOINT_EVERY sweeps after JOINT_START the joint proposal's Cholesky factor is renewed."""
        x = self.theta[:, self.priors.free_index]
        self.stat_n += 1
        delta = x - self.stat_mean
        self.stat_mean += delta / self.stat_n
        self.stat_m2 += delta[:, :, None] * (x - self.stat_mean)[:, None, :]
        if self.stat_n >= JOINT_START and self.stat_n % JOINT_EVERY == 0:
            cov = self.stat_m2 / (self.stat_n - 1)
            # a floor from the component step sizes keeps every factor positive definite
            floor = np.exp(2 * self.log_step[:, self.priors.free_index]) * 1e-4
            idx = np.arange(cov.shape[1])
            cov[:, idx, idx] += floor + 1e-300
            self.chol = np.linalg.cholesky(cov)
            self.joint_ready = True

    def _joint_move(self, z: np.ndarray, logu: np.ndarray, mc: np.ndarray, adapt: bool) -> None:
        """One Metropolis move of all free parameters together: theta' = theta + s C z with
        C the slot's learnt covariance factor (adaptive Metropolis, Haario et al. 2001)."""
        free = self.priors.free_index
        prop = self.theta.copy()
        step = np.einsum("rij,rj->ri", self.chol, z) * np.exp(self.log_jscale)[:, None]
        prop[:, free] += step
        lp_new = self.priors.logpdf_rows(prop)
        lp_sum = lp_new.sum(axis=1)
        inside = (lp_sum > -np.inf) & mc
        prop = np.where(inside[:, None], prop, self.theta)
        t0 = time.perf_counter()
        trial = self.ev.update(self.cache, prop, None)
        u_new = self.energies(trial["y"])
        self.t_model += time.perf_counter() - t0
        log_a = self.lam * (self.U - u_new) + (lp_sum - self.logprior.sum(axis=1))
        ok = inside & (logu < log_a)
        self.theta[...] = np.where(ok[:, None], prop, self.theta)
        np.copyto(self.U, u_new, where=ok)
        self.logprior[...] = np.where(ok[:, None], lp_new, self.logprior)
        self.ev.accept(self.cache, trial, ok)
        self.joint_accepted += ok
        self.joint_tried += mc
        if adapt:
            gain = 1.0 / (self.n_adapt + 1.0) ** 0.6
            self.log_jscale += np.where(mc, gain * (ok - JOINT_TARGET), 0.0)

    def set_row(self, i: int, theta: np.ndarray) -> None:
        """Put configuration ``theta`` into row i, computing its cache and energy."""
        self.theta[i] = theta
        sub = self.ev.full(self.theta[i:i + 1])
        self.ev.assign(self.cache, np.array([i]), sub)
        self.U[i] = self.energies(sub["y"])[0]
        self.logprior[i] = self.priors.logpdf_rows(self.theta[i:i + 1])[0]

    # ---- exchanges ------------------------------------------------------------------
    def pack_row(self, slot: int) -> np.ndarray:
        """Everything that travels with the configuration in ``slot``, as one vector:
        [U, replica, direction, theta (P), log prior (P), model cache row]. Sending the cache
        row spares the receiver a model evaluation and moves exactly the bits a local swap
        would (rank-count invariance)."""
        i = slot - self.lo
        return np.concatenate([[self.U[i], self.replica[i], self.direction[i]], self.theta[i], self.logprior[i],
                               self.ev.row_vector(self.cache, i)])

    def unpack_row(self, slot: int, vec: np.ndarray) -> None:
        i = slot - self.lo
        p = self.theta.shape[1]
        self.U[i], self.replica[i], self.direction[i] = vec[0], int(vec[1]), int(vec[2])
        self.theta[i] = vec[3:3 + p]
        self.logprior[i] = vec[3 + p:3 + 2 * p]
        self.ev.set_row_vector(self.cache, i, vec[3 + 2 * p:])

    def exchange_local(self, lam: np.ndarray, uniforms: np.ndarray, parity: int) -> dict[int, bool]:
        """Attempt the pairs (l, l+1) inside this block with l % 2 == parity, all at once;
        return {l: accepted}. Uniforms are indexed by the pair's lower slot l."""
        first = self.lo + (parity - self.lo) % 2
        lows = np.arange(first, self.hi - 1, 2)
        if lows.size == 0:
            return {}
        i = lows - self.lo
        ok = swap_accepted(lam[lows], lam[lows + 1], self.U[i], self.U[i + 1], uniforms[lows])
        if ok.any():
            perm = np.arange(len(self.lam))
            a = i[ok]
            perm[a], perm[a + 1] = a + 1, a
            for arr in (self.theta, self.U, self.logprior, self.replica, self.direction):
                arr[...] = arr[perm]
            self.ev.permute(self.cache, perm)
        return dict(zip(lows.tolist(), ok.tolist()))

    def mark_ends(self) -> np.ndarray:
        """Update the direction labels at the ladder's ends; return the replicas that just
        completed a round trip (reached the bottom after having visited the top)."""
        done = []
        if self.lo == 0:
            if self.direction[0] == -1:
                done.append(int(self.replica[0]))
            self.direction[0] = 1
        if self.hi == self.n_slots_total:
            self.direction[-1] = -1
        return np.array(done, dtype=np.int64)

    # ---- state ----------------------------------------------------------------------
    #: per-slot arrays of the state (rows in slot order), besides the configurations
    _STATE_ARRAYS = ("log_step", "accepted", "tried", "replica", "direction", "rand_z", "rand_logu",
                     "stat_mean", "stat_m2", "chol", "log_jscale", "joint_accepted", "joint_tried")
    #: block-wide scalars of the state (the same on every rank)
    STATE_SCALARS = ("n_adapt", "rand_pos", "stat_n", "joint_ready")

    def state(self) -> dict[str, Any]:
        """Everything that defines the block, per slot (for checkpoints and redistribution)."""
        st: dict[str, Any] = {name: getattr(self, name).copy() for name in self._STATE_ARRAYS}
        st.update({name: getattr(self, name) for name in self.STATE_SCALARS})
        st.update(theta=self.theta.copy(), energy=self.U.copy(), rng=[g.bit_generator.state for g in self.rngs])
        return st

    def load_state(self, st: dict[str, Any]) -> None:
        """Restore per-slot state for this block's slots (rows in slot order)."""
        for i in range(len(self.lam)):
            self.set_row(i, st["theta"][i])
            if self.U[i] != st["energy"][i]:
                raise RuntimeError(f"slot {self.lo + i}: the saved configuration's energy does not reproduce")
        for name in self._STATE_ARRAYS:
            getattr(self, name)[...] = st[name]
        for g, s in zip(self.rngs, st["rng"]):
            g.bit_generator.state = s
        for name in self.STATE_SCALARS:
            setattr(self, name, type(getattr(self, name))(st[name]))
