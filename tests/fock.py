"""A charge-transfer cluster built by brute force in the fermionic Fock space (numpy, no closed
forms), for exact tests of the reduced models of remc_mpi.models.cores.

N_f impurity (4f) orbitals m and N_f ligand orbitals, one per m (the ligand combination each f
orbital hybridises with); orbital index 2m is f_m, 2m + 1 is L_m. With N_f electrons the
reference configuration 4f^0 has every ligand orbital filled. H = sum_m Delta n_fm +
U_ff sum_{m<m'} n_fm n_fm' + V sum_m (f_m^+ L_m + h.c.) (- U_fc sum_m n_fm with the core
hole), the energy of the 4f^0 configuration 0. Operators act on occupation bit strings with
Jordan-Wigner signs. ``max_k`` keeps only states with at most that many electrons moved
from the ligand to the f shell (the truncation of a model of max_k + 1 configurations); ``n0``
f electrons are there from the start (one 4f^n0 configuration's block: the others are its
degenerate copies).
"""

from itertools import combinations

import numpy as np


def _basis(nf: int, max_k: int | None, n0: int) -> list[int]:
    """The block of one 4f^n0 configuration (f orbitals 0 .. n0-1 filled, every ligand orbital
    filled) and everything its hybridisation can reach: k more f electrons and k ligand holes
    among the other N_f - n0 orbitals, k = 0 .. max_k."""
    free = range(n0, nf)
    base = sum(1 << (2 * m) for m in range(n0))
    states = []
    for k in range(nf - n0 + 1 if max_k is None else min(nf - n0, max_k) + 1):
        for fs in combinations(free, k):
            for holes in combinations(free, k):
                bits = base + sum(1 << (2 * m) for m in fs) + sum(1 << (2 * m + 1) for m in range(nf) if m not in holes)
                states.append(bits)
    return states


def _hop(bits: int, to: int, frm: int) -> tuple[int, int] | None:
    """c_to^+ c_frm |bits>: (new bits, sign), or None when it vanishes."""
    if not (bits >> frm) & 1 or ((bits >> to) & 1 and to != frm):
        return None
    sign = (-1) ** bin(bits & ((1 << frm) - 1)).count("1")
    bits ^= 1 << frm
    sign *= (-1) ** bin(bits & ((1 << to) - 1)).count("1")
    return bits | (1 << to), sign


def hamiltonians(nf: int, delta: float, v: float, uff: float, ufc: float, max_k: int | None = None, n0: int = 0):
    """(basis, H_initial, H_final, the f count of each basis state) in the block of _basis."""
    basis = _basis(nf, max_k, n0)
    index = {b: i for i, b in enumerate(basis)}
    n = len(basis)
    h = np.zeros((n, n))
    nfd = np.zeros(n)
    for i, bits in enumerate(basis):
        k = sum((bits >> (2 * m)) & 1 for m in range(nf))
        nfd[i] = k
        h[i, i] = k * delta + uff * k * (k - 1) / 2
        for m in range(nf):
            for to, frm in ((2 * m, 2 * m + 1), (2 * m + 1, 2 * m)):
                out = _hop(bits, to, frm)
                if out is not None and out[0] in index:
                    h[index[out[0]], i] += v * out[1]
    return basis, h, h - ufc * np.diag(nfd), nfd


def cluster(nf: int, delta: float, v: float, uff: float, ufc: float, max_k: int | None = None,
            hybridized: bool = True, n0: int = 0) -> dict:
    """E_g, n_f (counted beyond n0), the weights of the ground state on each configuration
    4f^(n0+k) L^k, and the final states with nonzero weight: their energies E_f,j - E_g and
    weights |<f_j|g>|^2, degenerate ones merged. Energies are relative to the 4f^n0
    configuration's diagonal (n0 delta + uff n0 (n0 - 1) / 2, and -ufc n0 more with the core hole)."""
    basis, hi, hf, nfd = hamiltonians(nf, delta, v, uff, ufc, max_k, n0)
    offset = n0 * delta + uff * n0 * (n0 - 1) / 2
    hi, hf = hi - offset * np.eye(len(basis)), hf - (offset - ufc * n0) * np.eye(len(basis))
    nfd = nfd - n0
    if hybridized:
        ei, vi = np.linalg.eigh(hi)
        e_g, g = ei[0], vi[:, 0]
    else:  # the pure 4f^n0 reference
        g = (nfd == 0).astype(float)
        e_g = 0.0
    ef, vf = np.linalg.eigh(hf)
    w = (vf.T @ g) ** 2
    energies, weights = [], []
    for e, x in zip(ef - e_g, w):
        if x < 1e-13:
            continue
        if energies and abs(e - energies[-1]) < 1e-9:
            weights[-1] += x
        else:
            energies.append(e)
            weights.append(x)
    by_count = np.array([np.sum(g[nfd == k] ** 2) for k in range(int(nfd.max()) + 1)])
    return {"e_ground": e_g, "n_f": float(g**2 @ nfd), "by_count": by_count,
            "final_e": np.array(energies), "final_w": np.array(weights)}
