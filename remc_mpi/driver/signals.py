"""Signals that stop or checkpoint a run: SIGTERM (checkpoint and stop), SIGUSR1 (checkpoint
and go on). The handlers only set a code; the sampling loop acts on it at its next collective
check, so every rank stops at the same sweep.

This module imports nothing heavy: ``remc-mpi run`` installs the handlers before it imports
numpy, MPI or h5py, so a batch job signalled while its ranks are still starting up stops
cleanly (before its first candidate, exit status 1) instead of being killed.
"""

from __future__ import annotations

import signal
import threading
from enum import IntEnum


class Request(IntEnum):
    """What the sampling loop is asked to do at its next check, in order of strength (the
    ranks agree on the strongest any of them holds)."""

    GO_ON = 0
    CHECKPOINT = 1  # checkpoint and go on (SIGUSR1, or a checkpoint falling due)
    STOP = 2  # checkpoint and stop (SIGTERM)


class Signals:
    """Context manager holding the strongest pending :class:`Request`.

    Installed once for a whole run (all candidates), so a signal that arrives while results
    are being written, or before sampling starts, is kept for the next check."""

    def __init__(self) -> None:
        self.code = Request.GO_ON
        self._old: dict = {}

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            for sig, code in ((signal.SIGTERM, Request.STOP), (signal.SIGUSR1, Request.CHECKPOINT)):
                self._old[sig] = signal.signal(sig, lambda *_a, c=code: self._set(c))
        return self

    def _set(self, code: Request) -> None:
        self.code = max(self.code, code)

    def take(self) -> Request:
        """The pending request, cleared (a signal arriving after this is kept for the next take)."""
        code, self.code = self.code, Request.GO_ON
        return code

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
