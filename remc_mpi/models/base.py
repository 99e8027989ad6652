"""Shared machinery of all spectrum models: batched evaluation with incremental updates.

A model turns a batch of parameter vectors theta (R, P) into spectra (R, N). Each model also
offers an *evaluator* bound to one energy grid — the numpy reference that the sampler's
compiled kernels (:mod:`remc_mpi.kernels.spectra`) reproduce stage by stage — with three
operations:

- ``full(theta)`` -> cache: everything needed to update cheaply later, and ``cache["y"]``;
- ``update(cache, theta, p)`` -> trial cache after parameter column ``p`` changed (the other
  columns of ``theta`` must equal those the cache was built from); it recomputes only what
  depends on ``p`` and shares the rest of ``cache`` by reference; ``p=None`` recomputes
  everything from ``theta`` (rows may then differ from the cache in every column);
- ``accept(cache, trial, mask)``: copy the rows ``mask`` of ``trial`` into ``cache`` in place.

``full`` is ``update`` with every stage recomputed, so a cache built incrementally is bitwise
equal to one built from scratch (the contract the kernels keep too), and every operation is
row-wise, so a batch gives exactly the single-vector results.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

Cache = dict[str, Any]


def tree_rows(fn: Callable[..., None], *trees: Any) -> None:
    """Apply ``fn(*leaves)`` to matching array leaves of nested dict/list caches."""
    first = trees[0]
    if isinstance(first, dict):
        for key in first:
            tree_rows(fn, *(t[key] for t in trees))
    elif isinstance(first, list):
        for leaves in zip(*trees):
            tree_rows(fn, *leaves)
    else:
        fn(*trees)


def _copy_rows(mask: np.ndarray) -> Callable[[np.ndarray, np.ndarray], None]:
    def copy(dst: np.ndarray, src: np.ndarray) -> None:
        if dst is not src:
            np.copyto(dst, src, where=mask.reshape((-1,) + (1,) * (dst.ndim - 1)))

    return copy


class Evaluator(ABC):
    """Batched spectra on one energy grid with incremental updates (see module docstring)."""

    energy: np.ndarray

    @abstractmethod
    def update(self, cache: Cache | None, theta: np.ndarray, p: int | None) -> Cache:
        """Trial cache after column ``p`` of ``theta`` changed (``p=None``: every row from scratch)."""

    def full(self, theta: np.ndarray) -> Cache:
        """Cache of ``theta`` (R, P) built from scratch; ``cache["y"]`` is (R, N)."""
        return self.update(None, np.ascontiguousarray(theta, dtype=np.float64), None)

    @staticmethod
    def accept(cache: Cache, trial: Cache, mask: np.ndarray) -> None:
        """Copy rows ``mask`` of ``trial`` into ``cache`` in place."""
        tree_rows(_copy_rows(mask), cache, trial)


class Model(ABC):
    """A spectrum model: named parameters, batched spectra, an incremental evaluator."""

    name: str
    param_names: tuple[str, ...]
    options: dict[str, Any]

    @abstractmethod
    def evaluator(self, energy: np.ndarray) -> Evaluator:
        """An evaluator bound to the energy grid ``energy`` (N,)."""

    def spectrum(self, theta: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """Spectra of shape (R, N), float64, for theta (R, P) or (P,) on ``energy`` (N,)."""
        theta = np.asarray(theta, dtype=np.float64)
        single = theta.ndim == 1
        theta2 = np.atleast_2d(theta)
        if theta2.shape[1] != len(self.param_names):
            raise ValueError(
                f"{self.name}: theta has {theta2.shape[1]} columns, expected "
                f"{len(self.param_names)} {self.param_names}"
            )
        y = self.evaluator(np.asarray(energy, dtype=np.float64)).full(theta2)["y"]
        return y[0].copy() if single else y.copy()

    @property
    def restricted(self) -> bool:
        """Whether :meth:`admissible` restricts the prior (its evidence is then renormalised:
        remc_mpi.evidence.window)."""
        return False

    def admissible(self, theta: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """Whether each row of theta (R, P) lies inside the model's support on the grid ``energy``
        beyond its parameters' own priors (SpectralModel's ``lines_in_window``); all True for a
        model without such a constraint."""
        return np.ones(np.atleast_2d(theta).shape[0], dtype=bool)

    def energies(self, theta: np.ndarray, energy: np.ndarray, data: np.ndarray,
                 likelihood: str = "gaussian") -> np.ndarray:
        """U of each row of theta (R, P) against ``data`` on ``energy`` (remc_mpi.likelihood), +inf
        where the row is not :meth:`admissible` (the compiled kernels' values)."""
        from remc_mpi.likelihood import energies

        theta = np.atleast_2d(np.asarray(theta, dtype=np.float64))
        u = energies(self.spectrum(theta, energy), data, likelihood)
        return np.where(self.admissible(theta, energy), u, np.inf)

    def peaks(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Peak centres, heights and widths (R, J) of theta (R, P); models add more keys."""
        raise NotImplementedError(f"{self.name} has no peak list")

    def line_spectra(self, theta: np.ndarray, energy: np.ndarray) -> np.ndarray:
        """Each line's contribution (J, N) to the spectrum of one theta (P,), scaled as in it
        (without the background)."""
        raise NotImplementedError(f"{self.name} has no peak list")

    def combinations(self) -> dict[str, np.ndarray]:
        """Parameter combinations the data determine where their parts are not: name -> the
        (P,) weights w of w . theta (the summary reports their posterior)."""
        core = getattr(self, "core", None)
        out = {}
        for name, (a, b) in (core.combinations() if core is not None else {}).items():
            w = np.zeros(len(self.param_names))
            w[self.column(a)], w[self.column(b)] = 1.0, -1.0
            out[name] = w
        return out

    def derived(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Physical quantities of each row of theta (R, P) that are not parameters (name -> (R,);
        the cluster models' n_f and weights, docs/models.md); {} for a model without them."""
        return {}

    def relabel(self, theta: np.ndarray) -> np.ndarray | None:
        """theta (R, P) with interchangeable peaks in a canonical order per sample (for readable
        posterior tables), or None when the model has no such labels."""
        return None

    def peak_columns(self) -> list[tuple[int, ...]] | None:
        """Per interchangeable peak, the columns of theta that :meth:`relabel` permutes together
        (peak k's parameters in one order), or None when the model has no such labels."""
        return None

    def column(self, name: str) -> int:
        """Index of parameter ``name`` in theta's columns."""
        return self.param_names.index(name)
