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

STOP, CHECKPOINT = 2, 1


class Signals:
    """Context manager holding the strongest pending code: 0 none, 1 checkpoint, 2 stop.

    Installed once for a whole run (all candidates), so a signal that arrives while results
    are being written, or before sampling starts, is kept for the next check."""

    def __init__(self) -> None:
        self.code = 0
        self._old: dict = {}

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            for sig, code in ((signal.SIGTERM, STOP), (signal.SIGUSR1, CHECKPOINT)):
                self._old[sig] = signal.signal(sig, lambda *_a, c=code: self._set(c))
        return self

    def _set(self, code: int) -> None:
        self.code = max(self.code, code)

    def take(self) -> int:
        """The pending code, cleared (a signal arriving after this is kept for the next take)."""
        code, self.code = self.code, 0
        return code

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
