"""Random streams that belong to temperature slots, never to ranks (SPEC section 5).

root = SeedSequence(seed). Slot l draws from PCG64(SeedSequence(seed, spawn_key=(l,))),
i.e. the l-th child of ``root.spawn``; the stream moves with the slot's index, so the same
seed gives the same numbers whichever rank owns the slot. Exchange decisions use a
counter-based Philox stream keyed by a separate child: the uniforms of exchange k are the
same array on every rank, without any state to keep or send.
"""

from __future__ import annotations

import functools

import numpy as np

_EXCHANGE_KEY = 2**31
_LADDER_KEY = 2**31 + 1
#: the stream of the free-energy bootstrap's block draws
BOOTSTRAP_KEY = 2**31 + 2


def slot_generator(seed: int, slot: int) -> np.random.Generator:
    """The generator of temperature slot ``slot``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(slot,))))


def ladder_generator(seed: int) -> np.random.Generator:
    """The generator for set-up draws (the automatic beta_1) shared by all ranks."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(_LADDER_KEY,))))


@functools.lru_cache(maxsize=64)
def _exchange_key(seed: int) -> np.ndarray:
    return np.random.SeedSequence(seed, spawn_key=(_EXCHANGE_KEY,)).generate_state(2, np.uint64)


def exchange_uniforms(seed: int, k: int, n_pairs: int) -> np.ndarray:
    """Uniforms u[l] in [0, 1) deciding pair (l, l+1) at exchange number ``k``."""
    bitgen = np.random.Philox(key=_exchange_key(seed), counter=np.array([0, k, 0, 0], dtype=np.uint64))
    return np.random.Generator(bitgen).random(n_pairs)
