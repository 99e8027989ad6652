"""Compiled model evaluation for one replica: the numpy evaluators' stages, fused, in place.

A model is flattened into a :class:`KernelModel` (a :class:`Spec` of named integers, with the
parameter column of each role in :class:`Columns`, and float arrays that numba can take),
derived from the numpy model's own declarations (``lines_of``, ``level_params``,
``param_names``), so the two cannot drift apart; the kernels receive it as a
:class:`ModelArrays` and read every field by name. Each core class has its :class:`CoreKind`
(its level kernel's code and whether its lines are placed from levels). Per replica the state
(a :class:`Stages` row) is

    lev (2K,)      e_j then w_j of the cluster cores (levels; empty for peak models)
    lines (J', N)  each line's contribution h_j f(omega - c_j; width_j), doublet copies last
    S (N,)         sum_j lines_j, summed in line order
    T (N,)         the Tougaard integral of S (models.backgrounds; empty without a Tougaard
                   background): recomputed with S, so an OUTPUT-stage change (amp, bg_*) costs
                   O(N), not the integral's O(N^2)
    y (N,)         scale * S + background (polynomial: sum_k c_k omega^k)

and every stage is a pure function of theta, so recomputing only the stages a parameter
touches gives the same bits as recomputing all of them (the Evaluator contract). What a
parameter touches is its *stage*:

    LEVELS   (delta, v, uff, ufc)  levels, every line, S, T, y
    LINES    (gamma, shift)        every line, S, T, y
    PEAK     (a_k, mu_k, b_k/w_k)  line k and its doublet copy, S, T, y
    DOUBLET  (so_split, so_ratio)  the doublet copies, S, T, y
    OUTPUT   (amp, bg_*, c_k)      y only
    ALL      (a row from scratch)  everything (full_row)

The extra lines (models.extras) follow the doublet copies, and the copies of the first of them
(extra_lines' ``doublet``) follow those; each of their parameters is a PEAK-stage parameter of its own line
and its copy, DOUBLET redoes their copies, and LEVELS/LINES leave them as they are.

The energy U = (1/2) sum_i (y_i - d_i)^2 is summed once y is written, in ENERGY_CHAINS interleaved
partial sums (:func:`residual_energy`).
Cluster levels are the closed forms of :mod:`remc_mpi.models.eigen`, written for scalars with
the same operations in the same order; the numpy evaluators are the reference these kernels
are tested against (1e-12 relative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from remc_mpi.kernels import jit, jit_inline
from remc_mpi.models.cores import ChargeTransferCore, Cluster2Core, Cluster3Core, PeaksCore
from remc_mpi.likelihood import LIKELIHOOD_CODES
from remc_mpi.models.backgrounds import tougaard_lags, tougaard_matrix
from remc_mpi.models.lineshapes import FWHM_PER_SIGMA, LINESHAPES, TCH_ETA, TCH_FWHM, WEIDEMAN_A, WEIDEMAN_L
from remc_mpi.models.spectral import INSIDE_SHARE

# stages (see module docstring)
LEVELS, LINES, PEAK, DOUBLET, OUTPUT, ALL = 0, 1, 2, 3, 4, 5
# core kinds (the branches of compute_levels; CORE_KINDS below maps the core classes on them)
KIND_PEAKS, KIND_CLUSTER2, KIND_CLUSTER3, KIND_POLY, KIND_CT = 0, 1, 2, 3, 4
#: line shape codes, in the order of the registry (models/lineshapes.py); compute_line has a branch each
SHAPE_CODES = {name: code for code, name in enumerate(LINESHAPES)}
SHAPE_GAUSS, SHAPE_LORENTZ, SHAPE_PVOIGT, SHAPE_VOIGT = (SHAPE_CODES[name] for name in ("gauss", "lorentz", "pvoigt",
                                                                                     "voigt"))
TCH_A1, TCH_A2, TCH_A3, TCH_A4 = TCH_FWHM
TCH_E1, TCH_E2, TCH_E3 = TCH_ETA
_LN2 = math.log(2.0)
LIK_POISSON = LIKELIHOOD_CODES["poisson"]
#: the cluster cores' constants at the head of fspec: nf, sqrt(nf), sqrt(2 (nf - 1)) (the couplings
#: t1 = sqrt(nf) v, t2 = sqrt(2 (nf - 1)) v); charge_transfer's CTMatrices follow from F_CT, flat,
#: D = spec.n_core states: dk (D), du (D), de (D), then c (D x D) row by row
#: (models.cores.ChargeTransferCore: H_i = delta dk + uff du + band_w de + v c, H_f = H_i - ufc dk)
F_NF, F_SQRT_NF, F_SQRT_2NF1, F_CT = range(4)


class Columns(NamedTuple):
    """The parameter column of each role the kernels read (-1: the model has none)."""

    scale: int = -1  # the core's scale_param (amp)
    const: int = -1  # bg_const
    slope: int = -1  # bg_slope
    shirley: int = -1  # bg_shirley
    tougaard: int = -1  # bg_tougaard
    split: int = -1  # so_split
    ratio: int = -1  # so_ratio
    delta: int = -1
    v: int = -1
    uff: int = -1
    ufc: int = -1
    band_w: int = -1
    gamma: int = -1  # the (first) Lorentzian width; per_state: gamma1..K in adjacent columns
    shift: int = -1
    width2: int = -1  # the line shape's shared second width (sigma_g)
    extra: int = -1  # the first extra line's first parameter (models.extras)


#: the roles named by a fixed parameter name (the others come from the core and line shape)
ROLE_PARAMS = {"const": "bg_const", "slope": "bg_slope", "shirley": "bg_shirley", "tougaard": "bg_tougaard",
               "split": "so_split", "ratio": "so_ratio", "delta": "delta", "v": "v", "uff": "uff", "ufc": "ufc",
               "band_w": "band_w", "shift": "shift"}


class Spec(NamedTuple):
    """A model's integers as the kernels read them, by name."""

    kind: int  # KIND_* (the branch of compute_levels)
    likelihood: int  # remc_mpi.likelihood code
    from_levels: int = 0  # 1: centres and heights from the core's levels; 0: from the peak parameters
    shape: int = 0  # SHAPE_* of the core's lines
    n_core: int = 0  # K, the core's lines (doublet copies are lines K..2K-1)
    n_lines: int = 0  # every line: the core's, their doublet copies, the extra lines
    n_main: int = 0  # the core's lines and their doublet copies (the extra lines follow)
    n_extra: int = 0  # E, the extra lines; lines n_main+E..n_lines-1 are the copies of the first of them
    hybridized: int = 0  # 1: the initial state is the lowest eigenvector of H_i
    per_state: int = 0  # 1: a Lorentzian width per final state
    fixed_bg: int = 0  # 1: basis[0] holds a fixed background curve (iterative Shirley)
    extra_shape: int = 0  # SHAPE_* of the extra lines
    extra_stride: int = 0  # parameters per extra line: area, center, width[, sigma]
    inside: int = 0  # 1: lines_in_window (U = +inf where a line of weight lies outside the grid)
    col: Columns = Columns()


class CoreKind(NamedTuple):
    """How the kernels compute a core class: a new core kind is one entry of CORE_KINDS plus
    its level kernel, called from :func:`compute_levels`."""

    code: int  # KIND_*
    from_levels: bool  # line centres and heights from compute_levels (else from the peak parameters)
    hybridized: Callable = lambda core: False  # core -> whether |g> is an eigenvector of H_i
    floats: Callable = lambda core: np.zeros(F_CT)  # core -> its constants, fspec


def _cluster_floats(core) -> np.ndarray:
    nf = float(core.nf)
    return np.array([nf, np.sqrt(nf), np.sqrt(2.0 * (nf - 1))])


def _ct_floats(core) -> np.ndarray:
    mat = core.matrices
    return np.concatenate([_cluster_floats(core), mat.dk, mat.du, mat.de, mat.c.ravel()])


#: the compiled kind of each core class
CORE_KINDS = {
    PeaksCore: CoreKind(KIND_PEAKS, False),
    Cluster2Core: CoreKind(KIND_CLUSTER2, True, lambda core: core.hybridized_initial, _cluster_floats),
    Cluster3Core: CoreKind(KIND_CLUSTER3, True, floats=_cluster_floats),
    ChargeTransferCore: CoreKind(KIND_CT, True, lambda core: not core.pure_initial, _ct_floats),
}

_INV_PI = 1.0 / np.pi
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT2 = math.sqrt(2.0)
_TWO_PI_3 = 2.0 * np.pi / 3.0


class ModelArrays(NamedTuple):
    """What the kernels read of one model on its grid and its data."""

    spec: Spec
    fspec: np.ndarray  # the core's constants (F_*)
    stage: np.ndarray  # (P,) int64, the stage of each parameter
    peak: np.ndarray  # (P,) int64, the core peak of a PEAK-stage parameter (else -1)
    basis: np.ndarray  # see KernelModel
    x: np.ndarray  # (N,) the energy grid
    data: np.ndarray  # (N,) the intensities


@jit
def named_model(t):
    """The :class:`ModelArrays` of its plain tuple (:func:`remc_mpi.kernels.plain`), named again:
    its ``spec`` first, the spec's ``col`` last (tests/test_kernels.py checks the round trip)."""
    return ModelArrays(Spec(*t[0][:-1], Columns(*t[0][-1])), *t[1:])


@dataclass
class KernelModel:
    """A model on one energy grid as the arrays the kernels take (see module docstring)."""

    spec: Spec
    fspec: np.ndarray  # float64: the core's constants (F_*; charge_transfer: its matrices from F_CT on)
    stage: np.ndarray  # (P,) int64, the stage of each parameter
    peak: np.ndarray  # (P,) int64, the core peak of a PEAK-stage parameter (else -1)
    basis: np.ndarray  # (K, N) polynomial basis omega^k; spectral models: row 0 the fixed background
    #                    (zeros without one), then the Tougaard operator when the model has one: its
    #                    lags and weights (2 rows) on a uniform grid, else the matrix MT (N rows)
    energy: np.ndarray  # (N,)
    n_lev: int
    n_lines: int

    @property
    def n(self) -> int:
        return self.energy.size

    @property
    def n_tougaard(self) -> int:
        """Points of the cached Tougaard integral: N with a Tougaard background, else 0."""
        return self.energy.size if self.spec.col.tougaard >= 0 else 0

    def arrays(self, data: np.ndarray) -> ModelArrays:
        """The kernels' view of the model against ``data``."""
        return ModelArrays(self.spec, self.fspec, self.stage, self.peak, self.basis, self.energy,
                           np.ascontiguousarray(data, dtype=np.float64))


def kernel_model(model, energy: np.ndarray, likelihood: str = "gaussian") -> KernelModel:
    """Flatten ``model`` on ``energy`` for the kernels (from the model's own declarations), with
    the energy of ``likelihood`` (remc_mpi.likelihood)."""
    return _kernel_model(model, energy, LIKELIHOOD_CODES[likelihood])


def _kernel_model(model, energy: np.ndarray, likelihood: int) -> KernelModel:
    from remc_mpi.models.polynomial import PolynomialModel

    energy = np.ascontiguousarray(energy, dtype=np.float64)
    model.evaluator(energy)  # the reference's checks (the Shirley background's grid)
    names = model.param_names
    if isinstance(model, PolynomialModel):
        spec = Spec(kind=KIND_POLY, likelihood=likelihood)
        stage = np.full(len(names), OUTPUT, dtype=np.int64)
        peak = np.full(len(names), -1, dtype=np.int64)
        basis = np.ascontiguousarray(model.design(energy).T)
        return KernelModel(spec, np.zeros(F_CT), stage, peak, basis, energy, 0, 0)
    core = model.core
    if type(core) not in CORE_KINDS:
        raise ValueError(f"model {model.name}: no compiled kernel for {type(core).__name__} (docs/extending.md)")
    kind = CORE_KINDS[type(core)]
    spec = Spec(kind=kind.code, likelihood=likelihood, from_levels=int(kind.from_levels),
                shape=SHAPE_CODES[core.lineshape], n_core=core.n_peaks, n_lines=model.n_lines, n_main=model.n_main,
                n_extra=model.extra.n,
                hybridized=int(kind.hybridized(core)), per_state=int(getattr(core, "widths", "shared") == "per_state"),
                fixed_bg=int("iterative_shirley" in model.background), extra_shape=SHAPE_CODES[model.extra.lineshape],
                extra_stride=len(model.extra.fields), inside=int(model.lines_in_window), col=_columns(model))
    stage, peak = _stages(model)
    n_lev = 2 * core.n_peaks if kind.from_levels else 0
    return KernelModel(spec, kind.floats(core), stage, peak, _output_arrays(model, energy), energy, n_lev,
                       model.n_lines)


def _columns(model) -> Columns:
    """Each role's parameter column in ``model`` (-1 where it has none)."""
    core, names = model.core, model.param_names
    params = dict(ROLE_PARAMS, scale=core.scale_param, gamma=getattr(core, "gamma_names", ("gamma",))[0],
                  width2=LINESHAPES[core.lineshape].shared_width,
                  extra=model.extra.param_names[0] if model.extra.n else None)
    return Columns(**{role: names.index(name) if name in names else -1 for role, name in params.items()})


def _stages(model) -> tuple[np.ndarray, np.ndarray]:
    """The stage of each parameter and, for a PEAK-stage one, its line."""
    names, core = model.param_names, model.core
    stage = np.empty(len(names), dtype=np.int64)
    peak = np.full(len(names), -1, dtype=np.int64)
    for j, name in enumerate(names):
        touched = model.lines_of(name)
        if touched == ():
            stage[j] = OUTPUT
        elif touched is None:
            stage[j] = LEVELS if name in core.level_params else LINES
        elif name in ("so_split", "so_ratio"):
            stage[j] = DOUBLET
        else:
            stage[j] = PEAK
            peak[j] = touched[0]
    return stage, peak


def _output_arrays(model, energy: np.ndarray) -> np.ndarray:
    """The ``basis`` of a spectral model: the fixed background, then the Tougaard operator: its
    lags and weights (2, N) on a uniform grid, the matrix MT (N, N) otherwise."""
    fixed = model.background_curve(energy)
    rows = [np.zeros((1, energy.size)) if fixed is None else fixed[None, :]]
    if "tougaard" in model.background:
        lags = tougaard_lags(energy, model.tougaard_c)
        rows.append(tougaard_matrix(energy, model.tougaard_c) if lags is None else lags)
    return np.ascontiguousarray(np.concatenate(rows, axis=0))


# ---- cluster levels ---------------------------------------------------------------------------
@jit
def _char_poly(lam, a1, a2, a3, b1sq, b2sq):
    d1, d2, d3 = a1 - lam, a2 - lam, a3 - lam
    m = d2 * d3 - b2sq
    return d1 * m - b1sq * d3, b1sq - m - d1 * (d2 + d3)


@jit
def tridiag3_eigvals(a1, a2, a3, b1, b2, out):
    """Ascending eigenvalues of [[a1, b1, 0], [b1, a2, b2], [0, b2, a3]] into out (3,)
    (the trigonometric solution and guarded Newton polish of :mod:`remc_mpi.models.eigen`)."""
    b1sq, b2sq = b1 * b1, b2 * b2
    q = (a1 + a2 + a3) * (1.0 / 3.0)
    d1, d2, d3 = a1 - q, a2 - q, a3 - q
    m = d2 * d3 - b2sq
    p = math.sqrt((d1 * d1 + d2 * d2 + d3 * d3 + 2.0 * (b1sq + b2sq)) * (1.0 / 6.0))
    p = max(p, 1e-300)
    r = (d1 * m - b1sq * d3) / (2.0 * p * p * p)
    phi = math.acos(min(max(r, -1.0), 1.0)) * (1.0 / 3.0)
    out[0] = q + 2.0 * p * math.cos(phi + _TWO_PI_3)
    out[2] = q + 2.0 * p * math.cos(phi + 0.0)
    out[1] = 3.0 * q - out[2] - out[0]
    for k in range(3):
        f, df = _char_poly(out[k], a1, a2, a3, b1sq, b2sq)
        cand = out[k] - f / (math.inf if df == 0.0 else df)
        fc, _ = _char_poly(cand, a1, a2, a3, b1sq, b2sq)
        if abs(fc) < abs(f):
            out[k] = cand


@jit
def tridiag3_eigvec(lam, a1, a2, a3, b1, b2):
    """Unnormalised eigenvector (x0, x1, x2) of eigenvalue lam and its squared norm: the
    largest of the three cross products of the rows of A - lam I."""
    d1, d2, d3 = a1 - lam, a2 - lam, a3 - lam
    b12 = b1 * b2
    c0, c1, c2 = b12, -d1 * b2, d1 * d2 - b1 * b1
    e0, e1, e2 = b1 * d3, -d1 * d3, d1 * b2
    g0, g1, g2 = d2 * d3 - b2 * b2, -b1 * d3, b12
    n12 = c0 * c0 + c1 * c1 + c2 * c2
    n13 = e0 * e0 + e1 * e1 + e2 * e2
    n23 = g0 * g0 + g1 * g1 + g2 * g2
    if n13 > n12:
        c0, c1, c2, n12 = e0, e1, e2, n13
    if n23 > n12:
        c0, c1, c2, n12 = g0, g1, g2, n23
    return c0, c1, c2, n12


@jit
def _cluster3_levels(theta, col, fspec, lev, work):
    delta, v = theta[col.delta], theta[col.v]
    uff, ufc = theta[col.uff], theta[col.ufc]
    t1, t2 = fspec[F_SQRT_NF] * v, fspec[F_SQRT_2NF1] * v
    top = 2.0 * delta + uff
    tridiag3_eigvals(0.0, delta, top, t1, t2, work[:3])
    tridiag3_eigvals(0.0, delta - ufc, top - 2.0 * ufc, t1, t2, work[3:6])
    e_g = work[0]
    x0, x1, x2, n_g = tridiag3_eigvec(e_g, 0.0, delta, top, t1, t2)
    for k in range(3):
        f0, f1, f2, n_f = tridiag3_eigvec(work[3 + k], 0.0, delta - ufc, top - 2.0 * ufc, t1, t2)
        dot = f0 * x0 + f1 * x1 + f2 * x2
        lev[k] = work[3 + k] - e_g
        lev[3 + k] = dot * dot / (n_f * n_g)


@jit
def _tridiag2(a, c, t, k):
    """Eigenvalue k (0 lower) of [[a, t], [t, c]] and its unit eigenvector (as
    :func:`remc_mpi.models.eigen.tridiag2_eig`)."""
    m = 0.5 * (a + c)
    rad = math.hypot(0.5 * (a - c), t)
    lam = m - rad if k == 0 else m + rad
    v10, v11 = t, lam - a
    v20, v21 = lam - c, t
    n1 = v10 * v10 + v11 * v11
    n2 = v20 * v20 + v21 * v21
    if n1 >= n2:
        nrm = math.sqrt(n1)
        u0, u1 = v10, v11
    else:
        nrm = math.sqrt(n2)
        u0, u1 = v20, v21
    if not nrm > 0.0:
        nrm = 1.0
    return lam, u0 / nrm, u1 / nrm


@jit
def _cluster2_levels(theta, spec, fspec, lev):
    col = spec.col
    delta, v, ufc = theta[col.delta], theta[col.v], theta[col.ufc]
    t1 = fspec[F_SQRT_NF] * v
    e_g, g0, g1 = 0.0, 1.0, 0.0
    hyb = spec.hybridized == 1
    if hyb:
        e_g, g0, g1 = _tridiag2(0.0, delta, t1, 0)
    for k in range(2):
        lam, f0, f1 = _tridiag2(0.0, delta - ufc, t1, k)
        ov = f0 * g0 + f1 * g1 if hyb else f0
        lev[k] = lam - e_g
        lev[2 + k] = ov * ov


@jit
def _ct_hamiltonian(theta, spec, fspec, final):
    """H_i (or H_f with ``final``) of the charge-transfer cluster from its CTMatrices (F_CT)."""
    n, col = spec.n_core, spec.col
    delta, v, ufc = theta[col.delta], theta[col.v], theta[col.ufc]
    uff = theta[col.uff] if col.uff >= 0 else 0.0
    band_w = theta[col.band_w] if col.band_w >= 0 else 0.0
    dk, du, de, c = F_CT, F_CT + n, F_CT + 2 * n, F_CT + 3 * n
    h = np.empty((n, n))
    for a in range(n):
        for b in range(n):
            h[a, b] = v * fspec[c + a * n + b]
        k = fspec[dk + a]
        h[a, a] += k * delta + uff * fspec[du + a] + band_w * fspec[de + a] - (k * ufc if final else 0.0)
    return h


@jit
def _ct_levels(theta, spec, fspec, lev):
    """e_j = E_f,j - E_g and w_j = (f_j . g)^2 by LAPACK's symmetric eigensolver (K x K)."""
    n = spec.n_core
    e_f, vec_f = np.linalg.eigh(_ct_hamiltonian(theta, spec, fspec, True))
    if spec.hybridized == 1:
        e_i, vec_i = np.linalg.eigh(_ct_hamiltonian(theta, spec, fspec, False))
        e_g = e_i[0]
    else:
        e_g = 0.0
    for j in range(n):
        dot = 0.0
        if spec.hybridized == 1:
            for c in range(n):
                dot += vec_f[c, j] * vec_i[c, 0]
        else:
            dot = vec_f[0, j]
        lev[j] = e_f[j] - e_g
        lev[n + j] = dot * dot


@jit_inline
def compute_levels(theta, spec, fspec, lev, work):
    """The levels e_j, w_j of the core (lev: e then w) by its kind's kernel."""
    kind = spec.kind
    if kind == KIND_CLUSTER3:
        _cluster3_levels(theta, spec.col, fspec, lev, work)
    elif kind == KIND_CLUSTER2:
        _cluster2_levels(theta, spec, fspec, lev)
    elif kind == KIND_CT:
        _ct_levels(theta, spec, fspec, lev)


# ---- lines, sum, output ---------------------------------------------------------------------------
@jit
def extra_line_params(theta, spec, e):
    """Centre, height, width, second width of extra line e in the line shape's terms
    (models.extras.ExtraLines.place: a Gaussian's height and precision from area and sd)."""
    col = spec.col.extra + e * spec.extra_stride
    area, c, width = theta[col], theta[col + 1], theta[col + 2]
    if spec.extra_shape == SHAPE_GAUSS:
        return c, area * _INV_SQRT_2PI / width, 1.0 / (width * width), 0.0
    return c, area, width, theta[col + 3]


@jit_inline
def line_params(theta, spec, lev, j):
    """Centre, height, width and second width of line j (doublet copies are lines K..2K-1, the
    extra lines follow, then their copies) and its shape code."""
    col = spec.col
    if j >= spec.n_main:
        e = j - spec.n_main
        if e < spec.n_extra:
            c, h, w, w2 = extra_line_params(theta, spec, e)
        else:
            c, h, w, w2 = extra_line_params(theta, spec, e - spec.n_extra)
            c, h = c + theta[col.split], h * theta[col.ratio]
        return c, h, w, w2, spec.extra_shape
    n_core = spec.n_core
    k = j % n_core
    if spec.from_levels == 0:
        c, h, w = theta[n_core + k], theta[k], theta[2 * n_core + k]
    else:
        g = col.gamma + k if spec.per_state == 1 else col.gamma
        c, h, w = lev[k] + theta[col.shift], lev[n_core + k], theta[g]
    w2 = theta[col.width2] if col.width2 >= 0 else 0.0
    if j >= n_core:
        c = c + theta[col.split]
        h = h * theta[col.ratio]
    return c, h, w, w2, spec.shape


# exp by Cody-Waite range reduction and a degree-13 Taylor polynomial, written so that LLVM
# vectorises the loop (libm's exp is a call it cannot): exp(t) = 2^k exp(r), k = round(t / ln 2),
# r = t - k ln2 (ln 2 split in two for exactness), |r| <= ln2 / 2, where the polynomial's
# truncation error r^14 / 14! < 4e-18 is below half an ulp. 2^k is built from its bits, in two
# factors so that subnormal results (t < -708) come out right. Within 1 ulp of libm's exp
# (tested over [-745.5, 0]); plain IEEE arithmetic, so the same bits on every machine.
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: _LN2_HI has 32 trailing zero bits
_LN2_LO = 1.90821492927058770002e-10
_EXP_MIN, _EXP_MAX = -746.0, 710.0  # beyond these exp() is 0 or inf


@jit
def _exp_parts(t):
    """exp(t) = p 2^k1 2^k2: the polynomial factor p and the bit patterns of 2^k1, 2^k2."""
    a = min(max(t, _EXP_MIN), _EXP_MAX)
    kf = math.floor(a * _LOG2E + 0.5)
    r = (a - kf * _LN2_HI) - kf * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = np.int64(kf)
    half = k >> 1
    return p, (half + 1023) << 52, (k - half + 1023) << 52


@jit
def exp_into(t, out, bits):
    """out[i] = exp(t[i]) (``bits``: int64 scratch of 2 len(t); t and out distinct arrays, or
    LLVM's overlap check keeps the loop scalar)."""
    for i in range(t.size):
        out[i], bits[2 * i], bits[2 * i + 1] = _exp_parts(t[i])
    scale = bits.view(np.float64)
    for i in range(t.size):
        out[i] = out[i] * scale[2 * i] * scale[2 * i + 1]


@jit
def tch_mix(sigma, gamma):
    """(half width, Lorentzian fraction) of the pseudo-Voigt (models.lineshapes.tch_mix)."""
    fg, fl = FWHM_PER_SIGMA * sigma, 2.0 * gamma
    f = (fg**5 + TCH_A1 * fg**4 * fl + TCH_A2 * fg**3 * fl**2 + TCH_A3 * fg**2 * fl**3 + TCH_A4 * fg * fl**4
         + fl**5) ** 0.2
    q = fl / f
    return 0.5 * f, TCH_E1 * q + TCH_E2 * q * q + TCH_E3 * q * q * q


@jit
def voigt_line(x, c, h, g, sigma, out, scratch):
    """out = h V(x - c; g, sigma), the Voigt profile by Weideman's series (models.lineshapes.voigt,
    the same operations in the same order); ``scratch``: float64 of 3 len(x). Horner's scheme
    runs term by term over all points so that LLVM vectorises the loops over i."""
    n = x.size
    zr, zi, pi = scratch[:n], scratch[n:2 * n], scratch[2 * n:3 * n]
    r = 1.0 / (sigma * _SQRT2)
    y = g * r
    dr, nr = WEIDEMAN_L + y, WEIDEMAN_L - y
    for i in range(n):
        xx = (x[i] - c) * r
        den = 1.0 / (dr * dr + xx * xx)
        zr[i] = (nr * dr - xx * xx) * den
        zi[i] = (xx * dr + nr * xx) * den
        out[i] = WEIDEMAN_A[0]
        pi[i] = 0.0
    for k in range(1, WEIDEMAN_A.size):
        ak = WEIDEMAN_A[k]
        for i in range(n):
            pr = out[i]
            out[i] = pr * zr[i] - pi[i] * zi[i] + ak
            pi[i] = pr * zi[i] + pi[i] * zr[i]
    norm = h * r * _INV_SQRT_PI
    for i in range(n):
        xx = (x[i] - c) * r
        den = 1.0 / (dr * dr + xx * xx)
        ir, ii = dr * den, xx * den
        qr = 2.0 * (out[i] * ir - pi[i] * ii) + _INV_SQRT_PI
        qi = 2.0 * (out[i] * ii + pi[i] * ir)
        out[i] = norm * (qr * ir - qi * ii)


@jit
def lorentz_line(x, c, h, w, out):
    """out = h (w/pi) / ((x-c)^2 + w^2)."""
    num = h * w * _INV_PI
    w2 = w * w
    for i in range(x.size):
        d = x[i] - c
        out[i] = num / (d * d + w2)


@jit_inline
def compute_line(x, shape, c, h, w, w2, out, bits):
    """out = h f(x - c; w, w2): Gaussian h exp(-w (x-c)^2 / 2), Lorentzian h (w/pi) / ((x-c)^2 + w^2),
    the pseudo-Voigt or the Voigt of Lorentzian half width w and Gaussian sd w2 (models.lineshapes;
    the Voigt at w2 = 0 is the Lorentzian). ``bits``: int64 scratch of 3 len(x)."""
    if shape == SHAPE_VOIGT:
        if w2 > 0.0:
            voigt_line(x, c, h, w, w2, out, bits.view(np.float64))
        else:
            lorentz_line(x, c, h, w, out)
    elif shape == SHAPE_PVOIGT:
        half, eta = tch_mix(w2, w)
        half2 = half * half
        lor = h * eta * (half * _INV_PI)
        prec = 2.0 * _LN2 / half2
        s = -0.5 * prec
        for i in range(x.size):
            d = x[i] - c
            out[i], bits[2 * i], bits[2 * i + 1] = _exp_parts(s * (d * d))
        scale = bits.view(np.float64)
        gau = h * (1.0 - eta) * math.sqrt(prec / (2.0 * math.pi))
        for i in range(x.size):
            d = x[i] - c
            out[i] = lor / (d * d + half2) + gau * (out[i] * scale[2 * i] * scale[2 * i + 1])
    elif shape == SHAPE_GAUSS:
        s = -0.5 * w
        for i in range(x.size):
            d = x[i] - c
            out[i], bits[2 * i], bits[2 * i + 1] = _exp_parts(d * d * s)
        scale = bits.view(np.float64)
        for i in range(x.size):
            out[i] = out[i] * scale[2 * i] * scale[2 * i + 1] * h
    else:
        lorentz_line(x, c, h, w, out)


@jit_inline
def output_energy(theta, spec, basis, x, data, S, T, y):
    """y = scale * S + background (or the polynomial) written into y, with T the Tougaard
    integral of S (:func:`tougaard_into`; read only with a Tougaard background); returns U.

    Each term is added to y in its own pass, in the order of the numpy reference
    (models.backgrounds: Shirley, constant, slope, Tougaard, fixed curve), so every pass but the
    Shirley's running integral is a plain vectorised loop; U is then :func:`residual_energy`."""
    n = x.size
    if spec.kind == KIND_POLY:
        for i in range(n):
            y[i] = theta[0] * basis[0, i]
        for k in range(1, basis.shape[0]):
            c = theta[k]
            for i in range(n):
                y[i] += c * basis[k, i]
        return residual_energy(spec.likelihood, y, data)
    col = spec.col
    scale = theta[col.scale] if col.scale >= 0 else 1.0  # S * 1.0 is S, bit for bit
    for i in range(n):
        y[i] = S[i] * scale
    if col.shirley >= 0:
        shirley_into(theta[col.shirley], x, y)
    if col.const >= 0:
        b0 = theta[col.const]
        for i in range(n):
            y[i] += b0
    if col.slope >= 0:
        b1 = theta[col.slope]
        for i in range(n):
            y[i] += b1 * x[i]
    if col.tougaard >= 0:
        tfac = theta[col.tougaard] * scale
        for i in range(n):
            y[i] += tfac * T[i]
    if spec.fixed_bg == 1:
        fixed = basis[0]
        for i in range(n):
            y[i] += fixed[i]
    return residual_energy(spec.likelihood, y, data)


@jit
def shirley_into(bs, x, y):
    """y_i += bs * (the trapezoid integral of the peaks y_0..y_i over x), the peaks being y as it
    stands (scale * S): a running sum, in one pass from the low end."""
    cum = 0.0
    prev = y[0]
    for i in range(1, x.size):
        sy = y[i]
        cum += 0.5 * (sy + prev) * (x[i] - x[i - 1])
        prev = sy
        y[i] = sy + cum * bs


@jit
def tougaard_into(basis, S, t):
    """t_i = sum_{k<i} K1(omega_i - omega_k) w_k S_k (models.backgrounds): from the lags K1(m h)
    (basis[1]) and weights (basis[2]) on a uniform grid (:func:`tougaard_lags_into`), else from
    the matrix MT = basis[1:], point k's share added to every higher point at once (a vectorised
    loop over i), each t_i summed in order of k."""
    n = S.size
    for i in range(n):
        t[i] = 0.0
    if basis.shape[0] == 3:
        tougaard_lags_into(basis[1], basis[2], S, t)
    else:
        for k in range(n - 1):
            sk = S[k]
            row = basis[1 + k]
            for i in range(k + 1, n):
                t[i] += row[i] * sk


@jit
def tougaard_lags_into(lags, w, S, t):
    """t += the Tougaard integral on a uniform grid, the shares of four points k..k+3 added to
    every point above them in one vectorised pass, ((K1 u_k + K1 u_k+1) + (K1 u_k+2 + K1 u_k+3))
    with u = w S: a fixed order (no fastmath), and a quarter of the passes over t of one point at a
    time (1.5x faster at 384 and 547 points)."""
    n = S.size
    l1, l2, l3, l4 = lags[1:], lags[2:], lags[3:], lags[4:]
    k = 0
    while k + 4 < n:
        u0, u1, u2, u3 = w[k] * S[k], w[k + 1] * S[k + 1], w[k + 2] * S[k + 2], w[k + 3] * S[k + 3]
        t[k + 1] += lags[1] * u0
        t[k + 2] += lags[2] * u0 + lags[1] * u1
        t[k + 3] += lags[3] * u0 + lags[2] * u1 + lags[1] * u2
        tail = t[k + 4:]
        for i in range(n - k - 4):
            tail[i] += (l4[i] * u0 + l3[i] * u1) + (l2[i] * u2 + l1[i] * u3)
        k += 4
    while k < n - 1:
        uk = w[k] * S[k]
        tail = t[k + 1:]
        for i in range(n - 1 - k):
            tail[i] += l1[i] * uk
        k += 1


@jit
def energy_term(likelihood, mu, d):
    """One point's share of U (remc_mpi.likelihood): (mu - d)^2 for Gaussian noise (halved in
    :func:`residual_energy`), mu - d log mu for counts (+inf for a non-positive mu where counts
    were seen)."""
    if likelihood == LIK_POISSON:
        if d > 0.0:
            return mu - d * math.log(mu) if mu > 0.0 else math.inf
        return mu
    r = mu - d
    return r * r


#: independent partial sums of U (:func:`residual_energy`): a single running float sum is one
#: chain of dependent adds, which neither LLVM (without fastmath) nor the processor may reorder,
#: so it runs at the add's latency; eight chains run at its throughput and vectorise. The order
#: is fixed (point i to chain i % 8, the chains combined pairwise), the same bits everywhere.
ENERGY_CHAINS = 8


@jit_inline
def residual_energy(likelihood, y, data):
    """U of a written spectrum y against the data (remc_mpi.likelihood), as ENERGY_CHAINS partial
    sums (the likelihood's branch outside the loop, so that the Gaussian one vectorises)."""
    if likelihood == LIK_POISSON:
        return chained_sum(LIK_POISSON, y, data)
    return 0.5 * chained_sum(0, y, data)


@jit
def chained_sum(likelihood, y, data):
    """sum_i energy_term(likelihood, y_i, d_i) in ENERGY_CHAINS chains, point i to chain i % 8."""
    n = y.size
    top = n - n % ENERGY_CHAINS
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    for i in range(0, top, ENERGY_CHAINS):
        a0 += energy_term(likelihood, y[i], data[i])
        a1 += energy_term(likelihood, y[i + 1], data[i + 1])
        a2 += energy_term(likelihood, y[i + 2], data[i + 2])
        a3 += energy_term(likelihood, y[i + 3], data[i + 3])
        a4 += energy_term(likelihood, y[i + 4], data[i + 4])
        a5 += energy_term(likelihood, y[i + 5], data[i + 5])
        a6 += energy_term(likelihood, y[i + 6], data[i + 6])
        a7 += energy_term(likelihood, y[i + 7], data[i + 7])
    for i in range(top, n):
        a0 += energy_term(likelihood, y[i], data[i])
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@jit_inline
def trial(theta, stage, peak, model, stages, i, tb):
    """Energy of ``theta`` after a change of stage ``stage`` (``peak`` for PEAK), given row i's
    current lev/lines/S in ``stages`` (from the old theta). Recomputed stages go to the trial
    buffers ``tb`` (lines with redo[j] = True); the row is not modified.

    Each array is taken out of its tuple once, and the OUTPUT stage (amp, backgrounds) takes
    no view of the lines or levels it does not read."""
    spec = model.spec
    x, redo = model.x, tb.redo
    mark_redo(spec, stage, peak, redo)
    if stage == OUTPUT:
        u = output_energy(theta, spec, model.basis, x, model.data, stages.S[i], stages.T[i], tb.y)
        return u if spec.inside == 0 else inside_or_inf(u, theta, spec, x, stages.lev[i])
    lev = stages.lev[i]
    if (stage == LEVELS or stage == ALL) and spec.from_levels == 1:
        lev = tb.lev
        compute_levels(theta, spec, model.fspec, lev, tb.work)
    t_lines, bits = tb.lines, tb.bits
    for j in range(spec.n_lines):
        if redo[j]:
            c, h, w, w2, shape = line_params(theta, spec, lev, j)
            compute_line(x, shape, c, h, w, w2, t_lines[j], bits)
    S, T = line_sum(stages.lines[i], t_lines, redo, tb.S), stages.T[i]
    if spec.col.tougaard >= 0:
        T = tb.T
        tougaard_into(model.basis, S, T)
    u = output_energy(theta, spec, model.basis, x, model.data, S, T, tb.y)
    return u if spec.inside == 0 else inside_or_inf(u, theta, spec, x, lev)


@jit
def inside_or_inf(u, theta, spec, x, lev):
    """u, or +inf where a line falls outside the grid (:func:`lines_inside`)."""
    x0, x1 = x[0], x[x.size - 1]
    return u if lines_inside(theta, spec, lev, min(x0, x1), max(x0, x1)) else math.inf


@jit_inline
def mark_redo(spec, stage, peak, redo):
    """redo[j] = whether a change of ``stage`` (``peak`` for PEAK) recomputes line j."""
    n_main, n_core = spec.n_main, spec.n_core
    extra_copies = n_main + spec.n_extra  # the first extra line's copy (n_lines: none)
    for j in range(spec.n_lines):
        main = j < n_main
        if stage == ALL:
            redo[j] = True
        elif stage == LEVELS or stage == LINES:
            redo[j] = main
        elif stage == PEAK:
            redo[j] = (main and j % n_core == peak) or j == peak or (peak >= n_main and j == peak + spec.n_extra)
        elif stage == DOUBLET:
            redo[j] = (main and j >= n_core) or j >= extra_copies
        else:
            redo[j] = False


@jit
def lines_inside(theta, spec, lev, lo, hi):
    """Whether every core line and doublet copy of height at least INSIDE_SHARE of the strongest
    has its centre in [lo, hi] (models.spectral: ``lines_in_window``)."""
    top = -math.inf
    for j in range(spec.n_main):
        top = max(top, line_params(theta, spec, lev, j)[1])
    for j in range(spec.n_main):
        c, h, _, _, _ = line_params(theta, spec, lev, j)
        if h >= INSIDE_SHARE * top and (c < lo or c > hi):
            return False
    return True


@jit_inline
def line_sum(lines, t_lines, redo, S):
    """S = the sum of the lines in line order, each from the trial lines ``t_lines`` where
    ``redo``, else from the row's ``lines``; returns S."""
    first = t_lines[0] if redo[0] else lines[0]
    for k in range(S.size):
        S[k] = first[k]
    for j in range(1, redo.size):
        src = t_lines[j] if redo[j] else lines[j]
        for k in range(S.size):
            S[k] += src[k]
    return S


@jit
def copy_into(dst, src):
    """dst[i] = src[i] (an explicit loop: numba compiles slice assignment ten times slower)."""
    for i in range(src.size):
        dst[i] = src[i]


@jit_inline
def commit(stage, spec, stages, i, tb):
    """Copy the trial buffers of the last :func:`trial` into row i of ``stages``."""
    if stage == LEVELS or stage == ALL:
        copy_into(stages.lev[i], tb.lev)
    any_line = False
    for j in range(spec.n_lines):
        if tb.redo[j]:
            copy_into(stages.lines[i, j], tb.lines[j])
            any_line = True
    if any_line:
        copy_into(stages.S[i], tb.S)
        copy_into(stages.T[i], tb.T)
    copy_into(stages.y[i], tb.y)


@jit
def full_row(theta, model, stages, i, tb):
    """Compute every stage of row i from theta; return its energy."""
    u = trial(theta, ALL, -1, model, stages, i, tb)
    commit(ALL, model.spec, stages, i, tb)
    return u


class Stages(NamedTuple):
    """Each row's cached model stages (R rows): they travel with a configuration."""

    lev: np.ndarray  # (R, n_lev)
    lines: np.ndarray  # (R, J', N)
    S: np.ndarray  # (R, N)
    T: np.ndarray  # (R, N) with a Tougaard background, else (R, 0)
    y: np.ndarray  # (R, N)

    @classmethod
    def zeros(cls, km: KernelModel, n_rows: int) -> "Stages":
        return cls(np.zeros((n_rows, km.n_lev)), np.zeros((n_rows, km.n_lines, km.n)), np.zeros((n_rows, km.n)),
                   np.zeros((n_rows, km.n_tougaard)), np.zeros((n_rows, km.n)))


class TrialBuffers(NamedTuple):
    """One row's stages as a proposal recomputes them, and the kernels' scratch."""

    lev: np.ndarray
    lines: np.ndarray
    S: np.ndarray
    T: np.ndarray
    y: np.ndarray
    redo: np.ndarray  # (J',) bool: line j recomputed by the last trial
    work: np.ndarray  # (6,) the cluster3 eigenvalues
    bits: np.ndarray  # (3 N,) int64 (exp_into, compute_line)

    @classmethod
    def zeros(cls, km: KernelModel) -> "TrialBuffers":
        n = km.n
        return cls(np.zeros(km.n_lev), np.zeros((km.n_lines, n)), np.zeros(n), np.zeros(km.n_tougaard), np.zeros(n),
                   np.zeros(km.n_lines, dtype=np.bool_), np.zeros(6), np.zeros(3 * n, dtype=np.int64))


def spectra(km: KernelModel, theta: np.ndarray, data: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Spectra (R, N) and energies (R,) of theta (R, P) computed by the kernels (for tests
    against the numpy evaluators and for one-off evaluations)."""
    theta = np.ascontiguousarray(np.atleast_2d(theta), dtype=np.float64)
    model = km.arrays(np.zeros(km.n) if data is None else data)
    stages, tb = Stages.zeros(km, theta.shape[0]), TrialBuffers.zeros(km)
    u = np.empty(theta.shape[0])
    for r in range(theta.shape[0]):
        u[r] = full_row(theta[r], model, stages, r, tb)
    return stages.y, u
