"""Instrument files: the formats XPS instruments and CasaXPS write, read by content.

Each format is an entry of :data:`FORMATS` (a detector of the file's first bytes and a reader
returning :class:`~remc_mpi.instruments.region.Region` records); :func:`read_regions` finds the
format by content, never by the file's extension. :func:`pick` chooses a region,
:func:`binding_energy` and :func:`counts_of` turn it into the spectrum to fit (the config's data
section adds the charge reference), by three documented rules (docs/config.md, "Instrument
files"):

binding energy
    A kinetic axis becomes a binding-energy axis as BE = h nu - KE: the recorded kinetic energy
    is referred to the spectrometer's Fermi level, i.e. the acquisition software has already
    applied the analyser work function, and the block's work-function field is a record of the
    value it used. This is what CasaXPS computes (its text export's B.E. column is h nu - K.E.)
    and what puts every shared file's lines at their handbook energies (SpecsLab Prodigy,
    Kratos, CasaXPS series; tests/test_instruments.py). ``data.work_function: as_recorded``
    subtracts the recorded field as well (for software that records vacuum-referenced kinetic
    energies), a number subtracts that value, ``ignore`` is the default rule.
charge reference
    ``data.charge_reference: {line: "C 1s", at: 284.8}`` shifts the axis so that the named
    block's main peak lands at ``at``; ``{shift: eV}`` adds a plain shift.
intensity
    Counts are taken as recorded; counts per second are multiplied by dwell time x scans.

May import: numpy, remc_mpi.errors. Nothing here knows the models or the sampler.

Imports nothing from: models, kernels, moves, sampling, evidence, io, driver, ui (enforced by tests/test_structure.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from remc_mpi.errors import InputError, error_text
from remc_mpi.instruments.casa_txt import looks_like_casa_txt, read_casa_txt
from remc_mpi.instruments.phi_spe import looks_like_phi_spe, read_phi_spe
from remc_mpi.instruments.region import Region
from remc_mpi.instruments.scienta_txt import looks_like_scienta_txt, read_scienta_txt
from remc_mpi.instruments.specs_xy import looks_like_specs_xy, read_specs_xy
from remc_mpi.instruments.vamas import VamasRegion, looks_like_vamas, read_vamas

#: at least this many finite points make a spectrum (as for text files, remc_mpi.io.data)
MIN_REGION_POINTS = 10
#: bytes read to recognise a format
HEAD_BYTES = 4096
#: labels that name a survey (wide scan), which is fitted only when chosen by name or index
SURVEY_LABELS = ("survey", "wide", "su1s")
WORK_FUNCTION_RULES = ("ignore", "as_recorded")


@dataclass(frozen=True)
class Format:
    """One instrument format: how to recognise it and how to read it into regions."""

    name: str
    description: str
    detect: Callable[[bytes], bool]
    read: Callable[[Path], list[Region]]


def _vamas_regions(path: Path) -> list[Region]:
    return [_from_vamas(b) for b in read_vamas(path)]


def _from_vamas(b: VamasRegion) -> Region:
    label = b.abscissa_label.lower()
    axis = "kinetic" if "kinetic" in label else "binding" if "energy" in label else b.abscissa_label
    return Region(b.index, b.label, axis, b.abscissa, b.ordinate, b.ordinate_unit, b.source_energy, b.work_function,
                  b.collection_time, b.scans, b.identifier)


def _text(read: Callable[[str], list[Region]]) -> Callable[[Path], list[Region]]:
    return lambda path: read(path.read_bytes().decode("utf-8-sig", errors="replace"))


#: every format read, in the order they are tried
FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("vamas", "VAMAS (ISO 14976)", looks_like_vamas, _vamas_regions),
    Format("specs_xy", "SpecsLab Prodigy .xy", looks_like_specs_xy, _text(read_specs_xy)),
    Format("casa_txt", "CasaXPS text export", looks_like_casa_txt, _text(read_casa_txt)),
    Format("scienta_txt", "Scienta SES text", looks_like_scienta_txt, _text(read_scienta_txt)),
    Format("phi_spe", "PHI MultiPak .spe", looks_like_phi_spe, lambda p: read_phi_spe(p.read_bytes())),
)}


#: extensions that only instrument files carry: such a file is read as its format even when its
#: content is not recognised (so that the error names what is wrong with it, not a text table's)
OWN_SUFFIXES = {".vms": "vamas", ".npl": "vamas", ".spe": "phi_spe"}


def detect_format(path: str | Path) -> Format | None:
    """The instrument format of a file by its first bytes (or by an extension of
    :data:`OWN_SUFFIXES`), or None (a plain text table)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return None
    found = next((f for f in FORMATS.values() if f.detect(head)), None)
    own = OWN_SUFFIXES.get(Path(path).suffix.lower())
    return found or (FORMATS[own] if own else None)


def read_regions(path: str | Path, fmt: Format | None = None) -> tuple[Format, list[Region]]:
    """The format and every region of an instrument file; a damaged file is one InputError."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt is None:
        raise InputError("is not an instrument file this program reads", str(path))
    try:
        regions = fmt.read(path)
    except OSError as err:
        raise InputError(f"cannot read ({err.__class__.__name__})", str(path)) from None
    except (ValueError, IndexError, KeyError, TypeError) as err:
        raise InputError(f"not a readable {fmt.description} file ({error_text(err, 160)})", str(path)) from None
    if not regions:
        raise InputError(f"the {fmt.description} file holds no spectrum", str(path))
    return fmt, regions


def _norm(label: str) -> str:
    return "".join(label.lower().split())


def region_table(regions: list[Region]) -> str:
    """``0: 'Cu 2p', 1: 'Cu LMM', ...`` for error messages (bounded in length)."""
    text = "; ".join(f"{r.index}: {r.label!r}" for r in regions[:20])
    return text + (f"; ... ({len(regions)} in all)" if len(regions) > 20 else "")


def pick(regions: list[Region], which: Any, source: str) -> Region:
    """The region ``which`` names: None (the only one), its index, its label (case and spaces
    ignored; the identifier too), or ``{label: ..., occurrence: k}`` (the k-th, from 1)."""
    if which is None:
        if len(regions) != 1:
            raise InputError(f"the file has {len(regions)} blocks; choose one with data.block ({region_table(regions)})",
                             source, "data.block")
        return regions[0]
    if isinstance(which, int) and not isinstance(which, bool):
        if not 0 <= which < len(regions):
            raise InputError(f"block {which} does not exist ({region_table(regions)})", source, "data.block")
        return regions[which]
    occurrence = None
    if isinstance(which, dict):
        label, occurrence = which.get("label"), which.get("occurrence", 1)
        if set(which) - {"label", "occurrence"} or not isinstance(label, str) or not isinstance(occurrence, int) \
                or isinstance(occurrence, bool) or occurrence < 1:
            raise InputError("must be {label: NAME, occurrence: K} with K = 1, 2, ...", source, "data.block")
    elif isinstance(which, str):
        label = which
    else:
        raise InputError(f"must be a block's index, its label or {{label, occurrence}}, got {which!r}", source,
                         "data.block")
    hits = [r for r in regions if _norm(r.label) == _norm(label) or (r.identifier and r.identifier == label)]
    if not hits:
        raise InputError(f"no block named {label!r} ({region_table(regions)})", source, "data.block")
    if occurrence is None:
        if len(hits) > 1:
            idx = ", ".join(str(r.index) for r in hits)
            raise InputError(f"{len(hits)} blocks are named {label!r} (blocks {idx}); choose one by index or with "
                             f"{{label: {label!r}, occurrence: K}}", source, "data.block")
        return hits[0]
    if occurrence > len(hits):
        raise InputError(f"block {label!r} occurs {len(hits)} times, not {occurrence}", source, "data.block")
    return hits[occurrence - 1]


def binding_energy(region: Region, work_function: Any, source: str) -> tuple[np.ndarray, str]:
    """The region's binding-energy axis by the rule of the module docstring, and the rule in words."""
    x = np.asarray(region.abscissa, dtype=np.float64)
    if region.axis == "binding":
        return x, "binding energy as recorded"
    if region.axis != "kinetic":
        raise InputError(f"block {region.label!r} is not an energy spectrum (abscissa {region.axis!r})", source,
                         "data.block")
    hv = region.source_energy
    if hv is None or not math.isfinite(hv):
        raise InputError(f"block {region.label!r} is on a kinetic axis but gives no source energy", source,
                         "data.block")
    if work_function in (None, "ignore"):
        recorded = "not given" if region.work_function is None else f"{region.work_function:g} eV"
        return hv - x, (f"binding energy = {hv:g} eV (source) - kinetic (Fermi-referenced; "
                        f"the recorded work function, {recorded}, already applied)")
    if work_function == "as_recorded":
        phi = region.work_function
        if phi is None:
            raise InputError(f"block {region.label!r} records no work function (as_recorded needs one)", source,
                             "data.work_function")
        return hv - x - phi, f"binding energy = {hv:g} eV (source) - kinetic - {phi:g} eV (recorded work function)"
    phi = float(work_function)
    return hv - x - phi, f"binding energy = {hv:g} eV (source) - kinetic - {phi:g} eV (data.work_function)"


def counts_of(region: Region, source: str) -> tuple[np.ndarray, str]:
    """The ordinate as counts where the file records a rate, and what was done in words."""
    y = np.asarray(region.intensity, dtype=np.float64)
    if region.per_second:
        if region.dwell is None or region.dwell <= 0:
            raise InputError(f"block {region.label!r} is in counts per second but gives no dwell time", source,
                             "data.block")
        scans = region.scans or 1
        return y * region.dwell * scans, f"counts per second x {region.dwell:g} s x {scans} scans"
    return y, f"intensity as recorded ({region.unit or 'unit not stated'})"


def peak_position(energy: np.ndarray, intensity: np.ndarray) -> float:
    """The main peak's binding energy: the maximum of a 5-point running mean, refined by the
    parabola through it and its neighbours (no background is subtracted: a sloping Shirley step
    would pull the maximum off the line)."""
    order = np.argsort(energy)
    e, y = energy[order], intensity[order]
    smooth = np.convolve(y, np.ones(5) / 5, mode="same")
    i = int(np.clip(np.argmax(smooth[2:-2]) + 2, 1, e.size - 2))
    y0, y1, y2 = smooth[i - 1:i + 2]
    denom = y0 - 2 * y1 + y2
    frac = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    return float(e[i] + np.clip(frac, -1, 1) * (e[i + 1] - e[i - 1]) / 2)


def is_survey(region: Region) -> bool:
    return any(s in region.label.lower() for s in SURVEY_LABELS)


def check_region(region: Region, source: str) -> None:
    """At least MIN_REGION_POINTS points, every value finite."""
    if region.n < MIN_REGION_POINTS:
        raise InputError(f"block {region.label!r} has {region.n} points, at least {MIN_REGION_POINTS} are needed",
                         source, "data.block")
    for what, arr in (("energy axis", region.abscissa), ("intensities", region.intensity)):
        if not np.all(np.isfinite(arr)):
            raise InputError(f"block {region.label!r}: its {what} hold NaN or infinite values", source, "data.block")


def describe(regions: list[Region], work_function: Any = None) -> list[str]:
    """One line per region for ``remc-mpi blocks``: what a user needs to write ``data.block``."""
    out = [f"{'index':>5}  {'label':<16} {'binding energy (eV)':>21} {'points':>6}  {'unit':<8} {'scans':>5} "
           f"{'dwell (s)':>9}"]
    for r in regions:
        try:
            be, _ = binding_energy(r, work_function, "")
            span = f"{be.min():9.2f} - {be.max():9.2f}"
        except InputError:
            span = f"{'(kinetic, no source)' if r.axis == 'kinetic' else '(not energy)':>21}"
        unit = "counts" if r.counts else (r.unit or "-")
        dwell = f"{r.dwell:.4g}" if r.dwell else "-"
        out.append(f"{r.index:>5}  {r.label[:16]:<16} {span:>21} {r.n:>6}  {unit[:8]:<8} "
                   f"{r.scans if r.scans else '-':>5} {dwell:>9}")
    return out
