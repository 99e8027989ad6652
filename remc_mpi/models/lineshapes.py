"""Line shapes written into preallocated rows: out[r, :] = shape(x - c[r]; h[r], width[r]).

Lorentzian of unit area with half width at half maximum Gamma:
    L(x; Gamma) = (Gamma / pi) / (x^2 + Gamma^2),   so  h * L has area h.
Gaussian peak of height a and precision b (Nagata 2012):
    G(x; a, b) = a * exp(-b x^2 / 2),               area a * sqrt(2 pi / b).
Each uses four or five in-place passes over (R, N) and no temporaries of that size.
Pseudo-Voigt (Thompson, Cox, Hastings 1987): eta L + (1 - eta) G with a common width, from a
Lorentzian half width and a Gaussian standard deviation (a line shape with two widths).
Voigt (exact): the convolution of L(x; Gamma) with a normal density of standard deviation sigma,

    V(x; Gamma, sigma) = Re w(z) / (sigma sqrt(2 pi)),   z = (x + i Gamma) / (sigma sqrt 2),

w the Faddeeva function, evaluated by Weideman's rational series (SIAM J. Numer. Anal. 31,
1497 (1994), eq. 38-39) of WEIDEMAN_N terms: within 1e-10 of the peak height V(0) for every
Gamma / sigma and offset (tests/test_models.py, against scipy.special.voigt_profile).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


#: Thompson-Cox-Hastings coefficients of the pseudo-Voigt's total FWHM and Lorentzian fraction
#: (Thompson, Cox, Hastings, J. Appl. Cryst. 20, 79 (1987), eqs. 3-4)
TCH_FWHM = (2.69269, 2.42843, 4.47163, 0.07842)
TCH_ETA = (1.36603, -0.47719, 0.11116)
#: the Gaussian FWHM per standard deviation, 2 sqrt(2 ln 2)
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def tch_mix(sigma: np.ndarray, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(half width f/2 of the pseudo-Voigt, Lorentzian fraction eta) from a Gaussian of standard
    deviation sigma and a Lorentzian of half width gamma (TCH 1987)."""
    fg, fl = FWHM_PER_SIGMA * sigma, 2.0 * gamma
    a1, a2, a3, a4 = TCH_FWHM
    f = (fg**5 + a1 * fg**4 * fl + a2 * fg**3 * fl**2 + a3 * fg**2 * fl**3 + a4 * fg * fl**4 + fl**5) ** 0.2
    q = fl / f
    e1, e2, e3 = TCH_ETA
    return 0.5 * f, e1 * q + e2 * q * q + e3 * q * q * q


def pseudo_voigt(x: np.ndarray, c: np.ndarray, h: np.ndarray, g: np.ndarray, sigma: np.ndarray,
                 out: np.ndarray) -> np.ndarray:
    """out = h [eta L(x - c; f/2) + (1 - eta) N(x - c; f/2)], both of unit area and half width
    f/2 at half maximum: the Thompson-Cox-Hastings pseudo-Voigt of a Lorentzian of half width g
    (lifetime) and a Gaussian of standard deviation sigma (instrument), within about 1 % of
    the Voigt profile; h is its area, as for the Lorentzian."""
    half, eta = tch_mix(sigma, g)
    d2 = np.subtract(x, c[..., None]) ** 2
    lor = (half * _INV_PI)[..., None] / (d2 + (half * half)[..., None])
    # unit-area Gaussian of HWHM half: precision 2 ln 2 / half^2
    prec = 2.0 * np.log(2.0) / (half * half)
    gau = np.sqrt(prec / (2.0 * np.pi))[..., None] * np.exp(-0.5 * prec[..., None] * d2)
    np.multiply((h * eta)[..., None], lor, out=out)
    out += (h * (1.0 - eta))[..., None] * gau
    return out


#: terms of Weideman's series: 24 keep the error below 1e-10 of the peak for every Gamma/sigma
#: (16 terms: 1.2e-7, 20: 3.3e-9, measured against scipy.special.wofz over y = 1e-9 .. 1e6)
WEIDEMAN_N = 24


def weideman_coefficients(n: int) -> tuple[np.ndarray, float]:
    """(a_{n-1} .. a_0, L) of w(z) ~ 2 p(Z) / (L - iz)^2 + 1 / (sqrt(pi) (L - iz)),
    Z = (L + iz) / (L - iz), p(Z) = sum_k a_k Z^k, L = sqrt(n / sqrt 2): the coefficients by the
    FFT of Weideman (1994), section 5 (highest power first, for Horner's scheme)."""
    m = 2 * n
    big_l = np.sqrt(n / np.sqrt(2.0))
    theta = np.arange(-m + 1, m) * np.pi / m
    t = big_l * np.tan(0.5 * theta)
    f = np.concatenate([[0.0], np.exp(-t * t) * (big_l * big_l + t * t)])
    a = np.real(np.fft.fft(np.fft.fftshift(f))) / (2 * m)
    return np.ascontiguousarray(a[1:n + 1][::-1]), float(big_l)


WEIDEMAN_A, WEIDEMAN_L = weideman_coefficients(WEIDEMAN_N)
_INV_SQRT_PI = 1.0 / np.sqrt(np.pi)


def voigt(x: np.ndarray, c: np.ndarray, h: np.ndarray, g: np.ndarray, sigma: np.ndarray,
          out: np.ndarray) -> np.ndarray:
    """out = h V(x - c; g, sigma), the exact Voigt profile of area h (module docstring); rows with
    sigma = 0 are the Lorentzian. The operations of the compiled kernel, in its order."""
    s = np.where(sigma > 0, sigma, 1.0)
    r = 1.0 / (s * np.sqrt(2.0))
    y = (g * r)[..., None]
    xx = np.subtract(x, c[..., None]) * r[..., None]
    dr, nr = WEIDEMAN_L + y, WEIDEMAN_L - y
    den = 1.0 / (dr * dr + xx * xx)
    zr, zi = (nr * dr - xx * xx) * den, (xx * dr + nr * xx) * den
    pr, pi = np.full(xx.shape, WEIDEMAN_A[0]), np.zeros(xx.shape)
    for ak in WEIDEMAN_A[1:]:
        pr, pi = pr * zr - pi * zi + ak, pr * zi + pi * zr
    ir, ii = dr * den, xx * den
    qr, qi = 2.0 * (pr * ir - pi * ii) + _INV_SQRT_PI, 2.0 * (pr * ii + pi * ir)
    np.multiply((h * r * _INV_SQRT_PI)[..., None], qr * ir - qi * ii, out=out)
    if np.any(sigma <= 0):
        rows = np.flatnonzero(np.broadcast_to(sigma <= 0, c.shape))
        out[rows] = lorentzian(x, c[rows], h[rows], g[rows], np.empty((rows.size, x.size)))
    return out


@dataclass(frozen=True)
class LineShape:
    """A line shape: its profile ``profile(x, c, h, w, w2, out)`` (rows from (R,) columns; w2 the
    second width, ignored by one-width shapes), the name of its per-peak width parameter, and
    the name of its shared second width (None for one width). Every entry is also the model
    family ``<name>_peaks`` (models/cores.py) and has a compiled twin (kernels/spectra.py)."""

    profile: Callable[..., np.ndarray]
    width: str
    shared_width: str | None = None


def _one_width(fn):
    return lambda x, c, h, w, w2, out: fn(x, c, h, w, out)


#: the line shapes by name (docs/extending.md, recipe 3); the order fixes the kernels' codes
LINESHAPES = {
    "gauss": LineShape(_one_width(gaussian), "b"),
    "lorentz": LineShape(_one_width(lorentzian), "w"),
    "pvoigt": LineShape(pseudo_voigt, "w", shared_width="sigma_g"),
    "voigt": LineShape(voigt, "w", shared_width="sigma_g"),
}
