"""The command line as a user meets it: simulate, run, analyze --json, select --json."""

import json

import numpy as np
import pytest

from remc_mpi.version import __version__
from remc_mpi.io.data import load_spectrum
from remc_mpi.models import get_model


def test_version_and_help(cli):
    from importlib.metadata import version

    r = cli("--version")
    assert r.returncode == 0 and __version__ in r.stdout
    assert version("remc-mpi") == __version__  # the installed metadata reads the same literal
    for sub in ("run", "simulate", "analyze", "select", "validate", "demo"):
        h = cli(sub, "--help")
        assert h.returncode == 0 and "usage: remc-mpi " + sub in h.stdout


def test_simulate_exact_and_noisy(cli, tmp_path):
    params = dict(delta=1.6, v=0.76, uff=10.5, ufc=12.5, gamma=0.7, shift=0.0, amp=1.0)
    args = ["simulate", "--model", "cluster3", *sum((["--param", f"{k}={v}"] for k, v in params.items()), []),
            "--grid", "-8:16:50"]
    assert cli(*args, "-o", "exact.csv").returncode == 0
    assert (tmp_path / "exact.csv").read_text().startswith("energy,intensity\n")
    s = load_spectrum(tmp_path / "exact.csv")
    m = get_model("cluster3")
    np.testing.assert_array_equal(s.intensity, m.spectrum([params[n] for n in m.param_names], s.energy))
    assert cli(*args, "--noise", "0.01", "--seed", "3", "-o", "a.csv").returncode == 0
    assert cli(*args, "--noise", "0.01", "--seed", "3", "-o", "b.csv").returncode == 0
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    resid = load_spectrum(tmp_path / "a.csv").intensity - s.intensity
    assert 0.005 < resid.std() < 0.02
    assert cli(*args, "--counts", "1000", "--seed", "1", "-o", "c.csv").returncode == 0
    c = load_spectrum(tmp_path / "c.csv").intensity
    # Poisson counts rescaled: every value is an integer multiple of max(y) / 1000
    k = c / (s.intensity.max() / 1000)
    np.testing.assert_allclose(k, np.round(k), atol=1e-6)


@pytest.mark.parametrize("args,match", [
    (["simulate", "--model", "nope", "--grid", "0:1:10", "-o", "x.csv"], "unknown model"),
    (["simulate", "--model", "polynomial", "--option", "degree=0", "--param", "c0=1", "--grid", "0:1", "-o", "x.csv"],
     "--grid"),
    (["simulate", "--model", "polynomial", "--param", "c0=1", "--grid", "0:1:10", "-o", "x.csv"], "missing --param for c1"),
    (["simulate", "--model", "polynomial", "--param", "c0=one", "--grid", "0:1:10", "-o", "x.csv"], "not a number"),
    (["run"], "the following arguments are required"),
    (["frobnicate"], "invalid choice"),
    (["analyze", "missing.h5"], "missing.h5: results file does not exist"),
    (["simulate", "--model", "polynomial", "--param", "c0=1", "--param", "c1=1", "--grid", "0:1:10000000", "-o", "x.csv"],
     "--grid '0:1:10000000': at most 200,000 points"),
    (["blocks", "/"], "/: is a folder, not an instrument file"),
    (["demo", "-o", "/etc/hostname"], "/etc/hostname is a file; -o names the folder"),
])
def test_bad_command_lines_exit_2_with_one_line(cli, args, match):
    r = cli(*args)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and match in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_run_analyze_select_json(cli, linear_case):
    r = cli("run", "config.yaml", cwd=linear_case)
    assert r.returncode == 0, r.stderr
    assert "log evidence" in r.stdout
    a = cli("analyze", "out.h5", "--json", cwd=linear_case)
    s = json.loads(a.stdout)
    for key in ("model", "n_data", "sigma", "log_evidence", "estimators", "free_energy", "posterior",
                "diagnostics", "beta"):
        assert key in s
    assert set(s["log_evidence"]) >= {"value", "stderr", "method"}
    assert set(s["posterior"]["c1"]) >= {"mean", "sd", "map", "q025", "q50", "q975"}
    assert set(s["diagnostics"]) >= {"acceptance", "swap_rate", "round_trips", "ess"}
    assert len(s["diagnostics"]["acceptance"]) == len(s["beta"]) == 8
    by = s["diagnostics"]["acceptance_by_parameter"]
    assert set(by) == {"c0", "c1", "c2"} and by["c0"][0] is None and 0 < by["c0"][-1] < 1
    assert len(s["diagnostics"]["swap_rate"]) == 7
    assert s["beta"][0] == 0.0 and s["beta"][-1] == 1.0
    assert s["free_energy"] == -s["log_evidence"]["value"]
    both = cli("analyze", "out.h5", "out.h5", cwd=linear_case)
    assert both.returncode == 0 and both.stdout.count("log evidence") == 2 and "P(H|D)" in both.stdout
    assert cli("analyze", "out.h5", "out.h5", "--json", cwd=linear_case).returncode == 2
    assert cli("select", "out.h5", "./out.h5", cwd=linear_case).returncode == 2  # one candidate twice
    import shutil

    shutil.copy(linear_case / "out.h5", linear_case / "copy.h5")  # the same evidence under two names
    sel = json.loads(cli("select", "out.h5", "copy.h5", "--json", cwd=linear_case).stdout)
    assert [m["probability"] for m in sel["models"]] == [0.5, 0.5]
    assert set(sel["models"][0]) >= {"name", "file", "log_evidence", "stderr", "probability"}
    assert sel["best"] == "polynomial2"
    _refuses_foreign_and_incomplete_results(cli, linear_case)


def _refuses_foreign_and_incomplete_results(cli, folder):
    """Files of another format version, and summaries lacking a key every reader needs, are one
    line (exit 2) in analyze and select, not a traceback or a table of guesses."""
    import shutil

    import h5py

    for name, damage, match in [("other.h5", lambda h5: h5.attrs.__setitem__("format", "remc_mpi/2"),
                                 "format 'remc_mpi/2' is not this version's 'remc_mpi/1'"),
                                ("nokey.h5", _drop_summary_key, "its summary lacks log_evidence.method")]:
        shutil.copy(folder / "out.h5", folder / name)
        with h5py.File(folder / name, "r+") as h5:
            damage(h5)
        for cmd in (["analyze", name], ["select", "out.h5", name]):
            r = cli(*cmd, cwd=folder)
            assert r.returncode == 2 and r.stderr.count("\n") == 1 and match in r.stderr, r.stderr
    (folder / "afile").write_text("kept")
    r = cli("plot", "out.h5", "-o", "afile", cwd=folder)
    assert r.returncode == 2 and "afile is a file; -o names the folder" in r.stderr
    assert (folder / "afile").read_text() == "kept"
    with h5py.File(folder / "out.h5", "r+") as h5:  # --resume neither reads nor redoes it
        h5.attrs["format"] = "remc_mpi/2"
    r = cli("run", "config.yaml", "--resume", cwd=folder)
    assert r.returncode == 2 and "a results file of another version of remc_mpi" in r.stderr, r.stderr
    with h5py.File(folder / "out.h5", "r") as h5:
        assert h5.attrs["format"] == "remc_mpi/2" and "results/summary_json" in h5


def _drop_summary_key(h5):
    s = json.loads(h5["results/summary_json"][()])
    del s["log_evidence"]["method"]
    del h5["results/summary_json"]
    h5["results"].create_dataset("summary_json", data=json.dumps(s))


def test_demo_quick_ranks_cluster3_first_and_writes_results(cli, tmp_path):
    """The quick demo's 300 sweeps rank cluster3 first but make too few round trips for a
    trusted evidence: the table says so (no "selected" line) and names the remedy."""
    r = cli("demo", "--quick", "-o", "demo")
    assert r.returncode == 0, r.stderr
    table = r.stdout[r.stdout.index("P(H|D)"):]
    assert table.splitlines()[1].startswith("cluster3") and "selected:" not in table
    assert "no model selected" in table and "run longer" in table
    for name in ("ceo2-cluster3.h5", "ceo2-cluster2.h5", "ceo2_demo.yaml", "ceo2_synthetic.csv", "free_energy.png"):
        assert (tmp_path / "demo" / name).exists(), name
    assert (tmp_path / "demo" / "plots-cluster3" / "fit.png").exists()


def test_model_priors_reach_every_reader_of_the_results(cli, linear_case):
    """The config's model_priors are stored in each results file's summary, so run, analyze and
    select show the same P(H_k | D), and it is the one those priors imply."""
    import yaml

    from remc_mpi.evidence.selection import model_probabilities

    cfg = yaml.safe_load((linear_case / "config.yaml").read_text())
    del cfg["model"]
    cfg["models"] = [{"name": "polynomial", "options": {"degree": 1}}, {"name": "polynomial", "options": {"degree": 2}}]
    cfg["model_priors"] = {"polynomial1": 3.0, "polynomial2": 1.0}
    (linear_case / "two.yaml").write_text(yaml.safe_dump(cfg))
    r = cli("run", "two.yaml", cwd=linear_case)
    assert r.returncode == 0, r.stderr
    files = ["out-polynomial1.h5", "out-polynomial2.h5"]
    sel = json.loads(cli("select", *files, "--json", cwd=linear_case).stdout)
    lev = np.array([m["log_evidence"] for m in sel["models"]])
    se = np.array([m["stderr"] for m in sel["models"]])
    expect = model_probabilities(lev, se, np.array([3.0, 1.0]))["probability"]
    np.testing.assert_allclose([m["probability"] for m in sel["models"]], expect, rtol=1e-12)
    flat = model_probabilities(lev, se)["probability"]
    assert abs(expect[0] - flat[0]) > 0.01  # the priors matter here
    analyzed = cli("analyze", *files, cwd=linear_case).stdout
    for m in sel["models"]:
        row = f"{m['name']:<16} {m['free_energy']:14.3f} {m['stderr']:8.3f} {m['probability']:9.4f}"
        assert row in r.stdout and row in analyzed, (row, r.stdout, analyzed)


def test_a_mis_launched_run_stops_before_any_work(cli, linear_case):
    """A launcher that started several tasks while MPI sees one rank (srun of singletons,
    another MPI's mpirun): exit 2, one line naming the variable and the fix, nothing written."""
    import os
    import subprocess
    import sys

    from remc_mpi.sampling.parallel import check_launch

    for env in ({"OMPI_COMM_WORLD_SIZE": "2"}, {"SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "3"}):
        r = subprocess.run([sys.executable, "-m", "remc_mpi", "run", "config.yaml"], cwd=linear_case,
                           capture_output=True, text=True, timeout=120, env=dict(os.environ, **env))
        n = list(env.values())[-1]
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert f"started {n} tasks" in r.stderr and f"mpiexec -n {n}" in r.stderr and "srun --mpi=pmix" in r.stderr
        assert not list(linear_case.glob("out.h5*"))
    # a batch script's own allocation (no job step) and a real multi-rank world are not mis-launches
    assert check_launch(1, {"SLURM_NTASKS": "4", "SLURM_STEP_NUM_TASKS": "4"}) is None
    assert check_launch(2, {"PMI_SIZE": "2"}) is None
    assert check_launch(1, {"PMI_SIZE": "1"}) is None


def test_validate_states_the_output_size_and_warns_when_space_is_short(cli, linear_case, monkeypatch):
    """The estimate of the samples' size agrees with what a run writes, and too little free
    space is a warning (printed by validate and before a run), not an error."""
    import shutil
    from collections import namedtuple

    import h5py

    from remc_mpi.config import load_config
    from remc_mpi.io.paths import output_bytes, space_warning

    v = cli("validate", "config.yaml", cwd=linear_case)
    assert v.returncode == 0 and "MB of samples" in v.stdout and "warning" not in v.stdout
    assert cli("run", "config.yaml", cwd=linear_case).returncode == 0
    cfg = load_config(linear_case / "config.yaml")
    with h5py.File(linear_case / "out.h5") as h5:
        stored = sum(h5["samples"][k].id.get_storage_size() for k in h5["samples"])
    assert stored == output_bytes(cfg, cfg.candidates[0])
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9, 1000))
    warning = space_warning(cfg, [linear_case / "out.h5"])
    assert warning and "1000" not in warning and "0.0 MB free" in warning and "--resume" in warning


def test_a_reader_that_goes_away_gets_no_traceback():
    """remc-mpi ... | head: a closed pipe ends the command silently (exit 141, nothing on stderr)."""
    import subprocess
    import sys

    script = ("import sys, types\n"
              "import remc_mpi.ui.cli as cli\n"
              "def flood(args):\n"
              "    for _ in range(20000):\n"
              "        print('x' * 100)\n"
              "cli.build_parser = lambda: types.SimpleNamespace(parse_args=lambda argv: types.SimpleNamespace(func=flood))\n"
              "sys.exit(cli.main([]))\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and err == "", err


def test_no_command_writes_over_its_own_input(tmp_path, capsys):
    """export onto its results file, a run whose output is its data or config file (even with
    --force), simulate or export onto an existing file without --force: one line, exit 2, the
    input untouched."""
    import yaml

    from remc_mpi.ui.cli import main

    sim = ["simulate", "--model", "polynomial", "--param", "c0=1", "--param", "c1=0.5", "--grid", "-1:1:25",
           "--noise", "0.1", "-o", str(tmp_path / "d.csv")]
    assert main(sim) == 0
    before = (tmp_path / "d.csv").read_bytes()
    assert main(sim) == 2 and "d.csv exists; give --force" in capsys.readouterr().err
    assert main(sim + ["--force"]) == 0
    cfg = {"data": {"file": "d.csv"}, "model": {"name": "polynomial"}, "noise": {"sigma": 0.1},
           "priors": {"c0": {"normal": [0, 2]}, "c1": {"normal": [0, 2]}}, "ladder": {"n_temps": 4},
           "sampler": {"sweeps": 200, "burn_in": 50}, "progress": False}
    for output in ("d.csv", "c.yaml"):
        (tmp_path / "c.yaml").write_text(yaml.safe_dump({**cfg, "output": output}))
        capsys.readouterr()
        assert main(["run", str(tmp_path / "c.yaml"), "--force"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "would overwrite the run's input" in err, err
    assert (tmp_path / "d.csv").read_bytes() == before
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**cfg, "output": "r.h5"}))
    assert main(["run", str(tmp_path / "c.yaml")]) == 0
    results = tmp_path / "r.h5"
    saved = results.read_bytes()
    capsys.readouterr()
    assert main(["export", "--arviz", str(results), str(results), "--force"]) == 2
    assert "refusing to write over it" in capsys.readouterr().err and results.read_bytes() == saved


def test_json_output_is_standard_json_with_null_for_what_could_not_be_computed():
    from remc_mpi.ui.cli import strict_json

    text = strict_json({"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": -float("inf"), "e": "x"}})
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": {"d": None, "e": "x"}}
    assert "NaN" not in text and "Infinity" not in text


def test_simulate_refuses_a_non_finite_parameter_and_select_a_repeated_file(tmp_path, capsys):
    from remc_mpi.ui.cli import main

    assert main(["simulate", "--model", "polynomial", "--param", "c0=nan", "--param", "c1=1", "--grid", "0:1:20",
                 "-o", str(tmp_path / "x.csv")]) == 2
    assert "c0: 'nan' is not a finite number" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()
    (tmp_path / "r.h5").write_bytes(b"")
    assert main(["select", str(tmp_path / "r.h5"), str(tmp_path / ".." / tmp_path.name / "r.h5")]) == 2
    assert "again: each candidate once" in capsys.readouterr().err


def test_the_command_exits_with_mains_status_and_its_objects_frozen(tmp_path):
    """``remc-mpi`` (cli.entry) exits with main's status, every object moved out of the final
    garbage collection's reach first (gc.freeze: that collection walked numba's objects for
    0.15 s of every exit), and the exit handlers still run."""
    import subprocess
    import sys

    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0, flush=True))\n"
            "sys.argv = ['remc-mpi', 'run', 'missing.yaml']\n"
            "from remc_mpi.ui.cli import entry\n"
            "entry()\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "missing.yaml" in r.stderr
    assert r.stdout.strip() == "frozen True"
