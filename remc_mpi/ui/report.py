"""The text report of runs: what ``remc-mpi run``, ``analyze`` and ``demo`` print.

One run: the free energies of every estimator, the noise estimate (noise mode), the parameter
table (mean, sd, MAP, 95 % interval, true values when known), diagnostics and warnings. Several
runs: each of those, then the model-selection table P(H_k | D) under the model priors stored
in the runs' summaries (``model_prior``, from the config's ``model_priors``; 1 by default), so
every reader of the same files shows the same table.
"""

from __future__ import annotations

import math

from remc_mpi.driver.fields import report_lines
from remc_mpi.evidence.selection import format_table, select


def _finite(x) -> bool:
    """A number that can be printed as one (a summary read back from JSON has null for NaN)."""
    return x is not None and math.isfinite(x)


def estimator_lines(estimators: dict) -> list[str]:
    """One line per estimator: its log evidence and error, or that it has no value (a JSON
    null: TI where <U> at beta = 0 is infinite, for example). In noise mode, where the headline
    is reweighted to b_hat and the others are read at the rung nearest it, each line says at
    which b, so that their difference is not taken for disagreement."""
    at_b = {e["b"] for e in estimators.values() if "b" in e}
    lines = []
    for name, e in estimators.items():
        where = f"  (at b = {e['b']:.6g})" if len(at_b) > 1 else ""
        if not _finite(e["value"]):
            lines.append(f"    {name:<15} {'not computed':>14}")  # read at no b
            continue
        error = f"{e['stderr']:.4f}" if _finite(e["stderr"]) else "(no finite error)"
        lines.append(f"    {name:<15} {e['value']:14.4f} +- {error}" + ("  (failed)" if "failed" in e else "") + where)
    return lines


def format_summary(s: dict) -> str:
    """The text report of one run (what ``analyze`` prints)."""
    if s.get("likelihood") == "scaled_counts":
        noise = "scaled counts" + (f" (s = {s['scale']:.6g})" if s.get("scale") else "")
    else:
        noise = "Poisson counts" if s.get("sigma") is None else f"sigma = {s['sigma']:.6g}"
    lines = [f"model {s['label']} ({s['model']}), N = {s['n_data']}, {noise}"
             + ("  [noise estimated]" if "noise" in s else ""),
             f"  log evidence = {s['log_evidence']['value']:.4f} +- {s['log_evidence']['stderr']:.4f} "
             f"({s['log_evidence']['method']}; {s['diagnostics']['round_trips']} round trips),  "
             f"F = {s['free_energy']:.4f}"]
    if s.get("data_note"):
        lines.append(f"  data: {s['data_note']}")
    lines += estimator_lines(s["estimators"])
    stop = s.get("stop") or {}
    if stop.get("target_error") is not None:
        met = "reached" if stop["reason"] == "target_error" else f"not reached ({stop['reason']})"
        lines.append(f"  target error {stop['target_error']:g} {met}: ended at sweep {stop['sweep']}")
    elif stop.get("reason") == "max_minutes":
        lines.append(f"  ended at sweep {stop['sweep']} by the max_minutes cap")
    if "chains" in s:
        c = s["chains"]
        lines.append(f"  {c['count']} independent ladders: log evidence " + ", ".join(f"{v:.4f}" for v in c["log_evidence"])
                     + f"; error between ladders {c['between_stderr']:.4f}, within {c['within_stderr']:.4f}")
    if "noise" in s:
        n = s["noise"]
        level = "scale" if "scale_hat" in n else "sigma"  # scaled counts: s = 1 / b
        lines.append(f"  noise: b_hat = {n['b_hat']:.6g} +- {n['b_hat_stderr']:.3g},  "
                     f"{level}_hat = {n[level + '_hat']:.6g} +- {n[level + '_hat_stderr']:.3g}")
    truth = s.get("truth") or {}
    if s.get("peaks_ordered"):
        lines.append("  peaks ordered by position in every sample (mu1 < mu2 < ...; order_peaks: false keeps "
                     "the sampler's labels)")
    lines.append(f"  {'parameter':<10} {'mean':>10} {'sd':>9} {'MAP':>10} {'2.5%':>10} {'97.5%':>10}"
                 + (f" {'true':>9}" if truth else ""))
    for name, p in s["posterior"].items():
        if p.get("fixed"):
            continue
        t = f" {truth[name]:9.4g}" if name in truth else ""
        lines.append(f"  {name:<10} {p['mean']:10.4g} {p['sd']:9.3g} {p['map']:10.4g} {p['q025']:10.4g} "
                     f"{p['q975']:10.4g}{t}")
    for name, p in (s.get("derived") or {}).items():
        lines.append(f"  {name:<10} {p['mean']:10.4g} {p['sd']:9.3g} {p['map']:10.4g} {p['q025']:10.4g} "
                     f"{p['q975']:10.4g}   (derived)")
    lines += quality_lines(s) + report_lines(s)
    d = s["diagnostics"]
    lines.append(f"  round trips {d['round_trips']}, min swap rate {min(d['swap_rate']):.3f}, "
                 f"ESS(energy) {d['ess']['energy']:.0f}")
    if s.get("ladder_choice"):
        c = s["ladder_choice"]
        lines.append(f"  n_temps: auto chose {c['n_temps']} rungs from a pilot's communication barrier "
                     f"{c['pilot_barrier']:.2f} ({c['pilot_rungs']} rungs)")
    if "barrier" in d:
        lines.append(f"  communication barrier {d['barrier']:.2f}; round trips per exchange round "
                     f"{d['round_trip_rate']:.4f} (ideal for these rates {d['round_trip_rate_ideal']:.4f})")
    for w in s.get("warnings", []):
        lines.append(f"  warning: {w}")
    return "\n".join(lines)


def quality_lines(s: dict) -> list[str]:
    """The determined combinations, the fit and the trust status of one run (remc_mpi.evidence.trust)."""
    lines = [f"  {name:<10} {p['mean']:10.4g} {p['sd']:9.3g} {p['map']:10.4g} {p['q025']:10.4g} "
             f"{p['q975']:10.4g}   (the combination the data determine)"
             for name, p in (s.get("combinations") or {}).items()]
    fit = s.get("fit")
    if fit:
        lines.append(f"  fit: {fit['statistic']} {fit['map']:.4g} at the MAP, {fit['mean']:.4g} over the posterior; "
                     f"posterior-predictive p = {fit['p_value']:.3g}"
                     + (" (sigma estimated: about 1 and 1/2 by construction)" if fit.get("sigma_estimated") else "")
                     + (f"; residual lag-1 autocorrelation {fit['residual_lag1']:.3f} (limit {fit['lag1_limit']:.3f})"
                        if "residual_lag1" in fit else ""))
    trust = s.get("trust")
    if trust:
        lines.append("  evidence: trusted" if trust["trusted"] else
                     f"  evidence: NOT trusted ({', '.join(trust['reasons'])} — {trust['remedy']})")
    return lines


def format_report(summaries: list[dict], files: list[str] | None = None) -> str:
    """Every run's report and, for several runs, the model-selection table."""
    text = "\n\n".join(format_summary(s) for s in summaries)
    if len(summaries) > 1:
        text += "\n\n" + format_table(select(summaries, files=files))
    return text
