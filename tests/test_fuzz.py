"""The careless and hostile user, seeded: mutated config texts, data tables and VAMAS files.

Every case goes through the command line (``remc-mpi validate``, and for a share of the configs
that pass, ``remc-mpi run``) in-process, and must end in exit status 0 or in exactly one
bounded line on stderr with exit status 2 — no traceback, no library warning, nothing on stdout
and no results file for bad input. The generators are seeded (random.Random(SEED + case)), so a
failure names its case and reproduces; the mutations are the attack of the hostile-input issue:
duplicated, dropped and swapped lines, alias bombs and merges, deep nesting, extreme and
non-finite numbers, control characters, byte-order marks, binary junk, truncated files, VAMAS
fields and point counts out of their range.
"""

import random
import re
import warnings

import numpy as np
import pytest

from remc_mpi.ui.cli import main
from remc_mpi.errors import MAX_PART
from remc_mpi.instruments.vamas import VamasBlock, write_vamas

from conftest import LINEAR_CONFIG

SEED = 20261202
#: cases per family (a few hundred in all, well under a minute)
N_CONFIG, N_DATA, N_VAMAS = 240, 120, 160
#: the first config of each chunk that validates, and every fourth, is also run (short): run agrees
RUN_EVERY = 4
#: the longest error line: three bounded parts, their separators and the prefix
MAX_LINE = 3 * MAX_PART + 40

HOSTILE_TOKENS = ["1e400", "-1e400", "2e308", "1e-400", "1e-320", str(2**70), "-0", ".nan", ".inf", "-.inf",
                  "0x1F", "1_000", "~", "null", "[]", "{}", "[[[[]]]]", "''", '"\\0"', "&a x", "*a", "*nope",
                  "<<: *a", "!!python/object:os.system", "!!binary AAAA", "a" * 3000, "\t", "{", "[", "? x",
                  "yes", "no", "2026-12-02", "1e5", "4e2", "-7", "0", "1", "0.5"]


def _check(rc: int, out: str, err: str, case: str) -> None:
    assert rc in (0, 2), f"{case}: exit {rc}\n{err}"
    assert "Traceback" not in err and "Warning" not in err, f"{case}: {err}"
    if rc == 2:
        assert err.count("\n") == 1 and err.startswith("remc-mpi: error: "), f"{case}: {err!r}"
        assert len(err) <= MAX_LINE, f"{case}: {len(err)} characters"
        assert out == "", f"{case}: stdout {out!r}"


def _run_cli(capsys, args: list[str]) -> tuple[int, str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a library warning would reach a user's screen
        rc = main(args)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# ---- config texts ------------------------------------------------------------------------------

def _mutate_config(rng: random.Random, text: str) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        action = rng.choice(["duplicate", "drop", "swap", "value", "value", "indent", "bomb", "nest", "junk",
                             "plausible", "plausible", "plausible"])
        if action == "plausible":  # a valid change (another seed, rung count or length): runs that should pass
            key, value = rng.choice([("seed", rng.randint(0, 2**63 - 1)), ("  n_temps", rng.randint(2, 12)),
                                     ("  sweeps", rng.choice([300, 4e2, "5e2"])), ("  sigma", rng.choice([0.1, "1e-1"]))])
            lines = [f"{key}: {value}" if line.startswith(key + ":") else line for line in lines]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "drop" and len(lines) > 1:
            lines.pop(i)
        elif action == "swap":
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {rng.choice(HOSTILE_TOKENS)}"
        elif action == "indent":
            lines[i] = rng.choice(["", " ", "   ", "\t"]) + lines[i]
        elif action == "bomb":
            depth = rng.randint(2, 9)
            lines += ['x0: &x0 ["l","l","l","l","l","l","l","l","l","l"]']
            lines += [f"x{k}: &x{k} [{','.join([f'*x{k - 1}'] * 10)}]" for k in range(1, depth)]
        elif action == "nest":
            n = rng.choice([10, 63, 65, 500, 5000])
            lines[i] = lines[i].split(":", 1)[0] + ": " + "[" * n + "]" * n
        else:
            lines.insert(i, rng.choice(["\x00", "\x1b[31m", "%YAML 1.1", "---", "...", "- a", "\ufeff"]))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("chunk", range(4))
def test_mutated_config_texts_are_valid_or_one_line(linear_case, capsys, chunk):
    ran = 0
    for case in range(chunk * N_CONFIG // 4, (chunk + 1) * N_CONFIG // 4):
        rng = random.Random(SEED + case)
        cfg = linear_case / "fuzz.yaml"
        cfg.write_text(_mutate_config(rng, LINEAR_CONFIG).replace("out.h5", "fuzz.h5"), encoding="utf-8")
        rc, out, err = _run_cli(capsys, ["validate", str(cfg)])
        _check(rc, out, err, f"config case {case}")
        if rc == 0 and (ran == 0 or case % RUN_EVERY == 0):
            rc, out, err = _run_cli(capsys, ["run", str(cfg), "-q", "--force"])
            _check(rc, out if rc else "", err, f"config case {case} (run)")
            assert rc == 0 or not (linear_case / "fuzz.h5").exists()
            ran += rc == 0
        for leftover in linear_case.glob("fuzz.h5*"):
            leftover.unlink()
    assert ran >= 1  # the run path was exercised


# ---- text data -----------------------------------------------------------------------------------

def _mutate_table(rng: random.Random) -> bytes:
    rows = [f"{800 + 0.5 * i!r},{float(1000 + 50 * np.sin(i))!r}" for i in range(30)]
    if rng.random() < 0.5:
        rows.insert(0, rng.choice(["energy,intensity", "BE (eV)\tcounts", "Kinetic Energy 2 Counts", "# comment"]))
    for _ in range(rng.randint(1, 3)):
        if not rows:
            break
        i = rng.randrange(len(rows))
        action = rng.choice(["cell", "cell", "row", "drop", "dup", "sep", "long"])
        if action == "cell":
            cells = rows[i].split(",")
            cells[rng.randrange(len(cells))] = rng.choice(
                ["1e200", "-1e300", "1e400", "nan", "inf", "", "1,5", "0x10", "1.0.0", "١٢", "\x00", "1e15", "-0"])
            rows[i] = ",".join(cells)
        elif action == "row":
            rows[i] = rng.choice(["", ",", ",,,", "1 2 3", "a,b", "\t\t", "1;2;3", "\ufeff800,1"])
        elif action == "drop":
            del rows[rng.randint(0, len(rows) - 1):]
        elif action == "dup":
            rows.insert(i, rows[i])
        elif action == "sep":
            rows[i] = rows[i].replace(",", rng.choice(["\t", ";", " ", "  ,  ", "|"]))
        else:
            rows[i] = rows[i] + "," + "9" * 5000
    data = ("\n".join(rows)).encode("utf-8")
    prefix = rng.choice([b"", b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\x89PNG\r\n\x1a\n"])
    return prefix + data


@pytest.mark.parametrize("chunk", range(2))
def test_mutated_data_tables_are_read_or_one_line(linear_case, capsys, chunk):
    for case in range(chunk * N_DATA // 2, (chunk + 1) * N_DATA // 2):
        (linear_case / "data.csv").write_bytes(_mutate_table(random.Random(SEED + 10_000 + case)))
        rc, out, err = _run_cli(capsys, ["validate", str(linear_case / "config.yaml")])
        _check(rc, out, err, f"data case {case}")
        if rc == 2:
            assert "data.csv" in err, f"data case {case}: {err}"


# ---- VAMAS files -------------------------------------------------------------------------------

VAMAS_VALUES = ["nan", "inf", "-inf", "1e400", "1e37", "-1e37", "0", "-1", "5", "9", "100000000", "", "abc",
                "1e300", str(2**70), "-0", "1.5e-320"]


def _vamas_text(tmp_path) -> list[str]:
    rng = np.random.default_rng(1)
    path = write_vamas(tmp_path / "base.vms", [VamasBlock("Ce", "3d", 561.6, 0.1, rng.poisson(2000.0, 40).astype(float)),
                                               VamasBlock("O", "1s", 950.0, 0.1, rng.poisson(500.0, 30).astype(float))])
    return path.read_text().splitlines()


def _mutate_vamas(rng: random.Random, lines: list[str]) -> tuple[str, str]:
    lines = list(lines)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        action = rng.choice(["value", "value", "value", "drop", "dup", "truncate", "count"])
        if action == "value":
            lines[i] = rng.choice(VAMAS_VALUES)
        elif action == "drop":
            lines.pop(i)
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "truncate":
            del lines[i:]
        else:  # a block's point count (the line before its min and max) set out of range
            counts = [k for k, line in enumerate(lines[:-3]) if line in ("40", "30")]
            if counts:
                lines[rng.choice(counts)] = rng.choice(["0", "1", "9", "10", "39", "41", "-40", "4000000"])
    name = rng.choice(["f.vms", "F.VMS", "f.Vms", "f.npl", "f.txt"])
    return "\n".join(lines) + "\n", name


@pytest.mark.parametrize("chunk", range(2))
def test_mutated_vamas_files_are_read_or_one_line(tmp_path, capsys, chunk):
    base = _vamas_text(tmp_path)
    for case in range(chunk * N_VAMAS // 2, (chunk + 1) * N_VAMAS // 2):
        text, name = _mutate_vamas(random.Random(SEED + 20_000 + case), base)
        folder = tmp_path / f"v{case}"
        folder.mkdir()
        (folder / name).write_text(text)
        (folder / "c.yaml").write_text(
            f"data: {{file: {name}, block: 0}}\nmodel: {{name: polynomial}}\nnoise: {{sigma: 50.0}}\n"
            "priors: {c0: {normal: [0, 5000]}, c1: {normal: [0, 100]}}\noutput: out.h5\n")
        rc, out, err = _run_cli(capsys, ["validate", str(folder / "c.yaml")])
        _check(rc, out, err, f"vamas case {case}")
        if rc == 0:  # what was accepted is a spectrum: at least 10 points, every value finite
            m = re.search(r"OK \((\d+) data points", out)
            assert m and int(m.group(1)) >= 10, f"vamas case {case}: {out}"


def test_an_upper_case_vms_extension_is_a_vamas_file(tmp_path, capsys):
    base = _vamas_text(tmp_path)
    (tmp_path / "CE3D.VMS").write_text("\n\n" + "\n".join(base) + "\n")  # Kratos' leading blank lines too
    (tmp_path / "c.yaml").write_text("data: {file: CE3D.VMS, block: Ce 3d}\nmodel: {name: polynomial}\n"
                                     "noise: {sigma: 50.0}\npriors: {c0: {normal: [0, 5000]}, c1: {normal: [0, 100]}}\n")
    rc, out, err = _run_cli(capsys, ["validate", str(tmp_path / "c.yaml")])
    assert rc == 0 and "OK (40 data points" in out, err
