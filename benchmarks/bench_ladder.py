"""Which ladder should be the default? Fixed geometric, re-spaced at equal rejection, or chosen
from the barrier.

    python benchmarks/bench_ladder.py [--problems k3,cluster2,cluster3] [--seeds 5]

For every problem of benchmarks/problems.py and every seed, runs the whole engine three ways:

- ``geometric``: the problem's own L, geometric spacing, no adaptation (the default before);
- ``equal rejection``: the same L, re-spaced at equal swap rejection during burn-in
  (``ladder.adapt: true``, Syed et al. 2022);
- ``auto``: ``n_temps: auto`` (a pilot measures the communication barrier Lambda, L = 2 Lambda + 1)
  with the same re-spacing;

and prints, averaged over the seeds: L, the barrier Lambda, round trips per sweep, the mean
reported log-evidence error, the CPU seconds (set-up to results, pilot included) and the
figure of merit error^2 x CPU seconds (lower is better: the CPU time to reach a given error).
Figures in docs/free_energy.md, "The ladder".
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

LADDERS = {
    "geometric": lambda lad: dict(lad, adapt=False),
    "equal rejection": lambda lad: dict(lad, adapt=True),
    "auto": lambda lad: dict(lad, n_temps="auto", adapt=True),
}


def measure(name: str, ladder: str, seed: int, folder: Path) -> dict:
    from mpi4py import MPI

    from remc_mpi.config import parse_config
    from remc_mpi.driver.engine import run

    raw = problem(name, str(folder / f"{name}-{seed}.h5"), seed=500 + seed)
    raw["ladder"] = LADDERS[ladder](raw["ladder"])
    t0 = time.process_time()
    s = run(parse_config(raw, f"{name}.yaml"), MPI.COMM_SELF, force=True)[0]
    cpu = time.process_time() - t0
    d = s["diagnostics"]
    kept = s["n_saved"]
    return {"L": len(s["lambda"]), "barrier": d["barrier"], "trips_per_sweep": d["round_trips"] / kept,
            "error": s["log_evidence"]["stderr"], "cpu": cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default="k3,cluster2,cluster3")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    print(f"{'problem':<10} {'ladder':<16} {'L':>4} {'barrier':>8} {'trips/sweep':>12} {'error':>8} "
          f"{'CPU s':>7} {'err^2 x CPU s':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.problems.split(","):
            for ladder in LADDERS:
                rows = [measure(name, ladder, s, Path(tmp)) for s in range(args.seeds)]
                m = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
                merit = float(np.mean([r["error"] ** 2 * r["cpu"] for r in rows]))
                print(f"{name:<10} {ladder:<16} {m['L']:4.0f} {m['barrier']:8.2f} {m['trips_per_sweep']:12.4f} "
                      f"{m['error']:8.4f} {m['cpu']:7.2f} {merit:14.5f}", flush=True)


if __name__ == "__main__":
    main()
