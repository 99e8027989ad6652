r"""A plan's answer (remc_mpi.ui.plan): per truth and counting level the share of repeats whose
selection picked the truth decisively, with its Wilson band; the level at which that share
reaches the target, with its band; the cost; the table (CSV, HDF5, JSON) and the figure.

The threshold, as functions of documented arrays: ``levels`` (ascending), ``share`` = k / n per
level, ``lo`` and ``hi`` its Wilson interval. With x = log(level), the crossing of a curve c(x)
with ``target`` is the first level where c >= target, interpolated linearly in x with the level
below it (the first level itself when c already starts there; None when c never reaches it):

    threshold = crossing(share),   band = [crossing(hi), crossing(lo)]

(the optimistic end of the interval reaches the target first). A lower end of None means "at or
below the smallest level run", an upper end of None "above the largest".
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from remc_mpi.ui.campaign import SKIPPED
from remc_mpi.errors import InputError
from remc_mpi.ui.plan import Plan, level_tasks, task_outcome, trusted_tally, wilson
from remc_mpi.io.safeio import atomic_h5, write_text_atomic

#: the files a plan's collection writes in its folder (beside collect's collected.csv/.h5)
TABLE_CSV, TABLE_H5, ANSWER_JSON, FIGURE = "plan.csv", "plan.h5", "plan.json", "decisiveness.png"


def crossing(levels: np.ndarray, curve: np.ndarray, target: float) -> float | None:
    """Where ``curve`` first reaches ``target``, linear in log(level) (module docstring)."""
    above = np.flatnonzero(np.asarray(curve) >= target)
    if above.size == 0:
        return None
    j = int(above[0])
    if j == 0:
        return float(levels[0])
    x0, x1 = math.log(levels[j - 1]), math.log(levels[j])
    c0, c1 = float(curve[j - 1]), float(curve[j])
    return float(math.exp(x0 + (target - c0) / (c1 - c0) * (x1 - x0)))


def threshold(levels: np.ndarray, share: np.ndarray, lo: np.ndarray, hi: np.ndarray,
              target: float) -> dict[str, Any]:
    """The level at which ``share`` reaches ``target`` and its band (module docstring)."""
    return {"level": crossing(levels, share, target), "lo": crossing(levels, hi, target),
            "hi": crossing(levels, lo, target), "reached": bool(np.any(np.asarray(share) >= target))}


def level_rows(plan: Plan) -> list[dict[str, Any]]:
    """One row per (truth group, level): repeats run and skipped, outcomes, share and band, cost."""
    outcomes = {t.index: task_outcome(t, plan.decisive) for t in plan.campaign.tasks}
    rows = []
    for group in plan.groups:
        for level in plan.levels:
            tasks = level_tasks(plan, group, level)
            done = [outcomes[t.index] for t in tasks if outcomes[t.index] is not None]
            k, n = trusted_tally(done)
            lo, hi = wilson(k, n)
            count = {s: sum(o["status"] == s for o in done) for s in ("right", "wrong", "not decisive", "untrusted")}
            skipped = sum((t.folder / SKIPPED).exists() for t in tasks)
            rows.append({"truth": group, plan.level_name: level, "counts_at_max": tasks[0].point["counts"],
                         "repeats": len(done), "skipped": skipped, "missing": len(tasks) - len(done) - skipped,
                         "decisive_right": k, "decisive_wrong": count["wrong"],
                         "not_decisive": count["not decisive"], "untrusted": count["untrusted"],
                         "share": k / n if n else float("nan"), "share_lo": lo, "share_hi": hi,
                         "core_hours": sum(o["core_seconds"] for o in done) / 3600.0})
    return rows


def answer(plan: Plan, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The plan's JSON answer: settings, per-truth thresholds with bands, the table, the cost."""
    truths = []
    for group in plan.groups:
        mine = [r for r in rows if r["truth"] == group and r["repeats"] > r["untrusted"]]
        arrays = [np.array([r[k] for r in mine], dtype=float) for k in (plan.level_name, "share", "share_lo", "share_hi")]
        thr = threshold(*arrays, plan.target) if mine else {"level": None, "lo": None, "hi": None, "reached": False}
        truths.append({"truth": group, "candidate": next(t.label for t in plan.truths if t.group == group),
                       "threshold": thr})
    runs = sum(r["repeats"] for r in rows)
    return {"name": plan.campaign.name, "level_name": plan.level_name, "levels": plan.levels,
            "target": plan.target, "decisive": plan.decisive, "noise": plan.noise, "truths": truths,
            "table": rows, "cost": {"core_hours": sum(r["core_hours"] for r in rows), "runs": runs,
                                    "skipped": sum(r["skipped"] for r in rows),
                                    "planned": len(plan.campaign.tasks)}}


def write_answer(plan: Plan, result: dict[str, Any]) -> list[Path]:
    """plan.csv, plan.h5 (one dataset per column; the JSON answer as an attribute), plan.json."""
    folder = plan.campaign.folder
    rows = result["table"]
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    paths = [folder / TABLE_CSV, folder / TABLE_H5, folder / ANSWER_JSON]
    write_text_atomic(paths[0], text.getvalue())
    as_json = json.dumps(_finite_or_none(result), indent=1, allow_nan=False)
    with atomic_h5(paths[1]) as h5:
        for col in rows[0]:
            values = [r[col] for r in rows]
            h5.create_dataset(col, data=np.array(values, dtype=float) if col != "truth" else [str(v) for v in values])
        h5.attrs["answer_json"] = as_json
    write_text_atomic(paths[2], as_json)
    return paths


def _finite_or_none(obj: Any) -> Any:
    """``obj`` with every non-finite float as None (JSON has no nan)."""
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def figure(plan: Plan, result: dict[str, Any]) -> Path:
    """Decisiveness against the counting level, one curve and Wilson band per truth, the target
    and each threshold with its band."""
    from remc_mpi.ui.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, t in enumerate(result["truths"]):
        mine = [r for r in result["table"] if r["truth"] == t["truth"] and r["repeats"] > r["untrusted"]]
        x = [r[plan.level_name] for r in mine]
        colour = f"C{i}"
        ax.fill_between(x, [r["share_lo"] for r in mine], [r["share_hi"] for r in mine], color=colour, alpha=0.2)
        ax.plot(x, [r["share"] for r in mine], "o-", color=colour, label=f"truth {t['truth']}")
        thr = t["threshold"]
        if thr["level"] is not None:
            ax.axvline(thr["level"], color=colour, ls="--", lw=1)
            ax.axvspan(thr["lo"] or x[0], thr["hi"] or x[-1], color=colour, alpha=0.08)
    ax.axhline(plan.target, color="k", lw=0.8, ls=":", label=f"target {plan.target:g}")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    unit = "counts per point at the maximum" if plan.level_name == "counts" else "counting time"
    ax.set_xlabel(unit)
    ax.set_ylabel(f"share picking the truth with P >= {plan.decisive:g}")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, plan.campaign.folder / FIGURE)


def answer_lines(plan: Plan, result: dict[str, Any]) -> list[str]:
    """What ``remc-mpi plan`` prints: per truth its levels and threshold, then the cost."""
    out = []
    for t in result["truths"]:
        out.append(f"truth {t['truth']} (candidate {t['candidate']}):")
        for r in (r for r in result["table"] if r["truth"] == t["truth"]):
            out.append(f"  {plan.level_name} {r[plan.level_name]:<10g} {r['decisive_right']}/{r['repeats'] - r['untrusted']} "
                       "decisive and "
                       f"right  [{r['share_lo']:.2f}, {r['share_hi']:.2f}]" + _extras(r))
        out.append("  " + threshold_line(plan, t["threshold"]))
    c = result["cost"]
    out.append(f"cost: {c['core_hours']:.3g} core-hours in {c['runs']} runs ({c['skipped']} of {c['planned']} "
               "repeats skipped: their level was decided)")
    return out


def _extras(row: dict[str, Any]) -> str:
    parts = [f"{row[k]} {k.replace('_', ' ')}" for k in ("decisive_wrong", "not_decisive", "untrusted", "skipped",
                                                         "missing") if row[k]]
    return f"  ({', '.join(parts)})" if parts else ""


def threshold_line(plan: Plan, thr: dict[str, Any]) -> str:
    share = f"{plan.target:.0%} decisive"
    if thr["level"] is None:
        return f"{share}: not reached within the levels run (above {plan.levels[-1]:g})"
    lo = f"{thr['lo']:.3g}" if thr["lo"] is not None else f"<= {plan.levels[0]:g}"
    hi = f"{thr['hi']:.3g}" if thr["hi"] is not None else f"> {plan.levels[-1]:g}"
    return f"{share} at {plan.level_name} {thr['level']:.3g} (band {lo} to {hi})"


def collect_plan(plan: Plan) -> tuple[dict[str, Any], list[Path]]:
    """Every run's row (collect's table) and the plan's answer, written; the answer and the paths."""
    from remc_mpi.ui.collect import collect_rows, write_table

    if not any(t.config.exists() for t in plan.campaign.tasks):
        raise InputError(f"no repeats of this plan have been written to {plan.campaign.folder} yet: run "
                         f"`remc-mpi plan {plan.source.name}` (or --slurm) first", str(plan.source))
    result = answer(plan, level_rows(plan))
    paths = list(write_table(collect_rows(plan.campaign.folder), plan.campaign.folder))
    paths += write_answer(plan, result)
    try:
        paths.append(figure(plan, result))
    except RuntimeError:  # matplotlib missing: the tables are written
        pass
    return result, paths


__all__ = ["crossing", "threshold", "level_rows", "answer", "write_answer", "figure", "answer_lines",
           "collect_plan"]
