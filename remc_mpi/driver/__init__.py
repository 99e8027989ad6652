"""Running: a config's candidates over MPI, one candidate's loop, and the task farm.

- :mod:`.engine` (``run``, also ``remc_mpi.run``): every candidate of a config, side by side
  in rank groups; the single code path of ``remc-mpi run`` and the Python API.
- :mod:`.candidate` (CandidateRun): set-up and the sweep loop; :mod:`.swaps` (SwapStats): the
  exchange counts.
- :mod:`.actions`, :mod:`.pilot`, :mod:`.checkpointer`, :mod:`.stopping`, :mod:`.signals`,
  :mod:`.progress`: the output plan, n_temps: auto, when to checkpoint, when to stop early,
  signals, progress lines.
- :mod:`.summary`: rank 0's end of a run: estimators, posterior, diagnostics into the file;
  :mod:`.fields`: the output fields it reports (fit, flags, derived quantities...), a registry.
- :mod:`.farm`: many tasks inside one MPI allocation.

Imports nothing from: ui (enforced by tests/test_structure.py).
"""
