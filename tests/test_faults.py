"""Faults under MPI: an exception on one rank ends the whole job quickly, with exit status 1."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from test_restart import CONFIG

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent))

FAULTY = """
import sys
from mpi4py import MPI
from remc_mpi.sampler import SlotBlock
from remc_mpi.cli import main

orig = SlotBlock.sweep
count = [0]

def sweep(self, adapt=False):
    count[0] += 1
    if MPI.COMM_WORLD.Get_rank() == 1 and count[0] == 50:
        raise FloatingPointError("injected fault on rank 1")
    return orig(self, adapt)

SlotBlock.sweep = sweep
sys.exit(main(["run", "c.yaml", "-q"]))
"""


@pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec next to this Python")
def test_exception_on_one_rank_aborts_all_within_seconds(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, output="out.h5",
                                                         sampler={"sweeps": 100000, "burn_in": 100})))
    (tmp_path / "faulty.py").write_text(FAULTY)
    t0 = time.monotonic()
    r = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "faulty.py"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    elapsed = time.monotonic() - t0
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert elapsed < 10
    assert r.stderr.count("injected fault on rank 1") >= 1
    assert "failed on rank 1" in r.stderr
    assert not (tmp_path / "out.h5").exists()
