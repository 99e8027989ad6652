"""remc_mpi: Bayesian Hamiltonian selection for core-level XPS by exchange Monte Carlo over MPI."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("remc-mpi")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
