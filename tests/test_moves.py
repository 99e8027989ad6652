"""Every move through the shared harness (tests/move_harness.py): exact moments of a known
tempered posterior, and counters that agree with what the chain did."""

import numpy as np
import pytest

from move_harness import changes, check_moments, run_chain

LAM = 1.0 / 0.1**2  # the posterior at the data's own noise


def test_componentwise_move_samples_the_posterior_and_counts_its_acceptances():
    states, block, y = run_chain(LAM, 20000, burn_in=500, joint=False)
    check_moments(states[1:], LAM, y)
    np.testing.assert_array_equal(changes(states), block.accepted[0])
    assert np.all(block.tried[0] == 20000)
    rate = block.accepted[0] / block.tried[0]
    assert 0.2 < rate.min() and rate.max() < 0.6  # adapted toward the 0.4 target


def test_joint_move_alone_samples_the_posterior_and_counts_its_acceptances():
    states, block, y = run_chain(LAM, 20000, burn_in=1000, component=False)
    check_moments(states[1:], LAM, y)
    js = block.move_state["joint"]
    assert js["tried"][0] == 20000
    # an accepted joint move changes every parameter at once
    np.testing.assert_array_equal(changes(states), js["accepted"][0])
    assert 0.1 < js["accepted"][0] / js["tried"][0] < 0.5
    assert np.all(block.tried == 0)


def test_prior_draw_move_gives_exact_independent_prior_draws():
    states, block, y = run_chain(0.0, 20000)
    chain = states[1:]
    check_moments(chain, 0.0, y)
    # independent draws: the lag-1 autocorrelation is zero within its standard error
    for j in range(3):
        r = np.corrcoef(chain[1:, j], chain[:-1, j])[0, 1]
        assert abs(r) < 4 / np.sqrt(len(chain))
    assert np.all(block.tried == 0) and block.move_state["joint"]["tried"][0] == 0


@pytest.mark.parametrize("lam", [LAM, 0.05 * LAM])
def test_all_moves_together_at_two_temperatures(lam):
    states, block, y = run_chain(lam, 20000, burn_in=1000)
    check_moments(states[1:], lam, y)
