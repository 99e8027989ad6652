"""Sampling: the replicas of a block of temperature slots, the ladder, the random streams, and
the MPI layer that exchanges configurations between neighbour slots.

- :mod:`.sampler` (SlotBlock): the sampler core, without MPI or files: a thin block around
  its rows (:mod:`.replicas`: the configurations and what travels with them), its random
  buffers (:mod:`.buffers`), its moves (remc_mpi.moves) and the compiled kernels
  (remc_mpi.kernels).
- :mod:`.ladder`: the temperature ladders, their adaptation and the communication barrier.
- :mod:`.streams`: random streams owned by temperature slots, never by ranks.
- :mod:`.parallel` (LadderComm): which rank holds which slots, and the exchanges; no physics.

Imports nothing from: io, evidence, driver, ui (enforced by tests/test_structure.py).
"""
