"""Spectrum models (docs/contract.md sections 1-2, docs/models.md) and the registry that
drives ``get_model``, the config validator and the default labels.

Every model has ``param_names`` (theta's columns, in order) and ``spectrum(theta, energy)``:
theta (R, P), energy (N,) -> (R, N) float64. A model family is one :class:`ModelSpec` in
:data:`MODELS`: how to build it from its options, which options it takes (with their types,
checked by the config validator) and which option completes its default label
(``gauss_peaks3``, ``polynomial2``). The peak-based models also take ``background`` (a list
from constant, linear, shirley, tougaard, iterative_shirley), ``doublet`` (bool), ``extra_lines``
({n, shape}) and ``tougaard_c`` (eV^2). docs/extending.md adds one.

Imports nothing from: kernels, moves, sampling, evidence, io, driver, ui (enforced by tests/test_structure.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from remc_mpi.models.base import Evaluator, Model
from remc_mpi.models.cores import CORE_FAMILIES, Core, positive_int
from remc_mpi.models.polynomial import PolynomialModel
from remc_mpi.models.spectral import SpectralModel

__all__ = ["Evaluator", "Model", "ModelSpec", "MODELS", "SPECTRAL_OPTIONS", "default_label", "get_model",
           "register_model", "spectral"]


@dataclass(frozen=True)
class ModelSpec:
    """A registered model family (see module docstring)."""

    build: Callable[..., Model]
    options: dict[str, tuple[type, ...]]
    label_option: str | None = None


#: every model family by name, in the order the documentation lists them
MODELS: dict[str, ModelSpec] = {}

#: options every peak-based (spectral) model takes besides its core's
SPECTRAL_OPTIONS: dict[str, tuple[type, ...]] = {"background": (list, tuple, str), "doublet": (bool,),
                                                 "extra_lines": (dict,), "tougaard_c": (float, int),
                                                 "fixed_background": (dict,), "lines_in_window": (bool,)}


def register_model(name: str, build: Callable[..., Model], options: dict[str, tuple[type, ...]],
                   label_option: str | None = None) -> None:
    """Add (or replace) model family ``name``: ``build(**options)`` returns the model."""
    MODELS[name] = ModelSpec(build, dict(options), label_option)


def spectral(name: str, make_core: Callable[..., Core]) -> Callable[..., Model]:
    """A builder of a :class:`SpectralModel` around the core ``make_core(**core_options)``,
    with the ``background`` and ``doublet`` options."""

    def build(**options: Any) -> Model:
        core_options = {k: v for k, v in options.items() if k not in SPECTRAL_OPTIONS}
        background = options.get("background", ())
        kinds = (background,) if isinstance(background, str) else tuple(background)
        return SpectralModel(name, make_core(**core_options), background=tuple(b for b in kinds if b != "none"),
                             doublet=bool(options.get("doublet", False)), options=dict(options))

    return build


def register_core_families() -> None:
    """Every core family of :data:`~remc_mpi.models.cores.CORE_FAMILIES` as a spectral model."""
    for name, family in CORE_FAMILIES.items():
        register_model(name, spectral(name, family.make), {**family.options, **SPECTRAL_OPTIONS}, family.label_option)


register_core_families()
register_model("polynomial", lambda degree=1: PolynomialModel(positive_int("degree", degree, 0)), {"degree": (int,)},
               label_option="degree")


def get_model(name: str, **options: Any) -> Model:
    """The model ``name`` with ``options`` (docs/contract.md, section 7)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    for key in options:
        if key not in MODELS[name].options:
            raise ValueError(f"model {name} has no option {key!r}")
    return MODELS[name].build(**options)


def default_label(name: str, options: dict[str, Any]) -> str:
    """The candidate label a config gets without a ``label``: the name, completed by the
    family's label option when given (``gauss_peaks3``)."""
    key = MODELS[name].label_option
    return f"{name}{options[key]}" if key and key in options else name
