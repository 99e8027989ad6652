"""A peak-list core dressed as a full spectrum model: line shapes, doublet, background.

    y(omega) = s * [ sum_j h_j f(omega - c_j; width_j) + r * sum_j h_j f(omega - c_j - split; width_j) ]
               + B(omega)

with s the core's scale parameter (``amp`` for the cluster models, 1 otherwise), the second
sum present with the spin-orbit ``doublet`` option (parameters ``so_split`` > 0 in eV toward
higher binding energy and ``so_ratio`` the branching ratio), and the background B a sum of

- ``constant``: bg_const
- ``linear``:   bg_const + bg_slope * omega
- ``shirley``:  bg_shirley * integral_{omega_min}^{omega} s * S(omega') d omega'  (trapezoid),
  the integrated peak signal S, rising toward higher binding energy.

Stages and what each parameter recomputes (the cheap-update contract):
levels (diagonalisation: delta, v, uff, ufc) -> peak rows (only the touched peaks for
separable cores) -> sum S -> y = s * S + B (amp and bg_* only redo this last stage).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from remc_mpi.models.base import Cache, Evaluator, Model
from remc_mpi.models.cores import Core
from remc_mpi.models.lineshapes import LINESHAPES

BACKGROUNDS = ("constant", "linear", "shirley")


def background_params(kinds: tuple[str, ...]) -> tuple[str, ...]:
    names: list[str] = []
    if "constant" in kinds or "linear" in kinds:
        names.append("bg_const")
    if "linear" in kinds:
        names.append("bg_slope")
    if "shirley" in kinds:
        names.append("bg_shirley")
    return tuple(names)


class SpectralModel(Model):
    """Spectrum model built from a :class:`Core` (see module docstring)."""

    def __init__(self, name: str, core: Core, background: tuple[str, ...] = (), doublet: bool = False,
                 options: dict[str, Any] | None = None):
        unknown = [b for b in background if b not in BACKGROUNDS]
        if unknown:
            raise ValueError(f"unknown background {unknown[0]!r}; choose from {', '.join(BACKGROUNDS)}")
        self.name = name
        self.core = core
        self.background = tuple(background)
        self.doublet = bool(doublet)
        self.options = dict(options or {})
        extra = (("so_split", "so_ratio") if doublet else ()) + background_params(self.background)
        self.param_names = tuple(core.param_names) + extra
        self.n_lines = core.n_peaks * (2 if doublet else 1)

    def evaluator(self, energy: np.ndarray) -> "SpectralEvaluator":
        return SpectralEvaluator(self, energy)

    def columns(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        return {n: theta[:, i] for i, n in enumerate(self.param_names)}

    def relabel(self, theta: np.ndarray) -> np.ndarray | None:
        """The core's canonical peak order (:meth:`Core.relabel`); background and spin-orbit
        columns are shared by all peaks and stay as they are."""
        changed = self.core.relabel(self.columns(np.atleast_2d(theta)))
        if changed is None:
            return None
        out = np.array(np.atleast_2d(theta), dtype=np.float64)
        for name, values in changed.items():
            out[:, self.param_names.index(name)] = values
        return out

    def lines(self, col: dict[str, np.ndarray], lev: dict[str, np.ndarray]):
        """Centres, heights, widths, second widths (R, J') of every line, doublet copies last."""
        c, h, w, w2 = self.core.place(col, lev)
        if self.doublet:
            c = np.concatenate([c, c + col["so_split"][:, None]], axis=1)
            h = np.concatenate([h, h * col["so_ratio"][:, None]], axis=1)
            w = np.concatenate([w, w], axis=1)
            w2 = np.concatenate([w2, w2], axis=1)
        return c, h, w, w2

    def lines_of(self, name: str) -> tuple[int, ...] | None:
        """Line indices that parameter ``name`` changes; () for output-stage parameters."""
        j = self.core.n_peaks
        if name == self.core.scale_param or name.startswith("bg_"):
            return ()
        if name in ("so_split", "so_ratio"):
            return tuple(range(j, 2 * j))
        if name in self.core.level_params:
            return None
        own = self.core.peaks_of(name)
        if own is None:
            return None
        return own + tuple(k + j for k in own) if self.doublet else own

    def peaks(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Lines of theta (R, P): ``center``, ``height``, ``width`` (R, J'), plus the core's
        levels (for the cluster models ``e`` = E_f,j - E_g and ``w`` = |<f_j|g>|^2)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        col = self.columns(theta)
        lev = self.core.levels(col)
        c, h, w, w2 = self.lines(col, lev)
        return {"center": c, "height": h, "width": w, "width2": w2, **lev}


    def line_spectra(self, theta: np.ndarray, energy: np.ndarray) -> np.ndarray:
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))[:1]
        energy = np.asarray(energy, dtype=np.float64)
        pk = self.peaks(theta)
        scale = theta[0, self.column(self.core.scale_param)] if self.core.scale_param else 1.0
        shape = LINESHAPES[self.core.lineshape].profile
        out = np.empty((pk["center"].shape[1], energy.size))
        for k in range(out.shape[0]):
            shape(energy, pk["center"][:, k], pk["height"][:, k], pk["width"][:, k], pk["width2"][:, k], out[k:k + 1])
        return out * scale


class SpectralEvaluator(Evaluator):
    """Incremental evaluator of a :class:`SpectralModel` on one grid."""

    def __init__(self, model: SpectralModel, energy: np.ndarray):
        self.model = model
        self.energy = np.ascontiguousarray(energy, dtype=np.float64)
        if "shirley" in model.background and np.any(np.diff(self.energy) <= 0):
            raise ValueError("the Shirley background needs an increasing energy grid")
        self.shape_fn = LINESHAPES[model.core.lineshape].profile
        self.separable = model.core.separable
        self.stage = [model.lines_of(n) for n in model.param_names]
        self.level_cols = [n in model.core.level_params for n in model.param_names]
        self._dx = np.diff(self.energy)

    def _line(self, lines, k, out=None):
        c, h, w, w2 = lines
        if out is None:
            out = np.empty((c.shape[0], self.energy.size))
        return self.shape_fn(self.energy, c[:, k], h[:, k], w[:, k], w2[:, k], out)

    def update(self, cache: Cache | None, theta: np.ndarray, p: int | None) -> Cache:
        m = self.model
        col = m.columns(theta)
        new: Cache = {} if cache is None else dict(cache)
        if p is None or self.level_cols[p]:
            new["lev"] = m.core.levels(col)
        touched = None if p is None else self.stage[p]
        if touched != ():
            placed = m.lines(col, new["lev"])
            n_lines = placed[0].shape[1]
            if self.separable:
                rows = list(range(n_lines)) if touched is None else touched
                lines = list(new["lines"]) if touched is not None else [None] * n_lines
                for k in rows:
                    lines[k] = self._line(placed, k)
                new["lines"] = lines
                s = lines[0].copy()
                for k in range(1, n_lines):
                    s += lines[k]
            else:
                s = self._line(placed, 0)
                tmp = np.empty_like(s)
                for k in range(1, n_lines):
                    s += self._line(placed, k, tmp)
            new["S"] = s
        new["y"] = self._output(col, new["S"])
        return new

    def _output(self, col: dict[str, np.ndarray], s: np.ndarray) -> np.ndarray:
        """y = scale * S + background (the only stage amp and bg_* recompute)."""
        scale = self.model.core.scale_param
        y = s * col[scale][:, None] if scale else s.copy()
        if "bg_shirley" in col:
            cum = np.zeros_like(y)
            np.cumsum(0.5 * (y[:, 1:] + y[:, :-1]) * self._dx, axis=1, out=cum[:, 1:])
            cum *= col["bg_shirley"][:, None]
            y += cum
        if "bg_const" in col:
            y += col["bg_const"][:, None]
        if "bg_slope" in col:
            y += col["bg_slope"][:, None] * self.energy
        return y
