"""Checkpoint files: the whole sampler state, written atomically, two generations kept.

``OUT.h5.ckpt`` is the newest generation, ``OUT.h5.ckpt.1`` the one before. A write goes to
``OUT.h5.ckpt.tmp``, is fsynced, then the current file becomes ``.1`` (a hard link renamed
into place, so ``OUT.h5.ckpt`` never goes missing) and the new one takes its place (renames are
atomic), so a crash at any moment leaves at least one complete generation. Every array is covered by a SHA-256 checksum stored with it; a truncated or
corrupted file is reported and the previous generation used.

Contents: scalars as attributes, per-slot arrays (slot order, so a run can resume on any
number of ranks), the slots' bit-generator states as JSON text.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from remc_mpi.errors import DamagedFile, InputError, error_text
from remc_mpi.io.safeio import GuardedH5, fsync_path, output_error

#: version 2: the compiled sampler's state (moves' arrays under <move>/<name>, prior-draw buffers)
FORMAT = "remc_mpi-checkpoint/4"  # /4: the differential moves' archives (moves.differential)


class CheckpointError(Exception):
    """No usable checkpoint generation."""


class CheckpointFormatError(CheckpointError):
    """A checkpoint written by another version's format: no generation of it can be used."""


def paths(final: str | os.PathLike) -> tuple[Path, Path, Path]:
    """(newest, previous, temporary) checkpoint paths of results file ``final``."""
    base = str(final)
    return Path(base + ".ckpt"), Path(base + ".ckpt.1"), Path(base + ".ckpt.tmp")


def _digest(arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    h.update(json.dumps(scalars, sort_keys=True).encode())
    return h.hexdigest()


def write(final: str | os.PathLike, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> Path:
    """Atomically write a new generation; the previous newest becomes ``.ckpt.1``.

    A refused write (full disk, quota) raises :class:`~remc_mpi.errors.OutputError` with the
    existing generations untouched and the temporary file removed."""
    new, prev, tmp = paths(final)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    out = GuardedH5(tmp)
    try:
        write_state(out.h5, arrays, scalars)
        out.close()  # fsynced; raises if a write was refused
    except BaseException:
        out.abort()
        tmp.unlink(missing_ok=True)
        raise
    try:
        if new.exists():
            _keep_as_previous(new, prev)
        os.replace(tmp, new)
        fsync_path(new.parent)  # the renames themselves
    except OSError as err:
        raise output_error(new, err) from None
    return new


def _keep_as_previous(new: Path, prev: Path) -> None:
    """Make the newest generation the previous one without a moment in which ``new`` is
    missing (a reader, or a second run looking at the outputs, always finds it): a hard link
    renamed over ``prev``; where the file system has no hard links, a rename."""
    link = prev.with_name(prev.name + ".link")
    link.unlink(missing_ok=True)
    try:
        os.link(new, link)
    except OSError:
        os.replace(new, prev)
        return
    os.replace(link, prev)


def write_state(group, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
    """A sampler state into an open HDF5 group (a checkpoint file's root, or a results file's
    ``final_state``): the arrays, the scalars as JSON, the format and a checksum."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    group.attrs["format"] = FORMAT
    group.attrs["scalars"] = json.dumps(scalars, sort_keys=True)
    group.attrs["sha256"] = _digest(arrays, scalars)
    for name, a in arrays.items():
        group.create_dataset(name, data=a)


def read_state(group, where: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The state :func:`write_state` wrote, checked (CheckpointError naming ``where`` if not)."""
    fmt = group.attrs.get("format")
    if fmt != FORMAT:
        if isinstance(fmt, str) and fmt.startswith("remc_mpi-checkpoint/"):
            raise CheckpointFormatError(f"{where}: checkpoint format {fmt} was written by another version of "
                                        f"remc_mpi and cannot be resumed by this one ({FORMAT}); "
                                        "start afresh with --force")
        raise CheckpointError(f"{where}: not a remc_mpi checkpoint")
    scalars = json.loads(group.attrs["scalars"])
    arrays: dict[str, np.ndarray] = {}
    group.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    if _digest(arrays, scalars) != group.attrs["sha256"]:
        raise CheckpointError(f"{where}: checksum mismatch")
    return arrays, scalars


def _read_one(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    with h5py.File(path, "r") as h5:
        return read_state(h5, str(path))


def read(final: str | os.PathLike, verify: Callable[[dict], str | None] | None = None
         ) -> tuple[dict[str, np.ndarray], dict[str, Any], Path, list[str]]:
    """The newest usable generation: (arrays, scalars, path, warnings about unusable ones).
    ``verify(scalars)``: why a generation that reads well cannot be continued (its segments do
    not match its records), or None; such a generation is skipped like a damaged one."""
    reasons: list[str] = []
    for path in paths(final)[:2]:
        if not path.exists():
            continue
        try:
            arrays, scalars = _read_one(path)
        except CheckpointFormatError:
            raise
        except Exception as err:  # noqa: BLE001 - any damage (h5py raises many types): the previous one
            reasons.append(f"{path.name} is unusable ({err.__class__.__name__}: {error_text(err, 120)})")
            continue
        why = verify(scalars) if verify is not None else None
        if why is None:
            return arrays, scalars, path, [f"checkpoint {r}; trying the previous generation" for r in reasons]
        reasons.append(f"{path.name} cannot be continued ({why})")
    raise CheckpointError("no usable checkpoint" + (" (" + "; ".join(reasons) + ")" if reasons else ""))


def exists(final: str | os.PathLike) -> bool:
    return any(p.exists() for p in paths(final)[:2])


def remove(final: str | os.PathLike) -> None:
    for p in paths(final):
        p.unlink(missing_ok=True)
    Path(str(final) + ".ckpt.1.link").unlink(missing_ok=True)  # a rotation cut short


#: sampler keys that only say how long to run: a checkpoint (or a finished run's final state)
#: continues under a config that changes them (docs/restart.md, "Extending a finished run")
LENGTH_KEYS = ("sweeps", "max_sweeps", "target_error", "max_minutes", "check_every", "check_growth")


def config_digest(cfg, cand) -> str:
    """What a checkpoint (and a finished result continued by --resume or --extend) must match:
    the config (less the run-length keys, which --resume and --extend may raise), the candidate
    and the data's values as read."""
    from remc_mpi.io import safeyaml
    from remc_mpi.io.data import data_digest

    raw = safeyaml.load(cfg.text)
    if isinstance(raw, dict) and isinstance(raw.get("sampler"), dict):
        raw["sampler"] = {k: v for k, v in raw["sampler"].items() if k not in LENGTH_KEYS}
    text = json.dumps(raw, sort_keys=True, default=str)
    # the data as read: an edited file is other inputs
    text += "\0" + cand.label + "\0" + data_digest(cfg.data.energy, cfg.data.intensity)
    return hashlib.sha256(text.encode()).hexdigest()


def read_checkpoint(comm, out_path: Path, digest: str,
                    verify: Callable[[dict], str | None] | None = None) -> tuple[dict, dict] | None:
    """The newest usable checkpoint of ``out_path`` on every rank (read by rank 0), or None.
    A checkpoint of other inputs is an InputError (exit 2); no usable generation at all (damage)
    a DamagedFile (exit 1)."""
    from remc_mpi.sampling.parallel import on_root

    def load():
        if not exists(out_path):
            return None
        try:
            arrays, scalars, used, warns = read(out_path, verify)
        except CheckpointFormatError as err:
            raise InputError(str(err), str(out_path)) from None
        except CheckpointError as err:
            raise DamagedFile(f"{err}; the run cannot be continued: start afresh with --force",
                              str(out_path)) from None
        for w in warns:
            print(f"remc-mpi: warning: {w}", file=sys.stderr, flush=True)
        if scalars["digest"] != digest:
            raise InputError(CHANGED_INPUTS, str(used))
        return arrays, scalars

    return on_root(comm, load)


#: a checkpoint or finished result of other inputs than the run's (exit 2)
CHANGED_INPUTS = ("was computed from other inputs (the config, the model or the data changed since); "
                  "start afresh with --force, or restore the inputs")
