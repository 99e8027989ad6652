"""Where a short run's wall time goes: issue #27's start-up case, phase by phase.

    python benchmarks/bench_startup.py [--problem cluster3] [--sweeps 3000] [--repeats 5]

For a problem of benchmarks/problems.py (default: the cluster3 problem cut to 3000 sweeps, 32
rungs, 300 points, one rank: the issue's case) every repeat starts fresh processes:

- the import floor, one process timing in turn: the interpreter's start and exit (measured from
  outside, the exit after ``gc.freeze`` as the command's); numpy, h5py and mpi4py; numba; numba's CPU target set up (what its
  first compile or cache load does: it loads numba's numpy support, which imports scipy.linalg's
  BLAS bindings); remc_mpi's modules; the sampler's kernels loaded from numba's cache
  (``sampling.sampler.warm_up``);
- the whole ``remc-mpi run`` of the problem: the process's wall time, and the run's own clock
  from its provenance (``run()`` itself, its sampling loop, the compiled kernel within that, the
  post-processing).

It prints each figure's median and range over the repeats. One unrecorded run first fills
numba's cache, so no repeat compiles. The processes run outside the source tree, so an older
checkout on PYTHONPATH is the one timed (``PYTHONPATH=/path/to/checkout python bench_startup.py``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from problems import problem  # noqa: E402

#: the import floor's phases, timed inside one fresh process (each import cumulative on the last)
FLOOR = """
import json, sys, time
t = [time.perf_counter()]
import numpy, h5py, mpi4py.MPI
t.append(time.perf_counter())
import numba
t.append(time.perf_counter())
from numba.core.registry import cpu_target
cpu_target.target_context.refresh()
t.append(time.perf_counter())
import remc_mpi.config, remc_mpi.driver.engine
from remc_mpi.sampling.sampler import warm_up
t.append(time.perf_counter())
warm_up()
t.append(time.perf_counter())
print(json.dumps([b - a for a, b in zip(t, t[1:])]))
import gc
gc.freeze()  # as the command does before its exit (remc_mpi.ui.cli.entry)
"""
FLOOR_NAMES = ("numpy, h5py, mpi4py", "numba", "numba's CPU target", "remc_mpi modules", "kernel load")
RUN_NAMES = ("whole process", "run()", "sampling", "compiled kernel", "post-processing")


def floor_once() -> list[float]:
    """The interpreter's start and exit (from outside: the process's wall time less what it timed
    inside) and the FLOOR phases."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", FLOOR], capture_output=True, text=True, check=True,
                         cwd=tempfile.gettempdir()).stdout
    whole = time.perf_counter() - t0
    phases = json.loads(out)
    return [whole - sum(phases), *phases]


def run_once(config: Path) -> list[float]:
    """The whole ``remc-mpi run`` and the run's own clock from its provenance."""
    t0 = time.perf_counter()
    # run outside the source tree: from its root, ``-m`` would take that package before PYTHONPATH's
    subprocess.run([sys.executable, "-m", "remc_mpi", "run", "--force", str(config)], capture_output=True, check=True,
                   cwd=config.parent)
    whole = time.perf_counter() - t0
    output = yaml.safe_load(config.read_text())["output"]
    with h5py.File(output, "r") as f:
        info = dict(f["provenance/info"].attrs)
    return [whole, *(float(info[k]) for k in ("wall_s", "sampling_s", "model_s", "postprocess_s"))]


def show(name: str, values: list[float]) -> None:
    print(f"  {name:22s} {statistics.median(values):6.3f} s   [{min(values):.3f}, {max(values):.3f}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", default="cluster3")
    ap.add_argument("--sweeps", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "run.yaml"
        config.write_text(yaml.safe_dump(problem(args.problem, str(Path(tmp) / "run.h5"), sweeps=args.sweeps)))
        run_once(config)  # fills numba's cache
        floors, runs = [], []
        for _ in range(args.repeats):
            floors.append(floor_once())
            runs.append(run_once(config))
    print(f"{args.problem}, {args.sweeps} sweeps, one rank: median [range] over {args.repeats} repeats")
    print("import floor (one fresh process):")
    for name, column in zip(("interpreter start, exit",) + FLOOR_NAMES, zip(*floors)):
        show(name, list(column))
    show("sum", [sum(f) for f in floors])
    print("remc-mpi run:")
    for name, column in zip(RUN_NAMES, zip(*runs)):
        show(name, list(column))
    show("before and after run()", [r[0] - r[1] for r in runs])


if __name__ == "__main__":
    main()
