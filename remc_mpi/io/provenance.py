"""Where and how a run was made, kept in its summary (docs/format.md, ``provenance``)."""

from __future__ import annotations

import platform
import sys
from typing import Any

from remc_mpi.version import __version__

def provenance(comm, cfg, timings: dict) -> dict[str, Any]:
    """Where and how a run was made: versions, MPI library, host, timings."""
    import h5py
    from mpi4py import MPI

    return {
        "package_version": __version__, "seed": cfg.seed, "ranks": comm.Get_size(),
        "mpi_library": MPI.Get_library_version().replace("\x00", "").strip().splitlines()[0],
        "h5py_mpi": bool(h5py.get_config().mpi), "python": sys.version.split()[0],
        "host": platform.node(), **timings,
    }
