"""One candidate model's replica-exchange run: set-up, the sweep loop, checkpoints, stops.

Data flow per candidate model (:class:`CandidateRun`):

    set-up (every rank, deterministic) -> SlotBlock of this rank's slots
    loop: sweep -> exchange (every exchange_interval sweeps, even/odd pairs alternating)
          -> record energies (every save_every sweeps) and theta (every thin sweeps)
          -> every flush_every records: gather to rank 0, append to the HDF5 file
    end:  reduce counters -> rank 0: estimators, posterior summary, diagnostics -> file

The exchange statistics are a :class:`~remc_mpi.driver.swaps.SwapStats`, when to checkpoint a
:class:`~remc_mpi.driver.checkpointer.Checkpointer`, when to stop early a
:class:`~remc_mpi.driver.stopping.StopPolicy`. Which outputs run at all is
:mod:`remc_mpi.driver.actions`; the pilot of ``n_temps: auto`` is :mod:`remc_mpi.driver.pilot`; running a
config's candidates side by side is :mod:`remc_mpi.driver.engine`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from remc_mpi.io import checkpoint
from remc_mpi.driver.actions import Extension, prepare_extension
from remc_mpi.config import Candidate, RunConfig
from remc_mpi.errors import InputError, Interrupted, OutputError
from remc_mpi.sampling.ladder import adapt_points, build_ladder, equal_rejection_ladder, slot_ladder
from remc_mpi.driver.checkpointer import Checkpointer
from remc_mpi.moves.base import second_window_start
from remc_mpi.io.output import MpioWriter, ResultWriter, read_segments, resolve_mode, segments_mismatch
from remc_mpi.io.provenance import provenance
from remc_mpi.io.samples import Recorder
from remc_mpi.sampling.parallel import LadderComm, block_costs, on_root, partition_by_cost
from remc_mpi.driver.progress import Progress
from remc_mpi.sampling.sampler import SlotBlock
from remc_mpi.driver.signals import Request, Signals
from remc_mpi.sampling.streams import ExchangeUniforms
from remc_mpi.driver.stopping import StopPolicy
from remc_mpi.driver.swaps import SwapStats

#: sweeps over which the slots' costs are measured before they are shared among the ranks by
#: cost (CandidateRun.rebalance): the run's first, and its first after the burn-in
COST_WINDOW = 100
#: the least fraction by which the slowest rank's share must drop for the slots to move
REBALANCE_GAIN = 0.02


class CandidateRun:
    """One candidate model's replica-exchange run on a communicator: set-up (fresh or from a
    checkpoint), the sweep loop, checkpoints, and rank 0's summary at the end."""

    def __init__(self, cfg: RunConfig, cand: Candidate, comm, out_path: Path, progress: bool = True,
                 resume: bool = False, hdf5: str = "auto", signals: Signals | None = None, heartbeat=None,
                 extend: Extension | None = None, ladder_info: dict | None = None):
        """``extend``: continue the finished run in ``out_path`` from its final state. ``ladder_info``: how
        n_temps: auto chose the rungs (kept in checkpoints and the summary)."""
        self.t_start = time.time()
        self.cfg, self.cand, self.comm, self.out_path = cfg, cand, comm, out_path
        self.signals = signals or Signals()
        self.rung_lam, self.lam_max = build_ladder(cfg, cand)  # one chain's ladder, per rung
        self.chains = M = cfg.ladder.chains
        L = len(self.rung_lam)
        n_slots = M * L  # slot s = c L + l: rung l of chain c (independent ladders)
        if comm.Get_size() > n_slots:
            raise InputError(f"{comm.Get_size()} ranks for {n_slots} temperature slots ({M} chains of {L}); use at "
                             "most one rank per slot", cfg.source, "ladder.n_temps")
        self.lc = lc = LadderComm(comm, n_slots, rungs=L)
        sp = cfg.sampler
        self.block = self._slot_block()
        self.uniforms = ExchangeUniforms(cfg.seed, L - 1, M)
        self.swaps = SwapStats(n_slots)
        self.start = self.n_exchange = n_segments = 0
        self.digest = checkpoint.config_digest(cfg, cand)
        self.ladder_info = ladder_info
        self.end, self.target_error = sp.cap, sp.target_error
        self.adapt_at = set(adapt_points(sp.burn_in))  # the ladder's re-spacing rounds (ladder.adapt)
        if extend is not None:
            self._set_extension(extend)
        loaded = (checkpoint.read_checkpoint(comm, out_path, self.digest,
                                             verify=lambda sc: segments_mismatch(out_path, sc.get("segments", [])))
                  if resume or extend else None)
        self.checkpoints = Checkpointer(cfg.checkpoint, lc, out_path, self.signals, heartbeat)
        if loaded is not None:
            n_segments = self._restore(*loaded)
            self.checkpoints.restored(self.start, loaded[1])
        else:
            self.block.mark_ends(self.swaps.trips)  # the ends' labels (no trip can end yet)
        # the slots are shared by their measured cost after the first COST_WINDOW sweeps of the
        # run and again after as many sampling sweeps (a burn-in's costs differ from them)
        self.rebalance_at = {self.start + COST_WINDOW, max(sp.burn_in, self.start) + COST_WINDOW}
        n_params = len(cand.model.param_names)
        self.mpio = resolve_mode(hdf5, comm) == "mpio"
        if self.mpio:
            self.writer = MpioWriter(out_path, n_slots, n_params, comm, lc.lo, lc.hi, start_segment=n_segments)
        else:
            self.writer = ResultWriter(out_path, n_slots, n_params, start_segment=n_segments) if lc.rank == 0 else None
        self.rec = Recorder(lc, self.writer, lc.hi - lc.lo, n_params, self.mpio)
        self.bar = Progress(self.end, cand.label, enabled=progress and lc.rank == 0, start=self.start)
        self.stops = StopPolicy(sp, self.target_error, lc, self.t_start)
        self.exchange_seconds = 0.0  # wall time in the exchanges (the neighbours' messages included)

    def _slot_block(self) -> SlotBlock:
        """A block of this rank's slots (LadderComm.lo..hi), fresh from the seed."""
        cfg, cand, sp, lc = self.cfg, self.cand, self.cfg.sampler, self.lc
        return SlotBlock(cand.model, cand.priors, cfg.data.energy, cfg.data.intensity,
                         slot_ladder(self.rung_lam, self.chains), lc.lo, lc.hi, cfg.seed, sp.target_acceptance,
                         rungs=len(self.rung_lam), likelihood=cfg.noise.model,
                         joint=sp.joint_moves and sp.adapt_steps, mixture=sp.mixture_moves,
                         differential=sp.differential_moves and sp.adapt_steps, **sp.moves)

    def _set_extension(self, extend: Extension) -> None:
        """--extend: the new end sweep and whether the target applies (after the finished run)."""
        sp = self.cfg.sampler
        final_sweep = on_root(self.comm, lambda: prepare_extension(self.out_path))
        self.end = extend.end if extend.end is not None else sp.cap
        self.target_error = sp.target_error if extend.with_target else None
        if self.end <= final_sweep:
            raise InputError(f"{self.out_path} already ends at sweep {final_sweep}", self.cfg.source, "sampler.sweeps")

    # ---- checkpoints ---------------------------------------------------------------------
    def _restore(self, arrays: dict, scalars: dict) -> int:
        """Load a checkpoint's state into this rank's slots; return the closed segment count."""
        lc = self.lc
        self.start, self.n_exchange = scalars["sweep"], scalars["n_exchange"]
        self.rung_lam = arrays["lam"]
        self.block.set_ladder(slot_ladder(self.rung_lam, self.chains))
        every_slot = {k[len("slot/"):]: v for k, v in arrays.items() if k.startswith("slot/")}
        self._load_slots(every_slot, [json.loads(t) for t in arrays["rng"]], scalars["block"], self.start)
        if lc.rank == 0:  # the reduced counters live on rank 0 from now on
            self.swaps.load(arrays)
        return scalars["n_segments"]

    def _load_slots(self, every_slot: dict, rng: list, shared: dict, next_sweep: int) -> None:
        """Load this rank's slots (lo..hi) of a whole sampler state (every slot's arrays in slot
        order, every slot's generator state, the block-wide scalars) into the block."""
        lo, hi = self.lc.lo, self.lc.hi
        self.block.load_state({**{k: v[lo:hi] for k, v in every_slot.items()}, "rng": rng[lo:hi], "scalars": shared})
        if next_sweep >= self.cfg.sampler.burn_in:  # the mode jumps' components, frozen since the burn-in
            self.block.set_mixture(*self.block.learnt_gaussians(every_slot))

    def rebalance(self, next_sweep: int) -> None:
        """Collective: share the slots among the ranks by what each cost in the sweep kernel so
        far (SlotBlock.slot_ticks; the upper rungs of a ladder can cost twice the lower ones:
        docs/performance.md), moving them as a restart on another rank count does, when that
        lowers the slowest rank's share by more than REBALANCE_GAIN. The samples do not change:
        a slot's updates and draws do not depend on which rank holds it."""
        lc = self.lc
        cost = lc.allgather_slots(self.block.slot_ticks()).astype(np.float64)
        blocks = partition_by_cost(cost, lc.size)
        self.block.reset_ticks()
        if not block_costs(cost, blocks).max() < (1.0 - REBALANCE_GAIN) * block_costs(cost, lc.blocks).max():
            return
        if self.rec.sweeps:  # the same on every rank: they record the same sweeps
            self.rec.flush()
        every_slot, rng, shared = self._collected_state(everywhere=True)
        kernel_seconds = self.block.kernel_seconds
        lc.set_blocks(blocks)
        self.block = self._slot_block()
        self.block.t_model = kernel_seconds
        self._load_slots(every_slot, rng, shared, next_sweep)
        self.rec = Recorder(lc, self.writer, lc.hi - lc.lo, len(self.cand.model.param_names), self.mpio)
        if self.mpio:
            self.writer.set_slots(lc.lo, lc.hi)

    def _collected_state(self, everywhere: bool) -> tuple[dict | None, list | None, dict]:
        """Collective: every slot's state of SlotBlock.state in slot order, as (per-slot arrays
        by name, generator states, the block-wide scalars), on every rank with ``everywhere``,
        else on rank 0 (None for the first two elsewhere)."""
        lc = self.lc
        st = self.block.state()
        rng, shared = st.pop("rng"), st.pop("scalars")
        if everywhere:
            return {k: lc.allgather_slots(v) for k, v in st.items()}, sum(self.comm.allgather(rng), []), shared
        arrays = {k: lc.gather_slots(v, axis=0) for k, v in st.items()}
        rng_all = self.comm.gather(rng, root=0)
        return (arrays, sum(rng_all, []), shared) if lc.rank == 0 else (None, None, shared)

    def gathered_state(self, next_sweep: int) -> tuple[dict, dict] | None:
        """Collective: the whole sampler state on rank 0 as (arrays, scalars), None elsewhere
        (``n_segments`` is filled in by whoever stores it)."""
        every_slot, rng, shared = self._collected_state(everywhere=False)
        swaps = self.swaps.reduced(self.lc)
        if self.lc.rank != 0:
            return None
        arrays = {**{f"slot/{k}": v for k, v in every_slot.items()}, "lam": self.rung_lam, **swaps,
                  "rng": np.array([json.dumps(r) for r in rng], dtype=object).astype("S")}
        return arrays, {"sweep": next_sweep, "n_exchange": self.n_exchange, "n_segments": None,
                        "digest": self.digest, "block": shared, "ladder_info": self.ladder_info}

    def save_checkpoint(self, next_sweep: int) -> None:
        """Collective: flush samples, close the segment, rank 0 writes the gathered state."""
        self.rec.flush()
        self.checkpoints.write(self.gathered_state(next_sweep), self.writer, next_sweep, self.mpio)

    # ---- the loop --------------------------------------------------------------------------
    def step(self, sweep: int) -> None:
        """One sweep: Metropolis updates, exchanges, ladder adaptation, recording."""
        sp, block, lc = self.cfg.sampler, self.block, self.lc
        burn = sweep < sp.burn_in
        block.sweep(adapt=burn and sp.adapt_steps)
        if (sweep + 1) % sp.exchange_interval == 0:
            u = self.uniforms.get(self.n_exchange)
            t0 = time.perf_counter()
            lc.exchange(block, u, self.n_exchange % 2, self.swaps.tried, self.swaps.accepted)
            self.exchange_seconds += time.perf_counter() - t0
            block.mark_ends(self.swaps.trips)
            self.n_exchange += 1
        if burn and self.cfg.ladder.adapt and sweep + 1 in self.adapt_at:
            rejection = self.swaps.rejection(self.lc, self.chains)
            self.rung_lam = equal_rejection_ladder(self.rung_lam, rejection)  # every chain keeps the same ladder
            block.set_ladder(slot_ladder(self.rung_lam, self.chains))
            self.swaps.reset(trips=False)
        if burn and sweep + 1 == second_window_start(sp.burn_in):  # moves that learn nothing ignore it
            block.restart_learning()
        if sweep + 1 == sp.burn_in:  # statistics count post-burn-in sweeps only
            self.swaps.reset()
            block.finish_learning()
            block.set_mixture(*(lc.allgather_slots(a) for a in block.learnt_gaussians()))
            block.reset_counters()
            block.reset_ticks()  # the slots' costs as the sampling sees them (the burn-in's differ)
        if not burn:
            k = sweep - sp.burn_in
            if k % sp.save_every == 0:
                self.rec.record(sweep, block, self.cfg.data.n, with_theta=k % sp.thin == 0)
                if self.rec.full():
                    self.rec.flush()
        if sweep + 1 in self.rebalance_at and sweep + 1 < self.end and lc.size > 1:
            self.rebalance(sweep + 1)  # a new block: last in the sweep

    # ---- stopping early: a target error, a wall-clock cap ----------------------------------
    def stop_reason(self, sweep: int) -> str | None:
        """Collective: 'max_minutes' or 'target_error' when the run should end after this
        sweep, else None (remc_mpi.driver.stopping); a target check checkpoints first, so that rank 0
        estimates the error from closed segments."""
        if self.stops.time_up(sweep):
            return "max_minutes"
        if not self.stops.target_due(sweep):
            return None
        if self.checkpoints.sweep != sweep + 1:
            self.save_checkpoint(sweep + 1)
        error = float(on_root(self.comm, self.current_error))
        reached = self.stops.reached(error, int(np.sum(self.swaps.reduced(self.lc)["trips"])))
        self.bar.update(sweep + 1, self.stops.note(sweep + 1, self.bar.rate(sweep + 1)), force=True)
        return "target_error" if reached else None

    def current_error(self) -> float:
        """Rank 0: the headline error from every closed segment's samples."""
        from remc_mpi.driver.summary import headline_error

        n = self.writer.segment
        return headline_error(self.cfg, self.cand, self.rung_lam, self.lam_max,
                              lambda name: read_segments(self.out_path, n, name), self.chains)

    def run(self) -> dict:
        """Sweep to the end (checkpointing as asked) or to an early stop, then summarise; the
        summary on every rank."""
        sweeps = self.end
        t_loop = time.perf_counter()
        stop = {"reason": "sweeps", "sweep": sweeps}
        try:
            for sweep in range(self.start, sweeps):
                self.step(sweep)
                if sweep + 1 < sweeps:
                    request = self.checkpoints.request(sweep)
                    if request is not Request.GO_ON:
                        self.save_checkpoint(sweep + 1)
                    if request is Request.STOP:
                        raise Interrupted(f"{self.cand.label}: stopped by SIGTERM at sweep {sweep + 1}; "
                                          f"checkpoint written, continue with --resume")
                    reason = self.stop_reason(sweep)
                    if reason == "max_minutes" and sweep + 1 <= self.cfg.sampler.burn_in:
                        self.stop_in_burn_in(sweep + 1)
                    if reason:
                        stop = {"reason": reason, "sweep": sweep + 1}
                        break
                if self.bar.enabled and (sweep + 1) % 10 == 0:
                    rate = self.swaps.local_rate()
                    note = self.stops.note(sweep + 1, self.bar.rate(sweep + 1))
                    self.bar.update(sweep + 1, f"local swap rate {rate:.2f}  {note}".rstrip())
            if stop["reason"] == "sweeps" and self.target_error is not None:
                stop["reason"] = "max_sweeps"  # the target was not reached within the cap
            self.rec.flush()
            t_loop = time.perf_counter() - t_loop
            self.bar.close(stop["sweep"])
            return self.finish(t_loop, stop)
        except OutputError as err:  # raised on every rank alike (Recorder, on_root, MpioWriter)
            if self.writer is not None:
                self.writer.abort()
            raise err.with_hint(self.checkpoints.resume_hint(), collective=True) from None
        except BaseException:
            if self.writer is not None:
                self.writer.abort()
            raise

    def stop_in_burn_in(self, next_sweep: int) -> None:
        """The time cap ran out before the first sample was kept: checkpoint, and stop with the
        way on (Interrupted, exit 1) instead of summarising nothing."""
        sp = self.cfg.sampler
        self.save_checkpoint(next_sweep)
        raise Interrupted(f"{self.cand.label}: sampler.max_minutes ({sp.max_minutes:g}) ran out in the burn-in, at "
                          f"sweep {next_sweep} of {sp.burn_in}, before any sample was kept; checkpoint written: "
                          "continue with --resume (each run gets max_minutes anew), or raise max_minutes")

    def finish(self, t_loop: float, stop: dict) -> dict:
        """Reduce the counters, gather the diagnostics; rank 0 assembles the file and summarises."""
        from remc_mpi.driver.summary import RunStats, summarize

        lc, block = self.lc, self.block
        final_state = self.gathered_state(stop["sweep"])  # kept in the results file: --extend starts there
        swaps = self.swaps.reduced(lc)
        diag = {k: lc.gather_slots(v, axis=0) for k, v in block.diagnostics().items()}
        times = self.comm.gather((t_loop, block.kernel_seconds, self.exchange_seconds), root=0)
        if self.mpio:
            self.writer.close_segment()

        def on_rank0() -> dict:
            loop, model, exchange = np.mean(times, axis=0)
            timings = {"wall_s": time.time() - self.t_start, "sampling_s": float(loop), "model_s": float(model),
                       "exchange_s": float(exchange),
                       "resumed_at_sweep": self.start, "hdf5_mode": "mpio" if self.mpio else "gather"}
            self.writer.assemble()
            stats = RunStats.pooled(self.rung_lam, self.lam_max, self.chains, **diag, **swaps,
                                    provenance=provenance(self.comm, self.cfg, timings))
            stats.stop = {**stop, "target_error": self.target_error}
            stats.final_state = final_state
            stats.ladder_choice = self.ladder_info
            summary = summarize(self.cfg, self.cand, self.writer, stats)
            checkpoint.remove(self.out_path)
            return summary

        return on_root(self.comm, on_rank0)
