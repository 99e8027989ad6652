"""The Gaussian likelihood's energy, the one quantity every sampler and estimator works with.

    U(theta) = N E(theta) = (1/2) sum_i (y_i - f(omega_i; theta))^2,
    P(D | theta) = (b0 / 2 pi)^(N/2) exp(-b0 U(theta)),  b0 = 1 / sigma^2

(docs/contract.md, section 3). :func:`energies` is the numpy form, used wherever spectra are
evaluated outside the sampler; the compiled sweep kernel accumulates the same sum in the loop
that writes each spectrum (:func:`remc_mpi.kernels.spectra.output_energy`).
"""

from __future__ import annotations

import numpy as np


def energies(y: np.ndarray, data: np.ndarray) -> np.ndarray:
    """U = (1/2) sum_i (y_i - d_i)^2 of each spectrum (last axis) against the data."""
    r = np.asarray(y) - data
    return 0.5 * np.sum(r * r, axis=-1)
