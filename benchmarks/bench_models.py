"""Model evaluations per second (issue 3): python benchmarks/bench_models.py [--quick]

Prints, for batch sizes 1, 8, 32, 128 at N = 400, full evaluations per second of cluster2,
cluster3 and gauss_peaks (K = 3), and the rate of a gamma-only incremental update of cluster3,
plus the per-core figure of merit (cluster3, batch 32) against the 1.5e5 goal. Rates count
spectra: one batch of R rows is R evaluations.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from remc_mpi.models import get_model

CEO2 = dict(delta=1.6, v=0.76, uff=10.5, ufc=12.5, gamma=0.7, shift=0.0, amp=1.0)


def _theta(model, batch, rng):
    base = {**CEO2, **{f"a{k}": 1.0 for k in range(1, 4)}, **{f"mu{k}": float(k) for k in range(1, 4)},
            **{f"b{k}": 2.0 for k in range(1, 4)}}
    th = np.array([[base[n] for n in model.param_names]] * batch)
    return th * rng.uniform(0.95, 1.05, th.shape)


def rate(fn, batch: int, min_time: float) -> float:
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - t0
        if el > min_time:
            return n * batch / el


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    min_time = 0.05 if args.quick else 0.5
    energy = np.linspace(-8, 16, 400)
    rng = np.random.default_rng(0)
    print(f"{'model':<22}" + "".join(f"{'R=' + str(b):>12}" for b in (1, 8, 32, 128)) + "   (evaluations/s)")
    results = {}
    for label, name, opts in (("cluster2", "cluster2", {}), ("cluster3", "cluster3", {}),
                              ("gauss_peaks K=3", "gauss_peaks", {"n_peaks": 3})):
        m = get_model(name, **opts)
        ev = m.evaluator(energy)
        row = []
        for b in (1, 8, 32, 128):
            th = _theta(m, b, rng)
            row.append(rate(lambda: ev.full(th), b, min_time))
        results[label] = row
        print(f"{label:<22}" + "".join(f"{r:12.3g}" for r in row))
    m = get_model("cluster3")
    ev = m.evaluator(energy)
    j = m.column("gamma")
    row = []
    for b in (1, 8, 32, 128):
        th = _theta(m, b, rng)
        cache = ev.full(th)
        row.append(rate(lambda: ev.update(cache, th, j), b, min_time))
    print(f"{'cluster3 gamma update':<22}" + "".join(f"{r:12.3g}" for r in row))
    print(f"cluster3, batch 32, N=400: {results['cluster3'][2]:.3g} evaluations/s per core (goal 1.5e5)")


if __name__ == "__main__":
    main()
