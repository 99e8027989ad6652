"""Rank 0's end of a run: estimators, posterior summary, diagnostics, warnings -> file.

The summary dict is exactly what ``remc-mpi analyze --json`` prints (docs/contract.md, section 6).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

import numpy as np

from remc_mpi.config import Candidate, RunConfig
from remc_mpi.io.data import data_digest
from remc_mpi.evidence.diagnostics import effective_sample_size, integrated_time
from remc_mpi.evidence.fitquality import fit_warning, flag_warnings
from remc_mpi.driver.fields import FieldInputs, compute_fields, posterior_table
from remc_mpi.evidence.freeenergy import PRIMARY, estimate_all
from remc_mpi.evidence.mbar import LogZCurve
from remc_mpi.sampling.ladder import communication_barrier, pair_sums, round_trip_rate_ideal, rung_sums
from remc_mpi.likelihood import evidence_constant
from remc_mpi.evidence.noise import b_hat as find_b_hat
from remc_mpi.evidence.noise import free_energy_curve, log_b_sd
from remc_mpi.sampling.streams import BRIDGE_KEY, window_generator
from remc_mpi.io.output import ResultsFile, RunRecord, rung_rows
from remc_mpi.evidence.trust import MIN_ROUND_TRIPS, disagreements, trust_status
from remc_mpi.evidence.window import prior_mass, renormalised

#: the 97.5 % point of the standard normal: a central 95 % interval is +- Z_95 sd
Z_95 = 1.959963984540054
OVERLAP_WARN = 0.05
SWAP_WARN = 0.05
ESS_WARN = 100.0
#: fewer round trips than bootstrap blocks (evidence.bootstrap.MIN_BLOCKS) leave blocks that no replica
#: has crossed the ladder within: the error bar then rests on too little to be trusted (the
#: trust gate's minimum, remc_mpi.evidence.trust)
ROUND_TRIP_WARN = MIN_ROUND_TRIPS
#: R-hat above which a parameter's chains are reported unmixed (Gelman & Rubin 1992; Brooks &
#: Gelman 1998 suggest 1.1 for the classic statistic)
RHAT_WARN = 1.1
N_BOOT = 100


@dataclass
class RunStats:
    """What a run's ranks reduce to at its end (per-slot arrays in slot order)."""

    lam: np.ndarray  # the ladder (L,)
    lam_max: float  # lambda of beta = 1 (b0), or the top precision in noise mode
    accepted: np.ndarray  # component-wise acceptances (L, P)
    tried: np.ndarray  # component-wise proposals (L, P)
    log_step: np.ndarray  # adapted log step sizes (L, P)
    swap_try: np.ndarray  # exchange attempts per pair (L-1,)
    swap_ok: np.ndarray  # accepted exchanges per pair (L-1,)
    trips: np.ndarray  # round trips per replica (M L,)
    provenance: dict[str, Any]
    chains: int = 1  # independent ladders (per-rung arrays above are summed over them)
    stop: dict[str, Any] | None = None  # why and at which sweep the run ended (docs/config.md)
    final_state: tuple[dict, dict] | None = None  # the sampler's state at the end: --extend continues it
    ladder_choice: dict[str, Any] | None = None  # n_temps: auto: the pilot's barrier and the rungs chosen
    #: every move's per-rung report by its public name (moves.base.Move.report: joint_acceptance...)
    move_reports: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def pooled(cls, lam, lam_max, chains: int, accepted, tried, log_step, swap_try, swap_ok, trips, provenance,
               **move_reports) -> "RunStats":
        """From per-slot arrays of M chains (M L rows, M L - 1 pairs): counts summed per rung,
        step sizes and the moves' reports averaged per rung."""
        def mean(x):
            return x.reshape(chains, -1, *x.shape[1:]).mean(axis=0)

        return cls(lam, lam_max, rung_sums(accepted, chains), rung_sums(tried, chains), mean(log_step),
                   pair_sums(swap_try, chains), pair_sums(swap_ok, chains), trips, provenance, chains,
                   move_reports={name: mean(v) for name, v in move_reports.items()})


def log_evidence_at(cfg: RunConfig, lam: float, lam_max: float, log_z: float) -> float:
    """The log evidence from log Z at the reported lambda: the likelihood's constant added
    (known noise, counts), or in noise mode -F(b) at b = lambda (docs/free_energy.md)."""
    if cfg.noise.estimate:
        return float(-free_energy_curve(lam, log_z, cfg.data.intensity, cfg.noise.model))
    return float(evidence_constant(cfg.noise.model, cfg.data.n, lam_max, cfg.data.intensity) + log_z)


def evidence(cfg: RunConfig, lam: np.ndarray, lam_max: float, U: np.ndarray,
             est: dict) -> tuple[dict, int, float, dict | None]:
    """Every estimator's log evidence with its error, the rung whose posterior is reported,
    the noise level (sigma, or the count scale s; None for Poisson), and in noise mode the noise
    estimate (docs/free_energy.md)."""
    if not cfg.noise.estimate:
        estimators = {name: {"value": log_evidence_at(cfg, lam[-1], lam_max, v[-1]),
                             "stderr": float(est["stderr"][name][-1])} for name, v in est["log_z"].items()}
        return _mark_failed(estimators, est), len(lam) - 1, cfg.noise.sigma or cfg.noise.scale, None
    b_hat = float(est["extra"][0])
    b_boot = est["extra_boot"][:, 0]
    primary = est["log_z"][PRIMARY]
    log_z_at = LogZCurve(lam, U, primary)  # the MBAR denominators once, for log Z(b_hat) and the curvature
    log_z_hat = float(log_z_at([b_hat])[0])
    data, likelihood = cfg.data.intensity, cfg.noise.model
    sd_log_b = log_b_sd(log_z_at, data, b_hat, likelihood)
    noise = {"b_hat": b_hat, "b_hat_stderr": float(np.std(b_boot, ddof=1)), **noise_level(likelihood, b_hat, b_boot,
                                                                                          sd_log_b),
             "curve": {"b": lam[1:].tolist(), "F": free_energy_curve(lam[1:], primary[1:], data, likelihood).tolist(),
                       "stderr": est["stderr"][PRIMARY][1:].tolist()}}
    level = noise["sigma_hat"] if "sigma_hat" in noise else noise["scale_hat"]
    slot = int(np.argmin(np.abs(np.log(lam[1:]) - math.log(b_hat)))) + 1
    # every estimator at the rung nearest b_hat; the primary one reweighted to b_hat itself
    estimators = {name: {"value": log_evidence_at(cfg, lam[slot], lam_max, v[slot]),
                         "stderr": float(est["stderr"][name][slot]), "b": float(lam[slot])}
                  for name, v in est["log_z"].items()}
    estimators[PRIMARY] = {"value": log_evidence_at(cfg, b_hat, lam_max, log_z_hat),
                           "stderr": float(est["stderr"][PRIMARY][slot]), "b": b_hat}
    return _mark_failed(estimators, est), slot, level, noise


def _mark_failed(estimators: dict, est: dict) -> dict:
    """The estimators' entries with the reason of each that failed its own check."""
    for name, reason in est.get("failed", {}).items():
        estimators[name]["failed"] = reason
    return estimators


#: a noise estimate b_hat within this factor of the ladder's top precision may be capped by it
B_HAT_EDGE = 2.0


def noise_edge_warning(b_hat: float, b_max: float) -> list[str]:
    """The warning when b_hat lies near the top of the ladder (noise.b_max): the minimum of F(b)
    may lie beyond it."""
    if b_hat * B_HAT_EDGE < b_max:
        return []
    return [f"the noise estimate b_hat = {b_hat:.4g} lies within a factor {B_HAT_EDGE:g} of the ladder's top "
            f"b_max = {b_max:.4g}: the noise may be smaller than the ladder reaches; raise noise.b_max"]


def noise_level(likelihood: str, b_hat: float, b_boot: np.ndarray, sd_log_b: float) -> dict[str, float]:
    """The noise estimate in the likelihood's own terms: sigma = b^(-1/2) for Gaussian noise, the
    count scale s = 1/b for scaled counts; its bootstrap error and its posterior 95 % interval."""
    name, power = ("scale", -1.0) if likelihood == "scaled_counts" else ("sigma", -0.5)
    value = b_hat ** power
    return {f"{name}_hat": value, f"{name}_hat_stderr": float(np.std(b_boot ** power, ddof=1)),
            f"{name}_posterior_sd": -power * value * sd_log_b,
            f"{name}_q025": value * math.exp(power * Z_95 * sd_log_b),
            f"{name}_q975": value * math.exp(-power * Z_95 * sd_log_b)}


def theta_energies(cfg: RunConfig, model, theta: np.ndarray) -> np.ndarray:
    """U of each parameter sample (the likelihood's energy of its spectrum against the data; +inf
    outside the model's support, Model.admissible)."""
    return model.energies(theta, cfg.data.energy, cfg.data.intensity, cfg.noise.model)


def posterior_at(cfg: RunConfig, cand: Candidate, lam_slot: float, theta: np.ndarray, u_slot: np.ndarray,
                 u: np.ndarray):
    """The posterior table (with the MAP among the samples) and the ESS of every free
    parameter and of the energy, from the reported rung's samples (``u``: their energies,
    :func:`theta_energies`; ``u_slot``: the rung's energy series at every recorded sweep)."""
    model, priors = cand.model, cand.priors
    map_theta = theta[int(np.argmax(-lam_slot * u + priors.logpdf(theta)))]
    ess = {name: effective_sample_size(theta[:, j]) for j, name in enumerate(model.param_names) if priors.free[j]}
    ess["energy"] = effective_sample_size(u_slot)
    return posterior_table(theta, model.param_names, priors.free, map_theta), ess


#: spectra evaluated at once for the bridge estimator's proposal draws (memory: chunk x points)
BRIDGE_CHUNK = 4096


def exchangeable_peaks(priors, peaks: list[tuple[int, ...]]) -> bool:
    """Every interchangeable peak's parameters (``peaks``: per peak its columns in one order,
    Model.peak_columns) have the same priors position by position: prior and likelihood are
    then symmetric under relabelling."""
    def prior_of(j):
        return priors.priors[j].form, tuple(priors.priors[j].args)

    return all(len({prior_of(peak[r]) for peak in peaks}) == 1 for r in range(len(peaks[0])))


def bridge_estimate(cfg: RunConfig, cand: Candidate, lam_slot: float, lam_max: float,
                    theta: np.ndarray, u_theta: np.ndarray) -> dict | None:
    """The bridge-sampling estimator's entry at the reported rung (remc_mpi.evidence.bridge), or None
    where it does not apply: noise mode (the rung moves with b), interchangeable peaks whose
    priors differ, fewer than MIN_BRIDGE_SAMPLES samples or MIN_BRIDGE_EFFECTIVE effective ones
    in the bridging half, or no free parameter. Interchangeable peaks with the same priors
    (K of them): the samples in canonical order bridge the evidence of the canonical region, a
    K!-th of the whole by symmetry, whichever mirror modes the chain visited (docs/free_energy.md)."""
    from remc_mpi.evidence.bridge import MIN_BRIDGE_EFFECTIVE, MIN_BRIDGE_SAMPLES, bridge_log_z

    model, priors = cand.model, cand.priors
    free, peaks = priors.free, model.peak_columns()
    if cfg.noise.estimate or len(theta) < MIN_BRIDGE_SAMPLES or not free.any():
        return None
    log_labellings = 0.0
    if peaks is not None:
        if not exchangeable_peaks(priors, peaks):
            return None
        ordered = model.relabel(theta)
        if not np.array_equal(ordered, theta):
            theta, u_theta = ordered, theta_energies(cfg, model, ordered)
        log_labellings = math.lgamma(len(peaks) + 1)
    lo, hi = (np.array([p.support()[k] for p, f in zip(priors.priors, free) if f]) for k in (0, 1))

    def log_q(x_free: np.ndarray) -> np.ndarray:
        full = np.repeat(theta[:1], len(x_free), axis=0)
        full[:, free] = x_free
        u = np.concatenate([theta_energies(cfg, model, full[i:i + BRIDGE_CHUNK])
                            for i in range(0, len(full), BRIDGE_CHUNK)])
        out = -lam_slot * u + priors.logpdf(full)
        return out if peaks is None else np.where(np.all(model.relabel(full) == full, axis=1), out, -np.inf)

    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(cfg.seed, spawn_key=(BRIDGE_KEY,))))
    with np.errstate(all="ignore"):
        log_q_post = -lam_slot * u_theta + priors.logpdf(theta)  # the samples' own energies
        got = bridge_log_z(theta[:, free], log_q_post, log_q, rng, lo, hi)
    if got["effective_samples"] < MIN_BRIDGE_EFFECTIVE:
        return None
    return {"value": log_evidence_at(cfg, lam_slot, lam_max, got["value"] + log_labellings), "stderr": got["stderr"],
            "components": got["components"], "coordinates": got["coordinates"]}


def usable_estimate(entry: dict) -> bool:
    """An estimator's log evidence that did not fail and has a finite value and error."""
    return "failed" not in entry and math.isfinite(entry["value"]) and math.isfinite(entry["stderr"])


#: the estimator a run reports where it is reported and usable: bridge sampling from the
#: posterior, by far the most precise per CPU-second where it applies (docs/free_energy.md)
HEADLINE_FIRST = "bridge"


def headline(estimators: dict) -> str:
    """The estimator whose log evidence a run reports: HEADLINE_FIRST where it is reported and
    usable, else PRIMARY unless it failed or is not finite, then the first usable one in the
    registry's order (PRIMARY when none is)."""
    order = [HEADLINE_FIRST, PRIMARY] + [k for k in estimators if k not in (HEADLINE_FIRST, PRIMARY)]
    return next((k for k in order if k in estimators and usable_estimate(estimators[k])), PRIMARY)


def run_warnings(estimators: dict, noise_mode: bool, overlap: np.ndarray, swap_rate: np.ndarray, trips: np.ndarray,
                 ess: dict) -> list[str]:
    """What a reader should be told about a run's reliability."""
    warnings: list[str] = []
    warnings += [f"{k} failed ({v['failed']}): not the headline, left out of the agreement check"
                 for k, v in estimators.items() if "failed" in v]
    if not noise_mode:
        usable = {k: v for k, v in estimators.items() if usable_estimate(v)}
        for k, v in estimators.items():
            if "failed" in v:
                continue
            if not math.isfinite(v["value"]):
                warnings.append(f"{k} could not be computed (no finite value): left out of the agreement check")
            elif k not in usable:
                warnings.append(f"{k} has no finite error ({v['value']:.6g} +- {v['stderr']}): left out of the "
                                "agreement check")
        for msg in disagreements({k: v["value"] for k, v in usable.items()},
                                 {k: v["stderr"] for k, v in usable.items()}):
            warnings.append("estimators disagree: " + msg)
    warnings += [f"rungs {l} and {l + 1} barely overlap (overlap {o:.3f} < {OVERLAP_WARN})"
                 for l, o in enumerate(overlap) if o < OVERLAP_WARN]
    warnings += [f"swap rate between rungs {l} and {l + 1} is {r:.3f} (< {SWAP_WARN})"
                 for l, r in enumerate(swap_rate) if r < SWAP_WARN]
    if trips.sum() == 0:
        warnings.append("no replica made a round trip between the ends of the ladder; add rungs or sweeps")
    elif trips.sum() < ROUND_TRIP_WARN:
        warnings.append(f"only {int(trips.sum())} round trips through the ladder: the error bar rests on too few "
                        "independent passes to be trusted; run longer")
    low = [k for k, v in ess.items() if v < ESS_WARN]
    if low:
        warnings.append(f"effective sample size below {ESS_WARN:g} at the reported rung for: {', '.join(low)}")
    return warnings


def diagnostics(stats: RunStats, free: np.ndarray, names: tuple[str, ...], ess: dict, u_slot: np.ndarray,
                est: dict) -> dict[str, Any]:
    """The ``diagnostics`` object of the summary (docs/contract.md, section 6)."""
    acceptance = acceptance_rates(stats)
    rungs = range(len(stats.lam))
    return {
        "acceptance": [float(np.nanmean(acceptance[l, free])) if stats.tried[l, free].sum() else 1.0 for l in rungs],
        "acceptance_by_parameter": {name: [None if not np.isfinite(a) else float(a) for a in acceptance[:, j]]
                                    for j, name in enumerate(names) if free[j]},
        **{name: v.tolist() for name, v in stats.move_reports.items()},
        "swap_rate": swap_rates(stats).tolist(),
        "round_trips": int(stats.trips.sum()), "round_trips_per_replica": stats.trips.tolist(), "ess": ess,
        "tau_energy": float(integrated_time(u_slot)), "bootstrap_block": int(est["block"]),
        "tau_mixing": float(est["tau"]),
        "overlap": est["overlap"].tolist(),
        **barrier_diagnostics(stats),
    }


def barrier_diagnostics(stats: RunStats) -> dict[str, Any]:
    """The communication barrier Lambda of the post-burn-in swaps (ladder.py), the round trips
    per exchange round and per chain against the ideal for these rejection rates and the
    many-rung limit 1 / (2 + 2 Lambda)."""
    rejection = 1.0 - swap_rates(stats)
    rounds = stats.swap_try[0] + (stats.swap_try[1] if len(stats.swap_try) > 1 else 0)  # all chains' rounds
    barrier = communication_barrier(rejection)
    return {"barrier": barrier, "rejection": rejection.tolist(),
            "round_trip_rate": float(stats.trips.sum() / max(1, rounds)),
            "round_trip_rate_ideal": round_trip_rate_ideal(rejection),
            "round_trip_rate_limit": 1.0 / (2.0 + 2.0 * barrier)}


def swap_rates(stats: RunStats) -> np.ndarray:
    return stats.swap_ok / np.maximum(1, stats.swap_try)


def acceptance_rates(stats: RunStats) -> np.ndarray:
    """Component-wise acceptance per rung and parameter (NaN where nothing was tried)."""
    return np.where(stats.tried > 0, stats.accepted / np.maximum(1, stats.tried), np.nan)


def estimates(cfg: RunConfig, lam: np.ndarray, energy: np.ndarray, replica: np.ndarray,
              chains: int) -> tuple[np.ndarray, dict]:
    """U = N E as the chains' rows (M n, L), and every estimator with its errors (with the
    noise estimate's bootstrap in noise mode): the end of a run and a check of its target."""
    n_data = cfg.data.n
    U = chain_major(energy, chains)
    U *= n_data  # in place: at 2e6 sweeps x 50 rungs the energies alone are 800 MB
    # prior draws outside the likelihood's support (U = +inf: counts predicted absent, a restricted
    # model's lines outside the window) weigh 1 at lambda = 0 and 0 above (evidence.mbar.reduced);
    # TI's <U> is then infinite and says so

    def bhat_stat(Ub, log_z):
        return np.array([find_b_hat(lam, Ub, log_z, cfg.data.intensity, cfg.noise.model)])

    with np.errstate(all="ignore"):  # an estimator that fails says so in the warnings, not numpy
        est = estimate_all(lam, U, n_boot=N_BOOT, seed=cfg.seed, extra=bhat_stat if cfg.noise.estimate else None,
                           replica=chain_major(replica, chains), chains=chains)
    return U, est


def headline_error(cfg: RunConfig, cand: Candidate, lam: np.ndarray, lam_max: float,
                   samples: Callable[[str], np.ndarray], chains: int) -> float:
    """The reported log evidence's standard error from the samples so far (what target_error
    is compared with); ``samples(name)`` reads the sample set energy, replica or theta of every
    slot. The bridge is the headline wherever it is usable (:func:`headline`), so it is tried
    first and the ladder's estimators (MBAR and its bootstrap over every rung: most of a check's
    cost in a long run) are computed only when it is not; the error is the same either way."""
    # the reported rung is the top one outside noise mode (evidence); no bridge in noise mode
    bridge = None if cfg.noise.estimate else top_rung_bridge(cfg, cand, lam, lam_max, samples("theta"), chains)
    if bridge is not None and usable_estimate(bridge):
        return float(bridge["stderr"])
    U, est = estimates(cfg, lam, samples("energy"), samples("replica"), chains)
    with np.errstate(all="ignore"):
        estimators = evidence(cfg, lam, lam_max, U, est)[0]
    if bridge is not None:
        estimators["bridge"] = bridge
    return float(estimators[headline(estimators)]["stderr"])


def top_rung_bridge(cfg: RunConfig, cand: Candidate, lam: np.ndarray, lam_max: float, theta_per_slot: np.ndarray,
                    chains: int) -> dict | None:
    """:func:`bridge_estimate` of the top rung's stored parameters (every chain's)."""
    theta = rung_rows(theta_per_slot, len(lam) - 1, chains)
    return bridge_estimate(cfg, cand, float(lam[-1]), lam_max, theta, theta_energies(cfg, cand.model, theta))


def chain_major(per_slot: np.ndarray, chains: int) -> np.ndarray:
    """Per-sweep rows of every slot (n, M L) as the rows of M chains one after the other (M n, L)."""
    if chains == 1:
        return per_slot
    n = per_slot.shape[0]
    return per_slot.reshape(n, chains, -1).transpose(1, 0, 2).reshape(chains * n, -1)


def gelman_rubin(x: np.ndarray) -> float:
    """The potential scale reduction R-hat of M chains' draws x (M, m) (Gelman & Rubin 1992):
    sqrt of ((m - 1)/m W + B/m) / W, W the mean within-chain variance, B/m the variance of the
    chain means."""
    m = x.shape[1]
    w = x.var(axis=1, ddof=1).mean()
    b_m = x.mean(axis=1).var(ddof=1)
    return float(np.sqrt(((m - 1) / m * w + b_m) / w)) if w > 0 else 1.0


def chains_summary(cfg: RunConfig, stats: RunStats, est: dict, slot: int, theta: np.ndarray,
                   names: tuple[str, ...], free: np.ndarray) -> dict[str, Any]:
    """Independent ladders: each one's log evidence, the between- and within-ladder errors of
    their mean and their ratio, the R-hat of every free parameter (docs/free_energy.md)."""
    m = stats.chains
    values = [log_evidence_at(cfg, stats.lam[slot], stats.lam_max, v) for v in est["chain_log_z"][PRIMARY][:, slot]]
    between, within = float(est["between"][PRIMARY][slot]), float(est["within"][PRIMARY][slot])
    draws = theta.reshape(m, -1, theta.shape[1])
    ratio = between / within if within > 0 else float("inf")
    limit = chain_scatter_limit(m, int(est["dof_within"]))
    return {"count": m, "log_evidence": values, "between_stderr": between, "within_stderr": within,
            "dof_within": int(est["dof_within"]), "scatter_ratio": ratio, "scatter_limit": limit,
            "agree": bool(ratio <= limit),
            "rhat": {n: gelman_rubin(draws[:, :, j]) for j, n in enumerate(names) if free[j]}}


def chain_scatter_limit(count: int, dof_within: int) -> float:
    """The 99 % point of the ladders' scatter ratio (the F test of chain_warnings)."""
    from scipy import stats as st

    return float(np.sqrt(st.f.ppf(0.99, count - 1, dof_within)))


def chain_warnings(ch: dict[str, Any]) -> list[str]:
    """Ladders that disagree beyond their errors (the F test of the two variance estimates at
    99 %), parameters whose chains have not mixed (R-hat above RHAT_WARN)."""
    out = []
    limit = ch["scatter_limit"]
    if not ch["agree"]:
        out.append(f"the {ch['count']} ladders disagree: their log evidences scatter {ch['scatter_ratio']:.2f} times "
                   f"more than their error bars allow (99 % limit {limit:.2f}); run longer")
    high = [f"{n} ({r:.2f})" for n, r in ch["rhat"].items() if r > RHAT_WARN]
    if high:
        out.append(f"R-hat above {RHAT_WARN} across the ladders for: {', '.join(high)}")
    return out


def window_mass(cfg: RunConfig, cand: Candidate) -> dict | None:
    """A restricted model's prior mass inside its support (remc_mpi.evidence.window), from prior
    draws of the run's own window stream; None for a model without a restriction."""
    model = cand.model
    if not model.restricted:
        return None
    rng, energy = window_generator(cfg.seed), cfg.data.energy
    return prior_mass(lambda theta: model.admissible(theta, energy), lambda n: cand.priors.sample_rows(rng, n))


#: a restricted model's log prior mass whose standard error exceeds this many nats is warned of
WINDOW_STDERR_WARN = 0.05


def window_warnings(mass: dict) -> list[str]:
    """The warning when the prior mass inside the support is too small to measure well (or
    none of the draws fell inside it)."""
    if mass["stderr"] <= WINDOW_STDERR_WARN:
        return []
    return [f"only {mass['fraction'] * mass['draws']:.0f} of {mass['draws']} prior draws put every line inside the "
            f"window (lines_in_window): the evidence's renormalisation is uncertain by {mass['stderr']:.2g} nats; "
            "narrow the priors toward the window"]


def add_window(summary: dict, mass: dict, noise: dict | None) -> None:
    """A restricted model's prior mass and its warning into the summary, and the chains' log
    evidences and the noise curve F(b) against the renormalised prior, as its estimators are."""
    summary["prior_window"] = mass
    summary["warnings"] += window_warnings(mass)
    if "chains" in summary:
        summary["chains"]["log_evidence"] = [v - mass["log_fraction"] for v in summary["chains"]["log_evidence"]]
    if noise is not None:
        noise["curve"]["F"] = [F + mass["log_fraction"] for F in noise["curve"]["F"]]


def summarize(cfg: RunConfig, cand: Candidate, writer, stats: RunStats) -> dict[str, Any]:
    """Rank 0's end of a run: estimators, posterior, diagnostics and warnings from the
    assembled samples, then one write of everything into the results file."""
    t_start = time.perf_counter()
    results = ResultsFile(h5=writer.h5, chains=stats.chains)
    n_data, lam = cfg.data.n, stats.lam
    U, est = estimates(cfg, lam, results.samples("energy"), results.samples("replica"), stats.chains)
    with np.errstate(all="ignore"):
        estimators, slot, level, noise = evidence(cfg, lam, stats.lam_max, U, est)
    model = cand.model
    theta = results.samples("theta", slot)
    ordered = model.relabel(theta) if cfg.order_peaks else None  # readable peak tables
    reported = theta if ordered is None else ordered  # the parameters as the table reads them
    u_theta = theta_energies(cfg, model, reported)  # the table's MAP and the bridge both need them
    bridge = bridge_estimate(cfg, cand, float(lam[slot]), stats.lam_max, reported, u_theta)
    if bridge is not None:
        estimators["bridge"] = bridge
    posterior, ess = posterior_at(cfg, cand, lam[slot], reported, U[:, slot], u_theta)
    mass = window_mass(cfg, cand)
    if mass is not None:
        estimators = renormalised(estimators, mass)
    method = headline(estimators)
    log_evidence = estimators[method]
    summary: dict[str, Any] = {
        "model": model.name, "label": cand.label, "options": dict(model.options),
        "param_names": list(model.param_names), "file": str(writer.final), "n_data": n_data,
        "likelihood": cfg.noise.model, "sigma": level if cfg.noise.model == "gaussian" else None,
        **({"scale": level} if cfg.noise.model == "scaled_counts" else {}),
        "log_evidence": {"value": log_evidence["value"], "stderr": log_evidence["stderr"], "method": method},
        "estimators": estimators, "free_energy": -log_evidence["value"], "free_energy_stderr": log_evidence["stderr"],
        "posterior": posterior, "posterior_rung": slot, "peaks_ordered": ordered is not None,
        "diagnostics": diagnostics(stats, cand.priors.free, model.param_names, ess, U[:, slot], est),
        "beta": (lam / stats.lam_max).tolist(), "lambda": lam.tolist(),
        "warnings": run_warnings(estimators, cfg.noise.estimate, est["overlap"], swap_rates(stats), stats.trips, ess),
        "n_saved": int(U.shape[0]), "seed": cfg.seed, "truth": cfg.truth,
        "model_prior": float(cfg.model_priors.get(cand.label, 1.0)),
        "data_note": cfg.data.note, "data_digest": data_digest(cfg.data.energy, cfg.data.intensity),
    }
    if stats.stop is not None:
        summary["stop"] = stats.stop
    if stats.ladder_choice is not None:
        summary["ladder_choice"] = stats.ladder_choice
    if stats.chains > 1:
        summary["chains"] = chains_summary(cfg, stats, est, slot, reported, model.param_names, cand.priors.free)
        summary["warnings"] += chain_warnings(summary["chains"])
    if mass is not None:
        add_window(summary, mass, noise)
    if noise is not None:
        summary["noise"] = noise
        summary["warnings"] += noise_edge_warning(noise["b_hat"], float(lam[-1]))
    map_theta = np.array([posterior[n]["map"] for n in model.param_names])
    inputs = FieldInputs(cfg, model, cand.priors, reported, map_theta, posterior, level)
    summary.update(compute_fields(inputs, set(summary)))
    summary["warnings"] += [w for w in [fit_warning(summary["fit"])] if w] + flag_warnings(summary["parameter_flags"])
    summary["trust"] = trust_status(summary)
    summary["provenance"] = dict(stats.provenance, postprocess_s=time.perf_counter() - t_start)
    write_results(writer, cfg, cand, stats, est, summary)
    return summary


def write_results(writer, cfg: RunConfig, cand: Candidate, stats: RunStats, est: dict, summary: dict) -> None:
    """Everything the summary came from, into the results file (docs/format.md), then the
    summary itself; the file becomes complete."""
    model = cand.model
    writer.write_record(RunRecord(
        config_yaml=cfg.text, energy=cfg.data.energy, intensity=cfg.data.intensity,
        beta=np.array(summary["beta"]), lam=stats.lam, barrier=summary["diagnostics"]["barrier"],
        diagnostics={"acceptance": acceptance_rates(stats), **stats.move_reports, "swap_rate": swap_rates(stats),
                     "round_trips": stats.trips, "log_step": stats.log_step, "overlap": est["overlap"]},
        log_z=est["log_z"], stderr=est["stderr"], provenance=summary["provenance"],
        attrs={"model": model.name, "label": cand.label, "n_data": cfg.data.n, "seed": cfg.seed,
               "chains": stats.chains, "param_names": list(model.param_names), "noise_mode": cfg.noise.estimate},
        final_state=stats.final_state))
    writer.finish(summary)
