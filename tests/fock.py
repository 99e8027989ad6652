"""A charge-transfer cluster built by brute force in the fermionic Fock space (numpy, no closed
forms), for exact tests of the reduced models of remc_mpi.models.cores.

N_f impurity (4f) orbitals m, each hybridised with its own ligand orbitals L_(m,i), i = 1 .. M
(M = 1: one ligand level; M > 1: a band, level i at band_w eps_i with hopping v / sqrt(M), as
remc_mpi.models.cores.band_levels discretises it). Orbital m (1 + M) is f_m, the next M its
ligand levels. H = sum_m delta n_fm + sum_(m,i) band_w eps_i n_L(m,i) + U_ff sum_(m<m') n_fm n_fm'
+ sum_(m,i) v_i (f_m^+ L_(m,i) + h.c.) (- U_fc sum_m n_fm with the core hole). Operators act on
occupation bit strings with Jordan-Wigner signs.

The block of one 4f^n0 configuration: f orbitals 0 .. n0-1 filled and every ligand level filled
(the other 4f^n0 configurations are degenerate copies), and what the hybridisation reaches from
it: k more f electrons and k ligand holes among the other N_f - n0 orbitals; ``max_k`` keeps
k <= max_k (the truncation of a model of max_k + 1 configurations).
"""

from itertools import combinations

import numpy as np

from remc_mpi.models.cores import band_levels


def _basis(nf: int, m: int, max_k: int | None, n0: int) -> list[int]:
    stride = 1 + m
    free = range(n0, nf)
    ligands = [mm * stride + 1 + i for mm in free for i in range(m)]
    base = sum(1 << (mm * stride) for mm in range(n0)) + sum(1 << (mm * stride + 1 + i) for mm in range(nf)
                                                             for i in range(m))
    states = []
    for k in range(nf - n0 + 1 if max_k is None else min(nf - n0, max_k) + 1):
        for fs in combinations(free, k):
            for holes in combinations(ligands, k):
                states.append(base + sum(1 << (mm * stride) for mm in fs) - sum(1 << h for h in holes))
    return states


def _hop(bits: int, to: int, frm: int) -> tuple[int, int] | None:
    """c_to^+ c_frm |bits>: (new bits, sign), or None when it vanishes (to != frm)."""
    if not (bits >> frm) & 1 or (bits >> to) & 1:
        return None
    sign = (-1) ** bin(bits & ((1 << frm) - 1)).count("1")
    bits ^= 1 << frm
    sign *= (-1) ** bin(bits & ((1 << to) - 1)).count("1")
    return bits | (1 << to), sign


def hamiltonians(nf, delta, v, uff, ufc, max_k=None, n0=0, band=1, band_w=0.0):
    """(basis, H_initial, H_final, the f count of each basis state) in the block of _basis."""
    stride = 1 + band
    eps, weight = band_levels(band)
    basis = _basis(nf, band, max_k, n0)
    index = {b: i for i, b in enumerate(basis)}
    h = np.zeros((len(basis), len(basis)))
    nfd = np.zeros(len(basis))
    for i, bits in enumerate(basis):
        k = sum((bits >> (mm * stride)) & 1 for mm in range(nf))
        nfd[i] = k
        lig = sum(band_w * eps[j] for mm in range(nf) for j in range(band) if (bits >> (mm * stride + 1 + j)) & 1)
        h[i, i] = k * delta + uff * k * (k - 1) / 2 + lig
        for mm in range(nf):
            for j in range(band):
                f, lj = mm * stride, mm * stride + 1 + j
                for to, frm in ((f, lj), (lj, f)):
                    out = _hop(bits, to, frm)
                    if out is not None and out[0] in index:
                        h[index[out[0]], i] += v * weight[j] * out[1]
    return basis, h, h - ufc * np.diag(nfd), nfd


def cluster(nf, delta, v, uff, ufc, max_k=None, hybridized=True, n0=0, band=1, band_w=0.0) -> dict:
    """E_g, n_f (counted beyond n0), the weights of the ground state on each configuration
    4f^(n0+k) L^k, and the final states with nonzero weight: their energies E_f,j - E_g and
    weights |<f_j|g>|^2, degenerate ones merged. Energies are relative to the 4f^n0
    configuration with every ligand level filled (and -ufc n0 more with the core hole)."""
    basis, hi, hf, nfd = hamiltonians(nf, delta, v, uff, ufc, max_k, n0, band, band_w)
    eps = band_levels(band)[0]
    offset = n0 * delta + uff * n0 * (n0 - 1) / 2 + nf * band_w * eps.sum()
    hi, hf = hi - offset * np.eye(len(basis)), hf - (offset - ufc * n0) * np.eye(len(basis))
    nfd = nfd - n0
    if hybridized:
        ei, vi = np.linalg.eigh(hi)
        e_g, g = ei[0], vi[:, 0]
    else:  # the pure 4f^n0 reference
        g = (nfd == 0).astype(float)
        e_g = 0.0
    ef, vf = np.linalg.eigh(hf)
    energies, weights = merged_lines(ef - e_g, (vf.T @ g) ** 2)
    by_count = np.array([np.sum(g[nfd == k] ** 2) for k in range(int(nfd.max()) + 1)])
    return {"e_ground": e_g, "n_f": float(g**2 @ nfd), "by_count": by_count, "final_e": energies, "final_w": weights}


def merged_lines(e: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lines of weight above 1e-13 in order of energy, degenerate ones (within 1e-9) merged."""
    out_e, out_w = [], []
    for x, y in sorted(zip(e, w)):
        if y < 1e-13:
            continue
        if out_e and abs(x - out_e[-1]) < 1e-9:
            out_w[-1] += y
        else:
            out_e.append(x)
            out_w.append(y)
    return np.array(out_e), np.array(out_w)
