"""A peak-list core dressed as a full spectrum model: line shapes, doublet, extra lines, background.

    y(omega) = s * [ sum_j h_j f(omega - c_j; width_j) + r * sum_j h_j f(omega - c_j - split; width_j)
                     + sum_k X_k(omega) ] + B(omega)

with s the core's scale parameter (``amp`` for the cluster models, 1 otherwise), the second
sum present with the spin-orbit ``doublet`` option (parameters ``so_split`` > 0 in eV toward
higher binding energy and ``so_ratio`` the branching ratio), the extra lines X_k of the
``extra_lines`` option (:mod:`remc_mpi.models.extras`), and the background B of the
``background`` option (:mod:`remc_mpi.models.backgrounds`: constant, linear, the active Shirley
and Tougaard backgrounds of the signal s S, and the data's iterative Shirley as a fixed curve).

Lines are numbered: the core's K lines, their doublet copies (K more), then the extra lines (and
after them the copies the extra lines' own ``doublet`` asks for).
Parameter columns: the core's, the extra lines', ``so_split so_ratio``, then ``bg_*``.

With the ``lines_in_window`` option the prior is restricted to the parameters whose core lines
and doublet copies (the extra lines have priors of their own) lie inside the data's energy
range wherever they carry weight: every such line of height at least INSIDE_SHARE of the
strongest one has its centre in [min(omega), max(omega)]. A measured window is chosen to hold
the whole spectrum; without the restriction a line below the window, unseen, can put its
spin-orbit partner on a feature the model otherwise cannot reach (measured CeO2, cluster3: a
final state at 869.6 eV whose 3d3/2 copy fills v'' at 888 eV, docs/measured.md). Outside the
restricted support the energy is +inf (:meth:`SpectralModel.admissible`); the evidence is that
of the prior renormalised to it (remc_mpi.evidence.window).

Stages and what each parameter recomputes (the cheap-update contract):
levels (diagonalisation: delta, v, uff, ufc) -> line rows (only the touched lines for
separable cores and for the extra lines) -> sum S -> y = s * S + B (amp and bg_* only redo
this last stage).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from remc_mpi.models.backgrounds import BACKGROUNDS, TOUGAARD_C, BackgroundTerms, background_params
from remc_mpi.models.base import Cache, Evaluator, Model
from remc_mpi.models.cores import Core
from remc_mpi.models.extras import ExtraLines
from remc_mpi.models.lineshapes import LINESHAPES


#: lines of at least this share of the strongest line's height count for ``lines_in_window`` and
#: for the campaign's test of a truth's lines against its grid (remc_mpi.ui.campaign); weaker
#: ones may lie anywhere (a configuration pushed out of the way, weight -> 0, stays allowed)
INSIDE_SHARE = 0.01


class SpectralModel(Model):
    """Spectrum model built from a :class:`Core` (see module docstring). ``fixed_background``:
    {energy, values} of the ``iterative_shirley`` curve (written by the config from the data)."""

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
        self.extra = ExtraLines.from_option(self.options.get("extra_lines"))
        if self.extra.copies and not self.doublet:
            raise ValueError("option extra_lines.doublet needs the model's doublet: true (the copies take its "
                             "so_split and so_ratio)")
        self.tougaard_c = float(self.options.get("tougaard_c", TOUGAARD_C))
        if not self.tougaard_c > 0:
            raise ValueError(f"option tougaard_c must be > 0 (eV^2), got {self.tougaard_c!r}")
        self.fixed_background = self.options.get("fixed_background")
        self.lines_in_window = bool(self.options.get("lines_in_window", False))
        tail = (("so_split", "so_ratio") if doublet else ()) + background_params(self.background)
        self.param_names = tuple(core.param_names) + self.extra.param_names + tail
        self.n_main = core.n_peaks * (2 if doublet else 1)
        self.n_lines = self.n_main + self.extra.n_lines

    def evaluator(self, energy: np.ndarray) -> "SpectralEvaluator":
        return SpectralEvaluator(self, energy)

    def columns(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        return {n: theta[:, i] for i, n in enumerate(self.param_names)}

    def derived(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """The core's derived quantities (:meth:`Core.derived`) of each row of theta (R, P)."""
        return self.core.derived(self.columns(np.atleast_2d(np.asarray(theta, dtype=np.float64))))

    def relabel(self, theta: np.ndarray) -> np.ndarray | None:
        """The core's canonical peak order (:meth:`Core.relabel`); background, spin-orbit and
        extra-line columns stay as they are."""
        changed = self.core.relabel(self.columns(np.atleast_2d(theta)))
        if changed is None:
            return None
        out = np.array(np.atleast_2d(theta), dtype=np.float64)
        for name, values in changed.items():
            out[:, self.param_names.index(name)] = values
        return out

    def peak_columns(self) -> list[tuple[int, ...]] | None:
        """The core's interchangeable peaks (:meth:`Core.peak_labels`) as columns of theta."""
        labels = self.core.peak_labels()
        return None if labels is None else [tuple(map(self.param_names.index, names)) for names in labels]

    def line_shapes(self) -> tuple[str, ...]:
        """The profile name of every line (the core's, its copies, the extra lines)."""
        return (self.core.lineshape,) * self.n_main + (self.extra.lineshape,) * self.extra.n_lines

    def lines(self, col: dict[str, np.ndarray], lev: dict[str, np.ndarray]):
        """Centres, heights, widths, second widths (R, J') of every line (module docstring's order)."""
        c, h, w, w2 = self.core.place(col, lev)
        if self.doublet:
            c = np.concatenate([c, c + col["so_split"][:, None]], axis=1)
            h = np.concatenate([h, h * col["so_ratio"][:, None]], axis=1)
            w = np.concatenate([w, w], axis=1)
            w2 = np.concatenate([w2, w2], axis=1)
        if self.extra.n:
            c, h, w, w2 = (np.concatenate([a, b], axis=1) for a, b in zip((c, h, w, w2), self.extra.place(col)))
        return c, h, w, w2

    def lines_of(self, name: str) -> tuple[int, ...] | None:
        """Line indices that parameter ``name`` changes; () for output-stage parameters."""
        j = self.core.n_peaks
        if name == self.core.scale_param or name.startswith("bg_"):
            return ()
        if name in ("so_split", "so_ratio"):
            return tuple(range(j, 2 * j)) + tuple(range(self.n_main + self.extra.n, self.n_lines))
        extra = self.extra.line_of(name)
        if extra is not None:
            return tuple(self.n_main + k for k in self.extra.lines_of(extra))
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

    @property
    def restricted(self) -> bool:
        return self.lines_in_window

    def admissible(self, theta: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """With ``lines_in_window``: whether every core line and doublet copy of height at least
        INSIDE_SHARE of the row's strongest has its centre inside [min(energy), max(energy)]
        (module docstring); otherwise all True."""
        if not self.lines_in_window:
            return super().admissible(theta, energy)
        pk = self.peaks(np.atleast_2d(np.asarray(theta, dtype=np.float64)))
        c, h = pk["center"][:, :self.n_main], pk["height"][:, :self.n_main]
        lo, hi = float(np.min(energy)), float(np.max(energy))
        strong = h >= INSIDE_SHARE * np.max(h, axis=1, keepdims=True)
        return ~np.any(strong & ((c < lo) | (c > hi)), axis=1)

    def line_spectra(self, theta: np.ndarray, energy: np.ndarray) -> np.ndarray:
        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))[:1]
        energy = np.asarray(energy, dtype=np.float64)
        pk = self.peaks(theta)
        scale = theta[0, self.column(self.core.scale_param)] if self.core.scale_param else 1.0
        out = np.empty((pk["center"].shape[1], energy.size))
        for k, shape in enumerate(self.line_shapes()):
            LINESHAPES[shape].profile(energy, pk["center"][:, k], pk["height"][:, k], pk["width"][:, k],
                                      pk["width2"][:, k], out[k:k + 1])
        return out * scale

    def background_curve(self, energy: np.ndarray) -> np.ndarray | None:
        """The fixed ``iterative_shirley`` curve on ``energy`` (interpolated off its own grid), or
        None without one; ValueError where the option needs the data and does not have it."""
        if "iterative_shirley" not in self.background:
            return None
        if not self.fixed_background:
            raise ValueError("background iterative_shirley is computed from the data: it needs a run config "
                             "(not a synthetic spectrum or simulate)")
        e = np.asarray(self.fixed_background["energy"], dtype=np.float64)
        v = np.asarray(self.fixed_background["values"], dtype=np.float64)
        return np.interp(energy, e, v)


class SpectralEvaluator(Evaluator):
    """Incremental evaluator of a :class:`SpectralModel` on one grid."""

    def __init__(self, model: SpectralModel, energy: np.ndarray):
        self.model = model
        self.energy = np.ascontiguousarray(energy, dtype=np.float64)
        active = {"shirley", "tougaard", "iterative_shirley"} & set(model.background)
        if active and np.any(np.diff(self.energy) <= 0):
            raise ValueError(f"the {sorted(active)[0]} background needs an increasing energy grid")
        self.shape_fns = [LINESHAPES[s].profile for s in model.line_shapes()]
        self.separable = model.core.separable
        self.stage = [model.lines_of(n) for n in model.param_names]
        self.level_cols = [n in model.core.level_params for n in model.param_names]
        self.background = BackgroundTerms.on(model.background, self.energy, model.tougaard_c,
                                             model.background_curve(self.energy))

    def _line(self, lines, k, out=None):
        c, h, w, w2 = lines
        if out is None:
            out = np.empty((c.shape[0], self.energy.size))
        return self.shape_fns[k](self.energy, c[:, k], h[:, k], w[:, k], w2[:, k], out)

    def update(self, cache: Cache | None, theta: np.ndarray, p: int | None) -> Cache:
        m = self.model
        col = m.columns(theta)
        new: Cache = {} if cache is None else dict(cache)
        if p is None or self.level_cols[p]:
            new["lev"] = m.core.levels(col)
        touched = None if p is None else self.stage[p]
        if touched != ():
            new["lines"], new["S"] = self._lines_and_sum(m.lines(col, new["lev"]), touched, new.get("lines"))
        new["y"] = self._output(col, new["S"])
        return new

    def _lines_and_sum(self, placed, touched, lines):
        """The line rows (kept for separable cores and the extra lines) and their sum S, lines
        touched recomputed (all of them for touched None), summed in line order."""
        n_lines = placed[0].shape[1]
        keep = self.separable or self.model.extra.n
        if not keep:
            s = self._line(placed, 0)
            tmp = np.empty_like(s)
            for k in range(1, n_lines):
                s += self._line(placed, k, tmp)
            return None, s
        rows = list(range(n_lines)) if touched is None or lines is None else touched
        lines = list(lines) if touched is not None and lines is not None else [None] * n_lines
        for k in rows:
            lines[k] = self._line(placed, k)
        s = lines[0].copy()
        for k in range(1, n_lines):
            s += lines[k]
        return lines, s

    def _output(self, col: dict[str, np.ndarray], s: np.ndarray) -> np.ndarray:
        """y = scale * S + background (the only stage amp and bg_* recompute)."""
        scale = self.model.core.scale_param
        y = s * col[scale][:, None] if scale else s.copy()
        self.background.add(y, s, col, scale)
        return y
