"""Running a config: every candidate model, side by side in rank groups, with its output plan.

This module is the single code path behind both ``remc-mpi run`` and the Python API
:func:`run`: it checks the launch and the outputs, takes their locks, plans each candidate's
output (:mod:`remc_mpi.driver.actions`), sizes ladders (:mod:`remc_mpi.driver.pilot`) and runs each candidate
(:class:`remc_mpi.driver.candidate.CandidateRun`, which holds the replica-exchange loop).
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path

from remc_mpi.driver.actions import Action, Extension, plan_outputs
from remc_mpi.driver.candidate import CandidateRun
from remc_mpi.config import Candidate, RunConfig, parse_config
from remc_mpi.errors import InputError, Interrupted
from remc_mpi.io.lock import OutputLocks
from remc_mpi.io.output import read_summary, resolve_mode
from remc_mpi.io.paths import check_output_paths, memory_warning, output_paths, space_warning
from remc_mpi.sampling.parallel import check_launch, idle_barrier, on_root
from remc_mpi.driver.pilot import auto_ladder
from remc_mpi.sampling.sampler import warm_up
from remc_mpi.driver.signals import Request, Signals

__all__ = ["Interrupted", "run", "run_candidate"]


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


def load_kernels(comm) -> None:
    """Collective: rank 0 compiles the kernels (or loads them from numba's cache) while the
    others sleep, then the others load them, all before any candidate starts: a rank that
    loaded them in its first sweep (about 0.25 s) kept its neighbours waiting in the first
    exchange, and counted in the sampling time."""
    on_root(comm, warm_up)
    if comm.Get_rank() > 0:
        warm_up()


def _run_candidates(cfg: RunConfig, comm, paths: list[Path], todo: list[tuple[Action, Extension | None]],
                    progress: bool | None, resume: bool,
                    hdf5: str, signals: Signals | None, heartbeat=None) -> list[dict]:
    """The candidates of a planned run, side by side in rank groups; summaries in config order."""
    if comm.Get_size() > 1:
        load_kernels(comm)
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
