"""SpecsLab Prodigy ``.xy`` exports: ``#``-comment metadata, then blocks of two columns.

Each region starts at a ``# Region:`` line and holds ``# Excitation Energy``, ``# Dwell Time``,
``# Eff. Workfunction``; the export settings at the top say the energy axis (``Energy Axis:
Binding Energy`` or ``Kinetic Energy``) and the count rate (``Count Rate: Counts per Second`` or
``Counts``). With ``Separate Scan Data: yes`` a region holds one block per scan (``# Cycle: c,
Curve: 0, Scan: s``); the region's spectrum is their mean (per second) or sum (counts).
"""

from __future__ import annotations

import numpy as np

from remc_mpi.instruments.region import Region


def looks_like_specs_xy(head: bytes) -> bool:
    return head.lstrip().startswith(b"# Created by:") and b"SpecsLab" in head[:400]


def _meta(line: str) -> tuple[str, str]:
    key, _, value = line.lstrip("#").partition(":")
    return key.strip().lower(), value.strip()


def read_specs_xy(text: str) -> list[Region]:
    settings: dict[str, str] = {}
    regions: list[dict] = []
    cur = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            key, value = _meta(line)
            if key == "region":
                cur = {"label": value, "meta": {}, "scans": [], "rows": None}
                regions.append(cur)
            elif cur is None:
                settings[key] = value
            elif key == "cycle" and "scan" in line.lower():
                cur["rows"] = []
                cur["scans"].append(cur["rows"])
            else:
                cur["meta"].setdefault(key, value)
            continue
        if cur is None or cur["rows"] is None:
            raise ValueError(f"a data row before any region or scan: {line[:40]!r}")
        cells = line.split()
        cur["rows"].append((float(cells[0]), float(cells[1])))
    per_second = "second" in settings.get("count rate", "").lower()
    axis = "kinetic" if "kinetic" in settings.get("energy axis", "binding").lower() else "binding"
    return [_region(k, r, axis, per_second) for k, r in enumerate(regions)]


def _region(index: int, r: dict, axis: str, per_second: bool) -> Region:
    scans = [np.array(s, dtype=np.float64) for s in r["scans"] if s]
    if not scans:
        raise ValueError(f"region {r['label']!r} holds no data")
    if any(s.shape != scans[0].shape or not np.array_equal(s[:, 0], scans[0][:, 0]) for s in scans):
        raise ValueError(f"region {r['label']!r}: its scans lie on different energy axes")
    y = np.stack([s[:, 1] for s in scans])
    meta = r["meta"]
    number = lambda key: float(meta[key]) if key in meta else None  # noqa: E731
    return Region(index, r["label"], axis, scans[0][:, 0], y.mean(axis=0) if per_second else y.sum(axis=0),
                  "c/s" if per_second else "counts", number("excitation energy"), number("eff. workfunction"),
                  number("dwell time"), len(scans), r["label"])
