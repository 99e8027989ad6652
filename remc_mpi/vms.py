"""VAMAS files (ISO 14976, ``.vms``): the format CasaXPS and most XPS instruments write.

Reading goes through the ``vamas`` package (PyPI, BSD; M. Krinninger): a maintained,
dependency-free parser of the whole ISO 14976 layout (header, per-block parameters, the
inclusion/exclusion rules), which is long and fiddly to get right by hand. This module picks one
block and turns it into a spectrum on a binding-energy axis:

    binding energy = source energy - kinetic energy - analyser work function

(the block's ``analysis_source_characteristic_energy`` and
``analyzer_work_function_or_acceptance_energy``; a block whose abscissa is already a binding
energy is taken as it is). The ordinate is counts: values recorded per second (unit ``c/s``)
are multiplied by the block's collection time and number of scans. docs/config.md, "data".

Writing (:func:`write_vamas`) is a minimal ISO 14976 writer — NORM experiment, REGULAR scans, one
counts variable per block — for the tests and the examples, which make their own spectra.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from remc_mpi.errors import InputError

FORMAT_LINE = "VAMAS Surface Chemical Analysis Standard Data Transfer Format 1988 May 4"


@dataclass
class VamasBlock:
    """One spectrum to write (the fields a reader needs; the rest are fixed, plausible values)."""

    species: str  # e.g. "Ce"
    transition: str  # e.g. "3d"
    kinetic_start: float  # eV, the first point's kinetic energy
    step: float  # eV
    counts: np.ndarray
    source_energy: float = 1486.6  # Al K-alpha
    work_function: float = 4.5
    dwell_s: float = 0.1
    scans: int = 1


def block_label(block) -> str:
    """``species transition`` of a block read by the vamas package (e.g. ``Ce 3d``)."""
    return f"{block.species_label} {block.transition_or_charge_state_label}".strip()


def read_block(path: str | Path, which: str | int | None, source: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(binding energy, counts, a description of the conversion) of block ``which`` of a VAMAS
    file: its index, its ``species transition`` label or its block identifier; None when the file
    has one block. Every problem is an InputError naming the file and ``data.block``."""
    try:
        from vamas import Vamas
    except ImportError:  # pragma: no cover - a dependency of the package
        raise InputError("reading VAMAS files needs the 'vamas' package: pip install vamas", str(path)) from None
    try:
        blocks = Vamas(str(path)).blocks
    except Exception as err:  # noqa: BLE001 - the reader raises many kinds on a bad file
        raise InputError(f"not a readable VAMAS file ({err.__class__.__name__}: {err})", str(path)) from None
    block = _pick(blocks, which, str(path))
    return _spectrum(block, str(path))


def _pick(blocks: list, which: str | int | None, path: str):
    labels = [f"{i}: {block_label(b)} ({b.block_identifier})" for i, b in enumerate(blocks)]
    if which is None:
        if len(blocks) != 1:
            raise InputError(f"the file has {len(blocks)} blocks; choose one with data.block ({'; '.join(labels)})",
                             path, "data.block")
        return blocks[0]
    if isinstance(which, int) and not isinstance(which, bool):
        if not 0 <= which < len(blocks):
            raise InputError(f"block {which} does not exist ({'; '.join(labels)})", path, "data.block")
        return blocks[which]
    hits = [b for b in blocks if block_label(b).lower() == str(which).lower() or b.block_identifier == which]
    if len(hits) != 1:
        why = "no block" if not hits else f"{len(hits)} blocks"
        raise InputError(f"{why} named {which!r} ({'; '.join(labels)})", path, "data.block")
    return hits[0]


def _spectrum(block, path: str) -> tuple[np.ndarray, np.ndarray, str]:
    x_label = block.x_label.lower()
    if not block.corresponding_variables or "energy" not in x_label:
        raise InputError(f"block {block_label(block)!r} is not an energy spectrum (abscissa {block.x_label!r})",
                         path, "data.block")
    var = block.corresponding_variables[0]
    y = np.asarray(var.y_values, dtype=np.float64)
    x = block.x_start + block.x_step * np.arange(y.size)
    how = "binding energy as recorded"
    if "kinetic" in x_label:
        hv, phi = block.analysis_source_characteristic_energy, block.analyzer_work_function_or_acceptance_energy
        x = hv - x - phi
        how = f"binding energy = {hv:g} eV (source) - kinetic - {phi:g} eV (work function)"
    if var.unit.lower() in ("c/s", "cps", "counts/s"):
        y = y * block.signal_collection_time * block.num_scans_to_compile_block
        how += "; counts per second x collection time x scans"
    return x, y, how


def write_vamas(path: str | Path, blocks: list[VamasBlock], comment: str = "written by remc_mpi") -> Path:
    """A VAMAS file of XPS blocks on a kinetic-energy axis, counts as recorded (see module
    docstring); the layout follows ISO 14976 field by field."""
    lines = [FORMAT_LINE, "remc_mpi", "synthetic", "remc_mpi", "synthetic spectra", "1", comment,
             "NORM", "REGULAR", str(len(blocks)), "0", "0", "0", "0", "0", str(len(blocks))]
    for k, b in enumerate(blocks):
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
