"""Running a benchmark on two MPI ranks from a plain ``python benchmarks/X.py`` call."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

#: set in the relaunched processes, so that they do not relaunch again
CHILD_VARIABLE = "REMC_BENCH_CHILD"


def relaunch_on_two_ranks(script: str, **env: str) -> None:
    """Replace this process by ``script`` (with this process's arguments) under the venv's
    ``mpiexec -n 2`` (``python -m mpi4py``, the extra ``env`` set), unless it runs under MPI on
    more than one rank already or is such a relaunched process: then return."""
    from mpi4py import MPI

    if MPI.COMM_WORLD.Get_size() > 1 or CHILD_VARIABLE in os.environ:
        return
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"
    os.execvpe(mpiexec, [mpiexec, "-n", "2", sys.executable, "-m", "mpi4py", script, *sys.argv[1:]],
               dict(os.environ, **{CHILD_VARIABLE: "1"}, **env))
