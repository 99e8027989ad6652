"""Where the compiled sweep spends its time, kernel by kernel: a ``perf`` profile of numba's code.

    python benchmarks/profile_sweep.py [--problem cluster3] [--sweeps 4000] [--top 25]

``perf`` sees numba's machine code as anonymous memory. This script compiles the kernels afresh
(into a temporary ``NUMBA_CACHE_DIR``, so that numba still holds their object code), writes
``/tmp/perf-<pid>.map`` — the address, size and name of every function in that object code, the
file ``perf`` reads for code generated at run time — then sweeps one block of the problem's whole
ladder (the run's initial ladder, one rank, the joint move on after 600 sweeps of burn-in;
benchmarks/problems.py) and
prints the kernel's time per sweep. Run as above it relaunches itself under
``perf record -e cpu-clock:u`` and prints each compiled function's share of the samples taken in
remc_mpi's compiled code (the functions that numba inlined count in their caller), most first.

Needs ``perf`` (linux-tools; ``kernel.perf_event_paranoid`` at most 2) and ``nm`` (binutils).
docs/performance.md, "The model evaluation inlined", shows what it found.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: set in the child that ``perf`` records
CHILD_VARIABLE = "REMC_PROFILE_CHILD"


def perf_map_lines(tmp: Path) -> list[str]:
    """``START SIZE NAME`` (hex, as perf reads them) of every function in the object code of
    every compiled remc_mpi kernel in this process."""
    import numba

    rows = set()
    for module in [m for name, m in sys.modules.items() if name.startswith("remc_mpi")]:
        for obj in vars(module).values():
            if not isinstance(obj, numba.core.dispatcher.Dispatcher):
                continue
            for cres in obj.overloads.values():
                rows.update(_functions(cres.library, tmp))
    return [f"{start:x} {size:x} {name}" for start, size, name in sorted(rows)]


def _functions(library, tmp: Path) -> set[tuple[int, int, str]]:
    """(address, size, symbol) of the functions of one numba code library."""
    _, _, data = library.serialize_using_object_code()
    path = tmp / "kernel.o"
    path.write_bytes(data[0])
    listing = subprocess.run(["nm", "-S", "--defined-only", str(path)], capture_output=True, text=True).stdout
    rows = set()
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT":
            address = library.get_pointer_to_function(parts[3])
            if address:
                rows.add((address, int(parts[1], 16), parts[3]))
    return rows


def readable(symbol: str) -> str:
    """``kernels.spectra.lorentz_line`` from numba's mangled
    ``_ZN8remc_mpi7kernels7spectra12lorentz_lineB3v42...`` (its Python wrapper and C callback
    marked as such)."""
    prefix = ""
    if symbol.startswith("cfunc."):
        prefix, symbol = "[cfunc] ", symbol.removeprefix("cfunc.")
    if symbol.startswith("_ZN7cpython"):
        prefix, symbol = "[cpython] ", "_ZN" + symbol.removeprefix("_ZN7cpython")
    parts, rest = [], symbol.removeprefix("_ZN")
    while (m := re.match(r"\d+", rest)) is not None:
        n = int(m.group())
        parts.append(rest[m.end():m.end() + n])
        rest = rest[m.end() + n:]
    return prefix + ".".join(p for p in parts if p != "remc_mpi")


def sweep_block(problem_name: str, sweeps: int) -> None:
    """Sweep one block of the problem's ladder (as one rank of a run does) and print the time."""
    from problems import problem
    from remc_mpi.config import parse_config
    from remc_mpi.sampling.ladder import build_ladder
    from remc_mpi.sampling.sampler import SlotBlock

    cfg = parse_config(problem(problem_name, os.devnull))
    cand = cfg.candidates[0]
    lam, _ = build_ladder(cfg, cand)  # the run's initial ladder
    n_temps = lam.size
    block = SlotBlock(cand.model, cand.priors, cfg.data.energy, cfg.data.intensity, lam, 0, n_temps, cfg.seed)
    for _ in range(600):
        block.sweep(adapt=True)
    block.finish_learning()
    block.t_model = 0.0
    for _ in range(sweeps):
        block.sweep()
    print(f"{problem_name}: L = {n_temps}, {sweeps} sweeps, kernel {block.t_model / sweeps * 1e6:.1f} us a sweep")


def child(args) -> None:
    """Compile, write the perf map, sweep."""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NUMBA_CACHE_DIR"] = tmp  # before remc_mpi.kernels reads it: compile here
        from remc_mpi.sampling.sampler import warm_up

        warm_up()
        Path(f"/tmp/perf-{os.getpid()}.map").write_text("\n".join(perf_map_lines(Path(tmp))) + "\n")
        sweep_block(args.problem, args.sweeps)


def shares(perf_data: Path, top: int) -> None:
    """Each compiled remc_mpi function's share of the samples in remc_mpi's compiled code; the
    child's perf map removed once read."""
    out = subprocess.run(["perf", "script", "-i", str(perf_data), "-F", "pid,ip,sym"], capture_output=True,
                         text=True).stdout
    rows = [line.split(maxsplit=2) for line in out.splitlines()]
    for pid in {row[0] for row in rows}:
        Path(f"/tmp/perf-{pid}.map").unlink(missing_ok=True)
    counts = collections.Counter(readable(row[2].strip()) for row in rows if len(row) == 3 and "remc_mpi" in row[2])
    total = sum(counts.values())
    print(f"{total} samples in remc_mpi's compiled code (perf cpu-clock, ~4 kHz):")
    for name, n in counts.most_common(top):
        print(f"  {100 * n / total:5.1f} %  {name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", default="cluster3")
    ap.add_argument("--sweeps", type=int, default=4000)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    if os.environ.get(CHILD_VARIABLE):
        child(args)
        return
    if shutil.which("perf") is None or shutil.which("nm") is None:
        sys.exit("profile_sweep: needs perf (linux-tools) and nm (binutils) on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "perf.data"
        subprocess.run(["perf", "record", "-q", "-e", "cpu-clock:u", "-o", str(data), sys.executable, *sys.argv],
                       env={**os.environ, CHILD_VARIABLE: "1", "OPENBLAS_NUM_THREADS": "1"}, check=True)
        shares(data, args.top)


if __name__ == "__main__":
    main()
