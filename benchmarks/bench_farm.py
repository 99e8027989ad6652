"""A campaign of many short tasks: the task farm against the array path, in one invocation.

    python benchmarks/bench_farm.py [--tasks 100] [--slurm]

The same campaign (``--tasks`` grid points, two candidates each, a few tenths of a second of
sampling per task) is run three ways on this machine's two cores, from scratch each time:

- farm: ``mpiexec -n 2 remc-mpi campaign C.yaml --farm`` — two groups of one rank pulling tasks
  from the shared counter; one interpreter and one kernel load per rank for all tasks;
- per-task processes: every task as its own ``remc-mpi run config.yaml --resume -q``, two at a
  time — what a SLURM array does on a two-core node, without the scheduler's own delays;
- with ``--slurm`` (a running Slurm, ``make test-slurm``'s): the real array of one-rank tasks,
  submitted and waited for (its wall time includes the scheduler's).

Printed: wall seconds of each, seconds per task, and the ratios to the farm. The per-task results
are identical in every mode (the same seeds; checked on the first tasks' free energies).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent
BASE = {
    "data": {"file": "data.csv"},
    "models": [{"name": "polynomial", "options": {"degree": 0}}, {"name": "polynomial", "options": {"degree": 1}}],
    "noise": {"sigma": 0.1},
    "priors": {"c0": {"normal": [0.0, 1.0]}, "c1": {"normal": [0.0, 1.0]}},
    "ladder": {"n_temps": 8},
    "sampler": {"sweeps": 2000, "burn_in": 500, "thin": 2},
    "seed": 1,
}


def campaign(folder: Path, tasks: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "base.yaml").write_text(yaml.safe_dump(BASE))
    camp = {"name": "bench", "folder": "out", "base": "base.yaml",
            "grid": {"noise": [0.1], "truth": {"model": "polynomial", "options": {"degree": 1}, "params": {"c0": 0.2},
                                               "sweep": {"c1": [0.3]}},
                     "grid": [-1.0, 1.0, 40], "seeds": list(range(1, tasks + 1))},
            "slurm": {"ntasks": 1, "time": "00:20:00", "launcher": "mpiexec"}}
    (folder / "camp.yaml").write_text(yaml.safe_dump(camp))
    return folder / "camp.yaml"


def remc(*args, cwd: Path) -> str:
    return subprocess.run([str(BIN / "remc-mpi"), *map(str, args)], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


def farm(camp: Path) -> float:
    remc("campaign", camp, "--slurm", cwd=camp.parent)  # writes the tasks only
    t0 = time.perf_counter()
    subprocess.run([str(BIN / "mpiexec"), "-n", "2", str(BIN / "remc-mpi"), "campaign", str(camp), "--farm"],
                   check=True, capture_output=True, cwd=camp.parent)
    return time.perf_counter() - t0


def per_task(camp: Path) -> float:
    remc("campaign", camp, "--slurm", cwd=camp.parent)
    folders = sorted((camp.parent / "out" / "tasks").iterdir())
    t0 = time.perf_counter()
    running: list[subprocess.Popen] = []
    for f in folders:
        while len(running) == 2:
            running = [p for p in running if p.poll() is None]
            if len(running) == 2:
                time.sleep(0.01)
        running.append(subprocess.Popen([str(BIN / "remc-mpi"), "run", "config.yaml", "--resume", "-q"], cwd=f,
                                        stdout=subprocess.DEVNULL))
    for p in running:
        p.wait()
    return time.perf_counter() - t0


def slurm_array(camp: Path) -> float:
    t0 = time.perf_counter()
    out = remc("campaign", camp, "--slurm", "--submit", cwd=camp.parent)
    ids = [w for w in out.splitlines()[-1].split() if w.isdigit()]
    while subprocess.run(["squeue", "-h", "-j", ",".join(ids)], capture_output=True, text=True).stdout.strip():
        time.sleep(0.5)
    return time.perf_counter() - t0


def first_free_energies(camp: Path, n: int = 3) -> list[float]:
    from remc_mpi.io.output import read_summary

    tasks = sorted((camp.parent / "out" / "tasks").iterdir())[:n]
    return [read_summary(t / "result-polynomial1.h5")["free_energy"] for t in tasks]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--slurm", action="store_true", help="also the real Slurm array (needs a running Slurm)")
    args = ap.parse_args()
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    root = Path(tempfile.mkdtemp(prefix="bench_farm_"))
    modes = {"farm (mpiexec -n 2, groups of 1)": farm, "per-task processes, 2 at a time": per_task}
    if args.slurm:
        modes["Slurm array (one rank per task)"] = slurm_array
    times, results = {}, {}
    for i, (name, fn) in enumerate(modes.items()):
        camp = campaign(root / f"m{i}", args.tasks)
        times[name] = fn(camp)
        results[name] = first_free_energies(camp)
    ref = next(iter(times.values()))
    print(f"{args.tasks} tasks of two candidates each (8 rungs, 2000 sweeps), this machine's 2 cores:")
    for name, t in times.items():
        print(f"  {name:<36} {t:7.1f} s  {t / args.tasks:6.3f} s/task  {t / ref:5.2f} x the farm")
    same = len({json.dumps(r) for r in results.values()}) == 1
    print(f"  the first tasks' free energies agree between modes: {same}")


if __name__ == "__main__":
    main()
