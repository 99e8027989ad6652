"""Peak-list cores: parameters -> (centres, heights, widths) of J peaks, per replica.

A core is the physics of a model; :mod:`remc_mpi.models.spectral` adds line shapes,
spin-orbit copies and backgrounds on top of any core.

Cluster cores (docs/models.md) diagonalise the initial and final Hamiltonians in closed form
(:mod:`remc_mpi.models.eigen`) and give e_j = E_f,j - E_g and w_j = |<f_j|g>|^2; the
spectrum is amp * sum_j w_j L(omega - e_j - shift; gamma). Only delta, v, uff and ufc need a
diagonalisation; gamma, shift and amp reuse the cached levels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from remc_mpi.errors import shown
from remc_mpi.models.eigen import tridiag2_eig, tridiag3_eigvals, tridiag3_eigvec_parts
from remc_mpi.models.lineshapes import LINESHAPES


@dataclass(frozen=True)
class CoreFamily:
    """A model family built on a core: ``make(**core_options)`` returns the core; ``options``
    are its option types (the config validator checks them); ``label_option`` completes the
    default label (``gauss_peaks3``). :mod:`remc_mpi.models` registers each as a spectral model
    (with the background and doublet options)."""

    make: Callable[..., "Core"]
    options: dict[str, tuple[type, ...]]
    label_option: str | None = None


#: the core-based model families by name, in the order the documentation lists them
CORE_FAMILIES: dict[str, CoreFamily] = {}


def core_family(name: str, make: Callable[..., "Core"], options: dict[str, tuple[type, ...]],
                label_option: str | None = None) -> None:
    """Add (or replace) the core-based model family ``name`` (docs/extending.md, recipe 2)."""
    CORE_FAMILIES[name] = CoreFamily(make, dict(options), label_option)


#: the largest integer option (peaks, degree, degeneracy, extra lines): a model of more
#: parameters than this would not be sampled in any run's lifetime
MAX_OPTION_INT = 1000


def positive_int(name: str, value: Any, minimum: int, maximum: int = MAX_OPTION_INT) -> int:
    """``value`` as an option that must be an integer in [minimum, maximum] (ValueError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValueError(f"option {name} must be an integer from {minimum} to {maximum}, got {shown(value, 40)}")
    return value


@dataclass
class Core:
    """Base of all cores. Subclasses fill the class attributes and the two methods."""

    param_names: tuple[str, ...] = ()
    lineshape: str = "lorentz"
    #: parameters whose change needs :meth:`levels` (the expensive stage)
    level_params: frozenset[str] = frozenset()
    #: True when peaks depend on disjoint parameters, so one peak can be recomputed alone
    separable: bool = False
    #: parameter that scales the whole spectrum after the line shapes (or None)
    scale_param: str | None = None
    n_peaks: int = 0

    def levels(self, col: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The expensive stage: arrays (R, J) from the level parameters."""
        return {}

    def place(self, col: dict[str, np.ndarray], lev: dict[str, np.ndarray]):
        """Cheap stage: centres, heights, widths and second widths (zero for one-width line
        shapes), each (R, J)."""
        raise NotImplementedError

    def peaks_of(self, name: str) -> tuple[int, ...] | None:
        """Peaks that parameter ``name`` touches (None: all of them)."""
        return None

    def combinations(self) -> dict[str, tuple[str, str]]:
        """Differences ``a - b`` of parameters that the spectrum determines where a and b alone
        are not (name -> (a, b)); the summary reports their posterior (docs/models.md)."""
        return {}

    def relabel(self, col: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """The same spectra with exchangeable peaks in a canonical order, sample by sample
        (the changed columns), or None for a core whose peaks carry no interchangeable labels."""
        return None

    def peak_labels(self) -> list[tuple[str, ...]] | None:
        """Per interchangeable peak, the names of its parameters in one order (the columns
        :meth:`relabel` permutes together: peak k's are the k-th entry), or None, as relabel."""
        return None

    def derived(self, col: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Physical quantities of each sample (name -> (R,)) that are not parameters: for the
        cluster models the ground state's configuration weights, n_f and energy, and the final
        states' energies and weights (docs/models.md, "Derived quantities"); {} for others."""
        return {}


def couplings(v: np.ndarray, nf: int) -> tuple[np.ndarray, np.ndarray]:
    """t1 = sqrt(nf) v (4f0-4f1L) and t2 = sqrt(2 (nf - 1)) v (4f1L-4f2L2)."""
    return np.sqrt(float(nf)) * v, np.sqrt(2.0 * (nf - 1)) * v


#: the line shapes a cluster model's final states may take (``lineshape`` option)
CLUSTER_LINESHAPES = ("lorentz", "voigt")
#: the ``widths`` option: one Lorentzian half width for every final state, or one per state
CLUSTER_WIDTHS = ("shared", "per_state")


@dataclass
class ClusterCore(Core):
    """Shared placement of the cluster models: lines at e_j + shift with weights w_j (amp scales
    the whole spectrum afterwards), each a Lorentzian of half width gamma (``widths: shared``)
    or gamma_j (``widths: per_state``, j counting the final states upward in energy, so that the
    labels cannot switch), convolved for ``lineshape: voigt`` with a Gaussian of standard
    deviation sigma_g shared by all lines (the instrument and phonons)."""

    widths: str = "shared"

    def __post_init__(self) -> None:
        if self.lineshape not in CLUSTER_LINESHAPES:
            raise ValueError(f"option lineshape must be one of {', '.join(CLUSTER_LINESHAPES)}, got {self.lineshape!r}")
        if self.widths not in CLUSTER_WIDTHS:
            raise ValueError(f"option widths must be one of {', '.join(CLUSTER_WIDTHS)}, got {self.widths!r}")
        names = list(self.param_names)
        at = names.index("gamma")
        names[at:at + 1] = self.gamma_names + (("sigma_g",) if self.lineshape == "voigt" else ())
        self.param_names = tuple(names)

    @property
    def gamma_names(self) -> tuple[str, ...]:
        """The Lorentzian width parameters, one per final state in order of energy (or gamma)."""
        if self.widths == "shared":
            return ("gamma",)
        return tuple(f"gamma{j}" for j in range(1, self.n_peaks + 1))

    def place(self, col, lev):
        centres = lev["e"] + col["shift"][:, None]
        widths = np.broadcast_to(np.stack([col[g] for g in self.gamma_names], axis=-1), centres.shape)
        second = np.broadcast_to(col["sigma_g"][:, None], centres.shape) if self.lineshape == "voigt" else \
            np.zeros(centres.shape)
        return centres, lev["w"], widths, second

    def peaks_of(self, name):
        """gamma_j touches final state j alone; every other parameter every state."""
        names = self.gamma_names
        return (names.index(name),) if self.widths == "per_state" and name in names else None

    #: the configurations of the basis, in order (4f count = index), named as in the literature
    configurations: tuple[str, ...] = ()

    def ground_state(self, col) -> tuple[np.ndarray, np.ndarray]:
        """E_g (R,) and the ground state's weight on each configuration (R, C), summing to 1."""
        raise NotImplementedError

    def derived(self, col):
        """w_<config> = |<config|g>|^2, n_f = sum_k k w_k (configuration k holds k 4f electrons
        beyond the 4f^0 ground configuration), e_ground = E_g (eV, the 4f^0 diagonal at 0), and
        per final state j (upward in energy) its line position final_e<j> = E_f,j - E_g + shift
        on the spectrum's axis and its weight final_w<j> = |<f_j|g>|^2 (the sticks of fit.png)."""
        e_g, weights = self.ground_state(col)
        out = {f"w_{name}": weights[:, k] for k, name in enumerate(self.configurations)}
        out["n_f"] = weights @ np.arange(len(self.configurations), dtype=np.float64)
        out["e_ground"] = e_g
        lev = self.levels(col)
        for j in range(self.n_peaks):
            out[f"final_e{j + 1}"] = lev["e"][:, j] + col["shift"]
            out[f"final_w{j + 1}"] = lev["w"][:, j]
        return out


@dataclass
class Cluster3Core(ClusterCore):
    """CeO2-like 3-level model in the basis {4f0, 4f1L, 4f2L2}.

    H_i = [[0, t1, 0], [t1, delta, t2], [0, t2, 2 delta + uff]]; H_f has the diagonal
    [0, delta - ufc, 2 delta + uff - 2 ufc] and the same couplings. |g> is the lowest
    eigenvector of H_i with energy E_g.
    """

    nf: int = 14
    param_names: tuple[str, ...] = ("delta", "v", "uff", "ufc", "gamma", "shift", "amp")
    level_params: frozenset[str] = frozenset({"delta", "v", "uff", "ufc"})
    scale_param: str | None = "amp"
    n_peaks: int = 3
    configurations: tuple[str, ...] = ("4f0", "4f1L", "4f2L2")

    def levels(self, col):
        """Initial and final Hamiltonians of all rows in one closed-form call, stacked on a
        leading axis of 2; w_j = (f_j . g)^2 / (|f_j|^2 |g|^2) from unnormalised vectors."""
        delta, v, uff, ufc = col["delta"], col["v"], col["uff"], col["ufc"]
        t1, t2 = couplings(v, self.nf)
        top = 2.0 * delta + uff
        a2 = np.stack([delta, delta - ufc])
        a3 = np.stack([top, top - 2.0 * ufc])
        lam = tridiag3_eigvals(0.0, a2, a3, t1, t2)  # (2, R, 3)
        (x0, x1, x2), n2 = tridiag3_eigvec_parts(lam, 0.0, a2, a3, t1, t2)
        g0, g1, g2 = x0[0, :, :1], x1[0, :, :1], x2[0, :, :1]  # lowest initial state
        dot = x0[1] * g0 + x1[1] * g1 + x2[1] * g2
        return {"e": lam[1] - lam[0, :, :1], "w": dot * dot / (n2[1] * n2[0, :, :1])}

    def ground_state(self, col):
        delta, v, uff = col["delta"], col["v"], col["uff"]
        t1, t2 = couplings(v, self.nf)
        a2, a3 = delta[None], (2.0 * delta + uff)[None]
        lam = tridiag3_eigvals(0.0, a2, a3, t1, t2)  # (1, R, 3)
        (x0, x1, x2), n2 = tridiag3_eigvec_parts(lam, 0.0, a2, a3, t1, t2)
        parts = np.stack([x0[0, :, 0], x1[0, :, 0], x2[0, :, 0]], axis=1)
        return lam[0, :, 0], parts * parts / n2[0, :, :1]


@dataclass
class Cluster2Core(ClusterCore):
    """La2O3-like 2-level model in the basis {4f0, 4f1L}.

    H_f = [[0, t1], [t1, delta - ufc]]. The initial state is pure |4f0> with E_g = 0 (as in
    Mototake 2019), or with ``hybridized_initial`` the lowest eigenvector of
    [[0, t1], [t1, delta]]. uff does not enter.
    """

    nf: int = 14
    hybridized_initial: bool = False
    param_names: tuple[str, ...] = ("delta", "v", "ufc", "gamma", "shift", "amp")
    level_params: frozenset[str] = frozenset({"delta", "v", "ufc"})
    scale_param: str | None = "amp"
    n_peaks: int = 2
    configurations: tuple[str, ...] = ("4f0", "4f1L")

    def levels(self, col):
        delta, v, ufc = col["delta"], col["v"], col["ufc"]
        t1, _ = couplings(v, self.nf)
        zero = np.zeros_like(delta)
        lam_f, f = tridiag2_eig(zero, delta - ufc, t1)  # f: (R, 2 states, 2 components)
        if self.hybridized_initial:
            lam_i, gi = tridiag2_eig(zero, delta, t1)
            e_g = lam_i[:, 0]
            overlap = np.einsum("rkc,rc->rk", f, gi[:, 0, :])
        else:
            e_g = zero
            overlap = f[:, :, 0]
        return {"e": lam_f - e_g[:, None], "w": overlap * overlap}

    def ground_state(self, col):
        """Pure |4f0> (E_g = 0, n_f = 0), or with ``hybridized_initial`` the lowest eigenvector
        of [[0, t1], [t1, delta]]."""
        delta = col["delta"]
        if not self.hybridized_initial:
            return np.zeros_like(delta), np.stack([np.ones_like(delta), np.zeros_like(delta)], axis=1)
        lam_i, gi = tridiag2_eig(np.zeros_like(delta), delta, couplings(col["v"], self.nf)[0])
        return lam_i[:, 0], gi[:, 0, :] ** 2

    def combinations(self) -> dict[str, tuple[str, str]]:
        """With a pure 4f0 initial state only delta - ufc enters the final-state matrix."""
        return {} if self.hybridized_initial else {"delta_minus_ufc": ("delta", "ufc")}


@dataclass
class PeaksCore(Core):
    """K independent peaks (Nagata 2012): a_k, mu_k and the line shape's width (b_k for gauss,
    w_k for lorentz and pvoigt), plus its shared second width if it has one (sigma_g)."""

    n_peaks: int = 1
    lineshape: str = "gauss"
    separable: bool = True
    param_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        k = range(1, self.n_peaks + 1)
        shape = LINESHAPES[self.lineshape]
        self._wname, self._shared = shape.width, shape.shared_width
        self.param_names = (
            tuple(f"a{i}" for i in k) + tuple(f"mu{i}" for i in k) + tuple(f"{shape.width}{i}" for i in k)
            + ((shape.shared_width,) if shape.shared_width else ())
        )

    def _stack(self, col, prefix):
        return np.stack([col[f"{prefix}{i}"] for i in range(1, self.n_peaks + 1)], axis=-1)

    def place(self, col, lev):
        c = self._stack(col, "mu")
        w2 = np.broadcast_to(col[self._shared][:, None], c.shape) if self._shared else np.zeros(c.shape)
        return c, self._stack(col, "a"), self._stack(col, self._wname), w2

    def peaks_of(self, name):
        """Peak k of a_k, mu_k and the width_k (its number after the prefix); the shared width all."""
        return None if name == self._shared else (int(name[len(name.rstrip("0123456789")):]) - 1,)

    def peak_labels(self):
        return [(f"a{i}", f"mu{i}", f"{self._wname}{i}") for i in range(1, self.n_peaks + 1)]

    def relabel(self, col):
        """Peaks ordered by position: each sample's (a_k, mu_k, width_k) triples permuted so that
        mu_1 <= mu_2 <= ... (the spectrum, prior-exchangeable peaks' posterior and evidence are
        unchanged; only the names of the peaks follow their positions)."""
        order = np.argsort(self._stack(col, "mu"), axis=-1, kind="stable")
        out = {}
        for prefix in ("a", "mu", self._wname):
            ordered = np.take_along_axis(self._stack(col, prefix), order, axis=-1)
            out.update({f"{prefix}{i + 1}": ordered[..., i] for i in range(self.n_peaks)})
        return out


#: the most band levels: the basis grows as the multisets of up to K - 1 of them (36 states at
#: M = 7, K = 3), and every final state is a line
MAX_BAND_LEVELS = 12


def band_option(band: Any) -> int:
    """The ``band`` option ({levels: M}, or None for one ligand level) as M."""
    if band is None:
        return 1
    if not isinstance(band, dict) or set(band) != {"levels"}:
        raise ValueError("option band must be a mapping {levels: M}")
    return positive_int("band.levels", band["levels"], 1, MAX_BAND_LEVELS)


def ct_config_name(n0: int, k: int) -> str:
    """4f^(n0+k) L^k as the literature writes it: 4f0, 4f1L, 4f2L2, ..."""
    return f"4f{n0 + k}" + ("" if k == 0 else "L" if k == 1 else f"L{k}")


def band_levels(m: int) -> tuple[np.ndarray, np.ndarray]:
    """A rectangular ligand band of unit width in M levels: energies at the centres of M equal
    slices of [-1/2, 1/2] and hybridisation weights 1/sqrt(M) (the total V^2 kept): the
    discretisation of Gunnarsson & Schoenhammer (1983) and Kotani's cluster-with-band models."""
    return (np.arange(m) + 0.5) / m - 0.5, np.full(m, 1.0 / np.sqrt(m))


def ct_states(n_configs: int, m: int) -> list[tuple[int, ...]]:
    """The basis of the charge-transfer cluster: for k = 0 .. K-1 the multisets of k band levels
    the ligand holes occupy (sorted tuples; one state per k without a band)."""
    from itertools import combinations_with_replacement

    return [a for k in range(n_configs) for a in combinations_with_replacement(range(m), k)]


@dataclass(frozen=True)
class CTMatrices:
    """H_i = delta Dk + uff Du + band_w De + v C and H_f = H_i - ufc Dk (D x D, D the basis
    size): the parts that depend on the options alone, so the kernels and the reference build
    the Hamiltonian the same way from them."""

    dk: np.ndarray  # (D,) configuration index k of each state (its f electrons beyond n0)
    du: np.ndarray  # (D,) U_ff count k n0 + k (k - 1) / 2
    de: np.ndarray  # (D,) -sum of the hole levels' energies (units of the band width)
    c: np.ndarray  # (D, D) hybridisation in units of v


@dataclass
class ChargeTransferCore(ClusterCore):
    """The general charge-transfer cluster (docs/models.md, "charge_transfer"): K configurations
    4f^(n0+k) L^k, k = 0 .. K-1, of an N_f-fold degenerate 4f shell hybridised with one ligand
    orbital per f orbital, or with ``band`` = M > 1 a ligand band of M levels over a
    width band_w. In the sector the hybridisation reaches from one 4f^n0 configuration
    (Gunnarsson & Schoenhammer 1983; Kotani & Toyozawa 1974), a state is k and the multiset A of
    band levels its k ligand holes sit in:

        H_i[A, A] = k delta - band_w sum_{i in A} eps_i + uff (k n0 + k (k - 1) / 2),
        H_f[A, A] = H_i[A, A] - k ufc,
        H[A, A + j] = v_j sqrt((m_j(A) + 1) (N_f - n0 - k)),   v_j = v / sqrt(M),

    m_j(A) the times level j is in A (without a band: t_k = sqrt((k + 1)(N_f - n0 - k)) v). The
    core hole's -ufc n0, the same for every final state, is left to ``shift``. |g> is the
    lowest eigenvector of H_i, or with ``pure_initial`` the configuration 4f^n0 itself. cluster3
    is n0 = 0, K = 3; cluster2 n0 = 0, K = 2 with the pure initial state; both keep their closed
    forms. U_ff enters when K >= 3 or n0 >= 1; band_w with a band."""

    nf: int = 14
    n0: int = 0
    n_configs: int = 3
    band: int = 1
    pure_initial: bool = False
    param_names: tuple[str, ...] = ()
    level_params: frozenset[str] = frozenset({"delta", "v", "uff", "ufc"})
    scale_param: str | None = "amp"

    def __post_init__(self) -> None:
        if self.n0 + self.n_configs - 1 > self.nf:
            raise ValueError(f"option configurations: {self.n_configs} configurations from 4f{self.n0} need "
                             f"{self.n0 + self.n_configs - 1} <= nf = {self.nf} f orbitals")
        if self.band > 1 and self.widths != "shared":
            raise ValueError("option widths: per_state needs a width per final state; with a band take shared")
        self.states = ct_states(self.n_configs, self.band)
        self.n_peaks = len(self.states)
        self.configurations = tuple(ct_config_name(self.n0, k) for k in range(self.n_configs))
        with_uff = self.n_configs >= 3 or self.n0 >= 1
        level = ("delta", "v") + (("uff",) if with_uff else ()) + ("ufc",) + (("band_w",) if self.band > 1 else ())
        self.param_names = level + ("gamma", "shift", "amp")
        self.level_params = frozenset(level)
        self.matrices = self._matrices()
        super().__post_init__()

    def _matrices(self) -> CTMatrices:
        eps, weight = band_levels(self.band)
        index = {a: i for i, a in enumerate(self.states)}
        size = len(self.states)
        k = np.array([len(a) for a in self.states], dtype=np.float64)
        c = np.zeros((size, size))
        for i, a in enumerate(self.states):
            if len(a) + 1 == self.n_configs:
                continue
            for j in range(self.band):
                up = index[tuple(sorted(a + (j,)))]
                c[i, up] = c[up, i] = weight[j] * np.sqrt((a.count(j) + 1.0) * (self.nf - self.n0 - len(a)))
        de = np.array([-sum(eps[i] for i in a) for a in self.states])
        return CTMatrices(k, k * self.n0 + k * (k - 1.0) / 2.0, de, c)

    def hamiltonians(self, col) -> tuple[np.ndarray, np.ndarray]:
        """H_i and H_f (R, D, D) of every row."""
        mat = self.matrices
        zero = np.zeros_like(col["delta"])
        diag = (col["delta"][:, None] * mat.dk + col.get("uff", zero)[:, None] * mat.du
                + col.get("band_w", zero)[:, None] * mat.de)
        h_i = col["v"][:, None, None] * mat.c + diag[:, :, None] * np.eye(len(mat.dk))
        h_f = h_i - (col["ufc"][:, None] * mat.dk)[:, :, None] * np.eye(len(mat.dk))
        return h_i, h_f

    def initial_state(self, h_i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """E_g (R,) and |g> (R, D) of the initial Hamiltonians h_i: the lowest eigenvector, or
        with ``pure_initial`` the configuration 4f^n0 itself at E_g = 0."""
        if not self.pure_initial:
            e, vec = np.linalg.eigh(h_i)
            return e[:, 0], vec[:, :, 0]
        g = np.zeros(h_i.shape[:2])
        g[:, 0] = 1.0
        return np.zeros(h_i.shape[0]), g

    def ground_state(self, col):
        e_g, g = self.initial_state(self.hamiltonians(col)[0])
        by_config = np.zeros((g.shape[0], self.n_configs))
        np.add.at(by_config.T, self.matrices.dk.astype(np.int64), (g * g).T)
        return e_g, by_config

    def levels(self, col):
        h_i, h_f = self.hamiltonians(col)
        e_f, vec_f = np.linalg.eigh(h_f)
        e_g, g = self.initial_state(h_i)
        overlap = np.einsum("rck,rc->rk", vec_f, g)
        return {"e": e_f - e_g[:, None], "w": overlap * overlap}


#: the options of every cluster family: final-state line shape and widths (ClusterCore)
CLUSTER_OPTIONS: dict[str, tuple[type, ...]] = {"nf": (int,), "lineshape": (str,), "widths": (str,)}
core_family("cluster3", lambda nf=14, lineshape="lorentz", widths="shared": Cluster3Core(
    nf=positive_int("nf", nf, 2), lineshape=lineshape, widths=widths), CLUSTER_OPTIONS)
core_family("cluster2", lambda nf=14, hybridized_initial=False, lineshape="lorentz", widths="shared": Cluster2Core(
    nf=positive_int("nf", nf, 1), hybridized_initial=bool(hybridized_initial), lineshape=lineshape, widths=widths),
    {**CLUSTER_OPTIONS, "hybridized_initial": (bool,)})


core_family("charge_transfer", lambda nf=14, n0=0, configurations=3, band=None, pure_initial=False,
            lineshape="lorentz", widths="shared": ChargeTransferCore(
    nf=positive_int("nf", nf, 1), n0=positive_int("n0", n0, 0), n_configs=positive_int("configurations", configurations, 2),
    band=band_option(band), pure_initial=bool(pure_initial), lineshape=lineshape, widths=widths),
    {**CLUSTER_OPTIONS, "n0": (int,), "configurations": (int,), "pure_initial": (bool,), "band": (dict, type(None))},
    label_option="configurations")


def peak_family(shape: str) -> Callable[..., PeaksCore]:
    """The builder of K peaks of line shape ``shape`` from the option n_peaks."""
    return lambda n_peaks=1: PeaksCore(n_peaks=positive_int("n_peaks", n_peaks, 1), lineshape=shape)


for shape_name in LINESHAPES:  # every line shape is a peak model: gauss_peaks, lorentz_peaks, pvoigt_peaks
    core_family(f"{shape_name}_peaks", peak_family(shape_name), {"n_peaks": (int,)}, label_option="n_peaks")
