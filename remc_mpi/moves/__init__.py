"""The sampler's Metropolis moves, one small class and one compiled step per module.

See :mod:`remc_mpi.moves.base` for what a move declares, :mod:`remc_mpi.moves.sweep` for the
kernel that runs them all, and docs/extending.md for adding one.

Imports nothing from: sampling, evidence, io, driver, ui (enforced by tests/test_structure.py).
"""

from remc_mpi.moves.componentwise import ComponentwiseMove
from remc_mpi.moves.joint import JointMove
from remc_mpi.moves.prior_draw import PriorDrawMove

__all__ = ["ComponentwiseMove", "JointMove", "PriorDrawMove"]
