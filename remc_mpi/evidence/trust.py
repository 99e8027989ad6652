"""Whether a candidate's log evidence can be trusted: the convergence gates of a summary
(docs/free_energy.md, "Can the result be trusted?"). A pure function of the summary dict, so
``select``, ``collect`` and ``analyze`` judge every file alike, also files written before the
gates existed.

A log evidence is *trusted* when

1. the headline estimator's value and error are finite;
2. every estimator that could be computed has a finite error, and all of them agree within
   AGREE_Z times their combined error (an estimator that could not be computed at all, a NaN,
   or failed its own check, is named and left out of the comparison); in noise mode the estimators are read at
   different precisions (the rung nearest b_hat, the headline at b_hat itself) and are not
   compared, as the run's warnings do not compare them;
3. the replicas made at least MIN_ROUND_TRIPS round trips through the ladder;
4. with independent ladders (``ladder.chains``), the ladders agree (the F test of
   remc_mpi.driver.summary.chain_warnings).

A misfit (remc_mpi.evidence.fitquality) does not make the evidence untrusted: it is computed right, of a
model that does not describe the data; ``select`` says so separately.
"""

from __future__ import annotations

import math

#: estimators agree when they differ by at most this many combined standard errors
AGREE_Z = 3.0
#: at least this many round trips: fewer than the bootstrap blocks (evidence.bootstrap.MIN_BLOCKS) leave
#: blocks that no replica crossed the ladder within (the run warns below it too)
MIN_ROUND_TRIPS = 10


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def not_computed(summary: dict) -> list[str]:
    """Estimators whose value is not a finite number, or that failed their own check (MBAR's
    iteration that did not converge: remc_mpi.evidence.freeenergy.Failed)."""
    return [k for k, e in summary.get("estimators", {}).items() if not _finite(e.get("value")) or "failed" in e]


def trust_status(summary: dict) -> dict:
    """``{trusted, reasons, remedy, not_computed}`` of one summary (module docstring)."""
    reasons, remedies = [], []
    head = summary["log_evidence"]
    if not (_finite(head.get("value")) and _finite(head.get("stderr"))):
        reasons.append(f"the headline estimate ({head.get('method')}) is {head.get('value')} +- {head.get('stderr')}")
        remedies.append("run longer, or with more temperatures")
    est = {k: e for k, e in summary.get("estimators", {}).items() if _finite(e.get("value")) and "failed" not in e}
    infinite = [k for k, e in est.items() if not _finite(e.get("stderr"))]
    if infinite:
        reasons.append(f"no finite error for {', '.join(infinite)}")
        remedies.append("run longer")
    finite = {k: e for k, e in est.items() if _finite(e.get("stderr"))}
    pairs = [] if "noise" in summary else disagreeing_pairs({k: e["value"] for k, e in finite.items()},
                                                             {k: e["stderr"] for k, e in finite.items()})
    if pairs:
        reasons.append(f"estimators {max(diff for _, _, diff, _ in pairs):.3g} nats apart")
        remedies.append("run longer, or with more temperatures")
    trips = summary.get("diagnostics", {}).get("round_trips", 0)
    if trips < MIN_ROUND_TRIPS:
        reasons.append(f"{trips} round trip{'s' if trips != 1 else ''} (< {MIN_ROUND_TRIPS})")
        remedies.append("run longer, or with more temperatures")
    ch = summary.get("chains")
    if ch and ch.get("agree") is False:
        reasons.append(f"the {ch['count']} ladders disagree (scatter {ch['scatter_ratio']:.2f} x their errors)")
        remedies.append("run longer")
    remedy = ", ".join(dict.fromkeys(remedies))
    return {"trusted": not reasons, "reasons": reasons, "remedy": remedy, "not_computed": not_computed(summary)}


def disagreeing_pairs(values: dict[str, float], errors: dict[str, float],
                      z: float = AGREE_Z) -> list[tuple[str, str, float, float]]:
    """(a, b, |difference|, combined error) of each pair of estimators whose difference exceeds
    ``z`` times their combined error."""
    names = list(values)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            comb = math.hypot(errors[a], errors[b])
            diff = abs(values[a] - values[b])
            if diff > z * comb:
                out.append((a, b, diff, comb))
    return out


def disagreements(values: dict[str, float], errors: dict[str, float], z: float = AGREE_Z) -> list[str]:
    """The pairs of :func:`disagreeing_pairs` as warning lines."""
    return [f"{a} and {b} differ by {diff:.3g} nats (> {z:g} x combined error {comb:.3g})"
            for a, b, diff, comb in disagreeing_pairs(values, errors, z)]


def status_line(label: str, status: dict) -> str:
    """``cluster3: estimators 1000 nats apart, 1 round trip — run longer, or with more temperatures``."""
    return f"{label}: {', '.join(status['reasons'])} — {status['remedy']}"
