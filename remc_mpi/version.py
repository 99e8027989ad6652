"""The version of remc_mpi: the one place it is written (pyproject.toml reads it from here), in
its own module so that the parts can read it without importing the package root. A literal, not
importlib.metadata's lookup of the installed distribution, which costs 50-90 ms of every start.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
