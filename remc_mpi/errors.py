"""The one error type that means "bad input": exit status 2, one line, before any sampling."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InputError(Exception):
    """Bad config, data file or command line.

    ``str(err)`` is the single line shown to the user; it names the file and the key or
    line at fault, as ``FILE: KEY: what is wrong``.
    """

    def __init__(self, message: str, source: str | None = None, where: str | None = None):
        self.source = source
        self.where = where
        self.detail = message
        parts = [_one_line(p) for p in (source, where, message) if p]
        super().__init__(": ".join(parts))


def _one_line(text: str) -> str:
    """Escape control characters (newlines in a YAML key, say) so the message stays one line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` suffix for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
