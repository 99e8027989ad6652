r"""Model selection from Bayes free energies (docs/contract.md, section 3).

P(H_k | D) = pi_k exp(-F_k) / sum_j pi_j exp(-F_j), with model priors pi (equal by default).
The uncertainty that the free-energy errors imply is propagated by Monte Carlo: F_k is drawn
from N(F_k, se_k^2) independently per model (the runs are independent), the probabilities
recomputed, and their standard deviation and 95% interval reported. Deterministic (fixed seed).

The selection is *decided* only when every candidate's evidence is trusted (remc_mpi.evidence.trust):
otherwise ``decided`` is false (``best`` stays the candidate the evidence ranks first) and the
table prints no "selected" line but names each untrusted candidate, why, and the remedy.
Every warning of the candidates' runs is repeated under the table, and when every candidate
misfits the data (remc_mpi.evidence.fitquality) one line says that the ranking compares inadequate models.
"""

from __future__ import annotations

import math

import numpy as np

from remc_mpi.evidence.fitquality import misfit
from remc_mpi.evidence.trust import status_line, trust_status


def model_probabilities(log_ev: np.ndarray, stderr: np.ndarray, prior: np.ndarray | None = None,
                        n_draws: int = 20000, seed: int = 0) -> dict[str, np.ndarray]:
    """Posterior model probabilities with Monte Carlo error bands."""
    log_ev = np.asarray(log_ev, dtype=np.float64)
    stderr = np.asarray(stderr, dtype=np.float64)
    log_prior = np.log(np.ones_like(log_ev) / log_ev.size if prior is None else np.asarray(prior) / np.sum(prior))

    def probs(x: np.ndarray) -> np.ndarray:
        a = x + log_prior
        a = a - a.max(axis=-1, keepdims=True)
        w = np.exp(a)
        return w / w.sum(axis=-1, keepdims=True)

    rng = np.random.default_rng(seed)
    with np.errstate(invalid="ignore", over="ignore"):  # an infinite error: the band is all of [0, 1]
        p = probs(log_ev)
        draws = probs(log_ev + stderr * rng.standard_normal((n_draws, log_ev.size)))
    if not np.all(np.isfinite(stderr)):
        return {"probability": p, "sd": np.full(p.shape, np.nan), "q025": np.zeros(p.shape), "q975": np.ones(p.shape)}
    return {"probability": p, "sd": draws.std(axis=0), "q025": np.quantile(draws, 0.025, axis=0),
            "q975": np.quantile(draws, 0.975, axis=0)}


#: a selection is decisive when the leader's probability reaches this (the usual threshold,
#: P(H | D) >= 0.95); below it the data do not decide between the candidates
DECISIVE_P = 0.95


def select(summaries: list[dict], files: list[str] | None = None, prior: dict[str, float] | None = None) -> dict:
    """The ``select --json`` object: {models: [{name, file, log_evidence, stderr, probability,
    ...}], best} from run summaries. Model priors: ``prior`` by name when given, otherwise each
    summary's stored ``model_prior`` (1 when absent)."""
    names = [s.get("label", s["model"]) for s in summaries]
    lev = np.array([s["log_evidence"]["value"] for s in summaries])
    se = np.array([s["log_evidence"]["stderr"] for s in summaries])
    weights = [prior.get(n, 1.0) if prior else s.get("model_prior", 1.0) for n, s in zip(names, summaries)]
    pri = None if all(w == 1.0 for w in weights) else np.array(weights, dtype=np.float64)
    res = model_probabilities(lev, se, pri)
    models = []
    for i, s in enumerate(summaries):
        status = trust_status(s)
        models.append({"name": names[i], "model": s["model"], "file": files[i] if files else s.get("file"),
                       "log_evidence": float(lev[i]), "stderr": float(se[i]), "free_energy": float(-lev[i]),
                       "probability": float(res["probability"][i]), "probability_sd": float(res["sd"][i]),
                       "probability_q025": float(res["q025"][i]), "probability_q975": float(res["q975"][i]),
                       "trusted": status["trusted"], "status": status, "fit": s.get("fit"),
                       "warnings": list(s.get("warnings", []))})
    ranked = lev + (np.log(pri) if pri is not None else 0.0)
    leader = names[int(np.nanargmax(ranked))] if np.any(np.isfinite(ranked)) else None
    different = different_data(summaries)
    decided = all(m["trusted"] for m in models) and leader is not None and different is None
    fits = [m["fit"] for m in models]
    all_misfit = all(f is not None for f in fits) and all(misfit(f) for f in fits)
    return {"models": models, "best": leader, "decided": decided, "all_misfit": all_misfit,
            "different_data": different}


def different_data(summaries: list[dict]) -> str | None:
    """Why the candidates were not fitted to one spectrum (their data digests, or for files
    written before the digest their numbers of points, differ), or None."""
    digests = {s.get("data_digest") for s in summaries}
    if None not in digests and len(digests) > 1:
        return f"{len(digests)} different spectra among the candidates (their data digests differ)"
    points = {s.get("n_data") for s in summaries}
    if len(points) > 1:
        return f"different spectra among the candidates ({', '.join(map(str, sorted(points)))} points)"
    return None


def _fit_text(fit: dict | None) -> str:
    return "-" if not fit else f"{fit['map']:.3g}"


def _number(x: float, fmt: str) -> str:
    return format(x, fmt) if math.isfinite(x) else "n/a"


def format_table(sel: dict) -> str:
    """A plain-text model-comparison table: free energies, P(H|D), fit and status per candidate,
    then the decision (or why there is none) and every warning of the runs."""
    lines = [f"{'model':<16} {'F = -log Z':>14} {'stderr':>8} {'P(H|D)':>9} {'95% band':>19} {'fit/N':>7}  status"]
    for m in sorted(sel["models"], key=lambda m: m["free_energy"] if math.isfinite(m["free_energy"]) else math.inf):
        lines.append(f"{m['name']:<16} {_number(m['free_energy'], '14.3f')} {_number(m['stderr'], '8.3f')} "
                     f"{m['probability']:9.4f}   [{m['probability_q025']:.4f}, {m['probability_q975']:.4f}] "
                     f"{_fit_text(m['fit']):>7}  {'trusted' if m['trusted'] else 'UNTRUSTED'}")
    if sel["all_misfit"]:
        stats = ", ".join(_fit_text(m["fit"]) for m in sel["models"])
        statistic = sel["models"][0]["fit"]["statistic"]
        lines.append(f"warning: no candidate describes the data ({statistic} {stats}): the ranking compares "
                     "inadequate models")
    if sel.get("different_data"):
        lines.append(f"no model selected: the candidates were fitted to different data ({sel['different_data']}); "
                     "their evidences cannot be compared")
    elif sel["decided"]:
        best = next(m for m in sel["models"] if m["name"] == sel["best"])
        lines.append(f"selected: {sel['best']}" + ("" if best["probability"] >= DECISIVE_P else
                     f" (not decisive: P = {best['probability']:.3f} < {DECISIVE_P}; the data hardly tell the "
                     "leading candidates apart)"))
    else:
        lines.append(f"no model selected (the evidence of {sum(not m['trusted'] for m in sel['models'])} "
                     "candidate(s) is not trusted):")
        lines += [f"  {status_line(m['name'], m['status'])}" for m in sel["models"] if not m["trusted"]]
    for m in sel["models"]:
        lines += [f"warning: {m['name']}: {w}" for w in m["warnings"]]
    return "\n".join(lines)
