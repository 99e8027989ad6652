"""PHI MultiPak ``.spe`` files: an ASCII header between ``SOFH`` and ``EOFH``, then binary data.

The header's ``SpectralRegDef: n n NAME Z points step start stop ... dwell pass AREA`` lines
define each region on a binding-energy axis (start to stop, ``points`` values);
``AnalyserWorkFcn`` the work function; ``XraySource: Al 1486.6 mono`` the excitation.
The binary part (little-endian) begins with four uint32 (group, number of traces, size of the
trace headers, size of this header) and the trace headers (24 uint32 each: the trace number at
0, the number of points at 5, the unit at 14 as four characters, the value type at 18 as
``f4``/``f8``, the data bytes at 19); the traces' values follow in order. Layout as read by
pynxtools-xps's and yadg's readers, checked on the shared PHI VersaProbe file.
"""

from __future__ import annotations

import numpy as np

from remc_mpi.instruments.region import Region

_TRACE_INTS = 24


def looks_like_phi_spe(head: bytes) -> bool:
    return head.startswith(b"SOFH")


def read_phi_spe(raw: bytes) -> list[Region]:
    end = raw.find(b"EOFH")
    if end < 0:
        raise ValueError("no EOFH: the header does not end")
    header = raw[:end].decode("latin-1").splitlines()
    body = raw[end + 4 + (2 if raw[end + 4:end + 6] == b"\r\n" else 1):]  # after the EOFH line's end
    defs = [ln.split(":", 1)[1].split() for ln in header if ln.startswith("SpectralRegDef:")]
    meta = dict(ln.split(":", 1) for ln in header if ":" in ln)
    hv = _first_number(meta.get("XraySource", ""))  # "Al 1486.6 mono"
    wf = _first_number(meta.get("AnalyserWorkFcn", ""))
    head = np.frombuffer(body, "<u4", 4)
    n_traces, trace_bytes = int(head[1]), int(head[2])
    if n_traces != len(defs) or trace_bytes != 4 * _TRACE_INTS * n_traces:
        raise ValueError(f"{n_traces} traces in the data, {len(defs)} defined in the header")
    traces = np.frombuffer(body, "<u4", _TRACE_INTS * n_traces, 16).reshape(n_traces, _TRACE_INTS)
    offset, regions = 16 + trace_bytes, []
    for k, (d, t) in enumerate(zip(defs, traces)):
        n, nbytes = int(t[5]), int(t[19])
        dtype = np.dtype("<" + t[18:19].tobytes().rstrip(b"\x00").decode("ascii"))
        if n != int(d[4]) or nbytes != n * dtype.itemsize or offset + nbytes > len(body):
            raise ValueError(f"trace {k + 1}: its size does not match its definition")
        y = np.frombuffer(body, dtype, n, offset).astype(np.float64)
        offset += nbytes
        unit = t[14:15].tobytes().rstrip(b"\x00").decode("latin-1")
        start, stop = float(d[6]), float(d[7])
        regions.append(Region(k, d[2], "binding", np.linspace(start, stop, n), y, unit, hv, wf, float(d[10]),
                              None, d[2]))
    return regions


def _first_number(text: str) -> float | None:
    for tok in text.split():
        try:
            return float(tok)
        except ValueError:
            continue
    return None

