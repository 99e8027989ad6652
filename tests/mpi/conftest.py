import sys
import tempfile
from pathlib import Path

import pytest
from mpi4py import MPI

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture
def comm():
    return MPI.COMM_WORLD


@pytest.fixture
def shared_dir(comm):
    """A temporary folder shared by all ranks (made by rank 0)."""
    path = tempfile.mkdtemp(prefix="remc_mpi_") if comm.Get_rank() == 0 else None
    return Path(comm.bcast(path, root=0))
