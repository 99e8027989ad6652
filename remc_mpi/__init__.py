"""remc_mpi: Bayesian Hamiltonian selection for core-level XPS by exchange Monte Carlo over MPI.

The Python API is :func:`remc_mpi.run` (= :func:`remc_mpi.driver.engine.run`, imported on first
use so that ``import remc_mpi`` stays cheap), with :func:`remc_mpi.config.parse_config` and
:func:`remc_mpi.models.get_model`. The package's parts and their import directions:
docs/architecture.md.
"""

from remc_mpi.version import __version__

__all__ = ["__version__", "run"]


def __getattr__(name: str):
    """``remc_mpi.run``, imported on first use (it pulls in numba, mpi4py and h5py)."""
    if name == "run":
        from remc_mpi.driver.engine import run

        return run
    raise AttributeError(f"module 'remc_mpi' has no attribute {name!r}")
