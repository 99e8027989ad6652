"""Extra lines beside any core: energy-loss features, plasmons, a second chemical state.

Option ``extra_lines: {n: K, shape: gauss | voigt, doublet: false | true | M}`` of every spectral
model adds K lines of
their own parameters to the core's, so that "cluster2 + one loss line" and "cluster3 + one loss
line" are weighed on equal terms:

    gauss:  s * area_k * N(omega - center_k; width_k)            (width_k the standard deviation)
    voigt:  s * area_k * V(omega - center_k; width_k, sigma_k)   (Lorentzian half width, Gaussian sd)

with N the unit-area normal density, V the Voigt profile (models.lineshapes) and s the core's
scale (``amp`` of the cluster models, whose final-state weights sum to one: area_k is then the
line's intensity relative to the main multiplet's; 1 for the peak models, whose areas are in the
data's units). Parameters ``extra<k>_area extra<k>_center extra<k>_width [extra<k>_sigma]``, in
that order after the core's; each touches its own line (and its copy) only. The extra lines are part of the
signal the active backgrounds (Shirley, Tougaard) integrate.

With ``doublet: true`` (for a model with the spin-orbit ``doublet`` option) every extra line has
a spin-orbit copy as the core lines have, the same line at centre_k + so_split with
so_ratio times its area:

    X_k(omega) + so_ratio * X_k(omega - so_split)

and with ``doublet: M`` (an integer, 0 <= M <= K) the first M of them have it, the others not
(a loss pair beside a feature of another origin, an Auger line or a second chemical state's own
fitted doublet).

An energy-loss feature (a plasmon, an interband transition) is a replica of the line that lost
the energy, so each spin-orbit component has its own at the same loss: one loss line so placed
describes the loss of 3d5/2 and that of 3d3/2 with one centre, width and area (measured La2O3:
3d5/2 at 834 eV with its loss at 849, whose 3d3/2 partner lies at 866 under the La MNN Auger
hump; docs/measured.md). Without it a lone extra line can take only one of the two, and a core state
is free to take the other. The copies are numbered after the K lines, in their lines' order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from remc_mpi.models.cores import positive_int

#: the shapes an extra line may take and the widths each has
EXTRA_SHAPES = {"gauss": ("width",), "voigt": ("width", "sigma")}
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


@dataclass(frozen=True)
class ExtraLines:
    """K extra lines of one shape (module docstring)."""

    n: int = 0
    shape: str = "gauss"
    copies: int = 0  # M: the first M lines have their spin-orbit copy (module docstring)

    @classmethod
    def from_option(cls, option: Any) -> "ExtraLines":
        """The ``extra_lines`` option ({n, shape, doublet}); ValueError naming what is wrong."""
        if option is None:
            return cls()
        if not isinstance(option, dict) or set(option) - {"n", "shape", "doublet"}:
            raise ValueError("option extra_lines must be a mapping {n: K, shape: gauss | voigt, doublet: true | false | M}")
        n, shape, doublet = option.get("n", 1), option.get("shape", "gauss"), option.get("doublet", False)
        positive_int("extra_lines.n", n, 0)
        if shape not in EXTRA_SHAPES:
            raise ValueError(f"option extra_lines.shape must be one of {', '.join(EXTRA_SHAPES)}, got {shape!r}")
        if isinstance(doublet, bool):
            return cls(n, shape, n if doublet else 0)
        if not isinstance(doublet, int) or not 0 <= doublet <= n:
            raise ValueError(f"option extra_lines.doublet must be true, false or a count 0..{n} (the first lines "
                             f"with a spin-orbit copy), got {doublet!r}")
        return cls(n, shape, doublet)

    @property
    def n_lines(self) -> int:
        """The lines they add: the K lines, then the copies of the first M."""
        return self.n + self.copies

    @property
    def fields(self) -> tuple[str, ...]:
        """The parameters of one line, in column order."""
        return ("area", "center") + EXTRA_SHAPES[self.shape]

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(f"extra{k}_{f}" for k in range(1, self.n + 1) for f in self.fields)

    def line_of(self, name: str) -> int | None:
        """The index (0-based) of the extra line that parameter ``name`` belongs to, or None."""
        if not name.startswith("extra") or "_" not in name:
            return None
        head = name[5:name.index("_")]
        return int(head) - 1 if head.isdigit() and name in self.param_names else None

    def place(self, col: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        """Centres, heights, widths and second widths (R, n_lines) in the line shapes' own terms:
        for gauss the height area / (width sqrt(2 pi)) and the precision 1 / width^2 (the
        ``gauss`` profile's), for voigt the area and both widths; the copies after the lines."""
        def stack(field):
            return np.stack([col[f"extra{k}_{field}"] for k in range(1, self.n + 1)], axis=-1)

        c, a, w = stack("center"), stack("area"), stack("width")
        if self.shape == "gauss":
            h, w, w2 = a * _INV_SQRT_2PI / w, 1.0 / (w * w), np.zeros(c.shape)
        else:
            h, w2 = a, stack("sigma")
        if not self.copies:
            return c, h, w, w2
        m, split, ratio = self.copies, col["so_split"][:, None], col["so_ratio"][:, None]
        return (np.concatenate([c, c[:, :m] + split], axis=1), np.concatenate([h, h[:, :m] * ratio], axis=1),
                np.concatenate([w, w[:, :m]], axis=1), np.concatenate([w2, w2[:, :m]], axis=1))

    def lines_of(self, k: int) -> tuple[int, ...]:
        """The lines (0-based, among the extra lines) extra line k's parameters change."""
        return (k, k + self.n) if k < self.copies else (k,)

    @property
    def lineshape(self) -> str:
        """The name of the profile (models.lineshapes.LINESHAPES) the lines are drawn with."""
        return self.shape
