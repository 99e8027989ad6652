"""Rank 0's end of a run: estimators, posterior summary, diagnostics, warnings -> file.

The summary dict is exactly what ``remc-mpi analyze --json`` prints (docs/contract.md, section 6).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from remc_mpi.config import Candidate, RunConfig
from remc_mpi.diagnostics import effective_sample_size, integrated_time
from remc_mpi.freeenergy import PRIMARY, disagreements, estimate_all, mbar_log_z_at
from remc_mpi.likelihood import energies
from remc_mpi.noise import b_hat as find_b_hat
from remc_mpi.noise import free_energy_curve, log_b_sd

#: the 97.5 % point of the standard normal: a central 95 % interval is +- Z_95 sd
Z_95 = 1.959963984540054
OVERLAP_WARN = 0.05
SWAP_WARN = 0.05
ESS_WARN = 100.0
N_BOOT = 100


def posterior_table(theta: np.ndarray, names: tuple[str, ...], free: np.ndarray, map_theta: np.ndarray) -> dict:
    """mean, sd, map, q025, q50, q975 of each parameter's samples (n, P)."""
    out = {}
    for j, name in enumerate(names):
        x = theta[:, j]
        q = np.quantile(x, [0.025, 0.5, 0.975])
        out[name] = {"mean": float(x.mean()), "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
                     "map": float(map_theta[j]), "q025": float(q[0]), "q50": float(q[1]), "q975": float(q[2]),
                     "fixed": bool(not free[j])}
    return out


def summarize(cfg: RunConfig, cand: Candidate, writer, *, lam: np.ndarray, lam_max: float,
              accepted: np.ndarray, tried: np.ndarray, log_step: np.ndarray, joint_rate: np.ndarray,
              swap_try: np.ndarray,
              swap_ok: np.ndarray, trips: np.ndarray, provenance: dict[str, Any]) -> dict[str, Any]:
    t_start = time.perf_counter()
    h5 = writer.h5
    n_data = cfg.data.n
    U = h5["samples/energy"][:]
    U *= n_data  # in place: at 2e6 sweeps x 50 rungs the energies alone are 800 MB
    theta_all = h5["samples/theta"]
    noise_mode = cfg.noise.estimate
    warnings: list[str] = []

    def bhat_stat(Ub, log_z):
        return np.array([find_b_hat(lam, Ub, log_z, n_data)])

    est = estimate_all(lam, U, n_boot=N_BOOT, seed=cfg.seed, extra=bhat_stat if noise_mode else None)
    if noise_mode:
        b_hat = float(est["extra"][0])
        b_boot = est["extra_boot"][:, 0]
        log_z_hat = float(mbar_log_z_at(lam, U, est["log_z"][PRIMARY], [b_hat])[0])
        sd_log_b = log_b_sd(lam, U, est["log_z"][PRIMARY], n_data, b_hat)
        sigma = b_hat ** -0.5
        noise = {"b_hat": b_hat, "b_hat_stderr": float(np.std(b_boot, ddof=1)),
                 "sigma_hat": sigma, "sigma_hat_stderr": float(np.std(b_boot ** -0.5, ddof=1)),
                 "sigma_posterior_sd": 0.5 * sigma * sd_log_b,
                 "sigma_q025": sigma * math.exp(-0.5 * Z_95 * sd_log_b),
                 "sigma_q975": sigma * math.exp(0.5 * Z_95 * sd_log_b),
                 "curve": {"b": lam[1:].tolist(),
                           "F": free_energy_curve(lam[1:], est["log_z"][PRIMARY][1:], n_data).tolist(),
                           "stderr": est["stderr"][PRIMARY][1:].tolist()}}
        slot = int(np.argmin(np.abs(np.log(lam[1:]) - math.log(b_hat)))) + 1
        # every estimator at the rung nearest b_hat; the primary one reweighted to b_hat itself
        estimators = {name: {"value": float(-free_energy_curve(lam[slot], v[slot], n_data)),
                             "stderr": float(est["stderr"][name][slot]), "b": float(lam[slot])}
                      for name, v in est["log_z"].items()}
        estimators[PRIMARY] = {"value": float(-free_energy_curve(b_hat, log_z_hat, n_data)),
                               "stderr": float(est["stderr"][PRIMARY][slot]), "b": b_hat}
    else:
        const = 0.5 * n_data * math.log(lam_max / (2.0 * math.pi))
        estimators = {name: {"value": float(const + v[-1]), "stderr": float(est["stderr"][name][-1])}
                      for name, v in est["log_z"].items()}
        slot = len(lam) - 1
        sigma = float(cfg.noise.sigma)
        noise = None
    log_evidence = estimators[PRIMARY]["value"]

    primary_se = estimators[PRIMARY]["stderr"]
    if not noise_mode:
        for msg in disagreements({k: v["value"] for k, v in estimators.items()},
                                 {k: v["stderr"] for k, v in estimators.items()}):
            warnings.append("estimators disagree: " + msg)
    for l, o in enumerate(est["overlap"]):
        if o < OVERLAP_WARN:
            warnings.append(f"rungs {l} and {l + 1} barely overlap (overlap {o:.3f} < {OVERLAP_WARN})")
    swap_rate = swap_ok / np.maximum(1, swap_try)
    for l, r in enumerate(swap_rate):
        if r < SWAP_WARN:
            warnings.append(f"swap rate between rungs {l} and {l + 1} is {r:.3f} (< {SWAP_WARN})")
    if trips.sum() == 0:
        warnings.append("no replica made a round trip between the ends of the ladder; add rungs or sweeps")

    # posterior at the reported rung
    theta = theta_all[:, slot, :]
    model, priors = cand.model, cand.priors
    u = energies(model.spectrum(theta, cfg.data.energy), cfg.data.intensity)
    log_post = -lam[slot] * u + priors.logpdf(theta)
    map_theta = theta[int(np.argmax(log_post))]
    posterior = posterior_table(theta, model.param_names, priors.free, map_theta)
    ess = {name: effective_sample_size(theta[:, j]) for j, name in enumerate(model.param_names) if priors.free[j]}
    ess["energy"] = effective_sample_size(U[:, slot])
    low = [k for k, v in ess.items() if v < ESS_WARN]
    if low:
        warnings.append(f"effective sample size below {ESS_WARN:g} at the reported rung for: {', '.join(low)}")

    acceptance = np.where(tried > 0, accepted / np.maximum(1, tried), np.nan)
    free = priors.free
    accept_rung = [float(np.nanmean(acceptance[l, free])) if tried[l, free].sum() else 1.0 for l in range(len(lam))]
    betas = (lam / lam_max).tolist()
    summary: dict[str, Any] = {
        "model": model.name, "label": cand.label, "options": dict(model.options),
        "param_names": list(model.param_names), "file": str(writer.final), "n_data": n_data, "sigma": sigma,
        "log_evidence": {"value": log_evidence, "stderr": primary_se, "method": PRIMARY},
        "estimators": estimators, "free_energy": -log_evidence, "free_energy_stderr": primary_se,
        "posterior": posterior, "posterior_rung": slot,
        "diagnostics": {
            "acceptance": accept_rung,
            "acceptance_by_parameter": {name: [None if not np.isfinite(a) else float(a) for a in acceptance[:, j]]
                                        for j, name in enumerate(model.param_names) if free[j]},
            "joint_acceptance": joint_rate.tolist(), "swap_rate": swap_rate.tolist(), "round_trips": int(trips.sum()),
            "round_trips_per_replica": trips.tolist(), "ess": ess,
            "tau_energy": float(integrated_time(U[:, slot])), "bootstrap_block": int(est["block"]),
            "overlap": est["overlap"].tolist(),
        },
        "beta": betas, "lambda": lam.tolist(), "warnings": warnings,
        "n_saved": int(U.shape[0]), "seed": cfg.seed, "truth": cfg.truth,
        "model_prior": float(cfg.model_priors.get(cand.label, 1.0)),
    }
    if noise is not None:
        summary["noise"] = noise

    provenance = dict(provenance, postprocess_s=time.perf_counter() - t_start)
    writer.write_static(
        {
            "config": {"yaml": cfg.text},
            "data": {"energy": cfg.data.energy, "intensity": cfg.data.intensity},
            "ladder": {"beta": np.array(betas), "lambda": lam},
            "diagnostics": {"acceptance": acceptance, "joint_acceptance": joint_rate, "swap_rate": swap_rate, "round_trips": trips,
                            "log_step": log_step, "overlap": est["overlap"]},
            "free_energy": {**{f"log_z_{k}": v for k, v in est["log_z"].items()},
                            **{f"stderr_{k}": v for k, v in est["stderr"].items()}},
            "provenance": {"info": {k: v for k, v in provenance.items()}},
        },
        {"model": model.name, "label": cand.label, "n_data": n_data, "seed": cfg.seed,
         "param_names": list(model.param_names), "noise_mode": noise_mode},
    )
    summary["provenance"] = provenance
    writer.finish(summary)
    return summary
