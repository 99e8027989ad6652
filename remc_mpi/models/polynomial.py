"""Polynomial (linear-in-parameters) model y = sum_k c_k omega^k.

Its evidence under a normal prior is Gaussian in closed form, which makes it the reference
case for the free-energy estimators; it also serves as a smooth background on its own.
"""

from __future__ import annotations

import numpy as np

from remc_mpi.models.base import Cache, Evaluator, Model


class PolynomialModel(Model):
    """y = sum_{k=0}^{degree} c_k omega^k, parameters c0..c{degree}."""

    def __init__(self, degree: int = 1):
        if int(degree) != degree or degree < 0:
            raise ValueError("degree must be a non-negative integer")
        self.name = "polynomial"
        self.options = {"degree": int(degree)}
        self.param_names = tuple(f"c{k}" for k in range(int(degree) + 1))

    def design(self, energy: np.ndarray) -> np.ndarray:
        """The design matrix X (N, K) with X[i, k] = omega_i^k."""
        return np.vander(np.asarray(energy, dtype=np.float64), len(self.param_names), increasing=True)

    def evaluator(self, energy: np.ndarray) -> "PolynomialEvaluator":
        return PolynomialEvaluator(self, energy)


class PolynomialEvaluator(Evaluator):
    def __init__(self, model: PolynomialModel, energy: np.ndarray):
        self.energy = np.ascontiguousarray(energy, dtype=np.float64)
        self.basis = np.ascontiguousarray(model.design(self.energy).T)  # (K, N)

    def update(self, cache: Cache | None, theta: np.ndarray, p: int | None) -> Cache:
        # Horner-free explicit sum in a fixed order: exact row-wise, no BLAS (whose blocking
        # would make a row's result depend on the batch size).
        y = theta[:, :1] * self.basis[0]
        for k in range(1, self.basis.shape[0]):
            y += theta[:, k : k + 1] * self.basis[k]
        return {"y": y}
