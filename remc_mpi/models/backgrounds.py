"""Backgrounds of the spectral models: what lies under the lines (docs/models.md, "Backgrounds").

On an increasing binding-energy grid omega_0 < ... < omega_{N-1}, with j(omega) = s S(omega) the
model's own line signal (s the core's scale), the background B is a sum of

- ``constant``:  bg_const
- ``linear``:    bg_const + bg_slope omega
- ``shirley``:   bg_shirley * integral_{omega_0}^{omega} j(omega') d omega'    (active Shirley:
  the inelastic step proportional to the signal at lower binding energy; Shirley, Phys. Rev. B
  5, 4709 (1972), with the model's signal in place of the data's)
- ``tougaard``:  integral_{omega_0}^{omega} K(omega - omega') j(omega') d omega',
  K(T) = bg_tougaard T / (C + T^2)^2, Tougaard's universal inelastic cross-section (Surf.
  Interface Anal. 11, 453 (1988); Seah, Surf. Sci. 420, 285 (1999)): B = bg_tougaard in eV^2
  free (about 2866 eV^2 for a metal, less for oxides), C = option ``tougaard_c`` (default
  TOUGAARD_C = 1643 eV^2). Electrons that lost T eV appear T eV higher in binding energy.
- ``iterative_shirley``: the iterative Shirley background of the *data* (Proctor & Sherwood,
  Anal. Chem. 54, 13 (1982); CasaXPS's "Shirley"): a fixed curve, computed once from the data's
  end points, added to the model (not subtracted from the data, so counting noise keeps its
  variance). No parameters; for those who want CasaXPS's behaviour. The active ``shirley``
  above is the Bayesian counterpart (its height is learnt with the lines).

Integrals are trapezoid sums over the grid (signal below omega_0 is not seen). The Tougaard
integral is a fixed lower-triangular operator applied to S: on a uniform grid (every measured
spectrum here) a function of the index lag, N values the compiled loop keeps in cache
(:func:`tougaard_lags`), otherwise the full matrix (:func:`tougaard_matrix`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the background kinds, in the order their parameters follow the lines'
BACKGROUNDS = ("constant", "linear", "shirley", "tougaard", "iterative_shirley")
#: Tougaard's universal C (eV^2), Surf. Interface Anal. 11, 453 (1988)
TOUGAARD_C = 1643.0
#: points averaged at each end of the data for the iterative Shirley's end intensities
SHIRLEY_END_POINTS = 5
#: the iterative Shirley stops when no point moves by more than this fraction of the step
SHIRLEY_TOLERANCE = 1e-10
SHIRLEY_MAX_ITERATIONS = 200


def background_params(kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The parameters the background kinds add, in column order."""
    names: list[str] = []
    if "constant" in kinds or "linear" in kinds:
        names.append("bg_const")
    if "linear" in kinds:
        names.append("bg_slope")
    if "shirley" in kinds:
        names.append("bg_shirley")
    if "tougaard" in kinds:
        names.append("bg_tougaard")
    return tuple(names)


@dataclass
class BackgroundTerms:
    """A model's background on one grid, as the numpy reference adds it to y = s S (the kinds'
    terms in this order: active Shirley, constant, slope, Tougaard, fixed curve); the compiled
    twin is :func:`remc_mpi.kernels.spectra.output_energy`. A new kind is its name in
    BACKGROUNDS, its parameters in :func:`background_params`, what it precomputes in
    :meth:`on` and its term in :meth:`add` (this file), and its kernel twin."""

    energy: np.ndarray  # (N,) the grid
    dx: np.ndarray  # (N - 1,) its steps (the active Shirley's trapezoid)
    tougaard: np.ndarray | None  # (N, N) the Tougaard operator MT, with the tougaard kind
    fixed: np.ndarray | None  # (N,) the fixed iterative-Shirley curve, with that kind

    @classmethod
    def on(cls, kinds: tuple[str, ...], energy: np.ndarray, tougaard_c: float,
           fixed: np.ndarray | None) -> BackgroundTerms:
        """The terms of ``kinds`` on ``energy`` (``fixed``: the model's iterative-Shirley curve)."""
        return cls(energy, np.diff(energy), tougaard_matrix(energy, tougaard_c) if "tougaard" in kinds else None,
                   fixed)

    def add(self, y: np.ndarray, s: np.ndarray, col: dict[str, np.ndarray], scale: str | None) -> None:
        """y (R, N), holding s S, += the background of the rows' parameters ``col`` (``scale``:
        the core's scale parameter, or None)."""
        if "bg_shirley" in col:
            cum = np.zeros_like(y)
            np.cumsum(0.5 * (y[:, 1:] + y[:, :-1]) * self.dx, axis=1, out=cum[:, 1:])
            cum *= col["bg_shirley"][:, None]
            y += cum
        if "bg_const" in col:
            y += col["bg_const"][:, None]
        if "bg_slope" in col:
            y += col["bg_slope"][:, None] * self.energy
        if self.tougaard is not None:
            y += (col["bg_tougaard"] * (col[scale] if scale else 1.0))[:, None] * (s @ self.tougaard)
        if self.fixed is not None:
            y += self.fixed


def trapezoid_weights(energy: np.ndarray) -> np.ndarray:
    """w_k of integral_{omega_0}^{omega_i} f = sum_{k<i} w_k f_k + (omega_i - omega_{i-1}) f_i / 2:
    w_0 = (omega_1 - omega_0) / 2, w_k = (omega_{k+1} - omega_{k-1}) / 2."""
    dx = np.diff(energy)
    w = np.empty(energy.size)
    w[0] = 0.5 * dx[0]
    w[1:-1] = 0.5 * (dx[:-1] + dx[1:])
    w[-1] = 0.5 * dx[-1]
    return w


#: a grid whose steps all lie within this fraction of their mean is uniform: the Tougaard kernel
#: is then a function of the index lag alone (a Toeplitz operator: N values instead of N^2)
UNIFORM_STEP = 1e-6


def uniform_step(energy: np.ndarray) -> float | None:
    """The grid's step h when every step is h to within UNIFORM_STEP, else None."""
    dx = np.diff(np.asarray(energy, dtype=np.float64))
    h = float((energy[-1] - energy[0]) / (energy.size - 1))
    return h if np.all(np.abs(dx - h) <= UNIFORM_STEP * abs(h)) else None


def cross_section(t: np.ndarray, c: float) -> np.ndarray:
    """K1(T) = T / (C + T^2)^2 for T > 0, else 0 (Tougaard's cross-section per unit B)."""
    return np.where(t > 0, t / (c + t * t) ** 2, 0.0)


def tougaard_lags(energy: np.ndarray, c: float = TOUGAARD_C) -> np.ndarray | None:
    """(2, N): K1(m h) for the lags m = 0..N-1 and the trapezoid weights w_k, on a uniform grid
    (None otherwise): T_i = sum_{k<i} K1((i - k) h) w_k S_k, what the compiled kernel loops over."""
    h = uniform_step(energy)
    if h is None:
        return None
    return np.stack([cross_section(h * np.arange(energy.size), c), trapezoid_weights(energy)])


def tougaard_matrix(energy: np.ndarray, c: float = TOUGAARD_C) -> np.ndarray:
    """MT (N, N) with (S @ MT)_i = sum_{k<i} K1(omega_i - omega_k) w_k S_k (the k = i term vanishes
    with K1(0) = 0); on a uniform grid from the lags of :func:`tougaard_lags`, as the kernel has it."""
    energy = np.asarray(energy, dtype=np.float64)
    lags = tougaard_lags(energy, c)
    idx = np.arange(energy.size)
    if lags is not None:
        lag = idx[None, :] - idx[:, None]  # lag[k, i] = i - k
        k1 = np.where(lag > 0, lags[0][np.abs(lag)], 0.0)
        return np.ascontiguousarray(k1 * lags[1][:, None])
    return np.ascontiguousarray(cross_section(energy[None, :] - energy[:, None], c)
                                * trapezoid_weights(energy)[:, None])


def iterative_shirley(energy: np.ndarray, data: np.ndarray, points: int = SHIRLEY_END_POINTS) -> np.ndarray:
    """The iterative Shirley background of ``data`` on an increasing ``energy`` grid:
    B = I_lo + (I_hi - I_lo) A(omega) / A(omega_max), A(omega) = integral_{omega_0}^{omega} (d - B),
    iterated from B = I_lo to a fixed point; I_lo, I_hi the means of ``points`` points at each end."""
    energy, data = np.asarray(energy, dtype=np.float64), np.asarray(data, dtype=np.float64)
    lo, hi = float(np.mean(data[:points])), float(np.mean(data[-points:]))
    dx = np.diff(energy)
    bg = np.full(data.size, lo)
    for _ in range(SHIRLEY_MAX_ITERATIONS):
        excess = data - bg
        area = np.concatenate([[0.0], np.cumsum(0.5 * (excess[1:] + excess[:-1]) * dx)])
        new = lo + (hi - lo) * (area / area[-1] if area[-1] != 0 else 0.0)
        done = np.max(np.abs(new - bg)) <= SHIRLEY_TOLERANCE * max(abs(hi - lo), 1e-300)
        bg = new
        if done:
            break
    return bg
