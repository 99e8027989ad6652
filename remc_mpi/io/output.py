"""The HDF5 results file (layout in docs/format.md), written while the run goes.

Samples stream to disk in chunks as the run produces them, so memory stays bounded however
long the run is. They go into *segment* files ``OUT.h5.seg0000``, ``OUT.h5.seg0001``, ...: a
segment is closed (flushed, fsynced) at every checkpoint and a new one begun, so everything a
checkpoint refers to is on disk in files that are never written again, and a run killed at
any moment (even ``kill -9``) resumes from its last checkpoint with intact samples. At the end
the segments are copied in order into ``OUT.h5.part``, the results are added, and the file is
renamed to ``OUT.h5`` only when complete: a crash never leaves a file that looks finished and
never destroys an earlier result. The reader (:class:`ResultsFile`) is here too, beside the
writers: the layout is written where it is read. Where the files go and whether they fit is
:mod:`remc_mpi.io.paths`; the sample sets are :mod:`remc_mpi.io.samples`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np

from remc_mpi.errors import InputError, OutputError
from remc_mpi.io.safeio import METADATA_SLACK, GuardedH5, fsync_path, reserve
from remc_mpi.io.samples import SAMPLE_LAYOUT, SAMPLE_SETS, SAMPLES, append_bytes, append_rows, create_samples

FORMAT = "remc_mpi/1"
#: the groups and datasets of the layout (docs/format.md) that readers use
SUMMARY_JSON = "results/summary_json"
#: the summary keys every reader relies on (analyze, select, collect, plot), with the keys each
#: of the nested ones must hold (docs/contract.md, section 6)
SUMMARY_KEYS = {"model": (), "label": (), "n_data": (), "log_evidence": ("value", "stderr", "method"),
                "estimators": (), "free_energy": (), "posterior": (), "diagnostics": ("round_trips",),
                "param_names": ()}
COPY_ROWS = 16384  # rows per copy when assembling segments: bounded memory for any run length


def part_path(path: str | os.PathLike) -> Path:
    return Path(str(path) + ".part")


def segment_path(path: str | os.PathLike, k: int) -> Path:
    return Path(f"{path}.seg{k:04d}")


class RunRecord(NamedTuple):
    """What a finished run's file holds beside its samples and its summary, by name: the writer
    lays it out (:meth:`ResultWriter.write_record`) here, where :class:`ResultsFile` reads it."""

    config_yaml: str  # the config as written
    energy: np.ndarray  # the spectrum fitted
    intensity: np.ndarray
    beta: np.ndarray  # per rung
    lam: np.ndarray
    barrier: float  # the communication barrier
    diagnostics: dict[str, Any]  # public name -> per-rung (or per-pair) arrays
    log_z: dict[str, Any]  # estimator -> log Z per rung
    stderr: dict[str, Any]  # estimator -> its error
    provenance: dict[str, Any]
    attrs: dict[str, Any]  # root attributes (model, label, n_data, seed, chains, ...)
    final_state: tuple[dict, dict] | None = None  # the sampler at the last sweep: --extend's start


class ResultWriter:
    """Rank-0 writer of one candidate's results (gathered mode).

    ``start_segment`` > 0 continues a resumed run: segments before it are kept (a checkpoint
    refers to them), any later ones (written after that checkpoint) are discarded.
    """

    def __init__(self, path: str | os.PathLike, n_slots: int, n_params: int, start_segment: int = 0,
                 owns_files: bool = True):
        self.final = Path(path)
        self.path = part_path(path)
        self.n_slots, self.n_params = n_slots, n_params
        self.segment = start_segment
        self.seg: GuardedH5 | None = None  # the segment being written
        self.out: GuardedH5 | None = None  # OUT.h5.part while it is assembled
        if owns_files:
            self._discard_stale()

    def _discard_stale(self) -> None:
        """Delete segments from ``self.segment`` on, and a fresh run's leftover ``.part``."""
        for old in self.final.parent.glob(self.final.name + ".seg*"):
            suffix = old.name[len(self.final.name) + 4:]
            if suffix.isdigit() and int(suffix) >= self.segment:
                old.unlink()
        if self.segment == 0:
            self.path.unlink(missing_ok=True)

    def append(self, rows: dict[str, np.ndarray]) -> None:
        """Add a chunk of saved sweeps: the rows of every sample set by name (remc_mpi.io.samples),
        every slot's columns."""
        if self.seg is None:
            self.seg = GuardedH5(segment_path(self.final, self.segment))
            create_samples(self.seg.h5, self.n_slots, self.n_params)
        for name in SAMPLE_SETS:
            if len(rows[name]):
                append_rows(self.seg.h5, name, rows[name])
        self.seg.h5.flush()
        self.seg.check()  # a refused write stops the run here (OutputError)

    def close_segment(self) -> int:
        """Close the segment being written (durably); return the number of closed segments."""
        if self.seg is not None:
            seg, self.seg = self.seg, None
            seg.close()
            self.segment += 1
        return self.segment

    @property
    def h5(self) -> h5py.File:
        """The assembled file being completed (after :meth:`assemble`)."""
        return self.out.h5

    def assemble(self) -> h5py.File:
        """Copy all segments in order into ``OUT.h5.part``, COPY_ROWS rows at a time."""
        self.close_segment()
        self.out = GuardedH5(self.path)
        self.h5.attrs["format"] = FORMAT
        self.h5.attrs["complete"] = False
        create_samples(self.h5, self.n_slots, self.n_params)
        for k in range(self.segment):
            with h5py.File(segment_path(self.final, k), "r") as seg:
                for name in SAMPLE_SETS:
                    src = seg[SAMPLES][name]
                    for a in range(0, src.shape[0], COPY_ROWS):
                        append_rows(self.h5, name, src[a:a + COPY_ROWS])
                        self.out.check()
        return self.h5

    def write_static(self, groups: dict[str, dict[str, Any]], attrs: dict[str, Any]) -> None:
        """Datasets ``groups[g][name]`` (arrays or strings) and root attributes."""
        for gname, items in groups.items():
            g = self.h5.require_group(gname)
            for name, value in items.items():
                if name in g:
                    del g[name]
                if isinstance(value, str):
                    g.create_dataset(name, data=value, dtype=h5py.string_dtype())
                elif isinstance(value, dict):
                    sub = g.require_group(name)
                    for k, v in value.items():
                        sub.attrs[k] = v
                else:
                    g.create_dataset(name, data=np.asarray(value))
        for k, v in attrs.items():
            self.h5.attrs[k] = v
        self.out.check()

    def write_record(self, rec: RunRecord) -> None:
        """The run's record into its groups (docs/format.md)."""
        from remc_mpi.io.checkpoint import write_state

        self.write_static(
            {
                "config": {"yaml": rec.config_yaml},
                "data": {"energy": rec.energy, "intensity": rec.intensity},
                "ladder": {"beta": rec.beta, "lambda": rec.lam, "barrier": rec.barrier},
                "diagnostics": rec.diagnostics,
                "free_energy": {**{f"log_z_{k}": v for k, v in rec.log_z.items()},
                                **{f"stderr_{k}": v for k, v in rec.stderr.items()}},
                "provenance": {"info": dict(rec.provenance)},
            },
            rec.attrs,
        )
        if rec.final_state is not None:
            arrays, scalars = rec.final_state
            write_state(self.h5.require_group("final_state"), arrays, {**scalars, "n_segments": 1})

    def finish(self, summary: dict[str, Any]) -> Path:
        """Store the JSON summary, mark complete, close and move into place atomically."""
        group, name = SUMMARY_JSON.split("/")
        self.write_static({group: {name: json.dumps(summary)}}, {"complete": True})
        out, self.out = self.out, None
        out.close()  # fsynced; OutputError if any write of the file was refused
        os.replace(self.path, self.final)
        for k in range(self.segment):
            segment_path(self.final, k).unlink(missing_ok=True)
        return self.final

    def abort(self) -> None:
        """Close open files on the way out of a failed run: the closed segments stay for
        --resume, the unfinished ``OUT.h5.part`` goes (it is rebuilt, and it may fill a disk)."""
        if self.seg is not None:
            self.seg.abort()
            self.seg = None
        if self.out is not None:
            self.out.abort()
            self.out = None
            self.path.unlink(missing_ok=True)


class ResultsFile:
    """Read access to a results file, the one place that knows its layout (docs/format.md).

    Open it with ``with ResultsFile(path) as rf`` (a finished file), or wrap the writer's open
    file (``ResultsFile(h5=writer.h5)``) while the summary is made. Arrays are read on demand,
    one rung at a time where a reader needs only that.
    """

    def __init__(self, path: str | os.PathLike | None = None, h5: h5py.File | None = None, chains: int | None = None):
        self.path, self.h5, self._own = path, h5, h5 is None
        self._chains = chains  # known to the writer before the file says it

    def __enter__(self) -> "ResultsFile":
        if self._own:
            self.h5 = h5py.File(self.path, "r")
        return self

    @property
    def chains(self) -> int:
        """Independent ladders in the file: slot column c L + l is rung l of chain c."""
        return self._chains or int(self.h5.attrs.get("chains", 1))

    def __exit__(self, *exc) -> None:
        if self._own and self.h5 is not None:
            self.h5.close()

    @property
    def complete(self) -> bool:
        return bool(self.h5.attrs.get("complete", False))

    def summary(self) -> dict[str, Any]:
        """The JSON summary (ValueError when the file is of another format version, the run is
        not complete, or the summary lacks a key every reader relies on)."""
        fmt = self.h5.attrs.get("format")
        if fmt != FORMAT:
            raise (ForeignFormat(f"format {fmt!r} is not this version's {FORMAT!r}") if fmt is not None
                   else ValueError("no remc_mpi format attribute"))
        if not self.complete:
            raise ValueError("run is not complete")
        summary = json.loads(self.h5[SUMMARY_JSON][()])
        missing = missing_keys(summary)
        if missing:
            raise ValueError(f"its summary lacks {', '.join(missing)}")
        return summary

    def samples(self, name: str, rung: int | None = None) -> np.ndarray:
        """Sample set ``name`` (one of SAMPLE_SETS): every slot's (all chains), or one rung's
        with the chains' rows one after the other (chain-major)."""
        ds = self.h5[SAMPLES][name]
        return ds[:] if rung is None or ds.ndim == 1 else rung_rows(ds, rung, self.chains)

    def posterior_theta(self) -> np.ndarray:
        """The reported rung's parameter samples as the summary's table reads them: with the
        peaks ordered by position when the summary says ``peaks_ordered`` (the stored samples
        keep the sampler's own labels)."""
        s = self.summary()
        theta = self.samples("theta", s["posterior_rung"])
        if s.get("peaks_ordered"):
            from remc_mpi.models import get_model

            theta = get_model(s["model"], **s["options"]).relabel(theta)
        return theta

    def final_state(self) -> tuple[dict, dict]:
        """The sampler's state at the run's last sweep (``final_state``: what --extend continues
        from); InputError for a file written without it."""
        from remc_mpi.io.checkpoint import CheckpointError, read_state

        if "final_state" not in self.h5:
            raise InputError("this results file has no final state to continue from (written by an older "
                             "version); run it again with more sweeps", str(self.path))
        try:
            return read_state(self.h5["final_state"], f"{self.path}:final_state")
        except CheckpointError as err:
            raise InputError(str(err), str(self.path)) from None

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """The spectrum the run fitted: (energy, intensity)."""
        return self.h5["data/energy"][:], self.h5["data/intensity"][:]

    def ladder(self) -> np.ndarray:
        """lambda per rung."""
        return self.h5["ladder/lambda"][:]

    def diagnostic(self, name: str) -> np.ndarray:
        return self.h5["diagnostics"][name][:]


def missing_keys(summary: Any) -> list[str]:
    """The SUMMARY_KEYS (dotted) that ``summary`` lacks."""
    if not isinstance(summary, dict):
        return ["everything (not a mapping)"]
    out = []
    for key, inner in SUMMARY_KEYS.items():
        if key not in summary:
            out.append(key)
        elif inner:
            value = summary[key]
            out += [f"{key}.{k}" for k in inner if not isinstance(value, dict) or k not in value]
    return out


def read_summary(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON summary of a finished results file."""
    with ResultsFile(path) as rf:
        return rf.summary()


class ForeignFormat(ValueError):
    """A results file of another format version (its ``format`` attribute)."""


def complete_summary(path: str | os.PathLike) -> dict[str, Any] | None:
    """The summary of a finished results file; None if the file is missing, unfinished or
    unreadable (what --resume, campaigns and collect treat as "still to do"). A file of another
    format version is an InputError: neither redone over nor read."""
    try:
        return read_summary(path)
    except ForeignFormat as err:
        raise InputError(f"a results file of another version of remc_mpi ({err}); move it aside", str(path)) from None
    except (OSError, KeyError, ValueError):
        return None


class MpioWriter(ResultWriter):
    """Parallel-HDF5 writer: every rank writes its own slots' columns of each segment.

    Segments are opened with ``driver="mpio"`` on the run's communicator; every rank makes the
    same collective calls (create, resize, close) with the same shapes, also a rank with
    nothing new to write, and then writes its block of columns [lo, hi) independently. The
    final file is assembled from the closed segments on rank 0, exactly as in gathered mode,
    so both modes give the same datasets with the same values.
    """

    def __init__(self, path: str | os.PathLike, n_slots: int, n_params: int, comm, lo: int, hi: int,
                 start_segment: int = 0):
        self.comm, self.lo, self.hi = comm, lo, hi
        super().__init__(path, n_slots, n_params, start_segment, owns_files=comm.Get_rank() == 0)
        comm.Barrier()  # stale segments are gone before any rank opens one

    def set_slots(self, lo: int, hi: int) -> None:
        """This rank's columns from the next write on (after the slots moved between ranks)."""
        self.lo, self.hi = lo, hi

    def _reserve(self, nbytes: int) -> None:
        """Collective: rank 0 makes sure ``nbytes`` fit on the disk; every rank raises
        :class:`OutputError` if not (MPI-IO must never meet a full disk: safeio docstring)."""
        error = None
        if self.comm.Get_rank() == 0:
            try:
                reserve(self.final.parent, nbytes, self.final.name + ".reserve")
            except OutputError as err:
                error = err
        error = self.comm.bcast(error, root=0)
        if error is not None:
            raise error

    def append_local(self, rows: dict[str, np.ndarray]) -> None:
        """Collective: the rows of every sample set by name, per-slot ones in this rank's slot
        columns lo:hi (energy (n, hi - lo), theta (m, hi - lo, P))."""
        self._reserve(METADATA_SLACK + sum(append_bytes(name, len(arr), self.n_slots, self.n_params)
                                           for name, arr in rows.items()))
        if self.seg is None:
            self.seg = h5py.File(segment_path(self.final, self.segment), "w", driver="mpio", comm=self.comm)
            create_samples(self.seg, self.n_slots, self.n_params)
        g = self.seg[SAMPLES]
        for s in SAMPLE_LAYOUT:
            arr, ds = rows[s.name], g[s.name]
            n = ds.shape[0]
            ds.resize(n + len(arr), axis=0)  # collective, same shape on every rank
            if len(arr) == 0:
                continue
            if s.per_slot:
                if self.hi > self.lo:
                    ds[n:, self.lo:self.hi] = arr
            elif self.comm.Get_rank() == 0:
                ds[n:] = arr

    def close_segment(self) -> int:
        """Collective close of the current segment; every rank returns the segment count.
        (Every rank has a segment open or none, so the barrier is reached by all or by none;
        rank 0's call inside :meth:`assemble` finds it already closed.)"""
        if self.seg is not None:
            self.seg.close()
            if self.comm.Get_rank() == 0:
                fsync_path(segment_path(self.final, self.segment))
            self.seg = None
            self.segment += 1
            self.comm.Barrier()
        return self.segment

    def abort(self) -> None:
        seg, self.seg = self.seg, None
        if seg is not None:  # a parallel-HDF5 file: every rank is on its way out alike
            try:
                seg.close()
            except Exception:  # noqa: BLE001 - closing a broken file on the way out
                pass
        super().abort()


def segment_record(final: str | os.PathLike, k: int) -> dict[str, Any]:
    """What a checkpoint records of closed segment ``k``: its index, rows, first and last sweep
    and a SHA-256 of every sample set (name, type, shape and bytes, read COPY_ROWS rows at a
    time), so that a resumed run can tell a damaged, foreign or duplicated segment."""
    h = hashlib.sha256()
    with h5py.File(segment_path(final, k), "r") as seg:
        group = seg[SAMPLES]
        for name in SAMPLE_SETS:
            ds = group[name]
            h.update(f"{name} {ds.dtype} {ds.shape}".encode())
            for a in range(0, ds.shape[0], COPY_ROWS):
                h.update(np.ascontiguousarray(ds[a:a + COPY_ROWS]).tobytes())
        sweeps = group["sweep"]
        span = [int(sweeps[0]), int(sweeps[-1])] if sweeps.shape[0] else None
        return {"index": k, "rows": int(sweeps.shape[0]), "sweeps": span, "sha256": h.hexdigest()}


def segments_mismatch(final: str | os.PathLike, records: list[dict]) -> str | None:
    """Why the closed segments on disk are not the ones a checkpoint recorded (missing,
    unreadable, damaged, or another segment copied over one), or None when they all are."""
    for rec in records:
        p = segment_path(final, rec["index"])
        if not p.exists():
            return f"segment {p.name} is missing"
        try:
            got = segment_record(final, rec["index"])
        except (OSError, KeyError, ValueError, IndexError) as err:
            return f"segment {p.name} is unreadable ({err.__class__.__name__})"
        if got != rec:
            return (f"segment {p.name} does not hold the samples the checkpoint recorded "
                    "(damaged, or another segment copied over it)")
    return None


def rung_rows(per_slot, rung: int, chains: int) -> np.ndarray:
    """One rung's rows of a sample set stored per slot ((n, chains x L, ...): an array or a
    dataset) with the chains' rows one after the other (chain-major)."""
    ladder = per_slot.shape[1] // chains
    return np.concatenate([per_slot[:, c * ladder + rung] for c in range(chains)], axis=0)


def read_segments(final: str | os.PathLike, n_segments: int, name: str) -> np.ndarray:
    """Sample set ``name`` of the closed segments 0 .. n_segments - 1, in order (a run's samples
    so far, as a check of its target reads them)."""
    parts = []
    for k in range(n_segments):
        with h5py.File(segment_path(final, k), "r") as seg:
            parts.append(seg[SAMPLES][name][:])
    return np.concatenate(parts, axis=0)


def resolve_mode(mode: str, comm) -> str:
    """'auto' -> 'mpio' where h5py has MPI and there are several ranks, else 'gather';
    'mpio' without parallel HDF5, or an unknown mode, is an input error."""
    if mode not in ("auto", "mpio", "gather"):
        raise InputError(f"--hdf5 must be auto, mpio or gather, got {mode!r}", "command line", "--hdf5")
    has_mpi = bool(h5py.get_config().mpi)
    if mode == "mpio" and not has_mpi:
        raise InputError("--hdf5 mpio needs h5py built with MPI (parallel HDF5); see the README",
                         "command line", "--hdf5")
    if mode == "auto":
        return "mpio" if has_mpi and comm.Get_size() > 1 else "gather"
    return mode
