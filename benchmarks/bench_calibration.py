"""Are the free-energy error bars honest? Many seeds of the same problem, their scatter against
the error bars they report.

    python benchmarks/bench_calibration.py [--problems k3,cluster3] [--seeds 30] [--scale 1.0] [--chains 1]

For every problem of benchmarks/problems.py, runs the whole engine with ``--seeds`` seeds (the
data fixed, the sampler's seed varied) at the problem's own run length, and prints per
estimator:

- ratio = (standard deviation of the seeds' values) / (mean reported error): 1 when honest,
  > 1 when the error bars are too small (its own uncertainty is about 1 / sqrt(2 (seeds - 1)));
- sum z^2 of z = (value - weighted mean) / error, against chi^2(seeds - 1) (its central 99 %
  interval printed beside it);

both for the bootstrap blocks of remc_mpi (``mixing_time``: the slots' and the replicas'
autocorrelation) and, for comparison, for blocks from the slots' energies alone (the rule
before the replicas' time was added). ``--chains M`` runs M independent ladders of 1/M of the
sweeps and burn-in each (the same work), and prints the mean reported error as well: the
figures behind the default of ``ladder.chains``. Figures in docs/free_energy.md, "Error bars".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
from problems import problem  # noqa: E402


def seed_values(name: str, n_seeds: int, scale: float, folder: Path,
                chains: int = 1) -> dict[str, list[tuple[float, float]]]:
    """Per rule and estimator, (log Z, stderr) of each seed."""
    from mpi4py import MPI

    from remc_mpi.evidence import freeenergy as fe
    from remc_mpi.config import parse_config
    from remc_mpi.driver.engine import run
    from remc_mpi.io.output import ResultsFile
    from remc_mpi.driver.summary import chain_major

    out: dict[str, list] = {}
    for s in range(n_seeds):
        raw = problem(name, str(folder / f"{name}-{s}.h5"), seed=1000 + s)
        raw["sampler"]["sweeps"] = int(raw["sampler"]["sweeps"] * scale / chains)
        raw["sampler"]["burn_in"] = int(raw["sampler"]["burn_in"] * scale / chains)
        raw["ladder"]["chains"] = chains
        cfg = parse_config(raw, f"{name}.yaml")
        run(cfg, MPI.COMM_SELF, force=True)
        with ResultsFile(folder / f"{name}-{s}.h5") as rf:
            U = chain_major(rf.samples("energy"), chains) * cfg.data.n
            lam, replica = rf.ladder(), chain_major(rf.samples("replica"), chains)
        for rule, rep in (("replicas", replica), ("slots only", None)):
            est = fe.estimate_all(lam, U, n_boot=200, seed=s, replica=rep, chains=chains)
            for e in fe.ESTIMATORS:
                out.setdefault(f"{rule}:{e}", []).append((est["log_z"][e][-1], est["stderr"][e][-1]))
        print(f"  {name} seed {s}: blocks of {est['block']} rows (slots only)", file=sys.stderr, flush=True)
    return out


def calibration(values: list[tuple[float, float]]) -> tuple[float, float, float]:
    """(scatter / mean error, sum z^2 about the inverse-variance weighted mean, mean error)."""
    v = np.array(values)
    x, err = v[:, 0], v[:, 1]
    w = 1 / err**2
    mean = np.sum(w * x) / np.sum(w)
    return float(x.std(ddof=1) / err.mean()), float(np.sum(((x - mean) / err) ** 2)), float(err.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default="k3,cluster3")
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies sweeps and burn-in")
    ap.add_argument("--chains", type=int, default=1, help="independent ladders, each 1/chains of the sweeps")
    args = ap.parse_args()
    lo, hi = stats.chi2.ppf([0.005, 0.995], args.seeds - 1)
    print(f"chains = {args.chains}; {'problem':<10} {'blocks from':<11} {'estimator':<15} {'ratio':>6} {'sum z^2':>8} "
          f"{'mean err':>9}   chi2({args.seeds - 1}) 99%: [{lo:.1f}, {hi:.1f}]")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.problems.split(","):
            for key, vals in seed_values(name, args.seeds, args.scale, Path(tmp), args.chains).items():
                rule, est = key.split(":")
                ratio, z2, err = calibration(vals)
                flag = "" if lo <= z2 <= hi else "  outside"
                print(f"{name:<10} {rule:<11} {est:<15} {ratio:6.2f} {z2:8.1f} {err:9.4f}{flag}", flush=True)


if __name__ == "__main__":
    main()
