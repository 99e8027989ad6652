"""Scienta SES text exports (``[Info]``, ``[Region N]``, ``[Info N]``, ``[Data N]`` sections).

``[Info N]`` holds ``Excitation Energy``, ``Energy Scale`` (Binding or Kinetic), ``Step Time``
(ms), ``Number of Sweeps``; ``[Data N]`` rows of energy and intensity (counts summed over the
sweeps and the detector, not integers in ADC mode).
"""

from __future__ import annotations

import re

import numpy as np

from remc_mpi.instruments.region import Region

_SECTION = re.compile(r"^\[(\w[\w ]*?)(?: (\d+))?\]$")


def looks_like_scienta_txt(head: bytes) -> bool:
    return head.lstrip().startswith(b"[Info]") and b"Number of Regions" in head[:200]


def read_scienta_txt(text: str) -> list[Region]:
    info: dict[int, dict[str, str]] = {}
    data: dict[int, list[tuple[float, float]]] = {}
    section, number = None, 0
    for raw in text.splitlines():
        line = raw.strip()
        m = _SECTION.match(line)
        if m:
            section, number = m.group(1), int(m.group(2) or 0)
            continue
        if not line:
            continue
        if section in ("Region", "Info") and "=" in line:
            key, _, value = line.partition("=")
            info.setdefault(number, {})[key.strip().lower()] = value.strip()
        elif section == "Data":
            cells = line.split()
            data.setdefault(number, []).append((float(cells[0]), float(cells[1])))
    return [_region(k, n, info.get(n, {}), data[n]) for k, n in enumerate(sorted(data))]


def _region(index: int, number: int, meta: dict[str, str], rows) -> Region:
    arr = np.array(rows, dtype=np.float64)
    axis = "kinetic" if meta.get("energy scale", "binding").lower().startswith("kin") else "binding"
    number_of = lambda key: float(meta[key]) if key in meta else None  # noqa: E731
    step_ms = number_of("step time")
    sweeps = number_of("number of sweeps")
    return Region(index, meta.get("region name", f"region {number}"), axis, arr[:, 0], arr[:, 1], "counts",
                  number_of("excitation energy"), None, None if step_ms is None else step_ms / 1000.0,
                  None if sweeps is None else int(sweeps), meta.get("spectrum name", ""))
