"""What a run does with each candidate's output before it samples: start, resume, extend, or
report a finished result (``remc-mpi run`` with ``--resume``, ``--force``, ``--extend``;
docs/restart.md).

The decision is made on rank 0 before any sampling, from the outputs on disk and the config:

- START: no usable result or checkpoint (an existing file needs ``--force`` or ``--resume``);
- RESUME: ``--resume`` and a checkpoint of an interrupted run;
- EXTEND: a finished run to continue from its final state, by ``--extend N`` (N more sweeps,
  no target) or by ``--resume`` when the config asks for more than the run did (raised sweeps,
  a tighter target): an :class:`Extension` says to which sweep and whether the target applies;
- DONE: ``--resume`` and a complete result that the config asks nothing more of.

A finished result continued or reported must come from the same inputs (its final state's
digest); a checkpoint is never discarded and results never overwritten without being told.
"""

from __future__ import annotations

import os
import shutil
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from remc_mpi.io import checkpoint
from remc_mpi.config import RunConfig
from remc_mpi.errors import InputError
from remc_mpi.io.output import ResultsFile, complete_summary, segment_path, segment_record
from remc_mpi.io.paths import check_outputs


class Action(str, Enum):
    """What a run does with one candidate's output (module docstring)."""

    START = "start"
    RESUME = "resume"
    EXTEND = "extend"
    DONE = "done"


class Extension(NamedTuple):
    """A finished run continued: the new end sweep (None: the config's cap) and whether the
    config's target error applies to the continuation."""

    end: int | None
    with_target: bool


def wants_more(cfg: RunConfig, summary: dict) -> bool:
    """Whether a finished run falls short of its config (raised sweeps, a tighter or new
    target, an earlier time cap): --resume then continues it from its final state."""
    stop, sp = summary.get("stop"), cfg.sampler
    if not stop:
        return False
    if sp.target_error is not None:
        return stop["sweep"] < sp.cap and summary["log_evidence"]["stderr"] > sp.target_error
    return stop["sweep"] < sp.sweeps


def refuse_other_inputs(path: Path, digest: str) -> None:
    """A finished result that --resume would report or --extend continue must come from the
    run's inputs (its final state records their digest; files written before it are taken as
    they are)."""
    with ResultsFile(path) as rf:
        recorded = rf.final_state()[1].get("digest") if "final_state" in rf.h5 else None
    if recorded is not None and recorded != digest:
        raise InputError(checkpoint.CHANGED_INPUTS, str(path))


def plan_outputs(cfg: RunConfig, paths: list[Path], resume: bool, force: bool,
                 extend: int | None = None) -> list[tuple[Action, Extension | None]]:
    """Per candidate, what to do with its output (an :class:`Action`, and for EXTEND the
    :class:`Extension`); refuses, before any sampling, to discard a checkpoint or overwrite
    results without being told."""
    if extend is not None and force:
        raise InputError("--extend continues finished runs; --force would discard them", "command line", "--extend")
    plans: list[tuple[Action, Extension | None]] = []
    for p, cand in zip(paths, cfg.candidates):
        summary = complete_summary(p) if resume or extend is not None else None
        if summary is not None:
            refuse_other_inputs(p, checkpoint.config_digest(cfg, cand))
        if extend is not None:
            if summary is None or "stop" not in summary:
                raise InputError(f"{p} is not a finished run that can be extended (an interrupted run continues "
                                 "with --resume)", cfg.source, "output")
            plans.append((Action.EXTEND, Extension(summary["stop"]["sweep"] + extend, with_target=False)))
        elif summary is not None:
            more = wants_more(cfg, summary)
            plans.append((Action.EXTEND, Extension(None, with_target=True)) if more else (Action.DONE, None))
        else:
            plans.append((Action.RESUME if resume and checkpoint.exists(p) else Action.START, None))
    if not (resume or force or extend):
        for p in paths:
            if checkpoint.exists(p):
                raise InputError(f"a checkpoint of an interrupted run exists for {p}; continue it with "
                                 "--resume or start afresh with --force", cfg.source, "output")
    # --resume may replace an unreadable leftover; otherwise an existing file needs --force
    to_write = [p for p, (action, _) in zip(paths, plans) if action in (Action.RESUME, Action.START)]
    check_outputs(to_write, force or resume, cfg.source)
    return plans


def prepare_extension(out_path: Path) -> int:
    """Rank 0: make a finished results file the start of a longer run. Its final state becomes
    the checkpoint and the file itself segment 0 (a hard link, a copy where links fail), so the
    run continues as a resumed one and its results replace the file only when complete.
    Returns the sweep the finished run ended at."""
    with ResultsFile(out_path) as rf:
        arrays, scalars = rf.final_state()
    seg = segment_path(out_path, 0)
    seg.unlink(missing_ok=True)
    try:
        os.link(out_path, seg)
    except OSError:
        shutil.copyfile(out_path, seg)
    checkpoint.write(out_path, arrays, {**scalars, "n_segments": 1, "segments": [segment_record(out_path, 0)]})
    return int(scalars["sweep"])
