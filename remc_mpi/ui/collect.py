"""``remc-mpi collect DIR``: one table over a campaign's tasks, and the phase diagram.

Per grid point (task): the grid coordinates, each candidate's free energy and its error,
P(H_k | D), the selected model, sigma_hat (noise-estimation mode), and the selected model's
parameter estimates (posterior mean and 95% interval). Written as ``collected.csv`` and
``collected.h5`` (one dataset per column) in the campaign folder; ``phase_diagram.png`` shows
the probability of the last-listed candidate over the swept parameter and the noise level
(averaged over seeds), annotated with the model selected most often.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from remc_mpi.ui.campaign import SKIPPED
from remc_mpi.errors import InputError
from remc_mpi.io.safeio import atomic_h5, write_text_atomic
from remc_mpi.evidence.selection import DECISIVE_P


#: the grid coordinates a task's row repeats from its point.json (a plan's: its truth, level and
#: repeat, the counts at the truth's maximum)
POINT_COLUMNS = ("noise", "seed", "file", "group", "level", "repeat", "counts", "count_scale")


def collect_rows(folder: str | Path) -> list[dict[str, Any]]:
    from remc_mpi.config import load_config
    from remc_mpi.io.paths import output_paths
    from remc_mpi.io.output import complete_summary
    from remc_mpi.evidence.selection import select

    folder = Path(folder)
    points = sorted((folder / "tasks").glob("*/point.json"))
    if not points:
        raise InputError("no campaign tasks here (expected tasks/NNNN/point.json)", str(folder))
    rows = []
    for pj in points:
        point = json.loads(pj.read_text())
        row: dict[str, Any] = {"task": point["index"]}
        for k in POINT_COLUMNS:
            if k in point:
                row[k] = point[k]
        row.update({k: v for k, v in point.items() if k.startswith("sweep_")})
        cfg = load_config(pj.parent / "config.yaml")
        summaries = [complete_summary(p) for p in output_paths(cfg)]
        if None in summaries:
            row["status"] = "skipped" if (pj.parent / SKIPPED).exists() else "missing"
            rows.append(row)
            continue
        row["status"] = "complete"
        sel = select(summaries)
        for m in sel["models"]:
            row[f"F_{m['name']}"] = m["free_energy"]
            row[f"F_stderr_{m['name']}"] = m["stderr"]
            row[f"P_{m['name']}"] = m["probability"]
            row[f"trusted_{m['name']}"] = m["trusted"]
            if m["fit"]:
                row[f"fit_{m['name']}"] = m["fit"]["map"]
                row[f"fit_p_{m['name']}"] = m["fit"]["p_value"]
        row["selected"] = sel["best"]
        row["decided"] = sel["decided"]
        row["all_misfit"] = sel["all_misfit"]
        best = next(s for s in summaries if s["label"] == sel["best"])
        for level in ("sigma_hat", "scale_hat"):  # the noise estimate (scale_hat: scaled counts)
            if level in best.get("noise", {}):
                row[level] = best["noise"][level]
        for name, p in best["posterior"].items():
            if not p["fixed"]:
                row[f"{name}_mean"], row[f"{name}_q025"], row[f"{name}_q975"] = p["mean"], p["q025"], p["q975"]
        rows.append(row)
    return rows


def write_table(rows: list[dict[str, Any]], folder: str | Path) -> tuple[Path, Path]:
    import h5py

    folder = Path(folder)
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    csv_path, h5_path = folder / "collected.csv", folder / "collected.h5"
    text = io.StringIO(newline="")
    w = csv.DictWriter(text, fieldnames=cols)
    w.writeheader()
    for r in rows:
        w.writerow(r)
    write_text_atomic(csv_path, text.getvalue())
    with atomic_h5(h5_path) as h5:
        for c in cols:
            vals = [r.get(c) for r in rows]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
                h5.create_dataset(c, data=np.array(vals, dtype=float))
            else:
                h5.create_dataset(c, data=["" if v is None else str(v) for v in vals], dtype=h5py.string_dtype())
    return csv_path, h5_path


def cell_label(row: dict[str, Any]) -> str:
    """What a phase-diagram cell says of one task: "?" where an evidence was not trusted, "-"
    where the selected model's probability is below DECISIVE_P (remc_mpi.evidence.selection), else the
    selected model."""
    if not row.get("decided", True):
        return "?"
    if row.get(f"P_{row['selected']}", 1.0) < DECISIVE_P:
        return "-"
    return row["selected"]


def phase_diagram(rows: list[dict[str, Any]], path: str | Path) -> Path | None:
    """P(last candidate) over (swept parameter, noise); None when the grid has no sweep."""
    done = [r for r in rows if r.get("status") == "complete"]
    sweep = next((k for k in (done[0] if done else {}) if k.startswith("sweep_")), None)
    if not done or sweep is None or "noise" not in done[0]:
        return None
    from remc_mpi.ui.plots import pyplot, save_figure

    plt = pyplot()
    models = [k[2:] for k in done[0] if k.startswith("P_")]
    target = models[-1]
    xs = sorted({r[sweep] for r in done})
    ys = sorted({r["noise"] for r in done})
    grid = np.full((len(ys), len(xs)), np.nan)
    label = [["" for _ in xs] for _ in ys]
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            here = [r for r in done if r[sweep] == x and r["noise"] == y]
            if here:
                grid[i, j] = np.mean([r[f"P_{target}"] for r in here])
                picks = [cell_label(r) for r in here]
                label[i][j] = max(set(picks), key=picks.count)
    fig, ax = plt.subplots(figsize=(1.1 * len(xs) + 3, 0.8 * len(ys) + 2.5))
    im = ax.imshow(grid, origin="lower", cmap="RdBu_r", vmin=0, vmax=1, aspect="auto")
    for i in range(len(ys)):
        for j in range(len(xs)):
            ax.text(j, i, label[i][j], ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
    ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
    ax.set_xlabel(sweep[len("sweep_"):] + " (true)")
    ax.set_ylabel("noise sigma")
    fig.colorbar(im, ax=ax, label=f"P({target} | D)")
    ax.set_title("selected Hamiltonian")
    fig.tight_layout()
    return save_figure(fig, path)


def collect(folder: str | Path) -> list[Path]:
    rows = collect_rows(folder)
    out = list(write_table(rows, folder))
    try:
        pd = phase_diagram(rows, Path(folder) / "phase_diagram.png")
    except RuntimeError:  # matplotlib missing: the table is still written
        pd = None
    if pd is not None:
        out.append(pd)
    return out
