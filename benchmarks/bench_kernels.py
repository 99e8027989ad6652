"""Cost of one model evaluation inside the compiled sweep, per model variant.

    python benchmarks/bench_kernels.py [--points 530] [--repeat 7]
    python benchmarks/bench_kernels.py --config examples/measured/la2o3_la3d.yaml [--candidate cluster3]

For each variant (cluster3 as the paper has it, with a Lorentzian width per final state, with
Voigt lines, with both spin-orbit components and the measured-spectrum backgrounds, a
gauss_peaks K = 3 reference, and the general charge-transfer family with K = 2 .. 5
configurations, whose levels come from LAPACK's eigensolver instead of closed forms) the time of one ``trial`` of a LEVELS-stage parameter (every line
recomputed) and of an OUTPUT-stage one (amp or a background height: the spectrum from the stored
sum), the best of ``--repeat`` rounds of 2000 calls made from a compiled loop (called from Python,
each would also pay numba's typing of the named-tuple arguments, several microseconds: docs/performance.md),
and the LEVELS cost relative to plain
cluster3, all in one invocation. Variants the installed version cannot build are skipped, so the
script also times an older checkout (PYTHONPATH=/path/to/checkout python bench_kernels.py).

With ``--config`` it times instead one ``trial`` of every parameter of a config's candidate (its
data, its options, its likelihood, the theta of a prior draw), from a compiled loop, and their sum:
what one sweep of one slot costs in component-wise proposals.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

VARIANTS = [
    ("cluster3", "cluster3", {}),
    ("cluster3 per-state widths", "cluster3", {"widths": "per_state"}),
    ("cluster3 voigt, per-state", "cluster3", {"lineshape": "voigt", "widths": "per_state"}),
    ("cluster3 voigt doublet +shirley", "cluster3", {"lineshape": "voigt", "widths": "per_state", "doublet": True,
                                                     "background": ["constant", "shirley"]}),
    ("  ... +tougaard +1 loss line", "cluster3", {"lineshape": "voigt", "widths": "per_state", "doublet": True,
                                                  "background": ["constant", "shirley", "tougaard"],
                                                  "extra_lines": {"n": 1, "shape": "gauss"}}),
    ("gauss_peaks K=3", "gauss_peaks", {"n_peaks": 3}),
    ("charge_transfer K=2 (= cluster2h)", "charge_transfer", {"configurations": 2}),
    ("charge_transfer K=3 (= cluster3)", "charge_transfer", {}),
    ("charge_transfer K=4", "charge_transfer", {"configurations": 4}),
    ("charge_transfer K=5", "charge_transfer", {"configurations": 5}),
    ("charge_transfer n0=1 K=3", "charge_transfer", {"n0": 1}),
    ("charge_transfer K=3 band M=3", "charge_transfer", {"band": {"levels": 3}}),
    ("charge_transfer K=3 band M=5", "charge_transfer", {"band": {"levels": 5}}),
    ("charge_transfer K=3 band M=7", "charge_transfer", {"band": {"levels": 7}}),
]
VALUES = {"band_w": 2.0, "delta": 1.6, "v": 0.76, "uff": 10.5, "ufc": 12.5, "shift": 0.0, "amp": 1.0, "sigma_g": 0.4,
          "so_split": 18.6, "so_ratio": 0.667, "bg_const": 0.1, "bg_shirley": 0.05, "bg_tougaard": 500.0,
          "extra1_area": 0.2, "extra1_center": 10.0, "extra1_width": 3.0}


def best_time(loop, args: tuple, repeat: int, calls: int = 2000) -> float:
    """Seconds per call of ``loop(*args, calls)``'s body, the best of ``repeat`` rounds."""
    loop(*args, 1)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        loop(*args, calls)
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def trial_loop():
    """A compiled loop of ``calls`` trials of one stage (the call the sweep makes)."""
    import numba

    from remc_mpi.kernels.spectra import trial

    @numba.njit
    def loop(theta, stage, peak, arrays, stages, tb, calls):
        u = 0.0
        for _ in range(calls):
            u += trial(theta, stage, peak, arrays, stages, 0, tb)
        return u

    return loop


def config_trials(path: str, label: str | None, repeat: int) -> None:
    """Print the trial time of every parameter of a config's candidate and their sum."""
    from remc_mpi.config import load_config
    from remc_mpi.kernels.spectra import Stages, TrialBuffers, full_row, kernel_model
    from remc_mpi.sampling.sampler import first_draw

    cfg = load_config(path)
    cand = next(c for c in cfg.candidates if label in (None, c.label))
    energy, data = cfg.data.energy, np.ascontiguousarray(cfg.data.intensity)
    theta = first_draw(cand.model, cand.priors, np.random.default_rng(0), energy)
    km = kernel_model(cand.model, energy, cfg.noise.model)
    stages, tb, arrays = Stages.zeros(km, 1), TrialBuffers.zeros(km), km.arrays(data)
    full_row(theta, arrays, stages, 0, tb)
    stage, peak = km.stage, km.peak
    loop, total = trial_loop(), 0.0
    print(f"{cand.label}: {energy.size} points, {km.spec.n_lines} lines; " + (cfg.data.note or "energies as read"))
    for j, name in enumerate(cand.model.param_names):
        t = best_time(loop, (theta, stage[j], peak[j], arrays, stages, tb), repeat, 500)
        total += t
        print(f"  {name:<16}{t * 1e6:>9.2f} us")
    print(f"  {'sum':<16}{total * 1e6:>9.2f} us")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=530)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--config", help="time every parameter's trial of this config's candidate instead")
    ap.add_argument("--candidate", help="the candidate's label (default: the first)")
    args = ap.parse_args()
    if args.config:
        config_trials(args.config, args.candidate, args.repeat)
        return
    from remc_mpi.kernels.spectra import LEVELS, OUTPUT, PEAK, Stages, TrialBuffers, full_row, kernel_model
    from remc_mpi.models import get_model

    x = np.linspace(-20.0, 30.0, args.points)
    base, loop = None, trial_loop()
    print(f"{'variant':<34}{'LEVELS us':>11}{'OUTPUT us':>11}{'vs cluster3':>13}")
    for label, name, opts in VARIANTS:
        try:
            model = get_model(name, **opts)
        except ValueError:
            print(f"{label:<34}{'(not in this version)':>24}")
            continue
        theta = np.array([VALUES.get(n, 0.6 if n.startswith("gamma") else 1.0) for n in model.param_names])
        km = kernel_model(model, x)
        data = model.spectrum(theta, x)
        stages, tb, arrays = Stages.zeros(km, 1), TrialBuffers.zeros(km), km.arrays(data)
        full_row(theta, arrays, stages, 0, tb)
        first = PEAK if name == "gauss_peaks" else LEVELS
        t_lev = best_time(loop, (theta, first, 0, arrays, stages, tb), args.repeat)
        t_out = best_time(loop, (theta, OUTPUT, -1, arrays, stages, tb), args.repeat)
        base = base or t_lev
        print(f"{label:<34}{t_lev * 1e6:>11.2f}{t_out * 1e6:>11.2f}{t_lev / base:>12.2f}x", flush=True)


if __name__ == "__main__":
    main()
