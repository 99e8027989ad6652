"""Extra lines beside any core: energy-loss features, plasmons, a second chemical state.

Option ``extra_lines: {n: K, shape: gauss | voigt}`` of every spectral model adds K lines of
their own parameters to the core's, so that "cluster2 + one loss line" and "cluster3 + one loss
line" are weighed on equal terms:

    gauss:  s * area_k * N(omega - center_k; width_k)            (width_k the standard deviation)
    voigt:  s * area_k * V(omega - center_k; width_k, sigma_k)   (Lorentzian half width, Gaussian sd)

with N the unit-area normal density, V the Voigt profile (models.lineshapes) and s the core's
scale (``amp`` of the cluster models, whose final-state weights sum to one: area_k is then the
line's intensity relative to the main multiplet's; 1 for the peak models, whose areas are in the
data's units). Parameters ``extra<k>_area extra<k>_center extra<k>_width [extra<k>_sigma]``, in
that order after the core's; each touches its own line only. The extra lines have no spin-orbit
copy and are part of the signal the active backgrounds (Shirley, Tougaard) integrate.
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

    @classmethod
    def from_option(cls, option: Any) -> "ExtraLines":
        """The ``extra_lines`` option ({n, shape}); ValueError naming what is wrong."""
        if option is None:
            return cls()
        if not isinstance(option, dict) or set(option) - {"n", "shape"}:
            raise ValueError("option extra_lines must be a mapping {n: K, shape: gauss | voigt}")
        n, shape = option.get("n", 1), option.get("shape", "gauss")
        positive_int("extra_lines.n", n, 0)
        if shape not in EXTRA_SHAPES:
            raise ValueError(f"option extra_lines.shape must be one of {', '.join(EXTRA_SHAPES)}, got {shape!r}")
        return cls(n, shape)

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
        """Centres, heights, widths and second widths (R, K) in the line shapes' own terms: for
        gauss the height area / (width sqrt(2 pi)) and the precision 1 / width^2 (the ``gauss``
        profile's), for voigt the area and both widths."""
        def stack(field):
            return np.stack([col[f"extra{k}_{field}"] for k in range(1, self.n + 1)], axis=-1)

        c, a, w = stack("center"), stack("area"), stack("width")
        if self.shape == "gauss":
            return c, a * _INV_SQRT_2PI / w, 1.0 / (w * w), np.zeros(c.shape)
        return c, a, w, stack("sigma")

    @property
    def lineshape(self) -> str:
        """The name of the profile (models.lineshapes.LINESHAPES) the lines are drawn with."""
        return self.shape
