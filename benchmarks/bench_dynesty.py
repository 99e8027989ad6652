"""Evidence error per CPU-second against dynesty's static nested sampling (cluster2 problem).

    pip install dynesty          # for this comparison only; not a dependency of remc_mpi
    python benchmarks/bench_dynesty.py [--seeds 3] [--nlive 500]

The La2O3-like cluster2 problem of benchmarks/problems.py (4 free parameters, N = 300): the
engine on one process (L = 24, 6000 sweeps) and dynesty's ``NestedSampler`` (nlive 500 and
its default stopping rule, dlogz = 0.001 (nlive - 1) + 0.01) with the same likelihood, written as a dynesty user would (the numpy model, one theta per call) and the
same priors as a unit-cube transform. For each it prints the reported log evidence and its
error, the CPU seconds of the process, and the figure of merit error^2 x CPU-seconds (lower
is better: the CPU time needed for a given error scales as 1 / error^2). Means over seeds.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from problems import problem  # noqa: E402


def ours(seed: int, folder: str) -> tuple[float, float, float]:
    from mpi4py import MPI

    from remc_mpi.config import parse_config
    from remc_mpi.driver.engine import run

    cfg = parse_config(problem("cluster2", f"{folder}/c2-{seed}.h5", seed=seed))
    c0 = time.process_time()
    s = run(cfg, MPI.COMM_SELF, force=True)[0]
    return s["log_evidence"]["value"], s["log_evidence"]["stderr"], time.process_time() - c0


def theirs(seed: int, nlive: int) -> tuple[float, float, float]:
    import dynesty

    from remc_mpi.config import parse_config

    cfg = parse_config(problem("cluster2", "unused.h5", seed=seed))
    cand = cfg.candidates[0]
    model, priors = cand.model, cand.priors
    x, y, sigma = cfg.data.energy, cfg.data.intensity, cfg.noise.sigma
    free = priors.free_index
    theta0 = np.array([p.args[0] if p.fixed else 0.0 for p in priors.priors])
    lo = np.array([priors.priors[j].args[0] for j in free])
    hi = np.array([priors.priors[j].args[1] for j in free])
    const = -0.5 * x.size * math.log(2 * math.pi * sigma**2)

    def loglike(v):
        th = theta0.copy()
        th[free] = v
        r = y - model.spectrum(th, x)
        return const - 0.5 * float(r @ r) / sigma**2

    def transform(u):
        return lo + u * (hi - lo)

    c0 = time.process_time()
    sampler = dynesty.NestedSampler(loglike, transform, len(free), nlive=nlive, rstate=np.random.default_rng(seed))
    sampler.run_nested(print_progress=False)
    res = sampler.results
    return float(res.logz[-1]), float(res.logzerr[-1]), time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--nlive", type=int, default=500)
    args = ap.parse_args()
    rows = {"remc_mpi (1 process)": [], f"dynesty (nlive {args.nlive})": []}
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(1, args.seeds + 1):
            rows["remc_mpi (1 process)"].append(ours(seed, folder))
            rows[f"dynesty (nlive {args.nlive})"].append(theirs(seed, args.nlive))
    print(f"{'sampler':<24}{'log Z':>12}{'error':>9}{'CPU s':>9}{'error^2 x CPU s':>17}")
    merit = {}
    for name, r in rows.items():
        a = np.array(r)
        merit[name] = float(np.mean(a[:, 1] ** 2 * a[:, 2]))
        print(f"{name:<24}{a[:, 0].mean():>12.3f}{a[:, 1].mean():>9.4f}{a[:, 2].mean():>9.2f}{merit[name]:>17.4g}")
    a, b = merit.values()
    print(f"remc_mpi's error^2 x CPU-seconds is {b / a:.1f}x better than dynesty's")


if __name__ == "__main__":
    main()
