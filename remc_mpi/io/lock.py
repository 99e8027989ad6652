"""One run per output: a lock file beside each results file for the whole run.

``OUT.h5.lock`` holds JSON {host, pid, job, started}: the holder's host name, process id, Slurm
job id (or null) and start time. It is created with ``O_CREAT | O_EXCL``, atomic on local file
systems, NFSv4, Lustre and GPFS, so of two runs started together exactly one gets it; the other
stops at once with one line naming the holder (exit status 2) and touches nothing. The holder
refreshes the file's modification time every HEARTBEAT_S seconds while it samples and removes
it when the run ends, also on a failure or a signal.

A lock left by a run that died is *stale* and silently taken over when its holder was
on this host and its process is gone (``kill -9``, a crash), when it belongs to this same Slurm
job (a job requeued onto another node), or when it has not been refreshed for STALE_S seconds (a
holder on another host that died). Otherwise the message says how to remove it by hand.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from remc_mpi.errors import InputError, OutputError

#: seconds between the holder's refreshes of its lock's modification time
HEARTBEAT_S = 60.0
#: a lock not refreshed for this long has lost its holder (many heartbeats: a loaded file
#: system or a long post-processing step may delay one)
STALE_S = 1800.0


def lock_path(output: str | os.PathLike) -> Path:
    return Path(str(output) + ".lock")


def _me() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "job": os.environ.get("SLURM_JOB_ID"),
            "started": time.time()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def holder(output: str | os.PathLike) -> dict | None:
    """The live holder of ``output``'s lock, or None (no lock, or a stale one)."""
    path = lock_path(output)
    try:
        age = time.time() - path.stat().st_mtime
        info = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict):  # being written, or damaged: alive until it is stale
        return None if age > STALE_S else {"host": "?", "pid": "?", "job": None}
    me = _me()
    if info.get("host") == me["host"] and isinstance(info.get("pid"), int) and not _alive(info["pid"]):
        return None
    if info.get("job") is not None and info.get("job") == me["job"] and info.get("pid") != me["pid"]:
        return None
    if age > STALE_S:
        return None
    return info


class OutputLocks:
    """The locks of one run's outputs (rank 0 holds them)."""

    def __init__(self, outputs: list[Path], source: str):
        self.paths = [lock_path(p) for p in outputs]
        self.source = source
        self.held: list[Path] = []
        self.last_refresh = time.monotonic()

    def acquire(self) -> None:
        """Take every lock or none: InputError (exit 2) naming the live holder of the first
        one that is taken; stale locks are replaced with a warning."""
        try:
            for path in self.paths:
                self._take(path)
        except BaseException:
            self.release()
            raise

    def _take(self, path: Path) -> None:
        output = str(path)[:-len(".lock")]
        for _ in range(2):
            if self._create(path):
                self.held.append(path)
                return
            live = holder(output)
            if live is not None and live.get("host") == "?":
                raise InputError(f"{output} is locked by {path}, which names no run (damaged, or being written); "
                                 f"remove it if no run is writing {output}", self.source, "output")
            if live is not None:
                job = f", job {live['job']}" if live.get("job") else ""
                raise InputError(f"{output} is being written by another run (host {live.get('host')}, pid "
                                 f"{live.get('pid')}{job}); wait for it, or remove {path} if that run is gone",
                                 self.source, "output")
            path.unlink(missing_ok=True)  # a stale lock: its run is gone (module docstring)
        raise InputError(f"cannot take the lock {path}", self.source, "output")

    def _create(self, path: Path) -> bool:
        """Create the lock file with our details; False when it exists already."""
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as err:
            raise InputError(f"cannot create the lock {path} ({err.strerror})", self.source, "output") from None
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(_me()))
        except OSError as err:  # a full disk or quota, met before any work: a fault (exit 1), not bad input
            path.unlink(missing_ok=True)
            # acquired inside on_root, which raises it on every rank alike
            raise OutputError(path, err, "nothing was written; make space and run again", collective=True) from None
        return True

    def refresh(self) -> None:
        """Show the holder is alive (at most every HEARTBEAT_S seconds)."""
        if time.monotonic() - self.last_refresh < HEARTBEAT_S:
            return
        self.last_refresh = time.monotonic()
        for path in self.held:
            try:
                os.utime(path)
            except OSError:
                pass

    def release(self) -> None:
        for path in self.held:
            path.unlink(missing_ok=True)
        self.held = []
