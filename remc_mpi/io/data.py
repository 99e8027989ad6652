"""Loading measured or synthetic spectra: two columns, energy and intensity.

Accepted files: UTF-8 (with or without a byte-order mark) CSV or whitespace/tab-separated
text, an optional header line (a first line of which fewer than half the cells are numbers:
``energy,intensity`` is one, ``1.0,2.o`` is a data row with a typo and refused), ``#``
comments (whole lines or trailing), energy in either direction (sorted ascending on load), at
most MAX_POINTS points of magnitude at most MAX_MAGNITUDE. Every problem is an
:class:`InputError` naming the file and line.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from remc_mpi.errors import InputError

MIN_POINTS = 10
#: most points of a spectrum (an XPS region has 10²–10⁴; the ladder holds a model row of
#: every point per temperature)
MAX_POINTS = 200_000
#: largest magnitude of a value (energies, intensities, and any number of a config): squares
#: of differences over noise levels down to 1e-100 stay finite
MAX_MAGNITUDE = 1e15
#: largest text data file read
MAX_FILE_BYTES = 256 * 2**20
_SPLIT = re.compile(r"[,\t ;]+")


@dataclass
class Spectrum:
    energy: np.ndarray
    intensity: np.ndarray
    source: str = "<memory>"
    #: how the file's axes were read (a VAMAS block's energy conversion), shown in the summary
    note: str = ""
    #: the intensity unit as read ("counts" for an instrument's counts or counts per second
    #: converted; "" for a text table, whose unit is not stated)
    unit: str = ""

    @property
    def n(self) -> int:
        return int(self.energy.size)


def _cells(line: str) -> list[str]:
    return [c for c in _SPLIT.split(line.strip()) if c]


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def read_columns(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw (energy, intensity, line number) columns of a file, in file order, validated per line."""
    path = Path(path)
    src = str(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise InputError(f"is larger than {MAX_FILE_BYTES // 2**20} MB; a spectrum file is far smaller", src)
        text = path.read_text(encoding="utf-8-sig", errors="strict")
    except FileNotFoundError:
        raise InputError("file does not exist", src) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a data file", src) from None
    except (UnicodeDecodeError, OSError) as err:
        raise InputError(f"cannot read ({err.__class__.__name__})", src) from None
    rows: list[tuple[float, float]] = []
    linenos: list[int] = []
    seen_data = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        cells = _cells(line)
        values = [_number(c) for c in cells]
        if not seen_data and 2 * sum(v is not None for v in values) < len(values):
            seen_data = True  # a header line: only the first non-comment line may be one
            continue
        seen_data = True
        if len(cells) != 2:
            raise InputError(f"expected 2 columns (energy, intensity), found {len(cells)}", src, f"line {lineno}")
        bad = next((c for c, v in zip(cells, values) if v is None), None)
        if bad is not None:
            raise InputError(f"non-numeric cell {bad!r}", src, f"line {lineno}")
        if not all(math.isfinite(v) for v in values):  # type: ignore[arg-type]
            raise InputError("NaN or infinite value", src, f"line {lineno}")
        if not all(abs(v) <= MAX_MAGNITUDE for v in values):  # type: ignore[arg-type]
            raise InputError(f"value beyond ±{MAX_MAGNITUDE:g}", src, f"line {lineno}")
        if len(rows) == MAX_POINTS:
            raise InputError(f"has more than {MAX_POINTS:,} data points", src, f"line {lineno}")
        rows.append((values[0], values[1]))  # type: ignore[arg-type]
        linenos.append(lineno)
    if len(rows) < MIN_POINTS:
        raise InputError(f"has {len(rows)} data points, at least {MIN_POINTS} are needed", src)
    arr = np.array(rows, dtype=np.float64)
    return arr[:, 0], arr[:, 1], np.array(linenos)


def prepare(energy: np.ndarray, intensity: np.ndarray, source: str = "<memory>",
            window: tuple[float, float] | None = None, normalize: str | None = None,
            linenos: np.ndarray | None = None) -> Spectrum:
    """Sort by energy, check duplicates, cut the window, normalise.

    ``normalize``: None, ``"max"`` (peak height 1) or ``"area"`` (trapezoid area 1).
    ``linenos``: the file line of each point, to name duplicates.
    """
    if energy.size > MAX_POINTS:
        raise InputError(f"has {energy.size:,} points, at most {MAX_POINTS:,} are read", source)
    if not (np.all(np.abs(energy) <= MAX_MAGNITUDE) and np.all(np.abs(intensity) <= MAX_MAGNITUDE)):
        raise InputError(f"holds non-finite values or values beyond ±{MAX_MAGNITUDE:g}", source)
    order = np.argsort(energy, kind="stable")
    e, y = energy[order], intensity[order]
    dup = np.flatnonzero(np.diff(e) == 0)
    if dup.size:
        k = dup[0]
        where = None
        if linenos is not None:
            first, second = sorted((int(linenos[order[k]]), int(linenos[order[k + 1]])))
            where = f"line {second}"
        raise InputError(f"duplicate energy {float(e[k])!r}" + (f" (also on line {first})" if where else ""),
                         source, where)
    if window is not None:
        keep = (e >= window[0]) & (e <= window[1])
        e, y = e[keep], y[keep]
        if e.size < MIN_POINTS:
            raise InputError(f"only {e.size} points inside the window {list(window)}, at least {MIN_POINTS} are needed", source)
    if normalize == "max":
        top = np.max(np.abs(y))
        if top == 0:
            raise InputError("cannot normalise an all-zero spectrum", source)
        y = y / top
    elif normalize == "area":
        area = float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(e)))
        if not area > 0:
            raise InputError("cannot normalise to unit area: the area is not positive", source)
        y = y / area
    return Spectrum(np.ascontiguousarray(e), np.ascontiguousarray(y), source)


def data_digest(energy: np.ndarray, intensity: np.ndarray) -> str:
    """SHA-256 (hex) of a spectrum's values as read: what makes two runs' data the same data."""
    h = hashlib.sha256()
    for a in (energy, intensity):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()


def load_spectrum(path: str | Path, window: tuple[float, float] | None = None,
                  normalize: str | None = None) -> Spectrum:
    """Read, validate, sort, window and normalise a two-column spectrum file."""
    e, y, linenos = read_columns(path)
    return prepare(e, y, str(path), window, normalize, linenos)


def write_spectrum(path: str | Path, energy: np.ndarray, intensity: np.ndarray) -> None:
    """A CSV with header ``energy,intensity`` and full float precision (round-trips exactly)."""
    from remc_mpi.io.safeio import write_text_atomic

    rows = "".join(f"{float(x)!r},{float(y)!r}\n" for x, y in zip(energy, intensity))
    write_text_atomic(path, "energy,intensity\n" + rows)
