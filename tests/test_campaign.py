"""Campaigns: grid expansion, local runs that skip finished work, SLURM scripts, collection."""

import csv
import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from remc_mpi.ui.campaign import load_campaign, task_done, write_slurm, write_tasks
from remc_mpi.ui.cli import main

BASE = {
    "data": {"file": "data.csv"},
    "models": [{"name": "polynomial", "options": {"degree": 0}}, {"name": "polynomial", "options": {"degree": 1}}],
    "noise": {"sigma": 0.1},
    "priors": {"c0": {"normal": [0.0, 1.0]}, "c1": {"normal": [0.0, 1.0]}},
    "ladder": {"n_temps": 4},
    "sampler": {"sweeps": 150, "burn_in": 50, "thin": 1},
    "seed": 1,
}
CAMPAIGN = {
    "name": "tiny",
    "folder": "out",
    "base": "base.yaml",
    "grid": {"noise": [0.05, 0.2],
             "truth": {"model": "polynomial", "options": {"degree": 1}, "params": {"c0": 0.2},
                       "sweep": {"c1": [0.0, 0.5, 1.0]}},
             "grid": [-1.0, 1.0, 30], "seeds": [3, 4]},
    "slurm": {"ntasks": 2, "time": "00:05:00", "launcher": "mpiexec"},
}


@pytest.fixture
def camp_file(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "camp.yaml").write_text(yaml.safe_dump(CAMPAIGN))
    return tmp_path / "camp.yaml"


def test_grid_expansion_and_task_files(camp_file):
    camp = load_campaign(camp_file)
    assert len(camp.tasks) == 3 * 2 * 2
    write_tasks(camp)
    t = camp.tasks[5]
    point = json.loads((t.folder / "point.json").read_text())
    cfg = yaml.safe_load(t.config.read_text())
    assert cfg["noise"] == {"sigma": point["noise"]} and cfg["seed"] == point["seed"]
    assert point["truth"]["c1"] == point["sweep_c1"]
    assert (t.folder / "data.csv").read_text().startswith("energy,intensity\n")
    assert {(p.point["sweep_c1"], p.point["noise"], p.point["seed"]) for p in camp.tasks} == {
        (c, n, s) for c in (0.0, 0.5, 1.0) for n in (0.05, 0.2) for s in (3, 4)}


def test_local_run_skips_finished_tasks_and_collects(camp_file, capsys):
    assert main(["campaign", str(camp_file), "--local"]) == 0
    out = camp_file.parent / "out"
    rows = list(csv.DictReader(open(out / "collected.csv")))
    assert len(rows) == 12 and all(r["status"] == "complete" for r in rows)
    for r in rows:
        p0, p1 = float(r["P_polynomial0"]), float(r["P_polynomial1"])
        assert abs(p0 + p1 - 1) < 1e-9
        assert r["selected"] == ("polynomial1" if p1 > p0 else "polynomial0")
    # a steep line at low noise needs the slope
    steep = [r for r in rows if float(r["sweep_c1"]) == 1.0 and float(r["noise"]) == 0.05]
    assert all(r["selected"] == "polynomial1" for r in steep)
    with h5py.File(out / "collected.h5") as h5:
        assert h5["sweep_c1"].shape == (12,)
    assert (out / "phase_diagram.png").read_bytes()[:4] == b"\x89PNG"
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("tasks/*/result-*.h5")}
    assert len(stamps) == 24
    capsys.readouterr()
    assert main(["campaign", str(camp_file), "--local"]) == 0
    assert "(12 finished)" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.glob("tasks/*/result-*.h5")} == stamps


def test_slurm_scripts_cover_only_unfinished_tasks(camp_file):
    camp = load_campaign(camp_file)
    write_tasks(camp)
    paths = write_slurm(camp)
    text = paths["array"].read_text()
    assert "#SBATCH --array=0,1,2,3,4,5,6,7,8,9,10,11" in text
    assert "#SBATCH --signal=B:USR1@" in text and "scontrol requeue" in text and "--resume" in text
    assert "mpiexec -n 2" in text
    leftover = re.findall(r"\$\{?[A-Z]+\}?", text.replace("${SLURM_ARRAY_TASK_ID}", "").replace("${SLURM_JOB_ID}", ""))
    assert leftover == []  # every template knob was filled
    assert f"cd {camp.folder}/tasks/" in text
    assert "--dependency" not in text and "collect" in paths["collect"].read_text()
    # finish two tasks by hand, the array shrinks
    from remc_mpi.config import load_config
    from remc_mpi.driver.engine import run

    for t in camp.tasks[:2]:
        run(load_config(t.config), resume=True, progress=False)
    assert task_done(camp.tasks[0]) and not task_done(camp.tasks[2])
    assert "#SBATCH --array=2,3,4,5,6,7,8,9,10,11" in write_slurm(camp)["array"].read_text()


@pytest.mark.parametrize("mutate,match", [
    (lambda c: c.update(gird={}), "gird: unknown key"),
    (lambda c: c["grid"].update(noise=[-1]), "grid.noise: -1 is not a positive number"),
    (lambda c: c["grid"]["truth"]["sweep"].update(c9=[1]), "grid.truth.sweep.c9: unknown key"),
    (lambda c: c["grid"]["truth"].update(params={}), "no value for c0"),
    (lambda c: c.update(base="nope.yaml"), "nope.yaml does not exist"),
])
def test_bad_campaign_files(camp_file, capsys, mutate, match):
    c = yaml.safe_load(camp_file.read_text())
    mutate(c)
    camp_file.write_text(yaml.safe_dump(c))
    assert main(["campaign", str(camp_file), "--local"]) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_campaign_over_measured_files(tmp_path):
    from remc_mpi.config import synthesize
    from remc_mpi.io.data import write_spectrum
    from remc_mpi.models import get_model

    m = get_model("polynomial", degree=1)
    for i, slope in enumerate((0.0, 1.0)):
        e, y = synthesize(m, {"c0": 0.1, "c1": slope}, np.linspace(-1, 1, 25), 0.05, i)
        write_spectrum(tmp_path / f"s{i}.csv", e, y)
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    camp = {"base": "base.yaml", "files": ["s0.csv", "s1.csv"], "folder": "out"}
    (tmp_path / "camp.yaml").write_text(yaml.safe_dump(camp))
    assert main(["campaign", str(tmp_path / "camp.yaml")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "collected.csv")))
    assert [r["file"].endswith(f"s{i}.csv") for i, r in enumerate(rows)] == [True, True]
    assert rows[1]["selected"] == "polynomial1"
    # the trust status and the fit of every candidate are columns of the table (remc_mpi.evidence.trust)
    from remc_mpi.io.output import read_summary
    from remc_mpi.evidence.trust import trust_status

    out = sorted((tmp_path / "out" / "tasks" / "0001").glob("*.h5"))
    assert out and {"decided", "all_misfit", "trusted_polynomial1", "fit_polynomial1"} <= set(rows[1])
    summaries = [read_summary(p) for p in out]
    assert rows[1]["decided"] == str(all(trust_status(s)["trusted"] for s in summaries))
    assert not (tmp_path / "out" / "phase_diagram.png").exists()  # no grid to draw


def test_invalid_yaml_in_a_campaign_or_its_base_names_the_line(camp_file, capsys):
    text = camp_file.read_text()
    camp_file.write_text(text + "grid: [unclosed\n")
    assert main(["campaign", str(camp_file), "--local"]) == 2
    err = capsys.readouterr().err
    assert str(camp_file) in err and "line " in err and "invalid YAML" in err and err.count("\n") == 1
    camp_file.write_text(text)
    base = camp_file.parent / yaml.safe_load(text)["base"]
    base.write_text(base.read_text() + "seed: [1,\n")
    assert main(["campaign", str(camp_file), "--local"]) == 2
    err = capsys.readouterr().err
    assert str(base) in err and "line " in err and err.count("\n") == 1


def test_tasks_another_run_is_writing_are_skipped(camp_file, capsys):
    """A campaign re-run while its tasks run elsewhere (a live lock on their outputs) neither
    resumes them under the live run nor puts them in the next job array."""
    import json
    import os
    import socket

    from remc_mpi.ui.campaign import run_local, task_running
    from remc_mpi.config import load_config
    from remc_mpi.io.lock import lock_path
    from remc_mpi.io.paths import output_paths

    camp = load_campaign(camp_file)
    write_tasks(camp)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "job": None, "started": 0}
    for t in camp.tasks[:3]:
        for p in output_paths(load_config(t.config)):
            lock_path(p).write_text(json.dumps(me))
    assert task_running(camp.tasks[0])["pid"] == os.getpid() and task_running(camp.tasks[3]) is None
    todo = write_slurm(camp)["todo"]
    assert todo == list(range(3, len(camp.tasks)))
    camp.tasks = camp.tasks[:4]
    assert run_local(camp) == 1
    out = capsys.readouterr().out
    assert out.count("skipped: running on") == 3 and task_done(camp.tasks[3]) and not task_done(camp.tasks[0])


def test_the_example_campaign_grid_holds_every_line_of_every_truth(tmp_path):
    """examples/campaign/delta_sweep.yaml: no truth has a line outside its grid; the old window
    [-8, 16] misses the lowest line of every truth with delta <= 8 and is warned about."""
    import shutil

    from remc_mpi.ui.campaign import load_campaign

    example = Path(__file__).resolve().parents[1] / "examples" / "campaign"
    for f in ("delta_sweep.yaml", "base.yaml"):
        shutil.copy(example / f, tmp_path / f)
    assert load_campaign(tmp_path / "delta_sweep.yaml").warnings == []
    camp = yaml.safe_load((tmp_path / "delta_sweep.yaml").read_text())
    camp["grid"]["grid"] = [-8.0, 16.0, 200]
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(camp))
    warned = load_campaign(tmp_path / "old.yaml").warnings
    assert [w.split(":")[0] for w in warned] == [f"truth delta={d:g}" for d in (8.0, 6.0, 5.0, 4.0, 3.0, 2.4, 2.0, 1.6)]
    assert "lines at -12.71 eV (weight 0.45) lie outside the grid [-8, 16]" in warned[-1]


def test_phase_diagram_cells_name_a_model_only_where_the_data_decide():
    from remc_mpi.ui.collect import cell_label

    assert cell_label({"selected": "cluster3", "P_cluster3": 0.99, "decided": True}) == "cluster3"
    assert cell_label({"selected": "cluster3", "P_cluster3": 0.55, "decided": True}) == "-"
    assert cell_label({"selected": "cluster3", "P_cluster3": 1.0, "decided": False}) == "?"


def test_task_data_keeps_what_applies_to_the_task_spectrum():
    from remc_mpi.ui.campaign import task_data

    base = {"synthetic": {"model": "polynomial"}, "window": [0.0, 1.0], "block": 2, "normalize": "max"}
    assert task_data(base, {"truth": {}}) == {"window": [0.0, 1.0], "normalize": "max", "file": "data.csv"}
    assert task_data({"file": "a.vms", "block": 2, "window": [1, 2]}, {"file": "/x/b.vms"}) == {
        "file": "/x/b.vms", "block": 2, "window": [1, 2]}
