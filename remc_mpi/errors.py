"""The one error type that means "bad input": exit status 2, one line, before any sampling."""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Iterable
from typing import Any


class InputError(Exception):
    """Bad config, data file or command line.

    ``str(err)`` is the single line shown to the user; it names the file and the key or
    line at fault, as ``FILE: KEY: what is wrong``.
    """

    def __init__(self, message: str, source: str | None = None, where: str | None = None):
        self.source = source
        self.where = where
        self.detail = message
        parts = [_bounded(_one_line(_bounded(p, 4 * MAX_PART))) for p in (source, where, message) if p]
        super().__init__(": ".join(parts))


class Interrupted(Exception):
    """The run stopped on SIGTERM after writing a checkpoint (continue with --resume): exit 1."""


#: the longest part (file, key, message) of an error line; longer ones keep their two ends
MAX_PART = 600


def _one_line(text: str) -> str:
    """Escape control characters (newlines in a YAML key, say) so the message stays one line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _bounded(text: str, limit: int = MAX_PART) -> str:
    """``text``, or its two ends around an ellipsis when longer than ``limit`` (a file name and
    the end of a message both survive)."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def shortened(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def shown(obj: Any, limit: int = 60) -> str:
    """``repr(obj)`` for a message about an arbitrary value, cut to ``limit`` characters (a
    long list or mapping by its length alone: its repr could be megabytes)."""
    big = isinstance(obj, (list, dict)) and len(obj) >= 100
    return shortened(f"a {type(obj).__name__} of {len(obj)}" if big else repr(obj), limit)


def error_text(err: BaseException, limit: int) -> str:
    """A library exception's message on one line, cut to ``limit`` (its class name when empty)."""
    return shortened(" ".join(str(err).split()) or err.__class__.__name__, limit)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` suffix for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class DamagedFile(Exception):
    """A file of an earlier run that is damaged, missing or not what it claims (a segment whose
    samples do not match its checkpoint's record, every checkpoint generation unusable): exit
    status 1, one line naming the file and the way back. Raised on every rank alike."""

    def __init__(self, message: str, source: str | None = None):
        super().__init__(": ".join(_bounded(_one_line(p)) for p in (source, message) if p))


class OutputError(Exception):
    """A write failed (a full disk, a quota, a read-only or forbidden folder): exit status 1, one
    line naming the file and the cause. Raised once the failed file is closed, so earlier results
    and the last checkpoint are untouched. ``collective``: raised on every rank of the run alike
    (the command line then ends without aborting the MPI job)."""

    def __init__(self, path, err: OSError, hint: str = "", collective: bool = False):
        self.path, self.errno, self.hint, self.collective = str(path), err.errno, hint, collective
        cause = err.strerror or str(err)
        name = errno.errorcode.get(err.errno or 0)
        super().__init__(_one_line(f"cannot write {path}: {cause}" + (f" ({name})" if name else "")
                                   + (f"; {hint}" if hint else "")))

    def __reduce__(self):  # sent between ranks: rebuilt from its parts, not from the message
        return OutputError, (self.path, OSError(self.errno, os.strerror(self.errno or 0)), self.hint, self.collective)

    def with_hint(self, hint: str, collective: bool | None = None) -> "OutputError":
        """The same fault with advice on the way back (e.g. --resume)."""
        err = OSError(self.errno, os.strerror(self.errno or 0))
        return OutputError(self.path, err, hint, self.collective if collective is None else collective)


#: the errors of a file system that refuses a write (disk full, quota, read-only, permission)
WRITE_FAULTS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO)
