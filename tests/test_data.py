"""The spectrum loader: formats, directions, windows, and every kind of bad file."""

import numpy as np
import pytest
import yaml

from remc_mpi.io.data import load_spectrum
from remc_mpi.errors import InputError
from conftest import LINEAR_CONFIG


def lines(n=12, fmt="{e},{y}"):
    return "\n".join(fmt.format(e=float(i), y=float(i * i)) for i in range(n))


@pytest.mark.parametrize("text", [
    "energy,intensity\n" + lines(),
    "# comment\n\n" + lines(fmt="{e}\t{y}") + "\n",
    "E  I\n" + lines(fmt="  {e}   {y}  # trailing"),
    lines(fmt="{e};{y}"),
    "\ufeff" + lines(),  # a byte-order mark before the first data row
    "\ufeffenergy,intensity\n" + lines(),
    "Kinetic Energy 2 Counts\n" + lines(fmt="{e} {y}"),  # fewer than half the cells are numbers
])
def test_formats(tmp_path, text):
    p = tmp_path / "s.txt"
    p.write_text(text, encoding="utf-8")
    s = load_spectrum(p)
    np.testing.assert_array_equal(s.energy, np.arange(12.0))
    np.testing.assert_array_equal(s.intensity, np.arange(12.0) ** 2)


def test_descending_energy_is_sorted(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("\n".join(f"{10 - i},{i}" for i in range(15)))
    s = load_spectrum(p)
    assert np.all(np.diff(s.energy) > 0)
    np.testing.assert_array_equal(s.intensity, np.arange(14, -1, -1.0))


def _table(path, energies, decimals):
    path.write_text("energy,intensity\n" + "".join(f"{e:.{decimals}f},{i}\n" for i, e in enumerate(energies)))
    return path


def test_a_uniform_scan_printed_rounded_is_read_as_the_scan(tmp_path):
    """La 3d of La2O3 is a scan of 384 points from 875 to 825 eV printed to 0.01 eV: steps of
    0.13 and 0.14. It is read as the uniform grid (the exact scan, so the Tougaard operator is
    its N lags), and the note says so; the config path reads it the same way."""
    from remc_mpi.config import parse_config
    from remc_mpi.models.backgrounds import uniform_step

    scan = np.linspace(875.0, 825.0, 384)
    path = _table(tmp_path / "la.csv", scan, 2)
    assert set(np.round(np.abs(np.diff(np.loadtxt(path, delimiter=",", skiprows=1)[:, 0])), 2)) == {0.13, 0.14}
    s = load_spectrum(path)
    np.testing.assert_allclose(s.energy, scan[::-1], rtol=0, atol=1e-12)
    assert uniform_step(s.energy) is not None
    assert "uniform grid of step 0.130548 eV" in s.note and "2 decimals" in s.note
    config = yaml.safe_load(LINEAR_CONFIG)
    config["data"] = {"file": str(path), "window": [830.0, 870.0]}
    cfg = parse_config(config)
    inside = scan[(scan >= 830.0) & (scan <= 870.0)][::-1]
    np.testing.assert_allclose(cfg.data.energy, inside, rtol=0, atol=1e-12)
    assert cfg.data.note == s.note


@pytest.mark.parametrize("energies, decimals", [
    (np.linspace(0.0, 10.0, 21), 1),                               # uniform as read: nothing to restore
    (np.sort(np.random.default_rng(1).uniform(0.0, 10.0, 40)), 6),  # a genuinely irregular grid
    (np.r_[0.0, 1, 2, 4, 5, 6, 7, 8, 9, 10], 0),                    # a gap: within a unit of 0..10 by 10/9, but
                                                                     # the unit is 0.9 of a step
    (np.linspace(0.0, 1.0, 41), 2),                                 # step 0.025 printed to 0.01: too coarse to tell
    (np.r_[np.linspace(825.0, 850.0, 200)[:-1], np.linspace(850.0, 875.0, 101)], 2),  # two scans' steps
])
def test_other_grids_stay_as_read(tmp_path, energies, decimals):
    path = _table(tmp_path / "g.csv", energies, decimals)
    as_read = np.loadtxt(path, delimiter=",", skiprows=1)[:, 0]
    s = load_spectrum(path)
    np.testing.assert_array_equal(s.energy, as_read)
    assert s.note == ""


def test_window_and_normalisation(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text(lines(40))
    s = load_spectrum(p, window=(5, 30), normalize="max")
    assert s.energy[0] == 5 and s.energy[-1] == 30 and s.intensity.max() == 1.0
    a = load_spectrum(p, normalize="area")
    assert np.trapezoid(a.intensity, a.energy) == pytest.approx(1.0, rel=1e-14)


@pytest.mark.parametrize("text,match", [
    (lines(9), "at least 10"),
    (lines(12) + "\n12,nan", "line 13: NaN"),
    (lines(12) + "\n12,inf", "line 13: NaN or infinite"),
    (lines(5) + "\n5,abc\n" + lines(6), "line 6: non-numeric cell 'abc'"),
    (lines(5) + "\n5,1,2\n" + lines(6), "line 6: expected 2 columns"),
    (lines(5) + "\n5\n" + lines(6), "line 6: expected 2 columns"),
    (lines(12) + "\n3,1.0", r"line 13: duplicate energy 3.0 \(also on line 4\)"),
    ("", "0 data points"),
    ("0.0,0.o\n" + lines(12)[4:], "line 1: non-numeric cell '0.o'"),  # a typo, not a header
    ("0.o,0.0\n" + lines(12)[4:], "line 1: non-numeric cell '0.o'"),
    (lines(12) + "\n12,1e200", r"line 13: value beyond ±1e\+15"),
])
def test_bad_files(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=match) as err:
        load_spectrum(p)
    assert str(err.value).startswith(str(p))
    assert "\n" not in str(err.value)


def test_too_many_points_is_refused_at_the_first_row_beyond(tmp_path, monkeypatch):
    from remc_mpi.io import data

    monkeypatch.setattr(data, "MAX_POINTS", 20)
    p = tmp_path / "big.csv"
    p.write_text("energy,intensity\n" + lines(25))
    with pytest.raises(InputError, match="line 22: has more than 20 data points"):
        load_spectrum(p)


def test_missing_file_and_empty_window(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_spectrum(tmp_path / "nope.csv")
    p = tmp_path / "s.csv"
    p.write_text(lines(20))
    with pytest.raises(InputError, match="inside the window"):
        load_spectrum(p, window=(100, 200))


# ---- VAMAS (ISO 14976) files ----------------------------------------------------------------

def _vamas_file(tmp_path):
    from remc_mpi.instruments.vamas import VamasBlock, write_vamas

    rng = np.random.default_rng(4)
    ce = rng.poisson(2000.0, 400).astype(float)
    o = rng.poisson(500.0, 60).astype(float)
    path = write_vamas(tmp_path / "sample.vms", [VamasBlock("Ce", "3d", 561.6, 0.1, ce),
                                                 VamasBlock("O", "1s", 950.0, 0.05, o, work_function=4.2)])
    return path, ce, o


def _config(path, **data):
    from remc_mpi.config import parse_config

    return parse_config({"data": {"file": str(path), **data}, "model": {"name": "polynomial"},
                         "noise": {"sigma": 1.0}, "priors": {"c0": {"normal": [0, 1]}, "c1": {"normal": [0, 1]}}},
                        "c.yaml")


def test_a_vamas_file_round_trips_through_the_loader(tmp_path):
    """Written here, read back: counts exact, kinetic energies turned into binding energies by
    BE = source energy - KE (Fermi-referenced kinetic energies), exactly as that formula gives;
    data.work_function: as_recorded or a number subtracts a work function as well."""
    path, ce, o = _vamas_file(tmp_path)
    kinetic = 561.6 + 0.1 * np.arange(400)
    for block in ("Ce 3d", 0, "ce 3D"):
        cfg = _config(path, block=block)
        np.testing.assert_array_equal(cfg.data.energy, np.sort(1486.6 - kinetic))
        np.testing.assert_array_equal(cfg.data.intensity, ce[::-1])  # ascending binding energy
        assert "binding energy = 1486.6 eV (source) - kinetic (Fermi-referenced" in cfg.data.note
    o1s = _config(path, block="O 1s").data
    np.testing.assert_array_equal(o1s.energy, np.sort(1486.6 - (950.0 + 0.05 * np.arange(60))))
    np.testing.assert_array_equal(o1s.intensity, o[::-1])
    recorded = _config(path, block="O 1s", work_function="as_recorded").data
    np.testing.assert_array_equal(recorded.energy, np.sort(1486.6 - (950.0 + 0.05 * np.arange(60)) - 4.2))
    given = _config(path, block="O 1s", work_function=4.0).data
    np.testing.assert_array_equal(given.energy, np.sort(1486.6 - (950.0 + 0.05 * np.arange(60)) - 4.0))


@pytest.mark.parametrize("block,match", [("La 3d", "no block named 'La 3d'"), (7, "block 7 does not exist"),
                                         (None, "the file has 2 blocks"), ([1], "must be a block's index")])
def test_bad_vamas_block_is_one_clear_error(tmp_path, block, match):
    path, _, _ = _vamas_file(tmp_path)
    with pytest.raises(InputError, match=match) as err:
        _config(path, **({} if block is None else {"block": block}))
    assert "data.block" in str(err.value) and "\n" not in str(err.value)


def test_unreadable_and_non_spectrum_vamas_files(tmp_path):
    from remc_mpi.instruments.vamas import VamasBlock, write_vamas

    bad = tmp_path / "bad.vms"
    bad.write_text("not a vamas file\n1\n2\n")
    with pytest.raises(InputError, match="does not begin with the VAMAS format line"):
        _config(bad)
    bad.write_text("VAMAS Surface Chemical Analysis Standard Data Transfer Format 1988 May 4\n1\n2\n")
    with pytest.raises(InputError, match=r"not a readable VAMAS \(ISO 14976\) file \(.*line"):
        _config(bad)
    depth = write_vamas(tmp_path / "depth.vms", [VamasBlock("Ce", "3d", 100.0, 1.0, np.arange(20.0))])
    depth.write_text(depth.read_text().replace("Kinetic Energy\neV", "Etch Time\ns"))
    with pytest.raises(InputError, match="is not an energy spectrum"):
        _config(depth)
    csv = tmp_path / "s.csv"
    csv.write_text(lines())
    with pytest.raises(InputError, match="data.block: applies to instrument files"):
        _config(csv, block=0)


def test_bad_vamas_input_exits_2_with_one_line(tmp_path):
    import subprocess
    import sys

    import yaml

    path, _, _ = _vamas_file(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({
        "data": {"file": "sample.vms", "block": "Fe 2p"}, "model": {"name": "polynomial"}, "noise": {"sigma": 1.0},
        "priors": {"c0": {"normal": [0, 1]}, "c1": {"normal": [0, 1]}}}))
    r = subprocess.run([sys.executable, "-m", "remc_mpi", "validate", "c.yaml"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no block named 'Fe 2p'" in r.stderr


def test_the_ce3d_example_runs_end_to_end_from_its_vamas_file(tmp_path):
    """examples/ce3d: the script writes the VAMAS file, the example's config reads it (block
    'Ce 3d', kinetic -> binding energy), and run (Poisson counts), analyze and plot go through
    on it (shortened here: one candidate, a few hundred sweeps)."""
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    example = Path(__file__).resolve().parents[1] / "examples" / "ce3d"
    spec = importlib.util.spec_from_file_location("make_ce3d", example / "make_ce3d.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    make.main(tmp_path)
    binding, counts = make.spectrum()
    cfg = yaml.safe_load((example / "ce3d.yaml").read_text())
    from remc_mpi.config import parse_config

    data = parse_config(cfg, "ce3d.yaml", base=tmp_path).data
    np.testing.assert_allclose(data.energy, binding, atol=1e-9)  # eV: the kinetic round trip's rounding
    np.testing.assert_array_equal(data.intensity, counts)
    cfg.update(models=cfg["models"][:1], ladder={"n_temps": 8}, sampler={"sweeps": 400, "burn_in": 200})
    (tmp_path / "short.yaml").write_text(yaml.safe_dump(cfg))
    run = lambda *a: subprocess.run([sys.executable, "-m", "remc_mpi", *a], cwd=tmp_path,  # noqa: E731
                                    capture_output=True, text=True, timeout=300)
    r = run("run", "short.yaml", "-q")
    assert r.returncode == 0, r.stderr
    out = next(tmp_path.glob("ce3d-*.h5"))
    r = run("analyze", out.name)
    assert r.returncode == 0 and "data: ce3d.vms (VAMAS (ISO 14976)) block 0 'Ce 3d': binding energy = 1486.6 eV" in r.stdout
    if importlib.util.find_spec("matplotlib"):
        assert run("plot", out.name, "-o", "plots").returncode == 0 and (tmp_path / "plots" / "fit.png").exists()
