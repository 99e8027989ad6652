"""Progress lines for long runs: rank 0 only, throttled.

On a terminal one line is redrawn in place (a bar); elsewhere (SLURM logs, pipes) plain
lines are printed at most every ``interval`` seconds (default 30 s, 1 s on a terminal).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:d}:{s:02d}"


class Progress:
    def __init__(self, total: int, label: str = "", enabled: bool = True, stream: TextIO | None = None,
                 interval: float | None = None, start: int = 0):
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (1.0 if self.tty else 30.0)
        self.t0 = time.monotonic()
        self.start = start
        self.last = -1e9

    def rate(self, done: int) -> float:
        """Sweeps per second since this run (or its resumption) started."""
        elapsed = time.monotonic() - self.t0
        return (done - self.start) / elapsed if elapsed > 0 else 0.0

    def line(self, done: int, extra: str = "") -> str:
        rate = self.rate(done)
        eta = (self.total - done) / rate if rate > 0 else 0.0
        pct = 100.0 * done / max(1, self.total)
        head = f"{self.label}: " if self.label else ""
        return (f"{head}sweep {done}/{self.total} ({pct:5.1f}%)  {rate:8.1f} sweeps/s  "
                f"ETA {format_duration(eta)}" + (f"  {extra}" if extra else ""))

    def update(self, done: int, extra: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        text = self.line(done, extra)
        if self.tty:
            self.stream.write("\r" + text[:150].ljust(150))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self, done: int, extra: str = "") -> None:
        if self.enabled:
            self.update(done, extra, force=True)
            if self.tty:
                self.stream.write("\n")
                self.stream.flush()
