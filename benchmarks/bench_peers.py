"""Evidence per CPU-second against other evidence samplers, each at its documented defaults.

    pip install dynesty ultranest nautilus-sampler pocomc   # for this comparison only
    python benchmarks/bench_peers.py [--problems cluster2,k3] [--peers remc,dynesty,...]
                                     [--seeds 5] [--remc-target 0.05]

The problems of benchmarks/problems.py: ``cluster2`` (La2O3-like, 4 free parameters, N = 300,
Gaussian noise) and ``k3`` (Nagata et al. 2012's three Gaussian peaks, 9 free, gamma and normal
priors). Every peer gets the same log likelihood, written as its user would (the numpy model,
one theta per call) and the same priors as a transform of the unit cube (inverse CDFs); it runs
on one core (BLAS and torch at one thread) with its own defaults:

- ``remc``: remc_mpi's engine on one process, the problem's config (cluster2: L = 24, 6000
  sweeps; k3: L = 30, 4000) with ``thin: 1`` (every sweep's parameters stored, which the
  bridge estimate, the headline, feeds on), or ``target_error`` with ``--remc-target``;
- ``dynesty``: ``NestedSampler`` (static, nlive 500, its default stopping rule);
- ``ultranest``: ``ReactiveNestedSampler(...).run()``;
- ``nautilus``: ``Sampler(...).run()``, its log evidence (it reports no error: "-");
- ``pocomc``: ``Sampler(...).run()`` and ``evidence()``.

Each run's CPU time is the process's, around the sampler's run (imports, and remc_mpi's kernel
load, excluded). The figure of merit is error^2 x CPU-seconds (lower is better: the time for a
given error scales as 1 / error^2) with the error taken as the **scatter of log Z over seeds**
(a reported error can be wrong); its 90 % interval from the chi-square distribution of the
sample variance. The table also prints each sampler's mean reported error and its mean's
distance from the samplers' pooled mean (weighted by 1 / se^2) in units of its standard error (a bias check; the
C++ SEMC code of issue #27's table is not a Python package and is not run here).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from problems import problem  # noqa: E402


class Problem:
    """A problem's log likelihood and prior transform over its free parameters, numpy only."""

    def __init__(self, name: str, seed: int):
        from scipy import stats

        from remc_mpi.config import parse_config

        self.name = name
        cfg = parse_config(problem(name, "unused.h5", seed=seed))
        cand = cfg.candidates[0]
        self.model, priors = cand.model, cand.priors
        self.x, self.y, self.sigma = cfg.data.energy, cfg.data.intensity, cfg.noise.sigma
        self.free = np.array(priors.free_index)
        self.theta0 = np.array([p.args[0] if p.fixed else 0.0 for p in priors.priors])
        self.ndim = self.free.size
        self.const = -0.5 * self.x.size * math.log(2 * math.pi * self.sigma**2)
        dists = {"uniform": lambda a: stats.uniform(a[0], a[1] - a[0]),
                 "normal": lambda a: stats.norm(a[0], a[1]),
                 "gamma": lambda a: stats.gamma(a[0], scale=1.0 / a[1])}
        self.dists = [dists[priors.priors[j].form](priors.priors[j].args) for j in self.free]

    def loglike(self, v) -> float:
        th = self.theta0.copy()
        th[self.free] = v
        r = self.y - self.model.spectrum(th[None, :], self.x)[0]
        return self.const - 0.5 * float(r @ r) / self.sigma**2

    def transform(self, u):
        return np.array([d.ppf(ui) for d, ui in zip(self.dists, u)])


def run_remc(p: Problem, seed: int, target: float | None) -> tuple[float, float, float]:
    from mpi4py import MPI

    from remc_mpi.config import parse_config
    from remc_mpi.driver.engine import run

    with tempfile.TemporaryDirectory() as folder:
        raw = problem(p.name, f"{folder}/run.h5", seed=seed)
        raw["sampler"]["thin"] = 1
        if target is not None:
            sweeps = raw["sampler"]["sweeps"]
            raw["sampler"].update(target_error=target, max_sweeps=20 * sweeps, check_every=sweeps // 4)
        cfg = parse_config(raw, f"{p.name}.yaml")
        c0 = time.process_time()
        s = run(cfg, MPI.COMM_SELF, force=True)[0]
        return s["log_evidence"]["value"], s["log_evidence"]["stderr"], time.process_time() - c0


def run_dynesty(p: Problem, seed: int, _) -> tuple[float, float, float]:
    import dynesty

    c0 = time.process_time()
    sampler = dynesty.NestedSampler(p.loglike, p.transform, p.ndim, nlive=500, rstate=np.random.default_rng(seed))
    sampler.run_nested(print_progress=False)
    res = sampler.results
    return float(res.logz[-1]), float(res.logzerr[-1]), time.process_time() - c0


def run_ultranest(p: Problem, seed: int, _) -> tuple[float, float, float]:
    import ultranest

    np.random.seed(seed)
    names = [f"p{j}" for j in range(p.ndim)]
    c0 = time.process_time()
    sampler = ultranest.ReactiveNestedSampler(names, p.loglike, p.transform)
    res = sampler.run(show_status=False, viz_callback=False)
    return float(res["logz"]), float(res["logzerr"]), time.process_time() - c0


def run_nautilus(p: Problem, seed: int, _) -> tuple[float, float, float]:
    import nautilus

    c0 = time.process_time()
    sampler = nautilus.Sampler(p.transform, p.loglike, n_dim=p.ndim, seed=seed)
    sampler.run(verbose=False)
    return float(sampler.log_z), math.nan, time.process_time() - c0


def run_pocomc(p: Problem, seed: int, _) -> tuple[float, float, float]:
    import pocomc
    import torch

    torch.set_num_threads(1)

    rng = np.random.default_rng(seed)

    class Prior:
        """pocomc's prior interface over the problem's distributions."""

        dim, bounds = p.ndim, np.array([d.support() for d in p.dists])

        @staticmethod
        def logpdf(x):
            return np.sum([d.logpdf(x[:, k]) for k, d in enumerate(p.dists)], axis=0)

        @staticmethod
        def rvs(size=1):
            return np.column_stack([d.ppf(rng.uniform(size=size)) for d in p.dists])

    c0 = time.process_time()
    sampler = pocomc.Sampler(prior=Prior(), likelihood=p.loglike, random_state=seed)
    sampler.run(progress=False)
    log_z, log_z_err = sampler.evidence()
    return float(log_z), float(log_z_err), time.process_time() - c0


PEERS = {"remc": run_remc, "dynesty": run_dynesty, "ultranest": run_ultranest, "nautilus": run_nautilus,
         "pocomc": run_pocomc}


def merit_interval(sd: float, cpu: float, n: int) -> tuple[float, float]:
    """The 90 % interval of sd^2 x cpu from the chi-square law of a sample variance of n runs."""
    from scipy import stats

    lo, hi = stats.chi2.ppf([0.95, 0.05], n - 1)
    return sd**2 * cpu * (n - 1) / lo, sd**2 * cpu * (n - 1) / hi


def table(name: str, rows: dict[str, np.ndarray]) -> None:
    """One problem's table: per sampler the mean log Z, its scatter, reported error, CPU-s, merit."""
    means = np.array([r[:, 0].mean() for r in rows.values()])
    weights = np.array([r.shape[0] / r[:, 0].var(ddof=1) for r in rows.values()])
    pooled = float(means @ weights / weights.sum())  # the samplers' means, weighted by 1 / se^2
    print(f"\n{name}: {'sampler':<10}{'log Z':>12}{'sd seeds':>10}{'reported':>10}{'CPU s':>9}"
          f"{'sd^2 x CPU s':>14}{'90 % interval':>22}{'(mean-pooled)/se':>18}")
    best = {}
    for peer, r in rows.items():
        n = r.shape[0]
        sd, cpu = float(r[:, 0].std(ddof=1)), float(r[:, 2].mean())
        lo, hi = merit_interval(sd, cpu, n)
        best[peer] = sd**2 * cpu
        z = (r[:, 0].mean() - pooled) / (sd / math.sqrt(n))
        reported = f"{r[:, 1].mean():.4f}" if np.isfinite(r[:, 1]).all() else "-"
        print(f"{'':<{len(name) + 2}}{peer:<10}{r[:, 0].mean():>12.3f}{sd:>10.4f}{reported:>10}"
              f"{cpu:>9.1f}{best[peer]:>14.3g}{f'[{lo:.3g}, {hi:.3g}]':>22}{z:>18.2f}")
    if "remc" in best:
        for peer, m in best.items():
            if peer != "remc":
                print(f"  remc vs {peer}: {m / best['remc']:.2g}x (above 1: remc more efficient)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", default="cluster2,k3")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--remc-target", type=float, default=None, help="remc's target_error (default: fixed sweeps)")
    args = ap.parse_args()
    for name in args.problems.split(","):
        rows, prob = {}, Problem(name, 1)  # the problem's data (its own seed); the runs' seeds below
        for peer in args.peers.split(","):
            if peer == "remc":  # a first run loads (or compiles) the kernels: not timed
                run_remc(prob, 0, args.remc_target)
            runs = []
            for seed in range(1, args.seeds + 1):
                runs.append(PEERS[peer](prob, seed, args.remc_target))
                print(f"  {name} {peer} seed {seed}: log Z {runs[-1][0]:.4f} +- {runs[-1][1]:.4f}, "
                      f"{runs[-1][2]:.1f} CPU s", file=sys.stderr, flush=True)
            rows[peer] = np.array(runs)
        table(name, rows)


if __name__ == "__main__":
    main()
