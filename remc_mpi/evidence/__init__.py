"""Evidence: estimators of the Bayes free energy and what the selection is judged by, as pure
functions of arrays (the tempered energies, the ladder, the samples).

- :mod:`.freeenergy`: the estimator registry (MBAR, BAR, stepping stone, TI) and their
  block-bootstrap errors from per-block sums; :mod:`.mbar`: the MBAR solver and its
  reweighting; :mod:`.bootstrap`: the bootstrap's blocks and replicates.
- :mod:`.bridge`: bridge sampling from the reported rung's samples.
- :mod:`.noise`: the noise level as a free-energy minimum (Tokuda et al. 2017).
- :mod:`.selection`: posterior model probabilities with their intervals.
- :mod:`.diagnostics`, :mod:`.fitquality`, :mod:`.trust`: autocorrelation and effective
  sample sizes, fit quality and parameter flags, and the convergence gates of a log evidence.

Imports nothing from: io, driver, ui (enforced by tests/test_structure.py).
"""
