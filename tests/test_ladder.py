"""Temperature ladders: construction, the automatic beta_1, re-spacing at equal rejection, the barrier."""

import numpy as np
import pytest

from remc_mpi.sampling.ladder import (adapt_points, auto_lambda_min, auto_rungs, communication_barrier,
                             equal_rejection_ladder, make_ladder, round_trip_rate_ideal)


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


def _rejections(lam, local):
    """The rejection of each pair of a ladder for a known local barrier lambda(beta): its
    integral over the pair's gap (Syed et al. 2022), by the trapezoid rule on a fine grid."""
    beta = lam / lam[-1]
    out = []
    for a, b in zip(beta[:-1], beta[1:]):
        x = np.linspace(a, b, 2001)
        out.append(np.trapezoid(local(x), x))
    return np.array(out)


def test_equal_rejection_ladder_equalises_a_known_barrier():
    """A barrier concentrated near beta = 0 (as for spectra: most happens at high temperature):
    from a geometric ladder's measured rejections, one re-spacing makes them nearly equal and
    keeps the global barrier."""
    local = lambda b: 3.0 / np.sqrt(b + 1e-4)  # noqa: E731 - Lambda = 6 (1.0001^0.5 - 0.01) ~ 5.94
    lam = make_ladder(16, 1e-3, 100.0)
    r = _rejections(lam, local)
    new = equal_rejection_ladder(lam, r)
    assert new[0] == 0.0 and new[-1] == lam[-1] and np.all(np.diff(new) > 0) and len(new) == 16
    r_new = _rejections(new, local)
    assert r.max() / r.min() > 3 and r_new.max() / r_new.min() < 1.3
    assert communication_barrier(r_new) == pytest.approx(communication_barrier(r), rel=1e-6)
    assert len(equal_rejection_ladder(lam, r, n_temps=auto_rungs(communication_barrier(r)))) == 13


def test_round_trip_rate_and_rounds():
    assert round_trip_rate_ideal(np.zeros(9)) == 0.5  # no rejection: one trip every two rounds
    r = np.array([0.2, 0.5, 0.3])
    assert round_trip_rate_ideal(r) == pytest.approx(1 / (2 + 2 * (0.25 + 1.0 + 3 / 7)))
    assert adapt_points(5000) == [100, 300, 700, 1500, 3100] and adapt_points(100) == []
    assert auto_rungs(0.2) == 4 and auto_rungs(6.0) == 13


def test_pchip_equals_scipys_monotone_cubic():
    """ladder.pchip (numpy, no scipy.interpolate at start-up) against scipy's PchipInterpolator:
    random, monotone and partly flat data, 2 to 40 knots."""
    from scipy.interpolate import PchipInterpolator

    from remc_mpi.sampling.ladder import pchip

    rng = np.random.default_rng(1)
    for trial in range(300):
        x = np.unique(np.sort(rng.uniform(0, 10, rng.integers(2, 40))))
        if len(x) < 2:
            continue
        y = np.cumsum(rng.exponential(1, len(x))) if trial % 2 else rng.normal(size=len(x))
        if trial % 5 == 0 and len(y) > 6:
            y[3:6] = y[3]  # a flat stretch: zero slopes there
        xn = np.linspace(x[0], x[-1], 97)
        np.testing.assert_allclose(pchip(x, y, xn), PchipInterpolator(x, y)(xn), rtol=0, atol=1e-12 * max(1, np.abs(y).max()))
