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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from remc_mpi.models import Model
from remc_mpi.priors import PriorSet
from remc_mpi.streams import slot_generator


def swap_accepted(lam_lo: float, lam_hi: float, u_lo: float, u_hi: float, uniform: float) -> bool:
    """Exchange test for neighbours (SPEC 4): accept with min(1, exp((lam_hi - lam_lo)(U_hi - U_lo)))."""
    return bool(np.log(uniform) < (lam_hi - lam_lo) * (u_hi - u_lo))


@dataclass
class Payload:
    """What travels with a configuration when two slots swap."""

    theta: np.ndarray
    energy: float
    replica: int
    direction: int  # +1 last visited the bottom (lambda_0), -1 the top, 0 neither yet


class SlotBlock:
    """Replicas of slots [lo, hi) (see module docstring)."""

    def __init__(self, model: Model, priors: PriorSet, energy: np.ndarray, intensity: np.ndarray,
                 lam: np.ndarray, lo: int, hi: int, seed: int, target_acceptance: float = 0.4):
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
        self.logprior = np.array([[priors.logpdf_col(j, self.theta[i:i + 1, j])[0] for j in range(p)]
                                  for i in range(r)]).reshape(r, p)
        scale = np.array([pr.scale() for pr in priors.priors])
        self.log_step = np.tile(np.log(np.where(scale > 0, 0.1 * scale, 1.0)), (r, 1))
        self.accepted = np.zeros((r, p), dtype=np.int64)
        self.tried = np.zeros((r, p), dtype=np.int64)
        self.n_adapt = 0
        self.replica = np.arange(lo, hi, dtype=np.int64)
        self.direction = np.zeros(r, dtype=np.int64)

    # ---- energies -------------------------------------------------------------------
    def energies(self, y: np.ndarray) -> np.ndarray:
        """U = (1/2) sum_i (y_i - d_i)^2 per row (row-wise, exact whatever the batch size)."""
        buf = self._buf if self._buf.shape == y.shape else np.empty_like(y)
        np.subtract(y, self.data, out=buf)
        np.multiply(buf, buf, out=buf)
        return 0.5 * np.add.reduce(buf, axis=1)

    # ---- one sweep -------------------------------------------------------------------
    def sweep(self, adapt: bool = False) -> None:
        """Update every free parameter once in every slot (see module docstring)."""
        free = self.priors.free_index
        mc = self.lam > 0.0
        n = len(free)
        z = np.zeros((len(self.lam), n))
        logu = np.zeros((len(self.lam), n))
        for i, g in enumerate(self.rngs):
            if mc[i]:
                z[i] = g.standard_normal(n)
                logu[i] = np.log(g.random(n))
        for k, j in enumerate(free):
            step = np.exp(self.log_step[:, j])
            prop = self.theta.copy()
            prop[:, j] += step * z[:, k]
            lp = self.priors.logpdf_col(j, prop[:, j])
            inside = np.isfinite(lp) & mc
            prop[~inside, j] = self.theta[~inside, j]
            trial = self.ev.update(self.cache, prop, j)
            u_new = self.energies(trial["y"])
            with np.errstate(invalid="ignore", over="ignore"):
                log_a = -self.lam * (u_new - self.U) + lp - self.logprior[:, j]
            ok = inside & (logu[:, k] < log_a)
            self.theta[ok, j] = prop[ok, j]
            self.U[ok] = u_new[ok]
            self.logprior[ok, j] = lp[ok]
            self.ev.accept(self.cache, trial, ok)
            self.accepted[:, j] += ok
            self.tried[:, j] += mc
            if adapt:
                gain = 1.0 / (self.n_adapt + 1.0) ** 0.6
                self.log_step[mc, j] += gain * (ok[mc] - self.target)
        if adapt:
            self.n_adapt += 1
        for i in np.flatnonzero(~mc):
            self.redraw_from_prior(i)

    def redraw_from_prior(self, i: int) -> None:
        """Exact prior draw for the lambda = 0 slot (row i)."""
        self.set_row(i, self.priors.sample(self.rngs[i]))

    def set_row(self, i: int, theta: np.ndarray, energy: float | None = None) -> None:
        """Put configuration ``theta`` into row i, recomputing its cache."""
        self.theta[i] = theta
        sub = self.ev.full(self.theta[i:i + 1])
        self.ev.assign(self.cache, np.array([i]), sub)
        self.U[i] = self.energies(sub["y"])[0]
        if energy is not None and energy != self.U[i]:
            raise RuntimeError("energy of a received configuration does not reproduce bitwise")
        self.logprior[i] = [self.priors.logpdf_col(j, self.theta[i:i + 1, j])[0]
                            for j in range(self.theta.shape[1])]

    # ---- exchanges ------------------------------------------------------------------
    def payload(self, slot: int) -> Payload:
        i = slot - self.lo
        return Payload(self.theta[i].copy(), float(self.U[i]), int(self.replica[i]), int(self.direction[i]))

    def receive(self, slot: int, p: Payload) -> None:
        i = slot - self.lo
        self.set_row(i, p.theta, p.energy)
        self.replica[i] = p.replica
        self.direction[i] = p.direction

    def swap_local(self, slot: int) -> None:
        """Swap the configurations of slots ``slot`` and ``slot + 1`` (both owned here)."""
        i = slot - self.lo
        perm = np.arange(len(self.lam))
        perm[i], perm[i + 1] = i + 1, i
        for arr in (self.theta, self.U, self.logprior, self.replica, self.direction):
            arr[...] = arr[perm]
        self.ev.permute(self.cache, perm)

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
    def state(self) -> dict[str, Any]:
        """Everything that defines the block, per slot (for checkpoints and redistribution)."""
        return {
            "theta": self.theta.copy(), "energy": self.U.copy(), "log_step": self.log_step.copy(),
            "accepted": self.accepted.copy(), "tried": self.tried.copy(), "replica": self.replica.copy(),
            "direction": self.direction.copy(), "rng": [g.bit_generator.state for g in self.rngs],
            "n_adapt": self.n_adapt,
        }

    def load_state(self, st: dict[str, Any]) -> None:
        """Restore per-slot state for this block's slots (rows in slot order)."""
        for i in range(len(self.lam)):
            self.set_row(i, st["theta"][i], float(st["energy"][i]))
        self.log_step[...] = st["log_step"]
        self.accepted[...] = st["accepted"]
        self.tried[...] = st["tried"]
        self.replica[...] = st["replica"]
        self.direction[...] = st["direction"]
        for g, s in zip(self.rngs, st["rng"]):
            g.bit_generator.state = s
        self.n_adapt = int(st["n_adapt"])
