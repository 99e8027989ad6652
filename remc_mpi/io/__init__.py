"""Files: the results file (its layout, writers and reader), the per-sweep samples,
checkpoints, writes that survive a full disk, output locks, and the data readers.

- :mod:`.output`: the HDF5 results file (docs/format.md): its segments, writers and the reader
  ResultsFile (the layout is written where it is read).
- :mod:`.paths`: where a run writes and whether it fits (names, existing outputs, disk space,
  memory); :mod:`.provenance`: where and how a run was made.
- :mod:`.samples`: the one description of the sample sets, and the recorder.
- :mod:`.checkpoint`: checkpoint files, atomic, two generations (read collectively with
  remc_mpi.sampling.parallel's on_root).
- :mod:`.safeio`, :mod:`.lock`: guarded writes, one run per output.
- :mod:`.data`, :mod:`.safeyaml`: spectra from two-column and instrument files
  (remc_mpi.instruments), YAML from strangers.

Imports nothing from: evidence, driver, ui (enforced by tests/test_structure.py).
"""
