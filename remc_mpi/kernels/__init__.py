"""Compiled (numba) kernels of the sampler's hot loop, and where their machine code is cached.

Every kernel is compiled with :data:`jit`: ``nopython`` mode, ``cache=True``, no ``fastmath``
(results must not change between machines of one kind), numpy's error model (a division by
zero gives inf or NaN, as in the numpy reference, instead of raising); those of one model
evaluation's path with :data:`jit_inline`, the same options and inlined where they are called.

The compiled code is cached on disk so that only the first run on a machine pays the compile
(see the README for the figure). The cache folder is ``kernels-<digest>`` inside
``$NUMBA_CACHE_DIR`` when set, otherwise inside ``$XDG_CACHE_HOME/remc_mpi/numba``
(``~/.cache/remc_mpi/numba``): a per-user folder, so a read-only install on a cluster still
caches and no compiled file lands in the source tree; the digest covers the kernels' sources,
so another version of remc_mpi never loads stale machine code.
Numba writes cache files through a temporary name and an atomic rename, so many ranks starting
at once at worst compile twice; :func:`warm_up` lets rank 0 compile before the others load.

Imports nothing from: moves, sampling, evidence, io, driver, ui (enforced by tests/test_structure.py).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path


def kernel_sources() -> list[Path]:
    """Every file whose code or constants the compiled kernels take: the modules of kernels/ and
    moves/ and every remc_mpi module they import from (numba compiles imported functions and
    bakes imported globals in as constants: the prior forms' codes, the line shapes' codes and
    coefficients, the likelihoods' codes)."""
    own = [p for folder in ("kernels", "moves") for p in sorted((_PACKAGE / folder).glob("*.py"))]
    found = {p: None for p in own}
    for path in own:
        for from_module, names, plain_module, _ in _IMPORT.findall(path.read_text()):
            module = from_module or plain_module
            for name in [None] + re.findall(r"\w+", names):
                target = _module_file(module if name is None else f"{module}.{name}")
                if target is not None:
                    found.setdefault(target)
    return list(found)


#: ``from remc_mpi.x import a, b`` (also parenthesised over lines) and ``import remc_mpi.x``
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(remc_mpi[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)"
                     r"|import[ \t]+(remc_mpi[\w.]*)())", re.M)


def _module_file(module: str) -> Path | None:
    """The file of ``module`` (a remc_mpi module or package), None for a name that is neither."""
    base = _PACKAGE.joinpath(*module.split(".")[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _sources_digest() -> str:
    """A digest of :func:`kernel_sources`: numba checks only the timestamp of the file that
    defines a cached function, not of the functions it calls nor of the constants it bakes in,
    so the cache folder is keyed by all of them (a changed line anywhere recompiles everything
    once)."""
    h = hashlib.sha256()
    for path in kernel_sources():
        h.update(str(path.relative_to(_PACKAGE)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


_PACKAGE = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    """The folder where numba keeps this version of remc_mpi's compiled kernels."""
    base = os.environ.get("NUMBA_CACHE_DIR")
    if not base:
        base = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "remc_mpi" / "numba")
    return Path(base) / f"kernels-{_sources_digest()}"


import numba  # noqa: E402

numba.config.CACHE_DIR = str(cache_dir())

#: the compile options of every kernel (see module docstring)
JIT_OPTIONS = {"cache": True, "fastmath": False, "error_model": "numpy", "nogil": True}

#: the decorator of every kernel
jit = numba.njit(**JIT_OPTIONS)

#: :data:`jit` for the kernels called once or more per model evaluation with the named contracts
#: (``ModelArrays``, ``Stages``, ``TrialBuffers``, the moves' states) as arguments: numba inlines
#: their body at every call site, in its own IR, before LLVM sees them. A call passes a named
#: tuple of arrays as its flattened fields, 7 to 11 machine words an array: about 200 words
#: written to the stack, and a reference count taken and dropped on each array, per call of
#: ``trial``, again for ``commit`` and the sweep's ``attempt``. That glue was about a third of
#: the cluster3 sweep's time (a ``perf`` profile: docs/performance.md, "The model evaluation
#: inlined"); inlined, the same operations run in the same order, so the results keep their bits.
#: Not for the line shapes' loops (called with a few arrays) nor for entry points called only
#: from Python (there is no caller to inline into; a jit_inline kernel still runs from Python).
jit_inline = numba.njit(**JIT_OPTIONS, inline="always")


def plain(value):
    """``value`` with every named tuple in it (nested ones too) as a plain tuple of the same
    fields in the same order: how a compiled entry point takes the kernels' named contracts.
    Numba types a plain tuple argument at the call several times faster than a named one
    (docs/performance.md, "Two revisions side by side"); the entry point names it again by its
    class (``ModelArrays(*t)``) before any kernel reads it, so no kernel reads a field by
    position."""
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


def _unowned(context, builder, typ, value):
    """``value`` of numba type ``typ`` with the owner (meminfo) and Python parent of every array
    in it, nested tuples included, set to NULL."""
    from numba import types
    from numba.core import cgutils

    if isinstance(typ, types.Array):
        array = context.make_array(typ)(context, builder, value=value)
        array.meminfo = cgutils.get_null_value(array.meminfo.type)
        array.parent = cgutils.get_null_value(array.parent.type)
        return array._getvalue()
    if isinstance(typ, types.BaseTuple):
        items = [_unowned(context, builder, t, builder.extract_value(value, k)) for k, t in enumerate(typ)]
        return context.make_tuple(builder, typ, items)
    return value


@numba.extending.intrinsic
def borrowed(typingctx, value):
    """``value`` (an array, or a tuple of arrays and scalars, nested) with the same data, whose
    arrays own no reference: inside a compiled call, numba counts a reference up and down for
    each array it takes from a tuple, each view and many a variable (atomic operations, about
    a third of a model evaluation's time: docs/performance.md), and does nothing for an array
    without an owner. For a compiled entry point's arguments only, which its Python caller
    holds until the call returns; a borrowed array must never be returned or stored."""

    def codegen(context, builder, signature, args):
        return _unowned(context, builder, signature.args[0], args[0])

    return value(value), codegen


#: the processor's cycle counter, read without a system call, by machine (platform.machine()):
#: x86-64's time-stamp counter (constant rate on every x86-64 of the last fifteen years; LLVM's
#: ``llvm.readcyclecounter`` is RDTSC there) and AArch64's virtual counter CNTVCT_EL0 (which
#: Linux lets user code read; LLVM's intrinsic would read PMCCNTR_EL0, which traps). Elsewhere
#: :func:`cycle_count` is 0 and the ranks share the slots by count (sampling.parallel).
CYCLE_COUNTERS = {"x86_64": "readcyclecounter", "amd64": "readcyclecounter", "aarch64": "mrs $0, cntvct_el0",
                  "arm64": "mrs $0, cntvct_el0"}


def cycle_source() -> str | None:
    """This machine's entry of :data:`CYCLE_COUNTERS`, None where it has none."""
    import platform

    return CYCLE_COUNTERS.get(platform.machine().lower())


@numba.extending.intrinsic
def cycle_count(typingctx):
    """A count of processor ticks at a constant rate (:data:`CYCLE_COUNTERS`), for relative
    costs measured inside a kernel: about 20 cycles to read, no system call. 0 on a machine
    without a user-readable counter."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        source = cycle_source()
        if source is None:
            return ir.Constant(i64, 0)
        fnty = ir.FunctionType(i64, [])
        if source == "readcyclecounter":
            return builder.call(cgutils.get_or_insert_function(builder.module, fnty, "llvm.readcyclecounter"), [])
        return builder.call(ir.InlineAsm(fnty, source, "=r", side_effect=True), [])

    return types.int64(), codegen
