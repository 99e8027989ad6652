"""Line shapes written into preallocated rows: out[r, :] = shape(x - c[r]; h[r], width[r]).

Lorentzian of unit area with half width at half maximum Gamma:
    L(x; Gamma) = (Gamma / pi) / (x^2 + Gamma^2),   so  h * L has area h.
Gaussian peak of height a and precision b (Nagata 2012):
    G(x; a, b) = a * exp(-b x^2 / 2),               area a * sqrt(2 pi / b).
Each uses four or five in-place passes over (R, N) and no temporaries of that size.
"""

from __future__ import annotations

import numpy as np

_INV_PI = 1.0 / np.pi


def lorentzian(x: np.ndarray, c: np.ndarray, h: np.ndarray, g: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = h * (g/pi) / ((x - c)^2 + g^2), rows from (R,) columns c, h, g; x is (N,)."""
    np.subtract(x, c[..., None], out=out)
    np.multiply(out, out, out=out)
    out += (g * g)[..., None]
    np.divide((h * g * _INV_PI)[..., None], out, out=out)
    return out


def gaussian(x: np.ndarray, c: np.ndarray, h: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = h * exp(-b (x - c)^2 / 2), rows from (R,) columns c, h, b; x is (N,)."""
    np.subtract(x, c[..., None], out=out)
    np.multiply(out, out, out=out)
    out *= (-0.5 * b)[..., None]
    np.exp(out, out=out)
    out *= h[..., None]
    return out


LINESHAPES = {"lorentz": lorentzian, "gauss": gaussian}
