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
from remc_mpi.models.backgrounds import uniform_step

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
#: decimals looked for when a text table's energies may be a rounded uniform grid
MAX_PRINTED_DECIMALS = 6
#: a printed unit at most this share of the step can hide a uniform grid's rounding; coarser
#: printing (a unit of a third of the step, say) leaves the grid as read
ROUNDED_UNIT_SHARE = 0.25


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


def printed_decimals(values: np.ndarray) -> int | None:
    """The fewest decimals (0 .. MAX_PRINTED_DECIMALS) that write every value exactly, or None."""
    for d in range(MAX_PRINTED_DECIMALS + 1):
        scaled = values * 10.0**d
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return d
    return None


def rounded_uniform_grid(energy: np.ndarray) -> tuple[np.ndarray, str]:
    """A text table's energies as the uniform grid they were rounded from, with a note, or
    themselves and "".

    A file that prints a uniform scan of step h to d decimals holds steps that differ by a unit
    u = 10^-d (La 3d of La2O3: 0.13 and 0.14 for h = 50/383 eV). Read as they are, they make the
    Tougaard integral an N x N operator instead of N lags (models.backgrounds) and place every
    point up to u/2 off the scan. The grid is restored when every energy lies within one unit of
    the uniform grid between the first and last energy (those two rounded too), and u is at most
    ROUNDED_UNIT_SHARE of h; otherwise the energies stay as read.
    """
    e = np.sort(energy)
    n = e.size
    if n < 3 or uniform_step(e) is not None:  # uniform as read (or all one energy: refused later)
        return energy, ""
    step = (e[-1] - e[0]) / (n - 1)
    d = printed_decimals(e)
    if d is None:
        return energy, ""
    unit = 10.0**-d
    grid = np.linspace(e[0], e[-1], n)
    off = float(np.max(np.abs(e - grid)))
    if unit > ROUNDED_UNIT_SHARE * step or off > unit * (1.0 + 1e-9):
        return energy, ""
    restored = np.empty_like(energy)
    restored[np.argsort(energy, kind="stable")] = grid
    return restored, (f"energies read as the uniform grid of step {step:.6g} eV they were rounded from "
                      f"(printed to {d} decimals, at most {off:.2g} eV off)")


def data_digest(energy: np.ndarray, intensity: np.ndarray) -> str:
    """SHA-256 (hex) of a spectrum's values as read: what makes two runs' data the same data."""
    h = hashlib.sha256()
    for a in (energy, intensity):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()


def read_table(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """A text table's energies (a rounded uniform grid restored: :func:`rounded_uniform_grid`),
    intensities, file lines and the note on how the energies were read."""
    e, y, linenos = read_columns(path)
    e, note = rounded_uniform_grid(e)
    return e, y, linenos, note


def load_spectrum(path: str | Path, window: tuple[float, float] | None = None,
                  normalize: str | None = None) -> Spectrum:
    """Read (:func:`read_table`), validate, sort, window and normalise a two-column spectrum file."""
    e, y, linenos, note = read_table(path)
    spectrum = prepare(e, y, str(path), window, normalize, linenos)
    spectrum.note = note
    return spectrum


def write_spectrum(path: str | Path, energy: np.ndarray, intensity: np.ndarray) -> None:
    """A CSV with header ``energy,intensity`` and full float precision (round-trips exactly)."""
    from remc_mpi.io.safeio import write_text_atomic

    rows = "".join(f"{float(x)!r},{float(y)!r}\n" for x, y in zip(energy, intensity))
    write_text_atomic(path, "energy,intensity\n" + rows)
