"""n_temps: auto: a short pilot run measures the communication barrier, and the ladder is sized from it.

The pilot is a :class:`~remc_mpi.driver.candidate.CandidateRun` of PILOT_SWEEPS burn-in sweeps on
PILOT_RUNGS rungs, re-spaced at equal rejection as ``ladder.adapt`` does; its barrier Lambda
sets the rungs (:func:`remc_mpi.sampling.ladder.auto_rungs`), and with noise estimation and no
``noise.b_max`` its b_hat sets the ladder's top (:func:`pilot_top`). A continued run keeps the
rungs its saved state has (:func:`saved_ladder_info`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from remc_mpi.io import checkpoint
from remc_mpi.driver.candidate import CandidateRun
from remc_mpi.config import Candidate, RunConfig
from remc_mpi.io.output import complete_summary
from remc_mpi.sampling.parallel import idle_barrier, on_root
from remc_mpi.driver.progress import Progress

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
#: leaves b_hat room to grow 8-fold before the edge warning (remc_mpi.driver.summary, B_HAT_EDGE)
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
    from remc_mpi.sampling.ladder import auto_rungs, communication_barrier

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
                    energies.append(run.block.rows.U.copy())
                bar.update(sweep + 1)
            bar.close(PILOT_SWEEPS)
            rejection = run.swaps.rejection(run.lc, run.chains)
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
    from remc_mpi.evidence.freeenergy import stepping_stone_log_z
    from remc_mpi.sampling.ladder import barrier_below
    from remc_mpi.evidence.noise import b_hat

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

    from remc_mpi.sampling.ladder import auto_rungs

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
