"""CasaXPS's text export of VAMAS blocks ("Export → ASCII"): one section per block.

A section starts with ``Cycle N:SAMPLE:REGION``, then ``Characteristic Energy eV <hv>
Acquisition Time s <t>``, a few fit-table lines, the column header ``K.E. Counts B.E. CPS`` and
rows of those four tab-separated columns (an empty column between Counts and B.E.). CasaXPS
computes the B.E. column as hv - K.E.; the reader takes the Counts column and the B.E. axis.
"""

from __future__ import annotations

import re

import numpy as np

from remc_mpi.instruments.region import Region

_SECTION = re.compile(r"^Cycle \d+:")


def looks_like_casa_txt(head: bytes) -> bool:
    first = head.lstrip().split(b"\n", 1)[0]
    return first.startswith(b"Cycle ") and b":" in first and b"Characteristic Energy" in head[:600]


def read_casa_txt(text: str) -> list[Region]:
    sections: list[dict] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r\n")
        if _SECTION.match(line):
            region = (line.split(":", 2) + ["", ""])[2]  # Cycle N:SAMPLE:REGION
            sections.append({"label": region.strip(), "head": line.strip(), "rows": [], "hv": None, "t": None,
                             "cols": None})
            continue
        if not sections:
            continue
        s = sections[-1]
        cells = [c.strip() for c in line.split("\t")]
        if "Characteristic Energy eV" in line:
            s["hv"], s["t"] = float(cells[cells.index("Characteristic Energy eV") + 1]), \
                float(cells[cells.index("Acquisition Time s") + 1])
        elif cells and cells[0] == "K.E.":
            s["cols"] = cells
        elif s["cols"] is not None and cells and cells[0]:
            s["rows"].append([float(c) if c else np.nan for c in cells])
    return [_region(k, s) for k, s in enumerate(sections)]


def _region(index: int, s: dict) -> Region:
    if s["cols"] is None or not s["rows"]:
        raise ValueError(f"section {s['head']!r} holds no data table")
    cols = s["cols"]
    width = max(len(r) for r in s["rows"])
    table = np.array([r + [np.nan] * (width - len(r)) for r in s["rows"]], dtype=np.float64)
    ke, counts, be = table[:, cols.index("K.E.")], table[:, cols.index("Counts")], table[:, cols.index("B.E.")]
    hv = s["hv"]
    if hv is not None and np.allclose(be, hv - ke, atol=1e-6 * max(1.0, hv)):
        axis, x = "kinetic", ke  # the axis as recorded; the B.E. column is hv - K.E.
    else:
        axis, x = "binding", be
    return Region(index, s["label"], axis, x, counts, "counts", hv, None, s["t"], None, s["head"])
