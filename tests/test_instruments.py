"""Instrument files as vendors write them (remc_mpi.instruments), on the real files of
../shared/data/real-xps/ (SOURCES.md: origin, licence, reference line energies). Skipped with
a reason where that folder is absent; the files are never copied into the repository."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from remc_mpi.errors import InputError
from remc_mpi.instruments import binding_energy, detect_format, peak_position, pick, read_regions

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-xps"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"the shared measured files are not here ({REAL})")
#: how far a line may sit from its handbook energy (issue 22)
LINE_TOL_EV = 0.3
#: handbook energies (SOURCES.md): adventitious C 1s, oxide O 1s (a range), Cu 2p3/2 of Cu metal,
#: Mn 2p3/2 of Mn oxides (a range), WO3 W 4f7/2, Ni 2p3/2 of Ni metal
C1S, O1S_OXIDE, CU2P_METAL, MN2P_OXIDE, W4F_WO3, NI2P_METAL = 284.8, (529.0, 531.0), 932.6, (641.0, 642.0), 35.8, 852.6


def line(name, index, lo=None, hi=None, shift=0.0):
    """The main peak (eV) of block ``index`` of a shared file, within [lo, hi] if given."""
    _, regions = read_regions(REAL / name)
    r = regions[index]
    e, _ = binding_energy(r, None, name)
    keep = np.ones(e.size, bool) if lo is None else (e >= lo) & (e <= hi)
    return peak_position(e[keep], r.intensity[keep]) + shift


def within(value, target):
    lo, hi = (target, target) if np.isscalar(target) else target
    return lo - LINE_TOL_EV <= value <= hi + LINE_TOL_EV


@needs_real
@pytest.mark.parametrize("name,fmt,labels,points", [
    ("0-150W.vms", "vamas", ["wide", "Ni 2p", "O 1s", "C 1s", "W 4f"], [1206, 601, 251, 301, 251]),
    ("Mutlipak_vms.npl", "vamas", ["C 1s", "O 1s", "S 2p", "N 1s", "Mo 3d"], [601, 601, 501, 401, 401]),
    ("irregular.vms", "vamas", ["Survey"], [1351]),
    ("regular.vms", "vamas", ["Survey"], [1351]),
    ("Mn_references.vms", "vamas", ["Mn 2p"] * 3, [400] * 3),
    ("Cu111_oxidation.vms", "vamas", ["Cu 2p", "Cu LMM", "O 1s"] * 4 + ["Survey"] * 2, [1040, 250, 201] * 4 + [3006, 2401]),
    ("FeO_analyzed.vms", "vamas", ["Fe 2p"], [1121]),
    ("MgFe2O4_small.xy", "specs_xy", ["Survey", "Fe2p"], [1351, 56]),
    ("vms_txt_export.txt", "casa_txt", ["Survey", "Ni2p", "Survey", "Ni2p"], [1201, 501, 1201, 501]),
    ("Ag_0001.txt", "scienta_txt", ["Ag3d"], [361]),
    ("SnO2_10nm.spe", "phi_spe", ["Su1s"], [1751]),
])
def test_every_shared_file_is_read_by_content_with_its_blocks(name, fmt, labels, points):
    assert detect_format(REAL / name).name == fmt
    f, regions = read_regions(REAL / name)
    assert [r.label for r in regions] == labels and [r.n for r in regions] == points
    for r in regions:
        assert np.all(np.isfinite(r.abscissa)) and np.all(np.isfinite(r.intensity))


@needs_real
def test_known_lines_land_at_their_handbook_energies():
    """BE = h nu - KE on every vendor's kinetic axis; where the sample charged, the C 1s line
    references it (the documented charging)."""
    assert within(line("Cu111_oxidation.vms", 0), CU2P_METAL)  # clean Cu(111) in vacuum: no charging
    for k in range(3):  # one kinetic axis, work functions 0, 0 and 3.808 eV recorded: the same line
        assert within(line("Mn_references.vms", k, 635, 650), MN2P_OXIDE)
    assert within(line("Mutlipak_vms.npl", 0), C1S)  # PHI, binding axis, already charge-corrected
    kratos = C1S - line("0-150W.vms", 3)  # a neutraliser-compensated film: C 1s references it
    assert within(line("0-150W.vms", 2, shift=kratos), O1S_OXIDE)
    assert within(line("0-150W.vms", 4, shift=kratos), W4F_WO3)
    for name in ("regular.vms", "irregular.vms", "MgFe2O4_small.xy"):  # SPECS surveys, 1 eV steps
        shift = C1S - line(name, 0, 278, 292)
        assert abs(shift) < 1.5 and within(line(name, 0, 520, 540, shift), O1S_OXIDE)
    spe_shift = C1S - line("SnO2_10nm.spe", 0, 278, 292)
    assert within(line("SnO2_10nm.spe", 0, 520, 540, spe_shift), O1S_OXIDE)
    assert within(line("vms_txt_export.txt", 1, 845, 860), NI2P_METAL)  # the "Ni" sample's Ni 2p


@needs_real
def test_the_casa_export_binding_axis_is_source_minus_kinetic():
    """CasaXPS's own B.E. column is h nu - K.E. (the rule the VAMAS reader applies)."""
    text = (REAL / "vms_txt_export.txt").read_text().splitlines()
    rows = [ln.split("\t") for ln in text[8:20]]
    ke, be = np.array([float(r[0]) for r in rows]), np.array([float(r[3]) for r in rows])
    np.testing.assert_allclose(be, 1486.61 - ke, atol=1e-9)
    _, regions = read_regions(REAL / "vms_txt_export.txt")
    np.testing.assert_allclose(binding_energy(regions[0], None, "")[0][:12], be, atol=1e-9)


@needs_real
def test_units_and_rates_become_counts():
    _, regions = read_regions(REAL / "Mutlipak_vms.npl")
    c1s = regions[0]
    assert c1s.per_second and c1s.dwell == 0.4 and c1s.scans == 1
    from remc_mpi.instruments import counts_of

    counts, how = counts_of(c1s, "f")
    np.testing.assert_allclose(counts, c1s.intensity * 0.4)
    assert "counts per second x 0.4 s x 1 scans" in how
    _, kratos = read_regions(REAL / "0-150W.vms")
    assert kratos[3].counts and np.all(kratos[3].intensity == np.round(kratos[3].intensity))


@needs_real
def test_blocks_with_one_label_are_chosen_by_index_or_occurrence():
    _, regions = read_regions(REAL / "Mn_references.vms")
    with pytest.raises(InputError, match=r"3 blocks are named 'Mn 2p' \(blocks 0, 1, 2\)"):
        pick(regions, "Mn 2p", "f")
    assert pick(regions, {"label": "mn 2p", "occurrence": 3}, "f").index == 2
    assert pick(regions, 1, "f").index == 1
    _, cu = read_regions(REAL / "Cu111_oxidation.vms")
    assert pick(cu, {"label": "Cu2p", "occurrence": 2}, "f").index == 3  # "Cu2p" as the file writes it
    with pytest.raises(InputError, match="occurs 4 times, not 5"):
        pick(cu, {"label": "Cu 2p", "occurrence": 5}, "f")


def _cfg(path, **data):
    from remc_mpi.config import parse_config

    return parse_config({"data": {"file": str(path), **data}, "model": {"name": "polynomial"},
                         "noise": {"sigma": 1.0}, "priors": {"c0": {"normal": [0, 1]}, "c1": {"normal": [0, 1]}}},
                        "c.yaml")


@needs_real
def test_config_reads_a_block_with_its_rule_and_charge_reference_in_the_note():
    cfg = _cfg(REAL / "0-150W.vms", block="O 1s", charge_reference={"line": "C 1s", "at": C1S})
    assert within(peak_position(cfg.data.energy, cfg.data.intensity), O1S_OXIDE)
    assert "block 2 'O 1s': binding energy = 1486.69 eV (source) - kinetic" in cfg.data.note
    assert "charge reference: C 1s peak at 282.3" in cfg.data.note and cfg.data.unit == "counts"
    shifted = _cfg(REAL / "0-150W.vms", block="O 1s", charge_reference={"shift": 2.0})
    plain = _cfg(REAL / "0-150W.vms", block="O 1s")
    np.testing.assert_allclose(shifted.data.energy, plain.data.energy + 2.0)


@needs_real
@pytest.mark.parametrize("name,data,match", [
    ("Cu111_oxidation.vms", {"block": 0, "window": [900, 940]},
     r"data.window: the window \[900, 940\] eV is not inside block 'Cu 2p'.s range \[920.00, 971.95\] eV"),
    ("Mn_references.vms", {"block": "Mn 2p"}, "3 blocks are named"),
    ("regular.vms", {}, "is a survey; name it in data.block"),
    ("Mutlipak_vms.npl", {"block": "C 1s", "charge_reference": {"line": "Ce 3d", "at": 1}}, "no block named 'Ce 3d'"),
    ("Mutlipak_vms.npl", {"block": "C 1s", "work_function": "vacuum"}, "data.work_function: must be a number"),
])
def test_refusals_are_one_line_naming_file_and_key(name, data, match):
    with pytest.raises(InputError, match=match) as err:
        _cfg(REAL / name, **data)
    assert str(err.value).startswith(str(REAL / name)) or "data." in str(err.value)
    assert "\n" not in str(err.value)


@needs_real
def test_poisson_refuses_non_integer_intensities_and_names_the_remedy():
    from remc_mpi.config import parse_config

    with pytest.raises(InputError, match=r"noise.model: poisson needs integer counts, .*Mn_references.vms holds non-integer intensities, e.g. ") as err:
        parse_config({"data": {"file": str(REAL / "Mn_references.vms"), "block": 0}, "model": {"name": "polynomial"},
                      "noise": {"model": "poisson"}, "priors": {"c0": {"normal": [0, 1]}, "c1": {"normal": [0, 1]}}},
                     "c.yaml")
    assert "noise: {model: scaled_counts, estimate: true}" in str(err.value)


@needs_real
def test_blocks_command_lists_what_data_block_needs():
    r = subprocess.run([sys.executable, "-m", "remc_mpi", "blocks", str(REAL / "Cu111_oxidation.vms")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr == ""
    rows = r.stdout.splitlines()
    assert "14 blocks" in rows[0] and rows[1].split()[:3] == ["index", "label", "binding"]
    assert rows[2].split()[:7] == ["0", "Cu", "2p", "920.00", "-", "971.95", "1040"]
    bad = subprocess.run([sys.executable, "-m", "remc_mpi", "blocks", str(REAL / "CeO2_Ce3d.csv")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not an instrument file" in bad.stderr


# ---- damaged and odd VAMAS, made here (no shared files needed) --------------------------------

def _written(tmp_path, **edit):
    from remc_mpi.instruments.vamas import VamasBlock, write_vamas

    counts = np.arange(40.0) + 100
    path = write_vamas(tmp_path / "s.vms", [VamasBlock("Ce", "3d", 561.6, 0.1, counts)])
    text = path.read_text()
    for old, new in edit.items():
        text = text.replace(old.replace("_", " "), new, 1) if old != "prefix" else new + text
    path.write_bytes(text.encode())
    return path, counts


def test_leading_blank_lines_crlf_and_nul_padded_labels_read(tmp_path):
    path, counts = _written(tmp_path)
    text = path.read_text().replace("Ce 3d\n", "Ce 3d\x00\x00\n", 1).replace("\n", "\r\n")
    path.write_bytes(("\r\n\r\n" + text).encode())
    _, regions = read_regions(path)
    assert regions[0].label == "Ce 3d" and pick(regions, "Ce 3d", "f").index == 0
    np.testing.assert_array_equal(regions[0].intensity, counts)


def test_not_given_markers_are_none_and_a_missing_source_refuses(tmp_path):
    path, _ = _written(tmp_path)
    path.write_text(path.read_text().replace("\n4.5\n", "\n1e+37\n", 1).replace("\n1486.6\n", "\n1e+37\n", 1))
    _, regions = read_regions(path)
    assert regions[0].work_function is None and regions[0].source_energy is None
    with pytest.raises(InputError, match="kinetic axis but gives no source energy"):
        binding_energy(regions[0], None, "f")


def test_a_truncated_file_names_where_it_ends(tmp_path):
    path, _ = _written(tmp_path)
    path.write_text("\n".join(path.read_text().splitlines()[:-10]))
    with pytest.raises(InputError, match=r"not a readable VAMAS \(ISO 14976\) file \(block 0 values: the file ends"):
        read_regions(path)


def test_an_irregular_block_reads_its_own_abscissa(tmp_path):
    """IRREGULAR scans: no start/step, the abscissa is the first of the corresponding variables."""
    path, counts = _written(tmp_path)
    lines = path.read_text().splitlines()
    lines[lines.index("REGULAR")] = "IRREGULAR"
    i = lines.index("Kinetic Energy")
    del lines[i:i + 4]  # label, unit, start, step
    j = lines.index("counts", i)
    lines[j - 1:j + 2] = ["2", "Kinetic Energy", "eV", "counts", "d"]
    ke = 561.6 + 0.1 * np.arange(40)
    k = lines.index("40")
    lines[k:] = ["80", repr(ke.min()), repr(ke.max()), "100", "139"] + \
        [repr(float(v)) for pair in zip(ke, counts) for v in pair] + ["end of experiment"]
    path.write_text("\n".join(lines) + "\n")
    _, regions = read_regions(path)
    np.testing.assert_array_equal(regions[0].abscissa, ke)
    np.testing.assert_array_equal(regions[0].intensity, counts)


def test_a_non_energy_block_is_refused_only_when_chosen(tmp_path):
    """A depth profile beside a spectrum: the file reads, the spectrum can be fitted, the profile
    is refused by name."""
    from remc_mpi.instruments.vamas import VamasBlock, write_vamas

    path = write_vamas(tmp_path / "two.vms", [VamasBlock("Ce", "3d", 561.6, 0.1, np.arange(40.0) + 1),
                                              VamasBlock("O", "1s", 950.0, 0.1, np.arange(40.0) + 1)])
    text = path.read_text()
    k = text.rindex("Kinetic Energy\neV")
    path.write_text(text[:k] + "Etch Time\ns" + text[k + len("Kinetic Energy\neV"):])
    _, regions = read_regions(path)
    assert binding_energy(pick(regions, "Ce 3d", "f"), None, "f")[0].size == 40
    with pytest.raises(InputError, match="block 'O 1s' is not an energy spectrum \\(abscissa 'Etch Time'\\)"):
        binding_energy(pick(regions, "O 1s", "f"), None, "f")
