"""A move's acceptance per rung in windows of sweeps around the end of the burn-in.

    python analysis/move_windows.py CONFIG.yaml [--move joint] [--late 500]

Runs CONFIG (one rank, its first candidate only when it has several: put the one to study
first) and reports, per rung, the move's acceptance over the last ``--late`` sweeps of the
burn-in, over the first 200 sweeps after it, over the next 800 and over the rest, and, for the
joint move, how much the end of the burn-in changed its Cholesky factor (|C| after / before,
Frobenius norms). A move whose acceptance falls at the end of the burn-in, with C unchanged, was
tuned on states other than the ones it meets after it (docs/measured.md, "The joint move after
the burn-in"). It reads the move's counters between sweeps (``CandidateRun.step`` wrapped), so
the run is otherwise the one ``remc-mpi run`` makes; the results file is written as usual.
"""

from __future__ import annotations

import argparse

import numpy as np
from mpi4py import MPI

from remc_mpi.config import load_config
from remc_mpi.driver import candidate
from remc_mpi.driver.engine import run
from remc_mpi.errors import InputError

#: sweeps just after the burn-in, then up to this many after it: the windows' edges
FIRST, SECOND = 200, 1000


def window_edges(burn_in: int, sweeps: int, late: int) -> list[tuple[int, int]]:
    """The [start, end) sweeps of the four windows (those the run reaches)."""
    edges = [(max(0, burn_in - late), burn_in - 1), (burn_in, burn_in + FIRST), (burn_in + FIRST, burn_in + SECOND),
             (burn_in + SECOND, sweeps)]
    return [(a, min(b, sweeps)) for a, b in edges if a < sweeps]


def watch(move: str, burn_in: int, marks: set[int]) -> dict[int, tuple]:
    """Wrap CandidateRun.step so that the move's counters (and C) are kept before the sweeps in
    ``marks`` and after the last; returns the dict they go into."""
    kept: dict[int, tuple] = {}
    step = candidate.CandidateRun.step

    def keep(self, sweep):
        mine = self.cfg.sampler.burn_in == burn_in  # not the pilot of n_temps: auto
        state = self.block.move_state[move]
        if mine and sweep in marks:
            kept[sweep] = (state["accepted"].copy(), state["tried"].copy(), state.get("chol", np.zeros(1)).copy())
        step(self, sweep)
        if mine and sweep + 1 == self.end:
            kept[self.end] = (state["accepted"].copy(), state["tried"].copy(), state.get("chol", np.zeros(1)).copy())

    candidate.CandidateRun.step = keep
    return kept


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--move", default="joint")
    ap.add_argument("--late", type=int, default=500)
    args = ap.parse_args()
    try:
        cfg = load_config(args.config)
    except InputError as err:
        raise SystemExit(f"move_windows: {err}") from None
    cfg.candidates[1:] = []
    bi, n = cfg.sampler.burn_in, cfg.sampler.cap
    edges = window_edges(bi, n, args.late)
    kept = watch(args.move, bi, {a for a, _ in edges} | {b for _, b in edges})
    try:
        summary = run(cfg, MPI.COMM_SELF, progress=False)[0]
    except InputError as err:
        raise SystemExit(f"move_windows: {err}") from None

    def rate(a, b):
        return (kept[b][0] - kept[a][0]) / np.maximum(1, kept[b][1] - kept[a][1])

    def norm(c):
        return np.sqrt((c.reshape(len(c), -1) ** 2).sum(axis=1)) if c.ndim > 1 else np.full(len(summary["beta"]), np.nan)

    change = norm(kept[bi][2]) / np.maximum(1e-300, norm(kept[bi - 1][2]))
    print(f"{args.move} acceptance per rung; burn-in {bi}, sweeps {n}")
    print(f"{'rung':>4} {'beta':>10}" + "".join(f"{f'[{a},{b})':>14}" for a, b in edges) + f"{'|C| ratio':>11}")
    for rung, beta in enumerate(summary["beta"]):
        print(f"{rung:>4} {beta:>10.3g}" + "".join(f"{rate(a, b)[rung]:>14.3f}" for a, b in edges)
              + f"{change[rung]:>11.3f}")
    ev = summary["log_evidence"]
    print(f"round trips {summary['diagnostics']['round_trips']}, log Z {ev['value']:.1f} +- {ev['stderr']:.1f}")


if __name__ == "__main__":
    main()
