"""Evidence per CPU-second: bridge sampling from the posterior against the ladder's estimators.

    python benchmarks/bench_bridge.py [--problems cluster2,cluster3] [--seeds 8] [--scales 1,0.25]

For each problem of benchmarks/problems.py and each run length (``--scales`` times the problem's
sweeps and burn-in; ``--rungs`` optionally another L, ``--burn-in`` another share of the sweeps
burnt in), ``--seeds`` whole runs on one core (the
data fixed, the sampler's seed varied), all from one invocation. Printed per estimator: the
seeds' mean value, their scatter (sd), the mean reported error, the mean CPU seconds of a whole
run (``time.process_time`` around ``engine.run``: sampling and post-processing; ``--thin`` sets
the stored parameters' thinning, which is all the bridge sees) and the
efficiency error^2 x CPU-s from the scatter (lower is better; issue figures: remc-mpi MBAR 0.016,
nautilus 0.0029 on cluster2).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from problems import problem  # noqa: E402


def runs(name: str, seeds: int, scale: float, rungs: int | None, thin: int | None, folder: Path,
         burn_share: float | None = None) -> tuple[dict, float]:
    """Per estimator the seeds' (value, stderr), and the mean CPU seconds of a run."""
    from mpi4py import MPI

    from remc_mpi.config import parse_config
    from remc_mpi.driver.engine import run

    out: dict[str, list] = {}
    cpu = []
    for s in range(seeds):
        raw = problem(name, str(folder / f"{name}-{scale}-{s}.h5"), seed=2000 + s, n_temps=rungs)
        raw["sampler"]["sweeps"] = int(raw["sampler"]["sweeps"] * scale)
        raw["sampler"]["burn_in"] = int(raw["sampler"]["burn_in"] * scale)
        if burn_share is not None:  # the same sweeps, a different share of them burnt in
            raw["sampler"]["burn_in"] = int(raw["sampler"]["sweeps"] * burn_share)
        if thin is not None:  # the stored parameters' thinning: the bridge sees only those
            raw["sampler"]["thin"] = thin
        t0 = time.process_time()
        summary = run(parse_config(raw, f"{name}.yaml"), MPI.COMM_SELF, force=True)[0]
        cpu.append(time.process_time() - t0)
        for k, e in summary["estimators"].items():
            out.setdefault(k, []).append((e["value"], e["stderr"]))
    return out, float(np.mean(cpu[1:] if len(cpu) > 1 else cpu))  # the first run compiles or loads kernels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default="cluster2,cluster3")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--scales", default="1,0.25")
    ap.add_argument("--rungs", type=int, default=None)
    ap.add_argument("--thin", type=int, default=None, help="sampler.thin (default: the problem's, 10)")
    ap.add_argument("--burn-in", type=float, default=None, help="burn-in as a share of the sweeps (default: the problem's)")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_bridge_"))
    print(f"{args.seeds} seeds per row, one core; efficiency = scatter^2 x CPU-s")
    print(f"{'problem':<10} {'scale':>5} {'estimator':<15} {'mean':>12} {'scatter':>9} {'error':>9} {'CPU-s':>7} "
          f"{'eff':>9}")
    for name in args.problems.split(","):
        for scale in map(float, args.scales.split(",")):
            values, cpu = runs(name, args.seeds, scale, args.rungs, args.thin, folder, args.burn_in)
            for est, v in values.items():
                v = np.array(v, dtype=float)
                if not np.all(np.isfinite(v)):
                    continue
                sd = v[:, 0].std(ddof=1)
                print(f"{name:<10} {scale:>5g} {est:<15} {v[:, 0].mean():>12.4f} {sd:>9.4f} {v[:, 1].mean():>9.4f} "
                      f"{cpu:>7.2f} {sd * sd * cpu:>9.2e}", flush=True)


if __name__ == "__main__":
    main()
