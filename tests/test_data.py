"""The spectrum loader: formats, directions, windows, and every kind of bad file."""

import numpy as np
import pytest

from remc_mpi.data import load_spectrum
from remc_mpi.errors import InputError


def lines(n=12, fmt="{e},{y}"):
    return "\n".join(fmt.format(e=float(i), y=float(i * i)) for i in range(n))


@pytest.mark.parametrize("text", [
    "energy,intensity\n" + lines(),
    "# comment\n\n" + lines(fmt="{e}\t{y}") + "\n",
    "E  I\n" + lines(fmt="  {e}   {y}  # trailing"),
    lines(fmt="{e};{y}"),
])
def test_formats(tmp_path, text):
    p = tmp_path / "s.txt"
    p.write_text(text)
    s = load_spectrum(p)
    np.testing.assert_array_equal(s.energy, np.arange(12.0))
    np.testing.assert_array_equal(s.intensity, np.arange(12.0) ** 2)


def test_descending_energy_is_sorted(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("\n".join(f"{10 - i},{i}" for i in range(15)))
    s = load_spectrum(p)
    assert np.all(np.diff(s.energy) > 0)
    np.testing.assert_array_equal(s.intensity, np.arange(14, -1, -1.0))


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
])
def test_bad_files(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=match) as err:
        load_spectrum(p)
    assert str(err.value).startswith(str(p))
    assert "\n" not in str(err.value)


def test_missing_file_and_empty_window(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_spectrum(tmp_path / "nope.csv")
    p = tmp_path / "s.csv"
    p.write_text(lines(20))
    with pytest.raises(InputError, match="inside the window"):
        load_spectrum(p, window=(100, 200))
