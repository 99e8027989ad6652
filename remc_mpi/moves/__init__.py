"""The sampler's Metropolis moves, one small class and one compiled step per module.

See :mod:`remc_mpi.moves.base` for what a move declares, :mod:`remc_mpi.moves.sweep` for the
kernel that runs them all, and docs/extending.md for adding one.
"""

from remc_mpi.moves.componentwise import ComponentwiseMove
from remc_mpi.moves.joint import JointMove
from remc_mpi.moves.prior_draw import PriorDrawMove

#: the moves a slot block runs, by name, in the order the sweep kernel applies them
MOVES = {m.name: m for m in (ComponentwiseMove, JointMove, PriorDrawMove)}

__all__ = ["MOVES", "ComponentwiseMove", "JointMove", "PriorDrawMove"]
