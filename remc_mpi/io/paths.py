"""Where a run writes and whether it fits, decided before any sampling: one results file per
candidate, names that the file system takes (with every suffix a run adds), outputs that exist
(--force, --resume), and the disk space and memory a run will need (warnings, and the figures
``remc-mpi validate`` prints).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

from remc_mpi.errors import InputError
from remc_mpi.io.safeio import written_inputs
from remc_mpi.io.samples import stored_bytes

def output_paths(cfg, output: str | None = None) -> list[Path]:
    """One results file per candidate: OUT.h5 for one model, OUT-<label>.h5 for several
    (or the ``{model}`` placeholder replaced by each label)."""
    out = output or cfg.output
    if len(cfg.candidates) == 1 and "{model}" not in out:
        return [Path(out)]
    if "{model}" in out:
        return [Path(out.replace("{model}", c.label)) for c in cfg.candidates]
    p = Path(out)
    suffix = p.suffix or ".h5"
    return [p.with_name(f"{p.stem}-{c.label}{suffix}") for c in cfg.candidates]


def output_bytes(cfg, cand) -> int:
    """The size of one candidate's samples on disk (the results file; while it is assembled
    from its segments at the end, about twice this is in use)."""
    sp = cfg.sampler
    kept = sp.cap - sp.burn_in  # a run with a target may stop earlier
    L, P = cfg.ladder.n_temps * cfg.ladder.chains, len(cand.model.param_names)  # every chain's slots
    return stored_bytes(-(-kept // sp.save_every), -(-kept // math.lcm(sp.save_every, sp.thin)), L, P)


#: the sampler's memory per data point, in floats: about MEMORY_FIXED for the model's arrays
#: and MEMORY_PER_SLOT for each temperature slot's rows, trial buffers and random blocks
#: (measured on cluster3 with and without doublet, Voigt, per-state widths and Tougaard: 31-57
#: fixed and 5-10 per slot)
MEMORY_FIXED, MEMORY_PER_SLOT = 64, 12
#: post-processing holds the saved energies (n_saved x slots floats) about this many times over
#: (the samples, the pooled energies and the estimators' work arrays)
MEMORY_POST_COPIES = 4


def memory_bytes(cfg, cand) -> int:
    """An upper estimate of one candidate's peak memory on one rank holding every slot: the
    sampler's arrays or rank 0's post-processing (of every sweep the config allows; not counted
    under a time cap), whichever is larger."""
    sp = cfg.sampler
    slots = cfg.ladder.n_temps * cfg.ladder.chains
    sampler = 8 * cfg.data.n * (MEMORY_FIXED + MEMORY_PER_SLOT * slots)
    if sp.max_minutes is not None:  # a time cap: how many sweeps are saved is not known
        return sampler
    post = 8 * MEMORY_POST_COPIES * slots * -(-(sp.cap - sp.burn_in) // sp.save_every)
    return max(sampler, post)


def memory_warning(cfg) -> str | None:
    """A warning when a candidate may need more memory than the machine has."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        return None
    need = max(memory_bytes(cfg, c) for c in cfg.candidates)
    if need <= total:
        return None
    return (f"a candidate may need about {need / 2**30:.1f} GB of memory on one rank and this machine has "
            f"{total / 2**30:.1f} GB: spread the slots over more ranks, or save fewer sweeps (sampler.save_every)")


def space_warning(cfg, paths: list[Path]) -> str | None:
    """A warning when an output folder has less free space than the run will need at its peak
    (segments and the assembled file side by side, for every candidate writing there)."""
    need: dict[Path, int] = {}
    for cand, p in zip(cfg.candidates, paths):
        folder = p.parent.resolve()
        need[folder] = need.get(folder, 0) + 2 * output_bytes(cfg, cand)
    for folder, n in need.items():
        if not folder.is_dir():
            continue  # check_output_paths reports it
        free = shutil.disk_usage(folder).free
        if free < n:
            return (f"output folder {folder} has {free / 2**20:.1f} MB free, and this run needs about "
                    f"{n / 2**20:.1f} MB at its peak; it will stop when the disk is full (continue with --resume)")
    return None


#: the longest suffix a run adds to its output's name (the checkpoint rotation's link,
#: ``OUT.h5.ckpt.1.link``; segments are ``.seg0000``, the lock ``.lock``)
LONGEST_SUFFIX = len(".ckpt.1.link")


def check_output_paths(paths: list[Path], inputs: list[str], source: str) -> None:
    """Refuse (exit 2, before anything is read or written) outputs that ``run`` could not
    write or must not: one of its inputs, an existing folder, a name too long for the file
    system with the run's suffixes, a missing or unwritable folder. ``validate`` reports the same."""
    for out, inp in written_inputs(paths, inputs):
        raise InputError(f"output {out} would overwrite the run's input {inp}; choose another output", source, "output")
    for p in paths:
        if "\0" in str(p):
            raise InputError("output path holds a NUL character", source, "output")
        folder = p.parent
        if p.is_dir():
            raise InputError(f"output {p} is a folder; name a results file (e.g. {p / 'results.h5'})", source, "output")
        if not folder.is_dir():
            raise InputError(f"output folder {folder} does not exist", source, "output")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"output folder {folder} is not writable", source, "output")
        limit = _name_max(folder)
        if len(os.fsencode(p.name)) + LONGEST_SUFFIX > limit:
            raise InputError(f"output file name {p.name} is too long: with the run's suffixes (.ckpt.1.link) "
                             f"it must stay within {limit} bytes", source, "output")


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255  # POSIX's usual NAME_MAX


def check_outputs(paths: list[Path], force: bool, source: str) -> None:
    """Refuse to overwrite results without ``force`` (the folders are checked first, by
    :func:`check_output_paths`)."""
    for p in paths:
        if p.exists() and not force:
            raise InputError(f"output {p} exists; use --force to overwrite (or --resume)", source, "output")
