"""Writes that survive a file system that refuses them: a full disk, a quota, a read-only folder.

The HDF5 library does not survive a failed write: after ``write()`` returns ENOSPC its metadata
cache is left inconsistent and the next flush or close may crash the process (measured here: a
segmentation fault, exit 139, in ``File.flush`` after "No space left on device"; with MPI-IO the
job hung). So remc_mpi never lets HDF5 see a failed write:

- Files written by one process go through :class:`GuardedFile`, a Python file object handed to
  h5py's ``fileobj`` driver. Its ``write`` never fails: the first refused write is remembered and
  it and every later write are kept in memory, so HDF5 carries on and closes cleanly; the writer
  then asks :meth:`GuardedFile.check` and raises :class:`~remc_mpi.errors.OutputError`. What
  was on disk before the fault is never rewritten; the broken file is one the run discards
  (a segment after the last checkpoint, ``OUT.h5.part``, ``OUT.h5.ckpt.tmp``).
- Files written collectively with MPI-IO cannot use a Python driver: before each collective
  write, rank 0 reserves the space it may need with :func:`reserve` (``posix_fallocate`` of a
  scratch file, released just before the write), so a full disk or a quota is met in Python.
- Other files (figures, tables, configs) are built in memory and written by
  :func:`write_atomic`: a temporary file, fsynced, renamed over the target.
- No command writes over one of its own inputs (:func:`written_inputs`): an output that is, or
  resolves to, an input — or whose derived files (``OUT.h5.part``, ``.seg0000``, ``.ckpt``,
  ``.lock``) would be — is refused before anything is read, ``--force`` or not.

Docs: docs/restart.md, "When the disk fills".
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py

from remc_mpi.errors import OutputError, WRITE_FAULTS


def written_inputs(outputs, inputs) -> list[tuple[Path, Path]]:
    """(output, input) pairs where writing ``output`` or a file derived from it by a suffix
    (OUT.h5 -> OUT.h5.part, OUT.h5.seg0000, ...) would overwrite the existing file ``input``
    (symbolic links and relative paths resolved)."""
    hits = []
    for out in outputs:
        o = Path(out).resolve()
        for inp in inputs:
            i = Path(inp)
            if not i.exists():
                continue
            i = i.resolve()
            if i == o or (i.parent == o.parent and i.name.startswith(o.name + ".")):
                hits.append((Path(out), Path(inp)))
    return hits


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file (or a directory's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class GuardedFile:
    """A read/write file object whose writes never raise (module docstring).

    After the first failed write (``error``), writes go to an in-memory ``overlay`` that reads
    consult, so the HDF5 library sees a consistent file until it is closed."""

    def __init__(self, path: str | os.PathLike, mode: str = "w"):
        flags = os.O_RDWR | (os.O_CREAT | os.O_TRUNC if mode == "w" else 0)
        self.path = Path(path)
        self.fd = os.open(self.path, flags, 0o644)
        self.pos = 0
        self.size = os.fstat(self.fd).st_size
        self.error: OSError | None = None
        self.overlay: list[tuple[int, bytes]] = []

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        self.pos = pos + {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.size}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buf) -> int:
        view = memoryview(buf).cast("B")
        n = len(view)
        got = os.preadv(self.fd, [view], self.pos) if n else 0
        view[got:] = bytes(n - got)  # past the end of the file reads as zeros (as HDF5's sec2 driver)
        for off, data in self.overlay:
            lo, hi = max(off, self.pos), min(off + len(data), self.pos + n)
            if lo < hi:
                view[lo - self.pos:hi - self.pos] = data[lo - off:hi - off]
        self.pos += n
        return n

    def read(self, n: int) -> bytes:
        buf = bytearray(n)
        self.readinto(buf)
        return bytes(buf)

    def write(self, buf) -> int:
        data = memoryview(buf).cast("B")
        if self.error is None:
            try:
                done = 0
                while done < len(data):
                    done += os.pwrite(self.fd, data[done:], self.pos + done)
            except OSError as err:
                self.error = err
        if self.error is not None:
            self.overlay.append((self.pos, bytes(data)))
        self.pos += len(data)
        self.size = max(self.size, self.pos)
        return len(data)

    def truncate(self, size: int | None = None) -> int:
        size = self.pos if size is None else size
        if self.error is None:
            try:
                os.ftruncate(self.fd, size)
            except OSError as err:
                self.error = err
        self.size = size
        return size

    def flush(self) -> None:
        """Nothing is buffered here (durability is :meth:`sync`)."""

    def sync(self) -> None:
        if self.error is None:
            try:
                os.fsync(self.fd)
            except OSError as err:
                self.error = err

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def check(self) -> None:
        """Raise :class:`OutputError` if any write to this file was refused."""
        if self.error is not None:
            raise OutputError(self.path, self.error)


def output_error(path, err: OSError) -> OutputError:
    """The one-line fault for a refused write; other OS errors are not file-system faults."""
    if err.errno not in WRITE_FAULTS:
        raise err
    return OutputError(path, err)


class GuardedH5:
    """An HDF5 file written through a :class:`GuardedFile`: ``.h5`` is the h5py file.

    :meth:`check` raises :class:`OutputError` once a write has been refused; :meth:`close`
    closes HDF5 first and the descriptor after it (the order that cannot crash), fsyncs, and
    then raises if any write failed."""

    def __init__(self, path: str | os.PathLike, mode: str = "w"):
        try:
            self.raw = GuardedFile(path, mode)
        except OSError as err:
            raise output_error(path, err) from None
        self.h5 = h5py.File(self.raw, mode)

    def check(self) -> None:
        self.raw.check()

    def close(self, durable: bool = True) -> None:
        if self.raw.fd < 0:
            return
        try:
            self.h5.close()
            if durable:
                self.raw.sync()
        finally:
            self.raw.close()
        self.raw.check()

    def abort(self) -> None:
        """Close without raising (on the way out of a failed run)."""
        try:
            self.close(durable=False)
        except Exception:  # noqa: BLE001 - the run is failing already with its own error
            pass


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a fsynced temporary file renamed over it: a refused
    write leaves any earlier ``path`` untouched and no partial file behind."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise output_error(path, err) from None
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """:func:`write_atomic` of UTF-8 text."""
    return write_atomic(path, text.encode("utf-8"))


@contextmanager
def atomic_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """An HDF5 file written whole or not at all: built through a :class:`GuardedH5` at
    ``path.tmp`` and renamed over ``path`` when complete (OutputError, nothing left, if not)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    out = GuardedH5(tmp)
    try:
        yield out.h5
        out.close()
        os.replace(tmp, path)
    except BaseException as err:
        out.abort()
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            raise output_error(path, err) from None
        raise


#: HDF5 metadata (B-tree nodes, heaps, object headers) an append may add beside its chunks
METADATA_SLACK = 1 << 20


def reserve(folder: str | os.PathLike, nbytes: int, name: str = ".remc_mpi-reserve") -> None:
    """Make sure ``nbytes`` can be written in ``folder`` now: allocate them in a scratch file
    (``posix_fallocate``, which a full disk or an exceeded quota refuses) and free them again.
    Raises :class:`OutputError`. On a file system without fallocate, compare the free space."""
    path = Path(folder) / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.posix_fallocate(fd, 0, max(1, int(nbytes)))
        except OSError as err:
            if err.errno not in WRITE_FAULTS:  # EOPNOTSUPP, EINVAL: no fallocate here
                st = os.statvfs(folder)
                if st.f_bavail * st.f_frsize < nbytes:
                    raise OSError(28, os.strerror(28)) from None
            else:
                raise
        finally:
            os.close(fd)
            path.unlink(missing_ok=True)
    except OSError as err:
        raise output_error(path.parent, err) from None
