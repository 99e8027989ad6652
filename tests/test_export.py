"""ArviZ export round-trips the beta = 1 samples."""

import h5py
import numpy as np
import pytest

az = pytest.importorskip("arviz")


def test_export_round_trips_the_posterior(cli, linear_case):
    assert cli("run", "config.yaml", cwd=linear_case).returncode == 0
    r = cli("export", "--arviz", "out.h5", "out.nc", cwd=linear_case)
    assert r.returncode == 0, r.stderr
    idata = az.from_netcdf(str(linear_case / "out.nc"))
    with h5py.File(linear_case / "out.h5") as h5:
        theta = h5["samples/theta"][:, -1, :]
        y = h5["data/intensity"][:]
    for j, name in enumerate(("c0", "c1", "c2")):
        np.testing.assert_array_equal(idata.posterior[name].values[0], theta[:, j])
    np.testing.assert_array_equal(idata.observed_data["intensity"].values, y)
    summ = az.summary(idata)
    assert list(summ.index) == ["c0", "c1", "c2"]
    assert summ.loc["c1", "mean"] == pytest.approx(theta[:, 1].mean(), rel=1e-6, abs=1e-3)
    assert idata.attrs["model"] == "polynomial2"


def test_export_of_a_missing_file_is_bad_input(cli, tmp_path):
    r = cli("export", "--arviz", "nope.h5", "x.nc")
    assert r.returncode == 2 and "nope.h5" in r.stderr
