"""The HDF5 results file (layout in docs/format.md), written while the run goes.

Samples stream to disk in chunks as the run produces them (resizable chunked datasets), so
memory stays bounded however long the run is. The file is first written as ``OUT.h5.part``
and renamed over ``OUT.h5`` only when complete, so a crash never leaves a file that looks
finished and never destroys an earlier result.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

FORMAT = "remc_mpi/1"


def part_path(path: str | os.PathLike) -> Path:
    return Path(str(path) + ".part")


class ResultWriter:
    """Rank-0 writer of one candidate's results (gathered mode)."""

    def __init__(self, path: str | os.PathLike, n_slots: int, n_params: int):
        self.final = Path(path)
        self.path = part_path(path)
        self.h5 = h5py.File(self.path, "w")
        self.h5.attrs["format"] = FORMAT
        self.h5.attrs["complete"] = False
        s = self.h5.create_group("samples")
        chunk = max(1, min(1024, 2**20 // (8 * max(1, n_slots * n_params))))
        s.create_dataset("energy", (0, n_slots), maxshape=(None, n_slots), chunks=(1024, n_slots), dtype="f8")
        s.create_dataset("replica", (0, n_slots), maxshape=(None, n_slots), chunks=(1024, n_slots), dtype="i4")
        s.create_dataset("theta", (0, n_slots, n_params), maxshape=(None, n_slots, n_params),
                         chunks=(chunk, n_slots, n_params), dtype="f8")
        s.create_dataset("sweep", (0,), maxshape=(None,), chunks=(1024,), dtype="i8")
        s.create_dataset("theta_sweep", (0,), maxshape=(None,), chunks=(1024,), dtype="i8")

    def _append(self, name: str, arr: np.ndarray) -> None:
        ds = self.h5["samples"][name]
        n = ds.shape[0]
        ds.resize(n + arr.shape[0], axis=0)
        ds[n:] = arr

    def append(self, sweeps: np.ndarray, energy: np.ndarray, replica: np.ndarray,
               theta_sweeps: np.ndarray, theta: np.ndarray) -> None:
        """Add a chunk of saved sweeps: energies (n, L), replica ids (n, L), thinned theta (m, L, P)."""
        if len(sweeps):
            self._append("sweep", sweeps)
            self._append("energy", energy)
            self._append("replica", replica)
        if len(theta_sweeps):
            self._append("theta_sweep", theta_sweeps)
            self._append("theta", theta)
        self.h5.flush()

    def write_static(self, groups: dict[str, dict[str, Any]], attrs: dict[str, Any]) -> None:
        """Datasets ``groups[g][name]`` (arrays or strings) and root attributes."""
        for gname, items in groups.items():
            g = self.h5.require_group(gname)
            for name, value in items.items():
                if name in g:
                    del g[name]
                if isinstance(value, str):
                    g.create_dataset(name, data=value, dtype=h5py.string_dtype())
                elif isinstance(value, dict):
                    sub = g.require_group(name)
                    for k, v in value.items():
                        sub.attrs[k] = v
                else:
                    g.create_dataset(name, data=np.asarray(value))
        for k, v in attrs.items():
            self.h5.attrs[k] = v

    def finish(self, summary: dict[str, Any]) -> Path:
        """Store the JSON summary, mark complete, close and move into place atomically."""
        self.write_static({"results": {"summary_json": json.dumps(summary)}}, {"complete": True})
        self.h5.close()
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.path, self.final)
        return self.final

    def abort(self) -> None:
        try:
            self.h5.close()
        except Exception:  # noqa: BLE001 - closing a broken file on the way out
            pass


def read_summary(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON summary of a finished results file."""
    with h5py.File(path, "r") as h5:
        if not h5.attrs.get("complete", False):
            raise ValueError("run is not complete")
        return json.loads(h5["results"]["summary_json"][()].decode() if isinstance(
            h5["results"]["summary_json"][()], bytes) else h5["results"]["summary_json"][()])
