"""The one record every instrument reader returns: a region (block) of a file as recorded.

A reader fills what its format holds and leaves the rest None; :mod:`remc_mpi.instruments`
turns a region into a spectrum on the binding-energy axis (its rules: docs/config.md, "data").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: ordinate units read as counts per second (converted to counts with dwell x scans)
PER_SECOND_UNITS = ("c/s", "cps", "counts/s", "counts per second", "counts/second")
#: ordinate units read as counts
COUNT_UNITS = ("d", "counts", "count", "cnts", "pulse counting")


@dataclass
class Region:
    """One spectrum of an instrument file, as its file records it."""

    index: int  # position in the file, from 0
    label: str  # e.g. "Ce 3d", "Survey"
    axis: str  # "binding" or "kinetic": what ``abscissa`` holds
    abscissa: np.ndarray  # eV, in file order
    intensity: np.ndarray  # as recorded, in file order
    unit: str  # the ordinate unit as recorded ("counts", "c/s", ...; "" when not stated)
    source_energy: float | None = None  # eV, the excitation energy
    work_function: float | None = None  # eV, the analyser work function field (None: not given)
    dwell: float | None = None  # s per point and scan
    scans: int | None = None
    identifier: str = ""  # the file's own name for the region (VAMAS block identifier, ...)

    @property
    def n(self) -> int:
        return int(self.abscissa.size)

    @property
    def per_second(self) -> bool:
        return self.unit.strip().lower() in PER_SECOND_UNITS

    @property
    def counts(self) -> bool:
        return self.unit.strip().lower() in COUNT_UNITS
