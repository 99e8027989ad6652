"""How far a fit is from the data's own noise: the MAP's deviance per point against a count scale
measured without any model.

    python analysis/noise_floor.py RESULTS.h5 [RESULTS.h5 ...] [--flat LO HI]

With ``noise: {model: scaled_counts, estimate: true}`` the count scale s is learnt together with
the model, so a misfit is absorbed into s and the reported deviance/N is about 1 by construction.
This script measures s from the data alone — the residuals of a cubic over a flat stretch of the
spectrum (``--flat``, default: the lowest-binding-energy 10 % of the window, below the lines),
s = var(residual) / mean(intensity) — and reports, for the MAP of each file,

    D / (s N),   D = 2 sum_i [d_i log(d_i / mu_i) - (d_i - mu_i)],

which is about 1 for a model that describes the data to their noise, together with the lag-1
autocorrelation of the flat stretch's residuals (0 for independent noise; smoothed or
interpolated data are correlated, and their s is then a lower bound). Post-processing only.
"""

from __future__ import annotations

import argparse

import numpy as np

from remc_mpi.models import get_model
from remc_mpi.io.output import ResultsFile


def flat_scale(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> tuple[float, float, int]:
    """(s, lag-1 autocorrelation of the residuals, points) of a cubic over lo <= x <= hi."""
    keep = (x >= lo) & (x <= hi)
    r = y[keep] - np.polyval(np.polyfit(x[keep], y[keep], 3), x[keep])
    return float(np.var(r) / np.mean(y[keep])), float(np.corrcoef(r[1:], r[:-1])[0, 1]), int(keep.sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("--flat", nargs=2, type=float, metavar=("LO", "HI"))
    args = ap.parse_args()
    for path in args.results:
        with ResultsFile(path) as rf:
            s = rf.summary()
            x, y = rf.data()
        lo, hi = args.flat or (x.min(), x.min() + 0.1 * (x.max() - x.min()))
        scale, rho, n_flat = flat_scale(x, y, lo, hi)
        model = get_model(s["model"], **s["options"])
        theta = np.array([s["posterior"][n]["map"] for n in s["param_names"]])
        mu = model.spectrum(theta, x)
        dev = 2.0 * np.sum(y * np.log(y / mu) - (y - mu))
        print(f"{s['label']:<10} N = {x.size}: s = {scale:.3g} from {n_flat} points in [{lo:.1f}, {hi:.1f}] "
              f"(their lag-1 autocorrelation {rho:.2f}); D / (s N) = {dev / (scale * x.size):.3g} at the MAP "
              f"(the run's own s = {s.get('scale') or 1.0:.3g}: {s['fit']['map']:.3g})")


if __name__ == "__main__":
    main()
