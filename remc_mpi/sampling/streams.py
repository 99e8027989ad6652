"""Random streams that belong to temperature slots, never to ranks (docs/contract.md, section 4).

root = SeedSequence(seed). Slot s draws from PCG64(SeedSequence(seed, spawn_key=(s,))),
i.e. the s-th child of ``root.spawn``; the stream moves with the slot's index, so the same
seed gives the same numbers whichever rank owns the slot. With ``ladder.chains`` = M the slots
are s = c L + l (chain c, rung l): chain 0 has exactly the streams of a single ladder. Exchange
decisions use a counter-based Philox stream keyed by a separate child per chain (chain 0's is
the single ladder's): the uniforms of exchange k are the same array on every rank, without any
state to keep or send.
"""

from __future__ import annotations

import functools

import numpy as np

_EXCHANGE_KEY = 2**31
_LADDER_KEY = 2**31 + 1
#: the stream of the free-energy bootstrap's block draws
BOOTSTRAP_KEY = 2**31 + 2
#: the stream of the bridge estimator's proposal draws (remc_mpi.evidence.bridge)
BRIDGE_KEY = 2**31 + 3
#: the stream of the prior draws that measure a restricted model's prior mass (remc_mpi.evidence.window)
WINDOW_KEY = 2**31 + 4


def slot_generator(seed: int, slot: int) -> np.random.Generator:
    """The generator of temperature slot ``slot``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(slot,))))


def ladder_generator(seed: int) -> np.random.Generator:
    """The generator for set-up draws (the automatic beta_1) shared by all ranks."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(_LADDER_KEY,))))


def window_generator(seed: int) -> np.random.Generator:
    """The generator of the prior-mass draws of a restricted model (remc_mpi.evidence.window)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(WINDOW_KEY,))))


@functools.lru_cache(maxsize=64)
def _exchange_key(seed: int, chain: int = 0) -> np.ndarray:
    key = (_EXCHANGE_KEY,) if chain == 0 else (_EXCHANGE_KEY, chain)
    return np.random.SeedSequence(seed, spawn_key=key).generate_state(2, np.uint64)


#: exchanges whose uniforms one Philox call generates (a generator costs ~15 us to set up,
#: as much as a whole exchange step of a small problem)
EXCHANGE_BATCH = 64


def exchange_uniforms(seed: int, k: int, n_pairs: int) -> np.ndarray:
    """Uniforms u[l] in [0, 1) deciding pair (l, l+1) at exchange number ``k``: row
    k mod EXCHANGE_BATCH of the batch k // EXCHANGE_BATCH, drawn from the Philox stream whose
    counter is the batch number (so any exchange's uniforms follow from (seed, k) alone)."""
    return _exchange_batch(seed, k // EXCHANGE_BATCH, n_pairs)[k % EXCHANGE_BATCH]


def _exchange_batch(seed: int, batch: int, n_pairs: int, chain: int = 0) -> np.ndarray:
    bitgen = np.random.Philox(key=_exchange_key(seed, chain), counter=np.array([0, batch, 0, 0], dtype=np.uint64))
    return np.random.Generator(bitgen).random((EXCHANGE_BATCH, n_pairs))


class ExchangeUniforms:
    """:func:`exchange_uniforms` of every chain, with the current batch kept (no state beyond a
    cache: any exchange number may be asked for, as after a restart). ``get(k)`` is indexed by
    the pair's lower slot s = c L + l over all chains (entries at l = L - 1, which pair no slots,
    are never used)."""

    def __init__(self, seed: int, n_pairs: int, chains: int = 1):
        self.seed, self.n_pairs, self.chains = seed, n_pairs, chains
        self.batch, self.values = -1, np.zeros((0, chains * (n_pairs + 1) - 1))

    def get(self, k: int) -> np.ndarray:
        if k // EXCHANGE_BATCH != self.batch:
            self.batch = k // EXCHANGE_BATCH
            parts = [_exchange_batch(self.seed, self.batch, self.n_pairs, c) for c in range(self.chains)]
            pad = np.ones((EXCHANGE_BATCH, 1))  # the gap between chains
            self.values = np.concatenate([x for c, p in enumerate(parts) for x in ((pad, p) if c else (p,))], axis=1)
        return self.values[k % EXCHANGE_BATCH]
