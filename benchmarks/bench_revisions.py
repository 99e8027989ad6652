"""The engine of two revisions side by side: is the new one slower?

    python benchmarks/bench_revisions.py OLD [--new REV] [--families k3,cluster3] [--repeats 5] [--scale 0.5]

OLD (and ``--new``, default: this working tree) is a git revision, checked out into a temporary
worktree. For every problem of benchmarks/problems.py named in ``--families``, each revision runs
the whole ``remc-mpi run`` (one process, one rank) ``--repeats`` times, old and new alternated
(their order swapped every repeat, so that a drift of the shared machine's speed falls on both),
after one unrecorded run each that compiles the kernels into that worktree's cache. It prints, per
problem, the median over the repeats of new / old for

- sampling: the loop's seconds (the summary's ``provenance.sampling_s``);
- kernel: the seconds inside the compiled sweep kernel (``provenance.model_s``);
- process: the wall time of the whole process (start-up, set-up, sampling, post-processing),

with the range of the per-pair ratios beside each: a ratio whose range holds 1 is no change
beyond noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from problems import problem  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def checkout(rev: str, folder: Path) -> Path:
    """A worktree of ``rev`` in ``folder`` (removed by :func:`remove`)."""
    subprocess.run(["git", "worktree", "add", "-f", "--detach", str(folder), rev], cwd=ROOT, check=True,
                   capture_output=True)
    return folder


def remove(folder: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, capture_output=True)


def one_run(tree: Path, name: str, work: Path, scale: float, tag: str) -> dict[str, float]:
    """One whole run of problem ``name`` with the package of ``tree``: its timings."""
    out = work / f"{tag}.h5"
    out.unlink(missing_ok=True)
    cfg = problem(name, str(out))
    cfg["sampler"]["sweeps"] = int(cfg["sampler"]["sweeps"] * scale)
    cfg["sampler"]["burn_in"] = int(cfg["sampler"]["burn_in"] * scale)
    cfg["progress"] = False
    path = work / f"{tag}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=str(tree), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "remc_mpi", "run", str(path)], cwd=work, env=env, check=True,
                   capture_output=True)
    wall = time.perf_counter() - t0
    with h5py.File(out, "r") as h5:
        prov = json.loads(h5["results/summary_json"][()])["provenance"]
    return {"sampling": prov["sampling_s"], "kernel": prov["model_s"], "process": wall}


def compare(trees: dict[str, Path], name: str, work: Path, repeats: int, scale: float) -> None:
    for which in trees:  # compile each tree's kernels into its own cache, unrecorded
        one_run(trees[which], name, work, scale, f"{name}-{which}-warm")
    ratios: dict[str, list[float]] = {"sampling": [], "kernel": [], "process": []}
    for r in range(repeats):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        t = {which: one_run(trees[which], name, work, scale, f"{name}-{which}") for which in order}
        for key in ratios:
            ratios[key].append(t["new"][key] / t["old"][key])
    cells = [f"{statistics.median(v):6.3f} [{min(v):.3f}, {max(v):.3f}]" for v in ratios.values()]
    print(f"{name:<16}" + "".join(f"{c:>24}" for c in cells), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("--new", default=None, help="a revision (default: this working tree)")
    ap.add_argument("--families", default="k3,cluster3")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scale", type=float, default=0.5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-rev-"))
    made = [checkout(args.old, work / "old")]
    trees = {"old": made[0], "new": ROOT}
    if args.new:
        made.append(checkout(args.new, work / "new"))
        trees["new"] = made[1]
    print(f"new / old, median [range] over {args.repeats} alternated pairs; old {args.old}, "
          f"new {args.new or 'working tree'}, sweeps x {args.scale}")
    print(f"{'problem':<16}{'sampling':>24}{'kernel':>24}{'process':>24}")
    try:
        for name in args.families.split(","):
            compare(trees, name, work, args.repeats, args.scale)
    finally:
        for folder in made:
            remove(folder)


if __name__ == "__main__":
    main()
