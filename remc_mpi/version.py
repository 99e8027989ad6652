"""The installed version of remc_mpi (its own module, so that the parts can read it without
importing the package root)."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("remc-mpi")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
