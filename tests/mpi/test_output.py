"""Output modes: parallel HDF5 (mpio) and gathered writes give the same datasets and values.

Runs under mpiexec at 2 and 4 ranks; the mpio half needs h5py built with MPI (`make
test-mpio` builds one), elsewhere it checks that asking for mpio is refused as bad input.
"""

import h5py
import numpy as np
import pytest

from remc_mpi.config import parse_config
from remc_mpi.driver.engine import run
from remc_mpi.errors import InputError

from test_invariance import CLUSTER

HAS_MPIO = bool(h5py.get_config().mpi)


def _all_datasets(path):
    out = {}
    with h5py.File(path) as h5:
        h5.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        out["@attrs"] = {k: v for k, v in h5.attrs.items()}
    return out


def test_gather_and_mpio_write_the_same_file(comm, shared_dir):
    raw = dict(CLUSTER, sampler={"sweeps": 500, "burn_in": 100, "thin": 3})
    cfg_g = parse_config(dict(raw, output=str(shared_dir / "gather.h5")), "o.yaml")
    run(cfg_g, comm, hdf5="gather")
    if not HAS_MPIO:
        with pytest.raises(InputError, match="mpio needs h5py built with MPI"):
            run(parse_config(dict(raw, output=str(shared_dir / "mpio.h5")), "o.yaml"), comm, hdf5="mpio")
        return
    s = run(parse_config(dict(raw, output=str(shared_dir / "mpio.h5")), "o.yaml"), comm, hdf5="mpio")[0]
    assert s["provenance"]["hdf5_mode"] == "mpio"
    if comm.Get_rank() == 0:
        a, b = _all_datasets(shared_dir / "gather.h5"), _all_datasets(shared_dir / "mpio.h5")
        skip = {"results/summary_json", "config/yaml"}  # provenance (mode, timings); the output path
        assert set(a) == set(b)
        for k in a:
            if k in skip or k == "@attrs":
                continue
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        assert a["@attrs"]["complete"] and b["@attrs"]["complete"]


def test_mpio_checkpoint_and_resume(comm, shared_dir, monkeypatch):
    if not HAS_MPIO:
        pytest.skip("h5py without MPI")
    from mpi_helpers import arrays, interrupt_at

    from remc_mpi.errors import Interrupted

    raw = dict(CLUSTER, sampler={"sweeps": 600, "burn_in": 200, "thin": 2})
    cfg = parse_config(dict(raw, output=str(shared_dir / "mpio-r.h5")), "r.yaml")
    orig = interrupt_at(monkeypatch, comm, 333)
    with pytest.raises(Interrupted):
        run(cfg, comm, hdf5="mpio")
    monkeypatch.setattr("remc_mpi.sampling.sampler.SlotBlock.sweep", orig)
    run(cfg, comm, hdf5="mpio", resume=True)
    run(parse_config(dict(raw, output=str(shared_dir / "gather-r.h5")), "r.yaml"), comm, hdf5="gather")
    if comm.Get_rank() == 0:
        a, b = arrays(shared_dir / "mpio-r.h5"), arrays(shared_dir / "gather-r.h5")
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
