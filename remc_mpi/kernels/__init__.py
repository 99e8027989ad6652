"""Compiled (numba) kernels of the sampler's hot loop, and where their machine code is cached.

Every kernel is compiled with :data:`jit`: ``nopython`` mode, ``cache=True``, no ``fastmath``
(results must not change between machines of one kind), numpy's error model (a division by
zero gives inf or NaN, as in the numpy reference, instead of raising).

The compiled code is cached on disk so that only the first run on a machine pays the compile
(see the README for the figure). The cache folder is ``$NUMBA_CACHE_DIR`` when set, otherwise
``$XDG_CACHE_HOME/remc_mpi/numba`` (``~/.cache/remc_mpi/numba``): a per-user folder, so a
read-only install on a cluster still caches, and no compiled file lands in the source tree.
Numba writes cache files through a temporary name and an atomic rename, so many ranks starting
at once at worst compile twice; :func:`warm_up` lets rank 0 compile before the others load.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The folder where numba keeps remc_mpi's compiled kernels."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "remc_mpi" / "numba"


if not os.environ.get("NUMBA_CACHE_DIR"):
    os.environ["NUMBA_CACHE_DIR"] = str(cache_dir())

import numba  # noqa: E402  (after NUMBA_CACHE_DIR is set: numba reads it on import)

if numba.config.CACHE_DIR != os.environ["NUMBA_CACHE_DIR"]:  # numba was imported before us
    numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]

#: the decorator of every kernel (see module docstring)
jit = numba.njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
