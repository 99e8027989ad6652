"""The sampler core: the replicas of a block of temperature slots on one process.

Knows nothing of MPI or files. A :class:`SlotBlock` holds slots [lo, hi) of a ladder
lambda_0 < ... < lambda_{L-1} and, per slot, a configuration theta, its energy
U = N E(theta) = (1/2) sum_i (y_i - f(omega_i; theta))^2, its model state (the stages of
:mod:`remc_mpi.kernels.spectra`), its own random generator and the state of every move.

One sweep is one call of the compiled sweep kernel (:mod:`remc_mpi.moves.sweep`) over all
local slots: the lambda = 0 slot is redrawn from the prior exactly, every other slot gets one
component-wise Metropolis update of each free parameter, once its covariance is learnt
during burn-in one joint adaptive move, and after the burn-in one mode jump from the chain's
learnt Gaussians (:mod:`remc_mpi.moves`; the engine hands them over,
:meth:`SlotBlock.set_mixture`). The rows and what travels with them are a
:class:`~remc_mpi.sampling.replicas.Replicas`; random numbers come from per-slot buffers that
each slot's own generator refills every RAND_BLOCK sweeps
(:class:`~remc_mpi.sampling.buffers.RandomBuffers`), so a slot's draws do not depend on which
rank owns it. The block itself holds the model and prior arrays, the ladder and the moves.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from remc_mpi.kernels import plain
from remc_mpi.kernels.priors import kernel_priors, logprior_row
from remc_mpi.kernels.rows import exchange_block
from remc_mpi.kernels.spectra import TrialBuffers, full_row, kernel_model
from remc_mpi.models import Model
from remc_mpi.moves.base import adapt_gain
from remc_mpi.moves.sweep import MOVES, sweep_entry
from remc_mpi.priors import PriorSet
from remc_mpi.sampling.buffers import RandomBuffers
from remc_mpi.sampling.replicas import Replicas
from remc_mpi.sampling.streams import slot_generator

__all__ = ["SlotBlock", "warm_up"]


class SlotBlock:
    """Replicas of slots [lo, hi) (see module docstring)."""

    def __init__(self, model: Model, priors: PriorSet, energy: np.ndarray, intensity: np.ndarray,
                 lam: np.ndarray, lo: int, hi: int, seed: int, target_acceptance: float = 0.4,
                 rungs: int | None = None, likelihood: str = "gaussian", **switches: bool):
        """``switches``: a move on or off by its name (``joint=False``, ``differential=True``;
        moves.base), each absent one at its default."""
        unknown = set(switches) - {cls.name for cls in MOVES}
        if unknown:
            raise ValueError(f"no move named {', '.join(sorted(unknown))} (moves.sweep.MOVES)")
        self.priors = priors
        self.data = np.ascontiguousarray(intensity, dtype=np.float64)
        self.km = km = kernel_model(model, energy, likelihood)
        kp = kernel_priors(priors)
        self.model_arrays = km.arrays(self.data)
        self.prior_arrays = kp
        self.lo, self.hi = lo, hi
        self.n_slots_total = len(lam)
        self.rungs = len(lam) if rungs is None else rungs  # slots per chain: lam holds every chain's ladder
        rung = np.arange(lo, hi) % self.rungs
        self.bottoms, self.tops = np.flatnonzero(rung == 0), np.flatnonzero(rung == self.rungs - 1)  # local rows
        self.slot_lam = np.array(lam, dtype=np.float64)  # every slot's, for the exchanges
        self.row_lam = self.slot_lam[lo:hi].copy()  # this block's rows' (slots lo..hi-1)
        rngs = [slot_generator(seed, s) for s in range(lo, hi)]
        r, p = hi - lo, len(model.param_names)
        start = [first_draw(model, priors, g, energy) for g in rngs]
        self.rows = Replicas(km, np.array(start).reshape(r, p), lo)
        self.tbuf = TrialBuffers.zeros(km)
        self.kernel_constants = plain((self.model_arrays, self.prior_arrays, self.tbuf))  # as sweep_entry takes them
        self.scratch = np.zeros((3, p))
        for i in range(r):
            self.set_row(i, self.rows.theta[i])
        # the moves (an essential one switched off only to test the others alone), their
        # per-slot state and their columns of the random buffers
        self.moves = tuple(cls(target_acceptance=target_acceptance, **switches) for cls in MOVES)
        self.move_state = {m.name: m.init_state(r, priors) for m in self.moves}
        n_free = len(kp.free)
        self.buffers = RandomBuffers(rngs, p, [m.normals(n_free) for m in self.moves],
                                     [m.uniforms(n_free) for m in self.moves])
        self.n_adapt = 0
        self.t_model = 0.0  # seconds inside the compiled sweep kernel (for benchmarks)
        self.ticks = np.zeros(r, dtype=np.int64)  # each row's processor ticks in the kernel (slot_ticks)
        self._frozen_states: tuple | None = None  # the moves' kernel states outside the burn-in

    # ---- one sweep -------------------------------------------------------------------
    def sweep(self, adapt: bool = False) -> None:
        """Update every slot once (see module docstring); ``adapt`` during burn-in."""
        draws, pos = self.buffers.next_sweep(self.row_lam, self.priors)
        states = self._kernel_states(adapt)
        model, prior, tb = self.kernel_constants
        t0 = time.perf_counter()
        rows = self.rows
        sweep_entry(self.row_lam, rows.theta, rows.U, rows.logprior, tuple(rows.stages), model, prior, tb, self.scratch,
                    tuple(draws), pos, states, bool(adapt), adapt_gain(self.n_adapt), self.ticks)
        self.t_model += time.perf_counter() - t0
        if adapt:
            self.n_adapt += 1
        for m in self.moves:
            m.after_sweep(self.move_state, adapt)

    def _kernel_states(self, adapt: bool) -> tuple:
        """Every move's kernel state (plain tuples, MOVES order). Outside the burn-in a move's
        kernel state changes only with what the block hands it (set_mixture, load_state, the
        learning's start and end: moves.base), so it is built once and kept until then (about
        5 us a sweep in Python otherwise)."""
        if not adapt and self._frozen_states is not None:
            return self._frozen_states
        states = tuple(tuple(m.kernel_state(self.move_state[m.name], adapt)) for m in self.moves)
        self._frozen_states = None if adapt else states
        return states

    def set_row(self, i: int, theta: np.ndarray) -> None:
        """Put configuration ``theta`` into row i, computing its model state and energy."""
        rows = self.rows
        rows.theta[i] = theta
        rows.U[i] = full_row(rows.theta[i], self.model_arrays, rows.stages, i, self.tbuf)
        logprior_row(self.prior_arrays, rows.theta[i], rows.logprior[i])  # the kernels' own values

    def set_ladder(self, lam: np.ndarray) -> None:
        """Take every slot's new lambda (after an adaptation or a restore); keep this block's."""
        self.slot_lam[:] = lam
        self.row_lam[:] = lam[self.lo:self.hi]

    def snapshot(self, with_theta: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """What a recorded sweep saves (:meth:`Replicas.snapshot`)."""
        return self.rows.snapshot(with_theta)

    def restart_learning(self) -> None:
        """Middle of the burn-in: every move starts learning afresh (moves.base)."""
        self._frozen_states = None
        for m in self.moves:
            m.restart_learning(self.move_state)

    def finish_learning(self) -> None:
        """End of the burn-in: every move settles what it learnt (frozen from here on)."""
        self._frozen_states = None
        for m in self.moves:
            m.finish_learning(self.move_state)

    def move(self, name: str):
        """The move called ``name``."""
        return next(m for m in self.moves if m.name == name)

    def learnt_gaussians(self, state: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The joint move's frozen means (rows, d) and C (rows, d, d): this block's, or those of
        ``state`` in the layout of :meth:`state` (every slot's, as a checkpoint holds them)."""
        if state is None:
            return self.move_state["joint"]["mean"], self.move_state["joint"]["chol"]
        return state["joint/mean"], state["joint/chol"]

    def set_mixture(self, mean: np.ndarray, chol: np.ndarray) -> None:
        """The mode jumps' components: every slot's learnt Gaussian, in slot order (after the
        burn-in; moves.mixture). Nothing when the joint move never learnt a covariance."""
        self._frozen_states = None
        if self.move("joint").scalars["ready"]:
            self.move("mixture").set_components(self.slot_lam, self.rungs, self.lo, self.hi, mean, chol)

    # ---- counters and diagnostics ------------------------------------------------------
    def reset_counters(self) -> None:
        """Zero every move's statistics counters (after burn-in)."""
        for m in self.moves:
            for name in m.counters:
                self.move_state[m.name][name][...] = 0

    @property
    def accepted(self) -> np.ndarray:
        return self.move_state["componentwise"]["accepted"]

    @property
    def tried(self) -> np.ndarray:
        return self.move_state["componentwise"]["tried"]

    @property
    def log_step(self) -> np.ndarray:
        return self.move_state["componentwise"]["log_step"]

    def slot_ticks(self) -> np.ndarray:
        """Each row's processor ticks inside the sweep kernel since the last :meth:`reset_ticks`
        (rows in slot order; :func:`remc_mpi.kernels.cycle_count`): what each slot costs, measured
        where it runs, for sharing the slots among ranks (all zero without a cycle counter)."""
        return self.ticks.copy()

    def reset_ticks(self) -> None:
        self.ticks[:] = 0

    @property
    def kernel_seconds(self) -> float:
        """Seconds spent inside the compiled sweep kernel so far (for benchmarks)."""
        return self.t_model

    def diagnostics(self) -> dict[str, np.ndarray]:
        """Per-slot diagnostics (rows in slot order): component-wise ``accepted`` and ``tried``
        per parameter, the adapted ``log_step``, and every move's report by its public name
        (moves.base: ``joint_acceptance``, ``mixture_acceptance``...)."""
        out = {"accepted": self.accepted.copy(), "tried": self.tried.copy(), "log_step": self.log_step.copy()}
        for m in self.moves:
            out.update(m.report(self.move_state[m.name]))
        return out

    # ---- exchanges ------------------------------------------------------------------
    def pack_row(self, slot: int, out: np.ndarray | None = None) -> np.ndarray:
        """Everything that travels with the configuration in ``slot``, as one vector of
        :attr:`row_size` (into ``out`` when given; :meth:`Replicas.pack`)."""
        return self.rows.pack(slot - self.lo, out)

    @property
    def row_size(self) -> int:
        """The length of :meth:`pack_row`'s vector."""
        return self.rows.row_size

    def unpack_row(self, slot: int, vec: np.ndarray) -> None:
        self.rows.unpack(slot - self.lo, vec)

    def exchange_local(self, uniforms: np.ndarray, parity: int, tried: np.ndarray, accepted: np.ndarray) -> None:
        """Attempt the pairs (s, s+1) inside this block of one chain whose rung has this parity,
        all at once (one compiled call), counting them by lower slot s in ``tried`` and
        ``accepted`` (every slot pair's counts, in place). Uniforms are indexed by s."""
        exchange_block(self.lo, self.rungs, parity, self.slot_lam, uniforms, tried, accepted, *self.rows.travelling())

    def mark_ends(self, trips: np.ndarray) -> None:
        """Update the direction labels at the ends of every chain's ladder; count the replicas
        that just completed a round trip (reached the bottom after having visited the top) in
        ``trips`` (by replica)."""
        self.rows.mark_ends(self.bottoms, self.tops, trips)

    # ---- state ----------------------------------------------------------------------
    #: per-slot arrays of the state besides the moves' (rows in slot order), by their owner
    _ROW_ARRAYS = ("replica", "direction")

    def state(self) -> dict[str, Any]:
        """Everything that defines the block, per slot (for checkpoints and redistribution):
        per-slot arrays (rows in slot order) and, under "scalars", the block-wide scalars."""
        rows, buf = self.rows, self.buffers
        st: dict[str, Any] = {name: getattr(rows, name).copy() for name in self._ROW_ARRAYS}
        st.update({name: getattr(buf, name).copy() for name in buf.ARRAYS})
        for m in self.moves:
            st.update({f"{m.name}/{k}": v.copy() for k, v in self.move_state[m.name].items()})
        st.update(theta=rows.theta.copy(), energy=rows.U.copy(), rng=[g.bit_generator.state for g in buf.rngs])
        scalars = {"n_adapt": int(self.n_adapt), "rand_pos": int(buf.rand_pos)}
        for m in self.moves:
            scalars.update({f"{m.name}/{k}": (bool(v) if isinstance(v, (bool, np.bool_)) else int(v))
                            for k, v in m.scalars.items()})
        st["scalars"] = scalars
        return st

    def load_state(self, st: dict[str, Any]) -> None:
        """Restore per-slot state for this block's slots (rows in slot order)."""
        self._frozen_states = None
        for i in range(len(self.row_lam)):
            self.set_row(i, st["theta"][i])
            if self.rows.U[i] != st["energy"][i]:
                raise RuntimeError(f"slot {self.lo + i}: the saved configuration's energy does not reproduce")
        for owner, names in ((self.rows, self._ROW_ARRAYS), (self.buffers, self.buffers.ARRAYS)):
            for name in names:
                getattr(owner, name)[...] = st[name]
        for m in self.moves:
            for k, v in self.move_state[m.name].items():
                v[...] = st[f"{m.name}/{k}"]
        for g, s in zip(self.buffers.rngs, st["rng"]):
            g.bit_generator.state = s
        scalars = st["scalars"]
        self.n_adapt, self.buffers.rand_pos = int(scalars["n_adapt"]), int(scalars["rand_pos"])
        for m in self.moves:
            for k, v in m.scalars.items():
                m.scalars[k] = type(v)(scalars[f"{m.name}/{k}"])


#: prior draws a slot may take for its first configuration inside the model's support
#: (Model.admissible) before it keeps the last one (+inf energy: its first accepted move or swap
#: brings it inside)
FIRST_DRAW_TRIES = 1000


def first_draw(model: Model, priors: PriorSet, rng: np.random.Generator, energy: np.ndarray) -> np.ndarray:
    """A slot's first configuration: a prior draw from its own stream, redrawn while it lies
    outside the model's support (a constraint such as ``lines_in_window``; one draw for a model
    without one)."""
    theta = priors.sample(rng)
    for _ in range(FIRST_DRAW_TRIES - 1):
        if model.admissible(theta[None], energy)[0]:
            break
        theta = priors.sample(rng)
    return theta


def warm_up() -> None:
    """Compile (or load from the cache) the sampler's kernels on a tiny problem. Every kernel
    has one signature whatever the model, so a parallel run lets rank 0 do this first and the
    other ranks then load the compiled code instead of all compiling at once."""
    from remc_mpi.models import get_model
    from remc_mpi.priors import Prior

    model = get_model("polynomial", degree=1)
    priors = PriorSet(model.param_names, {n: Prior("normal", (0.0, 1.0)) for n in model.param_names})
    x = np.linspace(0.0, 1.0, 4)
    lam = np.array([0.0, 1.0])
    block = SlotBlock(model, priors, x, x, lam, 0, 2, 0)
    block.sweep(adapt=True)
    tried, accepted, trips = np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(2, dtype=np.int64)
    block.exchange_local(np.array([0.5]), 0, tried, accepted)
    block.mark_ends(trips)
    block.unpack_row(0, block.pack_row(0))  # an exchange across ranks (the same row back)
