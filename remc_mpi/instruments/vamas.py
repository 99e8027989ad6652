"""VAMAS files (ISO 14976, ``.vms``, also under PHI's ``.npl``): the format CasaXPS and most XPS
instruments write. Read here field by field and written by :func:`write_vamas`.

Layout (ISO 14976:1998, section 6; the field names below are the standard's). A header::

    format identifier, institution, instrument model, operator, experiment identifier
    n comment lines, the comment lines
    experiment mode (MAP | MAPDP | MAPSV | MAPSVDP | NORM | SDP | SDPSV | SEM | NOTHING)
    scan mode (REGULAR | IRREGULAR | MAPPING)
    [MAP, MAPDP, NORM, SDP: number of spectral regions]
    [MAP, MAPDP: analysis positions, discrete x coordinates, discrete y coordinates]
    number of experimental variables, then label and unit of each
    n entries of the parameter inclusion/exclusion list, then the entries
    n manually entered items, then the items
    n future experiment entries, n future block entries, then the experiment entries
    number of blocks

and per block: identifier, sample, date and time (6 lines), hours ahead of GMT, block comment,
technique, [map coordinates], the experimental variables, source label, [sputter ion for
depth-profile modes and ion techniques], source energy, source strength, beam widths (2),
[field of view (2) for maps, line-scan coordinates (6) for MAPSV, MAPSVDP, SEM], source polar and
azimuth angles, analyser mode, pass energy, [differential width for AES diff], magnification,
analyser work function, target bias, analysis widths (2), take-off polar and azimuth angles,
species, transition, particle charge, [REGULAR: abscissa label, unit, start, increment],
corresponding variables with label and unit each (IRREGULAR: the abscissa is the first), signal
mode, collection time, scans, time correction, [sputter source (7) for depth-profile modes],
sample tilt (2), rotation, additional parameters (label, unit, value each), the future block
entries, the number of ordinate values, the minimum and maximum of each variable, the values
(interleaved by variable; IRREGULAR: the abscissa first in each tuple).

The inclusion list, when it has entries, says which block parameters are written in blocks after
the first (positive count: those listed; negative: all but those listed); a parameter left out
takes the first block's value.

What vendors write beyond the standard, handled here: leading blank lines (Kratos), CRLF line
ends, NUL-padded labels (PHI MultiPak), ``1e37`` for "not given" (the standard's own marker),
IRREGULAR scans (SpecsLab Prodigy through CasaXPS), several blocks with one label (a series),
a CasaXPS label split over species and transition or all in the species field.

Why not the ``vamas`` package, which this reader replaced: it refuses files with leading blank
lines and IRREGULAR scans (printing a stray line to the terminal) and keeps the NUL of PHI's
labels; a reader of the layout above is short and sees every file the shared test set holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT_LINE = "VAMAS Surface Chemical Analysis Standard Data Transfer Format 1988 May 4"
#: ISO 14976's value for "not given" (any field whose magnitude reaches it)
NOT_GIVEN = 1e37

_REGION_MODES = {"MAP", "MAPDP", "NORM", "SDP"}
_MAP_MODES = {"MAP", "MAPDP"}
_FOV_MODES = {"MAP", "MAPDP", "MAPSV", "MAPSVDP", "SEM"}
_LINESCAN_MODES = {"MAPSV", "MAPSVDP", "SEM"}
_DEPTH_MODES = {"MAPDP", "MAPSVDP", "SDP", "SDPSV"}
_ION_TECHNIQUES = {"FABMS", "FABMS ENERGY SPEC", "ISS", "SIMS", "SIMS ENERGY SPEC", "SNMS", "SNMS ENERGY SPEC"}
_SPUTTER_TECHNIQUES = {"AES DIFF", "AES DIR", "EDX", "ELS", "UPS", "XPS", "XRF"}
#: the inclusion list's numbering of the block parameters (ISO 14976, table 2), in block order
_PARAM_NUMBERS = ("block_identifier", "sample", "date", "gmt", "comment", "technique", "coordinates",
                  "variables", "source_label", "sputter_ion", "source_energy", "source_strength",
                  "beam_width", "field_of_view", "linescan", "source_angles", "analyser_mode", "pass_energy",
                  "differential_width", "magnification", "work_function", "target_bias", "analysis_width",
                  "take_off", "species", "transition", "charge", "abscissa", "variable_labels",
                  "signal_mode", "collection_time", "scans", "time_correction", "sputter_source",
                  "sample_tilt", "rotation", "additional")


class VamasFormatError(ValueError):
    """The file breaks the layout; the message names the line."""


@dataclass
class VamasRegion:
    """One block as read: what a spectrum needs, and the fields a user picks blocks by."""

    index: int
    identifier: str
    sample: str
    species: str
    transition: str
    technique: str
    source_energy: float | None
    work_function: float | None
    abscissa_label: str
    abscissa_unit: str
    abscissa: np.ndarray
    ordinate_label: str
    ordinate_unit: str
    ordinate: np.ndarray
    collection_time: float | None
    scans: int | None
    comment: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``species transition`` (e.g. ``Ce 3d``), whichever way the writer split them."""
        return " ".join(p for p in (self.species, self.transition) if p).strip()


class _Lines:
    """The file's lines, read one at a time with the line number for errors."""

    def __init__(self, text: str):
        self.lines = [ln.replace("\x00", "").strip() for ln in text.splitlines()]
        self.pos = 0
        while self.pos < len(self.lines) and not self.lines[self.pos]:
            self.pos += 1  # leading blank lines (Kratos)

    def text(self) -> str:
        if self.pos >= len(self.lines):
            raise VamasFormatError(f"the file ends early (line {self.pos + 1})")
        self.pos += 1
        return self.lines[self.pos - 1]

    def texts(self, n: int) -> list[str]:
        return [self.text() for _ in range(n)]

    def _parsed(self, what: str, convert, kind: str):
        raw = self.text()
        try:
            return convert(raw)
        except ValueError:
            raise VamasFormatError(f"line {self.pos}: {what} must be {kind}, got {raw[:40]!r}") from None

    def integer(self, what: str) -> int:
        return self._parsed(what, int, "an integer")

    def number(self, what: str) -> float:
        return self._parsed(what, float, "a number")

    def given(self, what: str) -> float | None:
        """A number, None where the file says "not given" (1e37)."""
        v = self.number(what)
        return None if not np.isfinite(v) or abs(v) >= NOT_GIVEN else v

    def numbers(self, n: int, what: str) -> np.ndarray:
        end = self.pos + n
        if end > len(self.lines):
            raise VamasFormatError(f"{what}: the file ends after {len(self.lines) - self.pos} of {n} values")
        try:
            out = np.array(self.lines[self.pos:end], dtype=np.float64)
        except ValueError:
            bad = next(i for i, s in enumerate(self.lines[self.pos:end]) if not _is_number(s))
            raise VamasFormatError(f"line {self.pos + bad + 1}: {what} must be numbers, got "
                                   f"{self.lines[self.pos + bad][:40]!r}") from None
        self.pos = end
        return out


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


@dataclass
class _Header:
    exp_mode: str
    scan_mode: str
    n_exp_vars: int
    included: set[int] | None  # parameter numbers written in later blocks (None: all)
    n_future_block: int
    n_blocks: int


def _header(r: _Lines) -> _Header:
    first = r.text()
    if not first.startswith("VAMAS Surface Chemical Analysis Standard Data Transfer Format"):
        raise VamasFormatError("does not begin with the VAMAS format line")
    r.texts(4)
    r.texts(r.integer("number of comment lines"))
    exp_mode, scan_mode = r.text().upper(), r.text().upper()
    if scan_mode not in ("REGULAR", "IRREGULAR"):
        raise VamasFormatError(f"line {r.pos}: scan mode {scan_mode[:20]!r} is not REGULAR or IRREGULAR")
    if exp_mode in _REGION_MODES:
        r.integer("number of spectral regions")
    if exp_mode in _MAP_MODES:
        r.texts(3)
    n_vars = r.integer("number of experimental variables")
    r.texts(2 * n_vars)
    n_incl = r.integer("number of inclusion list entries")
    entries = [int(float(x)) for x in r.texts(abs(n_incl))]
    included = None
    if n_incl > 0:
        included = set(entries)
    elif n_incl < 0:
        included = set(range(1, len(_PARAM_NUMBERS) + 1)) - set(entries)
    r.texts(r.integer("number of manually entered items"))
    n_future_exp = r.integer("number of future experiment entries")
    n_future_block = r.integer("number of future block entries")
    r.texts(n_future_exp)
    return _Header(exp_mode, scan_mode, n_vars, included, n_future_block, r.integer("number of blocks"))


class _BlockReader:
    """Reads one block's parameters, taking those the inclusion list leaves out from the first."""

    def __init__(self, r: _Lines, h: _Header, first: dict | None):
        self.r, self.h, self.first, self.values = r, h, first, {}

    def read(self, name: str, fn):
        number = _PARAM_NUMBERS.index(name) + 1
        if self.first is not None and self.h.included is not None and number not in self.h.included:
            self.values[name] = self.first[name]
        else:
            self.values[name] = fn()
        return self.values[name]


def _block(r: _Lines, h: _Header, index: int, first: dict | None) -> tuple[VamasRegion, dict]:
    b = _BlockReader(r, h, first)
    _source_part(b)
    _analyser_part(b)
    _signal_part(b)
    v = b.values
    r.texts(h.n_future_block)
    n_values = r.integer("number of ordinate values")
    labels = v["variable_labels"]
    n_vars = len(labels)
    r.texts(2 * n_vars)  # minimum and maximum of each variable
    if n_values % n_vars:
        raise VamasFormatError(f"block {index}: {n_values} values do not divide among {n_vars} variables")
    values = r.numbers(n_values, f"block {index} values").reshape(-1, n_vars)
    if h.scan_mode == "REGULAR":
        ab_label, ab_unit, start, step = v["abscissa"]
        abscissa, (y_label, y_unit), column = start + step * np.arange(values.shape[0]), labels[0], values[:, 0]
    else:
        if n_vars < 2:
            raise VamasFormatError(f"block {index}: an IRREGULAR block needs the abscissa and one variable")
        (ab_label, ab_unit), (y_label, y_unit) = labels[0], labels[1]
        abscissa, column = values[:, 0], values[:, 1]
    scans = v["scans"]
    region = VamasRegion(index, v["block_identifier"], v["sample"], v["species"], v["transition"], v["technique"],
                         v["source_energy"], v["work_function"], ab_label, ab_unit, abscissa, y_label, y_unit,
                         column, v["collection_time"], scans if scans and scans > 0 else None, v["comment"])
    return region, v


def _source_part(b: _BlockReader) -> None:
    """Identifier to the source's beam and angles (ISO 14976 block items 1-16)."""
    r, h = b.r, b.h
    b.read("block_identifier", r.text)
    b.read("sample", r.text)
    b.read("date", lambda: r.texts(6))
    b.read("gmt", r.text)
    b.read("comment", lambda: r.texts(r.integer("number of block comment lines")))
    tech = b.read("technique", r.text).upper()
    if h.exp_mode in _MAP_MODES:
        b.read("coordinates", lambda: r.texts(2))
    b.read("variables", lambda: r.texts(h.n_exp_vars))
    b.read("source_label", r.text)
    if h.exp_mode in _DEPTH_MODES or tech in _ION_TECHNIQUES:
        b.read("sputter_ion", lambda: r.texts(3))
    b.read("source_energy", lambda: r.given("source energy"))
    b.read("source_strength", r.text)
    b.read("beam_width", lambda: r.texts(2))
    if h.exp_mode in _FOV_MODES:
        b.read("field_of_view", lambda: r.texts(2))
    if h.exp_mode in _LINESCAN_MODES:
        b.read("linescan", lambda: r.texts(6))
    b.read("source_angles", lambda: r.texts(2))


def _analyser_part(b: _BlockReader) -> None:
    """Analyser mode to the abscissa (block items 17-28)."""
    r, h = b.r, b.h
    b.read("analyser_mode", r.text)
    b.read("pass_energy", r.text)
    if b.values["technique"].upper() == "AES DIFF":
        b.read("differential_width", r.text)
    b.read("magnification", r.text)
    b.read("work_function", lambda: r.given("analyser work function"))
    b.read("target_bias", r.text)
    b.read("analysis_width", lambda: r.texts(2))
    b.read("take_off", lambda: r.texts(2))
    b.read("species", r.text)
    b.read("transition", r.text)
    b.read("charge", r.text)
    if h.scan_mode == "REGULAR":
        b.read("abscissa", lambda: (r.text(), r.text(), r.number("abscissa start"), r.number("abscissa increment")))


def _signal_part(b: _BlockReader) -> None:
    """The corresponding variables to the additional parameters (block items 29-37)."""
    r, h = b.r, b.h
    b.read("variable_labels", lambda: _variable_labels(r))
    b.read("signal_mode", r.text)
    b.read("collection_time", lambda: r.given("signal collection time"))
    b.read("scans", lambda: r.integer("number of scans"))
    b.read("time_correction", r.text)
    if h.exp_mode in _DEPTH_MODES and b.values["technique"].upper() in _SPUTTER_TECHNIQUES:
        b.read("sputter_source", lambda: r.texts(7))
    b.read("sample_tilt", lambda: r.texts(2))
    b.read("rotation", r.text)
    b.read("additional", lambda: r.texts(3 * r.integer("number of additional parameters")))


def _variable_labels(r: _Lines) -> list[tuple[str, str]]:
    n = r.integer("number of corresponding variables")
    if n < 1:
        raise VamasFormatError(f"line {r.pos}: a block needs at least one corresponding variable")
    return [(r.text(), r.text()) for _ in range(n)]


def read_vamas(path: str | Path) -> list[VamasRegion]:
    """Every block of a VAMAS file; a layout error is a :class:`VamasFormatError` naming the line."""
    raw = Path(path).read_bytes()
    r = _Lines(raw.decode("utf-8", errors="replace") if _is_utf8(raw) else raw.decode("latin-1"))
    h = _header(r)
    regions, first = [], None
    for index in range(h.n_blocks):
        region, values = _block(r, h, index, first)
        first = values if first is None else first
        regions.append(region)
    return regions


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def looks_like_vamas(head: bytes) -> bool:
    """Whether a file's first bytes are a VAMAS file's (after any blank lines): by content, not name."""
    return head.lstrip(b"\r\n\t \xef\xbb\xbf").startswith(b"VAMAS Surface Chemical Analysis Standard")


@dataclass
class VamasBlock:
    """One spectrum to write (the fields a reader needs; the rest are fixed, plausible values).
    ``kinetic_start`` is the kinetic energy referred to the spectrometer's Fermi level, so that
    binding energy = source energy - kinetic energy (the reading rule of remc_mpi.instruments)."""

    species: str  # e.g. "Ce"
    transition: str  # e.g. "3d"
    kinetic_start: float  # eV, the first point's kinetic energy
    step: float  # eV
    counts: np.ndarray
    source_energy: float = 1486.6  # Al K-alpha
    work_function: float = 4.5
    dwell_s: float = 0.1
    scans: int = 1


def write_vamas(path: str | Path, blocks: list[VamasBlock], comment: str = "written by remc_mpi") -> Path:
    """A VAMAS file of XPS blocks on a kinetic-energy axis, counts as recorded; the layout follows
    ISO 14976 field by field (NORM experiment, REGULAR scans, one counts variable per block)."""
    lines = [FORMAT_LINE, "remc_mpi", "synthetic", "remc_mpi", "synthetic spectra", "1", comment,
             "NORM", "REGULAR", str(len(blocks)), "0", "0", "0", "0", "0", str(len(blocks))]
    for b in blocks:
        counts = np.asarray(b.counts, dtype=np.float64)
        lines += [f"{b.species} {b.transition}", "sample", "2026", "1", "1", "0", "0", "0", "0", "0", "XPS",
                  "Al", repr(float(b.source_energy)), "300", "1000", "1000", "54.7", "0", "FAT", "20", "1",
                  repr(float(b.work_function)), "0", "1000", "1000", "0", "0", b.species, b.transition, "-1",
                  "Kinetic Energy", "eV", repr(float(b.kinetic_start)), repr(float(b.step)), "1", "counts", "d",
                  "pulse counting", repr(float(b.dwell_s)), str(b.scans), "0", "0", "0", "0", "0",
                  str(counts.size), repr(float(counts.min())), repr(float(counts.max())),
                  *(repr(float(v)) for v in counts)]
    lines.append("end of experiment")
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path
