"""A disk that fills during a run: every rank stops with the same one-line OutputError, the last
checkpoint is untouched, and --resume after space is freed ends bit-identical to a run that
never met the fault. The output folder is a real tmpfs filled by a ballast file at the chosen
moment (sampling, a checkpoint, the assembly of the results file), in gathered and (with
parallel h5py, the mpio CI stage) mpio mode. Root only: skipped elsewhere with the reason.
"""

import h5py
import numpy as np
import pytest

from disk import fill, free, mount_tmpfs, unmount
from mpi_helpers import arrays
from remc_mpi.io import checkpoint
from remc_mpi.config import parse_config
from remc_mpi.driver.engine import run
from remc_mpi.errors import OutputError
from remc_mpi.io.output import ResultWriter, part_path
from remc_mpi.sampling.sampler import SlotBlock
from test_invariance import CLUSTER

MODES = ["gather", pytest.param("mpio", marks=pytest.mark.skipif(not h5py.get_config().mpi,
                                                                  reason="h5py without MPI"))]
RAW = dict(CLUSTER, sampler={"sweeps": 1200, "burn_in": 200, "thin": 2, "exchange_interval": 1},
           checkpoint={"every_sweeps": 300})


@pytest.fixture
def disk(comm, shared_dir):
    """A tmpfs shared by the ranks (mounted by rank 0), unmounted afterwards."""
    folder = shared_dir / "disk"
    why = mount_tmpfs(folder) if comm.Get_rank() == 0 else None
    why = comm.bcast(why, root=0)
    if why:
        pytest.skip(why)
    yield folder
    comm.Barrier()
    if comm.Get_rank() == 0:
        unmount(folder)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Per mode, the uninterrupted run's samples (made once, on a normal disk)."""
    from mpi4py import MPI

    comm, made = MPI.COMM_WORLD, {}

    def get(mode):
        if mode not in made:
            folder = tmp_path_factory.mktemp("ref") if comm.Get_rank() == 0 else None
            out = comm.bcast(str(folder / "ref.h5") if folder else None, root=0)
            run(parse_config(dict(RAW, output=out), "ref.yaml"), comm, hdf5=mode)
            made[mode] = arrays(out) if comm.Get_rank() == 0 else None
        return made[mode]

    return get


def fill_at_sweep(monkeypatch, comm, folder, n):
    """Rank 0 fills the disk after its n-th sweep (the next sample write meets it)."""
    orig, count = SlotBlock.sweep, [0]

    def sweep(self, adapt=False):
        count[0] += 1
        if count[0] == n and comm.Get_rank() == 0:
            fill(folder)
        return orig(self, adapt)

    monkeypatch.setattr(SlotBlock, "sweep", sweep)


def fill_before(monkeypatch, comm, folder, owner, name, calls=1):
    """Rank 0 fills the disk just before its ``calls``-th call of ``owner.name``."""
    orig, count = getattr(owner, name), [0]

    def wrapped(*args, **kwargs):
        count[0] += 1
        if count[0] == calls and comm.Get_rank() == 0:
            fill(folder)
        return orig(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapped)


FAULTS = {
    # where the disk fills: (how, the sweep of the last intact checkpoint)
    "sampling": (lambda mp, comm, d: fill_at_sweep(mp, comm, d, 650), 600),
    "checkpoint": (lambda mp, comm, d: fill_before(mp, comm, d, checkpoint, "write", calls=2), 300),
    "assembly": (lambda mp, comm, d: fill_before(mp, comm, d, ResultWriter, "assemble"), 900),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", sorted(FAULTS))
def test_full_disk_stops_cleanly_and_resume_is_bit_identical(comm, disk, reference, monkeypatch, mode, where):
    ref = reference(mode)
    out = disk / "out.h5"
    cfg = parse_config(dict(RAW, output=str(out)), "d.yaml")
    inject, intact_sweep = FAULTS[where]
    with monkeypatch.context() as mp:
        inject(mp, comm, disk)
        with pytest.raises(OutputError) as info:
            run(cfg, comm, hdf5=mode)
    err = info.value
    assert err.errno == 28 and err.collective
    assert "No space left on device" in str(err) and "--resume" in str(err)
    assert f"checkpoint of sweep {intact_sweep} is intact" in str(err)
    if comm.Get_rank() == 0:
        assert not out.exists() and not part_path(out).exists()
        assert not checkpoint.paths(out)[2].exists()  # no half-written checkpoint left
        assert checkpoint.read(out)[1]["sweep"] == intact_sweep
        assert "\n" not in str(err)
        free(disk)
    comm.Barrier()
    run(cfg, comm, hdf5=mode, resume=True)
    if comm.Get_rank() == 0:
        got = arrays(out)
        assert got.keys() == ref.keys()
        for k in ref:
            np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
