"""The commands and what they show: the command line, the text report, figures, the demo,
ArviZ export, campaigns and their table, measurement planning.

- :mod:`.cli`: ``remc-mpi run | simulate | analyze | select | validate | demo | plot |
  campaign | collect | plan | ...``.
- :mod:`.report`, :mod:`.plots`, :mod:`.export`, :mod:`.demo`: text, figures, ArviZ, the demo.
- :mod:`.campaign`, :mod:`.collect`: many runs over a grid, and one table over them.
- :mod:`.plan`, :mod:`.decisiveness`: how many counts before the selection decides.

May import from every other part; no part outside ui imports from it (enforced by
tests/test_structure.py).
"""
