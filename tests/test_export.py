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


def test_export_shows_no_library_warning_even_on_arviz_first_import_of_the_day(cli, linear_case, monkeypatch):
    """ArviZ 0.23 warns of its coming refactor on its first import each day (a stamp in the user's
    cache): with a fresh cache folder the export's output is still only its own line."""
    from remc_mpi.kernels import cache_dir

    assert cli("run", "config.yaml", cwd=linear_case).returncode == 0
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache_dir().parent))  # the kernels' cache stays where it is
    monkeypatch.setenv("XDG_CACHE_HOME", str(linear_case / "fresh-cache"))
    r = cli("export", "--arviz", "out.h5", "out.nc", cwd=linear_case)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.strip().endswith("out.nc")


def test_export_of_a_missing_file_is_bad_input(cli, tmp_path):
    r = cli("export", "--arviz", "nope.h5", "x.nc")
    assert r.returncode == 2 and "nope.h5" in r.stderr


CLUSTER3 = {"data": {"synthetic": {"model": "cluster3", "grid": [-20.0, 10.0, 120], "noise": 0.01, "seed": 3,
                                   "params": {"delta": 1.6, "v": 0.76, "uff": 10.5, "ufc": 12.5, "gamma": 0.7,
                                              "shift": 0.0, "amp": 1.0}}},
            "model": {"name": "cluster3"}, "noise": {"sigma": 0.01},
            "priors": {"delta": {"uniform": [-5.0, 15.0]}, "v": {"uniform": [0.1, 2.0]},
                       "uff": {"uniform": [5.0, 15.0]}, "ufc": {"uniform": [5.0, 20.0]},
                       "gamma": {"uniform": [0.1, 2.0]}, "shift": {"uniform": [-3.0, 3.0]}, "amp": {"fixed": 1.0}},
            "ladder": {"n_temps": 12}, "sampler": {"sweeps": 3000, "burn_in": 1000, "thin": 2}, "seed": 1,
            "output": "cl.h5", "progress": False}


def test_derived_quantities_in_the_summary_the_report_and_the_export(cli, tmp_path):
    """n_f and the configuration weights of a cluster3 run: a posterior row each in the summary
    (the truth's n_f = 0.479 inside its 95 % interval at this seed), a report line, and one ArviZ
    variable per derived quantity equal to the model's value at each exported draw."""
    import yaml

    from remc_mpi.models import get_model

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(CLUSTER3))
    r = cli("run", "c.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "n_f " in r.stdout and "(derived)" in r.stdout
    import json

    s = json.loads(cli("analyze", "cl.h5", "--json", cwd=tmp_path).stdout)
    m = get_model("cluster3")
    truth = m.derived(np.array([[1.6, 0.76, 10.5, 12.5, 0.7, 0.0, 1.0]]))
    nf = s["derived"]["n_f"]
    assert nf["q025"] < truth["n_f"][0] < nf["q975"] and 0.0 < nf["sd"] < 0.05
    assert set(s["derived"]) == {"w_4f0", "w_4f1L", "w_4f2L2", "n_f", "e_ground", "final_e1", "final_w1",
                                 "final_e2", "final_w2", "final_e3", "final_w3"}
    assert cli("export", "--arviz", "cl.h5", "cl.nc", cwd=tmp_path).returncode == 0
    idata = az.from_netcdf(str(tmp_path / "cl.nc"))
    names = ("delta", "v", "uff", "ufc", "gamma", "shift")
    theta = np.stack([idata.posterior[n].values[0] for n in names] + [np.ones(idata.posterior["v"].shape[1])], axis=1)
    np.testing.assert_allclose(idata.posterior["n_f"].values[0], m.derived(theta)["n_f"], rtol=0, atol=1e-14)
    assert idata.posterior["n_f"].values.mean() == pytest.approx(nf["mean"], abs=1e-12)
