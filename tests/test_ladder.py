"""Temperature ladders: construction, the automatic beta_1, adaptation toward equal swap rates."""

import numpy as np
import pytest

from remc_mpi.ladder import adapt_ladder, auto_lambda_min, make_ladder


def test_geometric_and_linear_ladders():
    lam = make_ladder(6, 0.01, 100.0)
    assert lam[0] == 0.0 and lam[1] == pytest.approx(0.01) and lam[-1] == 100.0
    ratios = lam[2:] / lam[1:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)
    lin = make_ladder(5, 0.01, 8.0, "linear")
    np.testing.assert_allclose(lin, [0, 2, 4, 6, 8])
    np.testing.assert_array_equal(make_ladder(2, 0.1, 3.0), [0.0, 3.0])


def test_auto_lambda_min_from_prior_spread_with_cap():
    u = np.array([10.0, 20.0, 30.0, 40.0])
    assert auto_lambda_min(u, 1e6, 32) == pytest.approx(1 / np.std(u))
    # a tiny spread would put lambda_1 above the top: capped so the ladder still climbs
    assert auto_lambda_min(np.array([1.0, 1.0 + 1e-9]), 100.0, 5) == pytest.approx(100.0 / 1.2**3)
    assert auto_lambda_min(np.zeros(4), 100.0, 5) == pytest.approx(100.0 / 1.2**3)


def test_adaptation_keeps_ends_and_narrows_the_worst_gap():
    lam = make_ladder(8, 0.01, 100.0)
    rates = np.array([0.9, 0.6, 0.6, 0.1, 0.6, 0.6, 0.6])  # pair (3, 4) rarely swaps
    new = adapt_ladder(lam, rates)
    assert new[0] == 0.0 and new[1] == pytest.approx(lam[1], rel=1e-12) and new[-1] == lam[-1]
    assert np.all(np.diff(new) > 0)
    gap = np.log(new[4] / new[3])
    assert gap < np.log(lam[4] / lam[3])
    # equal rates: nothing moves
    np.testing.assert_allclose(adapt_ladder(lam, np.full(7, 0.5)), lam, rtol=1e-12)
