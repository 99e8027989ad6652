"""A results table for a paper from several remc_mpi results files.

    python analysis/results_table.py run-cluster2.h5 run-cluster3.h5 [--latex]

One row per model: free energy with its error, P(H | D) with its 95% band, then each free
parameter as MAP with the 95% credible interval. Markdown by default, LaTeX with --latex.
Post-processing only: everything comes from the files' stored summaries.
"""

from __future__ import annotations

import argparse

from remc_mpi.io.output import read_summary
from remc_mpi.evidence.selection import select


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("--latex", action="store_true")
    args = ap.parse_args()
    summaries = [read_summary(f) for f in args.results]
    sel = {m["name"]: m for m in select(summaries, files=args.results)["models"]}
    params = []
    for s in summaries:
        params += [n for n in s["param_names"] if not s["posterior"][n]["fixed"] and n not in params]
    head = ["model", "F", "P(H|D)"] + params
    rows = []
    for s in summaries:
        m = sel[s["label"]]
        row = [s["label"], f"{m['free_energy']:.2f} ± {m['stderr']:.2f}",
               f"{m['probability']:.3f} [{m['probability_q025']:.3f}, {m['probability_q975']:.3f}]"]
        for n in params:
            p = s["posterior"].get(n)
            row.append("—" if p is None or p["fixed"] else f"{p['map']:.3g} [{p['q025']:.3g}, {p['q975']:.3g}]")
        rows.append(row)
    if args.latex:
        print("\\begin{tabular}{" + "l" * len(head) + "}")
        print(" & ".join(head) + r" \\ \hline")
        for r in rows:
            print(" & ".join(c.replace("±", r"$\pm$") for c in r) + r" \\")
        print("\\end{tabular}")
    else:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
