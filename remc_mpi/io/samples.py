"""A run's per-sweep samples: one description of the sample sets (:data:`SAMPLE_LAYOUT`) drives
their HDF5 datasets, every append, the size estimate and the recorder (docs/format.md):

    name         rows                        per row        type
    sweep        every saved sweep (n)       ()             int64
    energy       every saved sweep           (L,)           float64   U / N of every slot
    replica      every saved sweep           (L,)           int32     the replica in every slot
    theta_sweep  every kept theta (m)        ()             int64     every thin-th saved sweep
    theta        every kept theta            (L, P)         float64   every slot's parameters

L is the number of temperature slots (every chain's), P the parameters. Per-slot sets are
written in slot columns: gathered to rank 0, or each rank its own columns lo:hi through
parallel HDF5. Rows are chunked CHUNK_ROWS at a time (theta: about 1 MB a chunk).
"""

from __future__ import annotations

from typing import NamedTuple

import h5py
import numpy as np

from remc_mpi.errors import OutputError

#: the group of the sample sets in a results file and its segments
SAMPLES = "samples"
#: rows per HDF5 chunk of the per-sweep sample sets
CHUNK_ROWS = 1024
#: bytes per chunk of the theta samples
THETA_CHUNK_BYTES = 2**20


class SampleSet(NamedTuple):
    """One sample set of the layout (see module docstring)."""

    name: str
    dtype: str
    per_slot: bool  # a column per temperature slot
    per_param: bool  # each slot holds the P parameters
    thinned: bool  # one row per kept theta (every thin-th saved sweep), else per saved sweep

    def row_shape(self, n_slots: int, n_params: int) -> tuple[int, ...]:
        return ((n_slots,) if self.per_slot else ()) + ((n_params,) if self.per_param else ())

    def chunk_rows(self, n_slots: int, n_params: int) -> int:
        if not self.per_param:
            return CHUNK_ROWS
        return max(1, min(CHUNK_ROWS, THETA_CHUNK_BYTES // (8 * max(1, n_slots * n_params))))

    def row_bytes(self, n_slots: int, n_params: int) -> int:
        return int(np.prod(self.row_shape(n_slots, n_params), dtype=np.int64)) * np.dtype(self.dtype).itemsize


#: the sample sets, in the order segments are hashed (checkpoint.segments) and appended
SAMPLE_LAYOUT = (SampleSet("sweep", "i8", False, False, False), SampleSet("energy", "f8", True, False, False),
                 SampleSet("replica", "i4", True, False, False), SampleSet("theta_sweep", "i8", False, False, True),
                 SampleSet("theta", "f8", True, True, True))
SAMPLE_SETS = tuple(s.name for s in SAMPLE_LAYOUT)
_BY_NAME = {s.name: s for s in SAMPLE_LAYOUT}


def create_samples(h5: h5py.File, n_slots: int, n_params: int) -> None:
    """The empty, growable sample sets in ``h5``."""
    group = h5.require_group(SAMPLES)
    for s in SAMPLE_LAYOUT:
        shape = s.row_shape(n_slots, n_params)
        group.create_dataset(s.name, (0, *shape), maxshape=(None, *shape), dtype=s.dtype,
                             chunks=(s.chunk_rows(n_slots, n_params), *shape))


def append_bytes(name: str, n_rows: int, n_slots: int, n_params: int) -> int:
    """At most the bytes of new chunks that appending ``n_rows`` rows to sample set ``name``
    allocates (whole chunks, one more when the rows straddle a chunk boundary)."""
    if n_rows == 0:
        return 0
    s = _BY_NAME[name]
    chunk = s.chunk_rows(n_slots, n_params)
    return (-(-n_rows // chunk) + 1) * chunk * s.row_bytes(n_slots, n_params)


def stored_bytes(n_saved: int, n_theta: int, n_slots: int, n_params: int) -> int:
    """The bytes of a results file's samples: ``n_saved`` saved sweeps and ``n_theta`` kept
    thetas, in whole chunks (HDF5 allocates whole chunks)."""
    total = 0
    for s in SAMPLE_LAYOUT:
        chunk = s.chunk_rows(n_slots, n_params)
        rows = -(-(n_theta if s.thinned else n_saved) // chunk) * chunk
        total += rows * s.row_bytes(n_slots, n_params)
    return total


def append_rows(h5: h5py.File, name: str, arr: np.ndarray) -> None:
    """Add the rows ``arr`` to sample set ``name`` of ``h5``."""
    ds = h5[SAMPLES][name]
    n = ds.shape[0]
    ds.resize(n + arr.shape[0], axis=0)
    ds[n:] = arr


#: a Recorder writes its saved sweeps about every FLUSH_BYTES of them per rank, but at least
#: every FLUSH_RECORDS[1] and at most every FLUSH_RECORDS[0] sweeps (each write costs a few ms
#: whatever its size: every 512 sweeps it was 5 us a sweep of a 24-slot run)
FLUSH_BYTES = 4 << 20
FLUSH_RECORDS = (512, 4096)


class Recorder:
    """Local buffers of saved sweeps, flushed in chunks: gathered to rank 0's writer, or
    written by every rank into its own columns (parallel HDF5). The writer takes the rows of
    every sample set by name (``append`` gathered, ``append_local`` per rank)."""

    def __init__(self, lc, writer, n_local: int, n_params: int, mpio: bool = False):
        self.lc, self.writer, self.mpio = lc, writer, mpio
        self.shape = (n_local, n_params)
        self.rows: dict[str, list] = {name: [] for name in SAMPLE_SETS}
        row_bytes = sum(s.row_bytes(n_local, n_params) for s in SAMPLE_LAYOUT)
        self.flush_every = min(max(FLUSH_BYTES // max(row_bytes, 1), FLUSH_RECORDS[0]), FLUSH_RECORDS[1])

    def full(self) -> bool:
        """Whether the buffers hold enough saved sweeps to be written (about FLUSH_BYTES)."""
        return len(self.rows["sweep"]) >= self.flush_every

    @property
    def sweeps(self) -> list[int]:
        """The saved sweeps not yet flushed."""
        return self.rows["sweep"]

    def record(self, sweep: int, block, n_data: int, with_theta: bool) -> None:
        u, replica, theta = block.snapshot(with_theta)
        rows = self.rows
        rows["sweep"].append(sweep)
        rows["energy"].append(u / n_data)
        rows["replica"].append(replica)
        if with_theta:
            rows["theta_sweep"].append(sweep)
            rows["theta"].append(theta)

    def flush(self) -> None:
        local = {s.name: np.array(self.rows[s.name], dtype=s.dtype).reshape(-1, *s.row_shape(*self.shape))
                 for s in SAMPLE_LAYOUT}
        if self.mpio:
            self.writer.append_local(local)
        else:
            rows = {name: self.lc.gather_slots(a, axis=1) if _BY_NAME[name].per_slot else a
                    for name, a in local.items()}
            error = None
            if self.writer is not None:
                try:
                    self.writer.append(rows)
                except OutputError as err:
                    error = err
            error = self.lc.comm.bcast(error, root=0)  # a refused write stops every rank
            if error is not None:
                raise error
        self.rows = {name: [] for name in SAMPLE_SETS}
