"""Spectrum models (docs/contract.md sections 1-2, docs/models.md) and the registry behind ``get_model``.

Every model has ``param_names`` (theta's columns, in order) and ``spectrum(theta, energy)``:
theta (R, P), energy (N,) -> (R, N) float64. Options common to the peak-based models:
``background`` (a list from constant, linear, shirley) and ``doublet`` (bool); see
docs/models.md.
"""

from __future__ import annotations

from typing import Any

from remc_mpi.models.base import Evaluator, Model
from remc_mpi.models.cores import Cluster2Core, Cluster3Core, PeaksCore
from remc_mpi.models.polynomial import PolynomialModel
from remc_mpi.models.spectral import SpectralModel

__all__ = ["Evaluator", "Model", "get_model", "MODEL_OPTIONS", "model_names"]

_COMMON = {"background": (list, tuple, str), "doublet": (bool,)}

#: the options each model accepts, with their types (checked by the config validator)
MODEL_OPTIONS: dict[str, dict[str, tuple[type, ...]]] = {
    "cluster3": {"nf": (int,), **_COMMON},
    "cluster2": {"nf": (int,), "hybridized_initial": (bool,), **_COMMON},
    "gauss_peaks": {"n_peaks": (int,), **_COMMON},
    "lorentz_peaks": {"n_peaks": (int,), **_COMMON},
    "polynomial": {"degree": (int,)},
}


def model_names() -> tuple[str, ...]:
    return tuple(MODEL_OPTIONS)


def _positive_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"option {name} must be an integer >= {minimum}, got {value!r}")
    return value


def get_model(name: str, **options: Any) -> Model:
    """The model ``name`` with ``options`` (docs/contract.md, section 7).

    cluster3(nf=14), cluster2(nf=14, hybridized_initial=False), gauss_peaks(n_peaks=1),
    lorentz_peaks(n_peaks=1), polynomial(degree=1); the peak models also take
    ``background`` and ``doublet``.
    """
    if name not in MODEL_OPTIONS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_OPTIONS)}")
    for key in options:
        if key not in MODEL_OPTIONS[name]:
            raise ValueError(f"model {name} has no option {key!r}")
    if name == "polynomial":
        return PolynomialModel(_positive_int("degree", options.get("degree", 1), 0))
    background = options.get("background", ())
    background = (background,) if isinstance(background, str) else tuple(background)
    background = tuple(b for b in background if b != "none")
    doublet = bool(options.get("doublet", False))
    if name == "cluster3":
        core = Cluster3Core(nf=_positive_int("nf", options.get("nf", 14), 2))
    elif name == "cluster2":
        core = Cluster2Core(nf=_positive_int("nf", options.get("nf", 14), 1),
                            hybridized_initial=bool(options.get("hybridized_initial", False)))
    else:
        core = PeaksCore(n_peaks=_positive_int("n_peaks", options.get("n_peaks", 1), 1),
                         lineshape="gauss" if name == "gauss_peaks" else "lorentz")
    return SpectralModel(name, core, background=background, doublet=doublet, options=dict(options))
