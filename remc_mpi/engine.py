"""Running a config: the replica-exchange loop over MPI, streaming output, estimators.

This module ties the pieces together and is the single code path behind both
``remc-mpi run`` and the Python API :func:`run`. Data flow per candidate model:

    set-up (every rank, deterministic) -> SlotBlock of this rank's slots
    loop: sweep -> exchange (every exchange_interval sweeps, even/odd pairs alternating)
          -> record energies (every save_every sweeps) and theta (every thin sweeps)
          -> every flush_every records: gather to rank 0, append to the HDF5 file
    end:  reduce counters -> rank 0: estimators, posterior summary, diagnostics -> file
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from remc_mpi import checkpoint
from remc_mpi.actions import Action, Extension, plan_outputs, prepare_extension
from remc_mpi.config import Candidate, RunConfig, parse_config
from remc_mpi.errors import InputError, OutputError
from remc_mpi.ladder import adapt_points, build_ladder, equal_rejection_ladder, pair_sums, slot_ladder
from remc_mpi.lock import OutputLocks
from remc_mpi.moves.base import second_window_start
from remc_mpi.output import (MpioWriter, Recorder, ResultWriter, check_output_paths, complete_summary, memory_warning,
                             output_paths, provenance, read_segments, read_summary, resolve_mode, segment_record,
                             segments_mismatch, space_warning)
from remc_mpi.parallel import LadderComm, check_launch, idle_barrier, on_root
from remc_mpi.progress import Progress, format_duration
from remc_mpi.sampler import SlotBlock, warm_up
from remc_mpi.signals import Request, Signals
from remc_mpi.streams import ExchangeUniforms
from remc_mpi.trust import MIN_ROUND_TRIPS

FLUSH_EVERY = 512


class Interrupted(Exception):
    """The run stopped on SIGTERM after writing a checkpoint (continue with --resume)."""


CHECK_EVERY = 10  # sweeps between collective checks for signals and wall-clock checkpoints


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
        self.block = SlotBlock(cand.model, cand.priors, cfg.data.energy, cfg.data.intensity,
                               slot_ladder(self.rung_lam, M), lc.lo, lc.hi, cfg.seed, sp.target_acceptance,
                               joint=sp.joint_moves and sp.adapt_steps, rungs=L, likelihood=cfg.noise.model,
                               mixture=sp.mixture_moves, differential=sp.differential_moves and sp.adapt_steps)
        self.uniforms = ExchangeUniforms(cfg.seed, L - 1, M)
        self.swap_try = np.zeros(n_slots - 1, dtype=np.int64)
        self.swap_ok = np.zeros(n_slots - 1, dtype=np.int64)
        self.trips = np.zeros(n_slots, dtype=np.int64)
        self.start = self.n_exchange = n_segments = 0
        self.digest = checkpoint.config_digest(cfg, cand)
        self.ladder_info = ladder_info
        self.end, self.target_error = sp.cap, sp.target_error
        self.adapt_at = set(adapt_points(sp.burn_in))  # the ladder's re-spacing rounds (ladder.adapt)
        if extend is not None:
            self._set_extension(extend)
        self.segment_records: list[dict] = []  # rank 0: what the checkpoints record of the closed segments
        loaded = (checkpoint.read_checkpoint(comm, out_path, self.digest,
                                             verify=lambda sc: segments_mismatch(out_path, sc.get("segments", [])))
                  if resume or extend else None)
        self.checkpoint_sweep: int | None = None  # the sweep of the newest checkpoint
        if loaded is not None:
            n_segments = self._restore(*loaded)
            self.checkpoint_sweep = self.start
        else:
            self.block.mark_ends()
        n_params = len(cand.model.param_names)
        self.mpio = resolve_mode(hdf5, comm) == "mpio"
        if self.mpio:
            self.writer = MpioWriter(out_path, n_slots, n_params, comm, lc.lo, lc.hi, start_segment=n_segments)
        else:
            self.writer = ResultWriter(out_path, n_slots, n_params, start_segment=n_segments) if lc.rank == 0 else None
        self.rec = Recorder(lc, self.writer, lc.hi - lc.lo, n_params, self.mpio)
        self.heartbeat = heartbeat  # called at the collective checks: refreshes the output locks
        self.bar = Progress(self.end, cand.label, enabled=progress and lc.rank == 0, start=self.start)
        self.error: float | None = None  # the headline error at the last check of the target
        self.checked_trips = 0  # the round trips at that check (a target stops a run only with MIN_ROUND_TRIPS)
        self.exchange_seconds = 0.0  # wall time in the exchanges (the neighbours' messages included)
        self.last_checkpoint = time.monotonic()

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
        mine = {k: v[lc.lo:lc.hi] for k, v in every_slot.items()}
        mine["rng"] = [json.loads(t) for t in arrays["rng"][lc.lo:lc.hi]]
        self.block.load_state({**mine, "scalars": scalars["block"]})
        if self.start >= self.cfg.sampler.burn_in:  # the mode jumps' components, frozen since the burn-in
            self.block.set_mixture(*self.block.learnt_gaussians(every_slot))
        if lc.rank == 0:  # the reduced counters live on rank 0 from now on
            self.swap_try[:], self.swap_ok[:], self.trips[:] = arrays["swap_try"], arrays["swap_ok"], arrays["trips"]
            self.segment_records = list(scalars.get("segments", []))
        return scalars["n_segments"]

    def gathered_state(self, next_sweep: int) -> tuple[dict, dict] | None:
        """Collective: the whole sampler state on rank 0 as (arrays, scalars), None elsewhere
        (``n_segments`` is filled in by whoever stores it)."""
        lc = self.lc
        st = self.block.state()
        rng = [json.dumps(r) for r in st.pop("rng")]
        shared = st.pop("scalars")
        slot_arrays = {f"slot/{k}": lc.gather_slots(v, axis=0) for k, v in st.items()}
        rng_all = self.comm.gather(rng, root=0)
        sums = [lc.reduce_sum(x) for x in (self.swap_try, self.swap_ok, self.trips)]
        if lc.rank != 0:
            return None
        arrays = {**slot_arrays, "lam": self.rung_lam, "swap_try": sums[0], "swap_ok": sums[1], "trips": sums[2],
                  "rng": np.array(sum(rng_all, []), dtype=object).astype("S")}
        return arrays, {"sweep": next_sweep, "n_exchange": self.n_exchange, "n_segments": None,
                        "digest": self.digest, "block": shared, "ladder_info": self.ladder_info}

    def save_checkpoint(self, next_sweep: int) -> None:
        """Collective: flush samples, close the segment, rank 0 writes the gathered state."""
        self.rec.flush()
        state = self.gathered_state(next_sweep)
        if self.mpio:
            self.writer.close_segment()  # collective

        def write() -> None:  # rank 0; a refused write is raised on every rank
            arrays, scalars = state
            n = self.writer.close_segment()
            self.segment_records += [segment_record(self.out_path, k) for k in range(len(self.segment_records), n)]
            checkpoint.write(self.out_path, arrays, {**scalars, "n_segments": n, "segments": self.segment_records})

        on_root(self.comm, write)
        self.last_checkpoint = time.monotonic()
        self.checkpoint_sweep = next_sweep

    def checkpoint_request(self, sweep: int) -> Request:
        """Go on, checkpoint, or checkpoint and stop; the same on every rank (collective every
        CHECK_EVERY sweeps, where pending signals are taken, deterministic otherwise)."""
        ck = self.cfg.checkpoint
        due_by_sweeps = ck.every_sweeps and (sweep + 1) % ck.every_sweeps == 0
        code = Request.CHECKPOINT if due_by_sweeps else Request.GO_ON
        if (sweep + 1) % CHECK_EVERY == 0:
            if self.heartbeat is not None:
                self.heartbeat()  # the output lock's holder is alive (throttled)
            due = ck.every_minutes is not None and time.monotonic() - self.last_checkpoint > 60 * ck.every_minutes
            code = Request(self.lc.reduce_max(max(code, self.signals.take(), int(due and self.lc.rank == 0))))
        return code

    # ---- the loop --------------------------------------------------------------------------
    def step(self, sweep: int) -> None:
        """One sweep: Metropolis updates, exchanges, ladder adaptation, recording."""
        sp, block, lc = self.cfg.sampler, self.block, self.lc
        burn = sweep < sp.burn_in
        block.sweep(adapt=burn and sp.adapt_steps)
        if (sweep + 1) % sp.exchange_interval == 0:
            u = self.uniforms.get(self.n_exchange)
            t0 = time.perf_counter()
            lows, ok = lc.exchange(block, u, self.n_exchange % 2)
            self.exchange_seconds += time.perf_counter() - t0
            self.swap_try[lows] += 1
            self.swap_ok[lows] += ok
            self.n_exchange += 1
            for rep in block.mark_ends():
                self.trips[rep] += 1
        if burn and self.cfg.ladder.adapt and sweep + 1 in self.adapt_at:
            self.rung_lam = equal_rejection_ladder(self.rung_lam, self.rejection())  # every chain keeps the same ladder
            block.set_ladder(slot_ladder(self.rung_lam, self.chains))
            self.swap_try[:] = 0
            self.swap_ok[:] = 0
        if burn and sweep + 1 == second_window_start(sp.burn_in):  # moves that learn nothing ignore it
            block.restart_learning()
        if sweep + 1 == sp.burn_in:  # statistics count post-burn-in sweeps only
            for arr in (self.swap_try, self.swap_ok, self.trips):
                arr[:] = 0
            block.finish_learning()
            block.set_mixture(*(lc.allgather_slots(a) for a in block.learnt_gaussians()))
            block.reset_counters()
        if not burn:
            k = sweep - sp.burn_in
            if k % sp.save_every == 0:
                self.rec.record(sweep, block, self.cfg.data.n, with_theta=k % sp.thin == 0)
                if len(self.rec.sweeps) >= FLUSH_EVERY:
                    self.rec.flush()

    def rejection(self) -> np.ndarray:
        """Collective: the swap rejection rate of every rung pair since the counters were last
        reset (pooled over the chains)."""
        ok, tried = (pair_sums(self.lc.reduce_sum(x), self.chains) for x in (self.swap_ok, self.swap_try))
        return 1.0 - ok / np.maximum(1, tried)

    # ---- stopping early: a target error, a wall-clock cap ----------------------------------
    def stop_reason(self, sweep: int) -> str | None:
        """Collective: 'max_minutes' or 'target_error' when the run should end after this
        sweep, else None. The target is checked every check_every post-burn-in sweeps (a
        checkpoint, then rank 0 estimates the error from the closed segments), so the same
        seed stops at the same sweep at any rank count; the time cap at the CHECK_EVERY
        collective points."""
        sp = self.cfg.sampler
        if sp.max_minutes is not None and (sweep + 1) % CHECK_EVERY == 0:
            late = self.lc.rank == 0 and time.time() - self.t_start > 60.0 * sp.max_minutes
            if self.lc.reduce_max(int(late)):
                return "max_minutes"
        post = sweep + 1 - sp.burn_in
        if self.target_error is None or post <= 0 or post % sp.check_every:
            return None
        if self.checkpoint_sweep != sweep + 1:
            self.save_checkpoint(sweep + 1)
        self.error = float(on_root(self.comm, self.current_error))
        self.checked_trips = trips = int(np.sum(self.lc.reduce_sum(self.trips)))
        self.bar.update(sweep + 1, self.target_note(sweep + 1), force=True)
        # an error that small with too few round trips is not trusted (remc_mpi.trust): go on
        return "target_error" if self.error <= self.target_error and trips >= MIN_ROUND_TRIPS else None

    def current_error(self) -> float:
        """Rank 0: the headline error from every closed segment's energies."""
        from remc_mpi.summary import headline_error

        n = self.writer.segment
        energy, replica = (read_segments(self.out_path, n, name) for name in ("energy", "replica"))
        return headline_error(self.cfg, self.rung_lam, self.lam_max, energy, replica, self.chains)

    def target_note(self, done: int) -> str:
        """The error against the target and the sweeps to it (error ~ 1 / sqrt(post-burn-in
        sweeps), round trips ~ post-burn-in sweeps), as of the last check."""
        trips = self.checked_trips
        post = done - self.cfg.sampler.burn_in
        need = int(post * max((self.error / self.target_error) ** 2, MIN_ROUND_TRIPS / max(trips, 1))) - post
        rate = self.bar.rate(done)
        eta = f" (ETA {format_duration(need / rate)})" if rate > 0 else ""
        few = f", {trips} of {MIN_ROUND_TRIPS} round trips" if trips < MIN_ROUND_TRIPS else ""
        return (f"log Z error {self.error:.3g} / target {self.target_error:g}{few}"
                + (f", about {need} more sweeps{eta}" if need > 0 else ", reached"))

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
                    request = self.checkpoint_request(sweep)
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
                    rate = self.swap_ok.sum() / max(1, self.swap_try.sum())
                    note = self.target_note(sweep + 1) if self.error is not None else ""
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
            raise err.with_hint(self.resume_hint(), collective=True) from None
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

    def resume_hint(self) -> str:
        """What to do after a refused write: where --resume will continue from."""
        if self.checkpoint_sweep is None:
            return "no checkpoint was written yet: make space, then --resume starts this candidate again"
        return (f"the checkpoint of sweep {self.checkpoint_sweep} is intact: make space, then continue "
                "with --resume")

    def finish(self, t_loop: float, stop: dict) -> dict:
        """Reduce the counters, gather the diagnostics; rank 0 assembles the file and summarises."""
        from remc_mpi.summary import RunStats, summarize

        lc, block = self.lc, self.block
        final_state = self.gathered_state(stop["sweep"])  # kept in the results file: --extend starts there
        swap_try, swap_ok, trips = (lc.reduce_sum(x) for x in (self.swap_try, self.swap_ok, self.trips))
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
            stats = RunStats.pooled(self.rung_lam, self.lam_max, self.chains, **diag, swap_try=swap_try, swap_ok=swap_ok,
                                    trips=trips, provenance=provenance(self.comm, self.cfg, timings))
            stats.stop = {**stop, "target_error": self.target_error}
            stats.final_state = final_state
            stats.ladder_choice = self.ladder_info
            summary = summarize(self.cfg, self.cand, self.writer, stats)
            checkpoint.remove(self.out_path)
            return summary

        return on_root(self.comm, on_rank0)


#: the pilot of n_temps: auto: its first ladder, its sweeps (adaptation rounds end at 100, 300
#: and 700; the barrier is measured over the last 700 sweeps, before the next round would end
#: at 1500), and how often it may grow the ladder when the rejections are too high to measure
#: the barrier (mean rejection above one half)
PILOT_RUNGS = 16
PILOT_SWEEPS = 1400
PILOT_TRIES = 3
#: noise estimation without noise.b_max: the ladder tops out at this multiple of the pilot's
#: b_hat. Not for its statistical error (sd(log b) ~ sqrt(2 / N), a few per cent) but for the
#: modes: a run that finds a better fit than its pilot learns a smaller noise, a larger b_hat
#: (measured CeO2, cluster3: the pilot's b_hat 0.0065, the run's 0.026 and capped at 4 x); 16
#: leaves b_hat room to grow 8-fold before the edge warning (remc_mpi.summary, B_HAT_EDGE)
AUTO_B_MAX_FACTOR = 16.0


def pilot_barrier(cfg: RunConfig, cand: Candidate, comm) -> dict:
    """Collective: {barrier, rungs} of a short pilot (its ladder re-spaced at equal rejection
    during it, as ladder.adapt does), with noise estimation and no noise.b_max also
    {pilot_b_hat, b_max, barrier_to_b_max} (:func:`pilot_top`). Deterministic: the same at any
    rank count (beyond PILOT_RUNGS ranks the others wait)."""
    rank, pilots = comm.Get_rank(), min(comm.Get_size(), PILOT_RUNGS)
    sub = comm.Split(0 if rank < pilots else 1, rank) if comm.Get_size() > pilots else comm
    result = _pilot(cfg, cand, sub) if rank < pilots else None
    if sub is not comm:
        sub.Free()
    idle_barrier(comm)
    return comm.bcast(result, root=0)


def _pilot(cfg: RunConfig, cand: Candidate, comm) -> dict:
    import dataclasses
    import tempfile

    from remc_mpi.config import CheckpointSpec
    from remc_mpi.ladder import auto_rungs, communication_barrier

    rungs, learn_top = PILOT_RUNGS, wants_b_max(cfg)
    sampler = dataclasses.replace(cfg.sampler, sweeps=PILOT_SWEEPS + 2, burn_in=PILOT_SWEEPS + 1, target_error=None,
                                  max_minutes=None)
    for _ in range(PILOT_TRIES):
        ladder = dataclasses.replace(cfg.ladder, n_temps=rungs, auto=False, adapt=True, chains=1, betas=None)
        pilot = dataclasses.replace(cfg, ladder=ladder, sampler=sampler, checkpoint=CheckpointSpec(None, None))
        energies = []  # the pilot's last half, for the noise level (noise estimation without b_max)
        with tempfile.TemporaryDirectory() as tmp:  # its writer never writes: no sweep is recorded
            run = CandidateRun(pilot, cand, comm, Path(tmp) / "pilot.h5", progress=False, hdf5="gather")
            bar = Progress(PILOT_SWEEPS, f"{cand.label} (n_temps: auto, pilot on {rungs} rungs)",
                           enabled=cfg.progress and comm.Get_rank() == 0)
            for sweep in range(PILOT_SWEEPS):
                run.step(sweep)
                if learn_top and sweep >= PILOT_SWEEPS // 2:
                    energies.append(run.block.U.copy())
                bar.update(sweep + 1)
            bar.close(PILOT_SWEEPS)
            rejection = run.rejection()
        barrier = communication_barrier(rejection)
        if rejection.mean() <= 0.5 or auto_rungs(barrier) <= rungs:
            break
        rungs = auto_rungs(barrier)
    result = {"barrier": barrier, "rungs": rungs}
    if learn_top:
        U = run.lc.gather_slots(np.array(energies), axis=1)
        if comm.Get_rank() == 0:
            result.update(pilot_top(cfg, run.rung_lam, U, rejection))
    return result


def wants_b_max(cfg: RunConfig) -> bool:
    """Noise estimation with n_temps: auto and no noise.b_max: the pilot chooses the top."""
    return cfg.noise.estimate and cfg.noise.b_max is None


def pilot_top(cfg: RunConfig, lam: np.ndarray, U: np.ndarray, rejection: np.ndarray) -> dict:
    """The ladder's top for a noise-estimating run, from its pilot: b_max = AUTO_B_MAX_FACTOR x
    the pilot's b_hat (the minimum of F(b) over the pilot's energies U (n, L) by stepping stone)
    when that lies below the default top, and the pilot's barrier up to it."""
    from remc_mpi.freeenergy import stepping_stone_log_z
    from remc_mpi.ladder import barrier_below
    from remc_mpi.noise import b_hat

    with np.errstate(all="ignore"):
        b = b_hat(lam, U, stepping_stone_log_z(lam, U), cfg.data.intensity, cfg.noise.model)
    top = AUTO_B_MAX_FACTOR * b
    if not (np.isfinite(top) and top < lam[-1]):
        return {"pilot_b_hat": float(b)}
    return {"pilot_b_hat": float(b), "b_max": float(top), "barrier_to_b_max": barrier_below(lam, rejection, top)}


def auto_ladder(cfg: RunConfig, cand: Candidate, comm, out_path: Path, continuing: bool) -> tuple[RunConfig, dict]:
    """n_temps: auto: the config with the rungs chosen from the pilot's barrier (or, when a run
    continues, the rungs its saved state has), and what the choice was made from."""
    import dataclasses

    from remc_mpi.ladder import auto_rungs

    saved = on_root(comm, lambda: saved_ladder_info(out_path)) if continuing else None
    if saved is not None:
        info = saved
    else:
        pilot = pilot_barrier(cfg, cand, comm)
        info = {"auto": True, "pilot_barrier": pilot["barrier"], "pilot_rungs": pilot["rungs"],
                "n_temps": auto_rungs(pilot.get("barrier_to_b_max", pilot["barrier"])),
                **{k: pilot[k] for k in ("pilot_b_hat", "b_max", "barrier_to_b_max") if k in pilot}}
    cfg = dataclasses.replace(cfg, ladder=dataclasses.replace(cfg.ladder, n_temps=info["n_temps"]))
    if "b_max" in info:
        cfg = dataclasses.replace(cfg, noise=dataclasses.replace(cfg.noise, b_max=info["b_max"]))
    return cfg, info


def saved_ladder_info(out_path: Path) -> dict | None:
    """Rank 0: the ladder choice a continued run made (from its checkpoint or final state)."""
    if checkpoint.exists(out_path):
        return checkpoint.read(out_path)[1].get("ladder_info")
    summary = complete_summary(out_path)
    return summary.get("ladder_choice") if summary else None


def run_candidate(cfg: RunConfig, cand: Candidate, comm, out_path: Path, progress: bool = True,
                  resume: bool = False, hdf5: str = "auto", signals: Signals | None = None, heartbeat=None,
                  extend: Extension | None = None) -> dict:
    """Sample one candidate model; rank 0 writes ``out_path``; the summary on every rank.

    With ``resume`` the run continues from the newest usable checkpoint of ``out_path`` (on any
    number of ranks) and finishes with exactly the output of an uninterrupted run.
    """
    ladder_info = None
    if cfg.ladder.auto:
        cfg, ladder_info = auto_ladder(cfg, cand, comm, out_path, resume or extend is not None)
    return CandidateRun(cfg, cand, comm, out_path, progress, resume, hdf5, signals, heartbeat, extend,
                        ladder_info).run()


def _lor():
    from mpi4py import MPI

    return MPI.LOR


def run(config: RunConfig | dict, comm=None, output: str | None = None, force: bool = False,
        progress: bool | None = None, resume: bool = False, hdf5: str = "auto",
        signals: Signals | None = None, extend: int | None = None) -> list[dict]:
    """Run every candidate of a config (a :class:`RunConfig` or a config mapping).

    The Python API and ``remc-mpi run`` share this function. With several candidates and
    several ranks, the ranks split into groups that run candidates side by side. With
    ``resume``, finished candidates are read back, interrupted ones continue from their
    checkpoints and the rest start. Returns the candidates' summaries on every rank (the same
    list), in config order. ``signals``: handlers the caller installed already (the command
    line does so before its imports); by default the run installs its own for its duration.
    """
    from mpi4py import MPI

    comm = MPI.COMM_WORLD if comm is None else comm
    why = check_launch(MPI.COMM_WORLD.Get_size())
    if why is not None:
        raise InputError(why, "command line")
    cfg = config if isinstance(config, RunConfig) else parse_config(config)
    paths = output_paths(cfg, output)
    resolve_mode(hdf5, comm)  # a bad --hdf5 fails here, before any sampling
    locks = OutputLocks(paths, cfg.source) if comm.Get_rank() == 0 else None

    def plan() -> list[tuple[Action, Extension | None]]:
        check_output_paths(paths, [cfg.source, cfg.data.source], cfg.source)
        for warning in (space_warning(cfg, paths), memory_warning(cfg)):
            if warning:
                print(f"remc-mpi: warning: {warning}", file=sys.stderr, flush=True)
        locks.acquire()  # one run per output, before anything is looked at or written
        try:
            return plan_outputs(cfg, paths, resume, force, extend)
        except BaseException:
            locks.release()
            raise

    todo = on_root(comm, plan)
    try:
        return _run_candidates(cfg, comm, paths, todo, progress, resume, hdf5, signals,
                               heartbeat=locks.refresh if locks else None)
    finally:
        if locks is not None:
            locks.release()


def _run_candidates(cfg: RunConfig, comm, paths: list[Path], todo: list[tuple[Action, Extension | None]],
                    progress: bool | None, resume: bool,
                    hdf5: str, signals: Signals | None, heartbeat=None) -> list[dict]:
    """The candidates of a planned run, side by side in rank groups; summaries in config order."""
    if comm.Get_size() > 1:  # rank 0 compiles the kernels (first run) while the others sleep
        on_root(comm, warm_up)
    show = cfg.progress if progress is None else progress
    n_c = len(cfg.candidates)
    groups = min(n_c, comm.Get_size())
    color = comm.Get_rank() * groups // comm.Get_size()
    sub = comm.Split(color, comm.Get_rank()) if groups > 1 else comm
    mine: dict[int, dict | None] = {}
    stopped: Interrupted | None = None
    try:
        with nullcontext(signals) if signals is not None else Signals() as signals:
            for i, (cand, path) in enumerate(zip(cfg.candidates, paths)):
                if i % groups != color:
                    continue
                if sub.allreduce(signals.code is Request.STOP, op=_lor()):  # SIGTERM between candidates
                    raise Interrupted(f"{cand.label}: not started, stopped by SIGTERM; continue with --resume")
                action, extension = todo[i]
                if action is Action.DONE:
                    mine[i] = read_summary(path)
                else:
                    mine[i] = run_candidate(cfg, cand, sub, path, show and sub.Get_rank() == 0,
                                            resume=action is Action.RESUME, hdf5=hdf5, signals=signals,
                                            heartbeat=heartbeat, extend=extension)
    except Interrupted as err:
        stopped = err
    finally:
        if sub is not comm:
            sub.Free()
    # every group agrees before the final exchange, so an interrupted group never leaves the
    # others waiting in a collective (asleep: a finished group must not spin on a busy core)
    idle_barrier(comm)
    if comm.allreduce(stopped is not None, op=_lor()):
        raise stopped or Interrupted("stopped by SIGTERM in another candidate's group; continue with --resume")
    summaries: dict[int, dict] = {}
    for part in (comm.allgather(mine) if groups > 1 else [mine]):
        summaries.update(part)
    return [summaries[i] for i in range(n_c)]
