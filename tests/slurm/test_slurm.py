"""On a real Slurm (tests/slurm/start_slurm.sh; `make test-slurm`): a campaign submitted as a
job array with its collection job, and a run whose time limit interrupts it, checkpointed and
requeued, finishing with exactly the uninterrupted result."""

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from test_campaign import BASE, CAMPAIGN  # noqa: E402
from test_restart import CONFIG  # noqa: E402

pytestmark = pytest.mark.skipif(not os.environ.get("SLURM_CONF") or shutil.which("sbatch") is None,
                                reason="needs a running Slurm (make test-slurm)")
BIN = str(Path(sys.executable).parent)
ENV = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"])


def wait_jobs(ids, timeout=600):
    t0 = time.time()
    while True:
        out = subprocess.run(["squeue", "-h", "-o", "%i %T", "-j", ",".join(ids)], capture_output=True, text=True).stdout
        if not out.strip():
            return
        assert time.time() - t0 < timeout, out
        time.sleep(2)


def job_info(job):
    return subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout


def test_campaign_array_and_collection(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    camp = dict(CAMPAIGN, grid=dict(CAMPAIGN["grid"], seeds=[3]))
    (tmp_path / "camp.yaml").write_text(yaml.safe_dump(camp))
    r = subprocess.run([sys.executable, "-m", "remc_mpi", "campaign", "camp.yaml", "--slurm", "--submit"],
                       cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("submitted"))
    ids = [w for w in line.split() if w.isdigit()]
    assert len(ids) == 2, r.stdout
    wait_jobs(ids)
    out = tmp_path / "out"
    rows = list(csv.DictReader(open(out / "collected.csv")))
    assert len(rows) == 6 and all(r["status"] == "complete" for r in rows), rows
    # each array task ran on 2 ranks: same result as a serial run of its config (rank invariance)
    from remc_mpi.config import load_config
    from remc_mpi.driver.engine import run

    task = out / "tasks" / "0004"
    ref = run(load_config(task / "config.yaml"), output=str(tmp_path / "ref.h5"), progress=False)
    got = {r["task"]: r for r in rows}["4"]
    for s in ref:
        assert float(got[f"F_{s['label']}"]) == -s["log_evidence"]["value"]
    logs = list((out / "jobs").glob("task-*.log"))
    assert len(logs) == 6


def test_plan_array_skips_decided_levels_and_answers(tmp_path):
    """`remc-mpi plan --slurm --submit`: each array task runs `plan --task N`, the collection job
    `plan --collect`; the answer equals the one a local run of the same plan gives."""
    from test_plan import write_plan

    # 30 counts: the slope is invisible, two repeats decide the level (tests/test_plan.py), the
    # array's later tasks of it (4 and 6; one task at a time on this 2-core node) are skipped
    plan = write_plan(tmp_path, levels={"counts": [30, 3000]}, repeats=4, min_repeats=2, noise="gaussian")
    r = subprocess.run([sys.executable, "-m", "remc_mpi", "plan", "plan.yaml", "--slurm", "--submit"],
                       cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("submitted"))
    ids = [w for w in line.split() if w.isdigit()]
    wait_jobs(ids)
    got = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert got["cost"]["runs"] == 6 and got["cost"]["skipped"] == 2 and got["cost"]["core_hours"] > 0, got["cost"]
    logs = "".join(p.read_text() for p in (tmp_path / "out" / "jobs").glob("task-*.log"))
    assert logs.count(": finished") == 6 and logs.count(": skipped") == 2, logs
    local = tmp_path / "local"
    local.mkdir()
    write_plan(local, levels={"counts": [30, 3000]}, repeats=4, min_repeats=2, noise="gaussian")
    assert subprocess.run([sys.executable, "-m", "remc_mpi", "plan", str(plan.name)], cwd=local, env=ENV,
                          capture_output=True, timeout=300).returncode == 0
    want = json.loads((local / "out" / "plan.json").read_text())
    strip = ("core_hours",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in got["table"]] == \
        [{k: v for k, v in r.items() if k not in strip} for r in want["table"]]


def wait_for_text(folder, pattern, text, timeout):
    t0 = time.time()
    while True:
        log = "".join(p.read_text() for p in folder.glob(pattern))
        if text in log:
            return log
        assert time.time() - t0 < timeout, log
        time.sleep(1)


def test_time_limit_signal_checkpoint_requeue_and_finish(tmp_path):
    # slurmctld acts on time limits in a pass every 30 s and sends the signal at the first pass
    # within 30 s of the asked-for time: with a one-minute limit and --signal=B:USR1@18 it comes
    # 12 to 42 s after the start (probe jobs here: 26-35 s at @20), well after the ranks have
    # started (2-3 s) and before these 1500000 sweeps (about 65 s on 2 ranks with the compiled
    # kernels, more while the reference runs beside them) are done.
    cfg = dict(CONFIG, output="out.h5", sampler={"sweeps": 1500000, "burn_in": 5000, "thin": 500, "save_every": 10})
    cfg.pop("checkpoint")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run(["sbatch", "--parsable", "--ntasks=2", "--time=1", "--signal=B:USR1@18",
                        f"--output={tmp_path}/job-%j.log", f"--chdir={tmp_path}",
                        "--export=ALL,CONFIG=c.yaml,LAUNCH=mpiexec -n 2", str(ROOT / "jobs" / "run.sbatch")],
                       capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip()
    # the uninterrupted reference run, serial, meanwhile (it only slows the job down)
    ref = subprocess.Popen([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "-q", "-o", "ref.h5"],
                           cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = wait_for_text(tmp_path, "job-*.log", "stopped by SIGTERM", timeout=300)
    assert "time limit near, checkpointing" in log and "checkpoint written" in log, log
    # the requeued job gets a limit its remaining sweeps fit in (with one minute it would be
    # signalled again at its first time-limit pass)
    subprocess.run(["scontrol", "update", f"JobId={job}", "TimeLimit=10"], check=True)
    wait_jobs([job], timeout=900)
    info = job_info(job)
    assert int(info.split("Restarts=")[1].split()[0]) >= 1, info
    assert "JobState=COMPLETED" in info and "ExitCode=0:0" in info, info
    assert ref.wait(timeout=600) == 0, ref.stderr.read()
    with h5py.File(tmp_path / "out.h5") as a, h5py.File(tmp_path / "ref.h5") as b:
        for k in ("samples/energy", "samples/theta", "samples/replica", "free_energy/log_z_mbar"):
            np.testing.assert_array_equal(a[k][()], b[k][()], err_msg=k)


def test_srun_of_one_rank_runtimes_stops_with_one_line(tmp_path):
    """`srun -n 2` with the PyPI MPICH runtime on a Slurm whose MpiDefault is none starts two
    independent one-rank processes: remc-mpi must refuse before any work (exit 2, one line
    from task 0 naming the fix), not run twice on one output."""
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, output="out.h5")))
    r = subprocess.run(["srun", "--ntasks=2", "--time=2", sys.executable, "-m", "remc_mpi", "run", "c.yaml", "-q"],
                       cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 2, (r.returncode, r.stderr)
    errors = [line for line in r.stderr.splitlines() if line.startswith("remc-mpi:")]
    assert len(errors) == 1 and "started 2 tasks" in errors[0] and "mpiexec -n 2" in errors[0], r.stderr
    assert not list(tmp_path.glob("out.h5*"))
