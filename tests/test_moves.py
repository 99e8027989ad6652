"""Every move through the shared harness (tests/move_harness.py): exact moments of a known
tempered posterior, and counters that agree with what the chain did."""

import numpy as np
import pytest

from move_harness import changes, check_moments, run_chain, sweep_states

LAM = 1.0 / 0.1**2  # the posterior at the data's own noise


def test_componentwise_move_samples_the_posterior_and_counts_its_acceptances():
    states, block, y = run_chain(LAM, 20000, burn_in=500, joint=False)
    check_moments(states[1:], LAM, y)
    np.testing.assert_array_equal(changes(states), block.accepted[0])
    assert np.all(block.tried[0] == 20000)
    rate = block.accepted[0] / block.tried[0]
    assert 0.2 < rate.min() and rate.max() < 0.6  # adapted toward the 0.4 target


def test_joint_move_alone_samples_the_posterior_and_counts_its_acceptances():
    states, block, y = run_chain(LAM, 20000, burn_in=1000, component_after_burn_in=False)
    check_moments(states[1:], LAM, y)
    js = block.move_state["joint"]
    assert js["tried"][0] == 20000
    # an accepted joint move changes every parameter at once
    np.testing.assert_array_equal(changes(states), js["accepted"][0])
    assert 0.1 < js["accepted"][0] / js["tried"][0] < 0.5
    assert np.all(block.tried == 0)


def test_differential_move_alone_after_its_own_burn_in():
    """The archive learnt in a burn-in (with the component-wise move, as in a run), then the
    differential step alone: exact moments, counters that agree with the chain."""
    states, block, y = run_chain(LAM, 20000, burn_in=1000, component_after_burn_in=False, joint=False,
                                 differential=True)
    check_moments(states[1:], LAM, y)
    ds = block.move_state["differential"]
    assert ds["tried"][0] == 20000
    # an accepted step changes the state unless its two archive states are equal (no move of
    # the chain between two writes): at most the expected picks of such pairs, plus 4 sd
    archive = ds["archive"][0, :block.move("differential").scalars["filled"]]
    n = len(archive)
    equal_pairs = (np.all(archive[:, None] == archive[None], axis=2).sum() - n) / (n * (n - 1))
    expected = ds["tried"][0] * equal_pairs
    null_steps = ds["accepted"][0] - np.count_nonzero(np.any(states[1:] != states[:-1], axis=1))
    assert 0 <= null_steps <= expected + 4 * np.sqrt(expected) + 1, (null_steps, expected)
    assert 0.1 < ds["accepted"][0] / ds["tried"][0] < 0.5  # gamma adapted toward DE_TARGET 0.25
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


def mixture_only_block(lam, means, covs, seed=1, model=None, priors=None, x=None, y=None, learnt_at=None):
    """One slot at ``lam`` whose only move is the mode jump, from the given Gaussians learnt at
    ``learnt_at`` (default: lam; the component-wise move off, the joint move never learnt)."""
    from move_harness import X, target
    from remc_mpi.sampling.sampler import SlotBlock

    if model is None:
        model, priors, y = target()
        x = X
    block = SlotBlock(model, priors, x, y, np.array([lam]), 0, 1, seed, componentwise=False)
    chol = np.linalg.cholesky(np.asarray(covs))
    mixture = next(m for m in block.moves if m.name == "mixture")
    learnt_at = np.full(len(means), lam) if learnt_at is None else np.asarray(learnt_at)
    mixture.set_gaussians(np.asarray(means)[None], chol[None], learnt_at[None], [0])
    return block


def test_mixture_move_alone_samples_the_posterior_and_counts_its_acceptances():
    from analytic import linear_gaussian_posterior
    from move_harness import M0, S0, X

    _, _, y = run_chain(LAM, 0)
    mean, cov = linear_gaussian_posterior(np.vander(X, 3, increasing=True), y, LAM ** -0.5, M0, S0)
    # two off-centre components, one too wide, one learnt at 4 lambda (widened by 2 in sd to the
    # target's cov; a q that omits the widening's determinant biases the moments): q need not be
    # the target
    sd = np.sqrt(np.diag(cov))
    block = mixture_only_block(LAM, [mean - 0.5 * sd, mean + 0.5 * sd], [1.5 * cov, 0.25 * cov], learnt_at=[LAM, 4 * LAM])
    states = sweep_states(block, 20000)
    check_moments(states[1:], LAM, y)
    ms = block.move_state["mixture"]
    assert ms["tried"][0] == 20000
    np.testing.assert_array_equal(changes(states), ms["accepted"][0])
    assert 0.2 < ms["accepted"][0] / 20000 < 0.9
    assert block.move_state["joint"]["tried"][0] == 0 and np.all(block.tried == 0)


def test_mixture_move_jumps_between_the_two_labellings_of_exchangeable_peaks():
    """Two Gaussian peaks with the same prior on each: the posterior has two mirror modes
    (peak 1 left or right) of exactly equal mass. Random walks stay in one; mode jumps from a
    component on each must find both in equal shares (binomial error from the indicator's ESS)."""
    from remc_mpi.evidence.diagnostics import effective_sample_size
    from remc_mpi.models import get_model
    from remc_mpi.priors import Prior, PriorSet

    model = get_model("gauss_peaks", n_peaks=2)
    names = model.param_names  # a1 a2 mu1 mu2 b1 b2
    x = np.linspace(-5.0, 5.0, 80)
    truth = np.array([1.0, 0.7, -1.5, 1.5, 2.0, 2.0])
    y = model.spectrum(truth[None], x)[0] + np.random.default_rng(4).normal(0, 0.05, x.size)
    shared = {"a": Prior("uniform", (0.1, 2.0)), "m": Prior("uniform", (-4.0, 4.0)), "b": Prior("uniform", (0.5, 4.0))}
    priors = PriorSet(names, {n: shared[n[0]] for n in names})
    lam = 0.05 ** -2
    swapped = truth[[1, 0, 3, 2, 5, 4]]
    cov = np.diag([0.03, 0.03, 0.03, 0.03, 0.2, 0.2]) ** 2  # about 1.5 posterior sd
    block = mixture_only_block(lam, [truth, swapped], [cov, cov], model=model, priors=priors, x=x, y=y)
    block.rows.theta[0] = truth
    block.set_row(0, truth)
    left = np.empty(20000)
    for t in range(left.size):
        block.sweep()
        left[t] = block.rows.theta[0, 2] < block.rows.theta[0, 3]  # peak 1 is the left one
    share, ess = left.mean(), effective_sample_size(left)
    assert ess > 300
    assert abs(share - 0.5) < 4 * 0.5 / np.sqrt(ess), (share, ess)
    assert block.move_state["mixture"]["accepted"][0] > 0.05 * left.size
    # the random walks alone (component-wise and joint moves) stay with their labelling
    from remc_mpi.sampling.sampler import SlotBlock

    walk = SlotBlock(model, priors, x, y, np.array([lam]), 0, 1, 2, mixture=False)
    walk.set_row(0, truth)
    for t in range(5000):
        walk.sweep(adapt=t < 1000)
        assert walk.rows.theta[0, 2] < walk.rows.theta[0, 3]


def test_mixture_components_are_each_chains_positive_temperature_slots():
    from remc_mpi.moves.mixture import MixtureMove

    move = MixtureMove(joint=True, mixture=True)
    lam = np.array([0.0, 1.0, 2.0, 0.0, 1.0, 2.0])  # two chains of three rungs
    mean = np.arange(12.0).reshape(6, 2)
    chol = np.tile(np.eye(2), (6, 1, 1)) * np.arange(1.0, 7.0)[:, None, None]
    move.init_state(2, type("P", (), {"free_index": [0, 1]})())
    move.set_components(lam, 3, 2, 4, mean, chol)  # rows 2, 3: chain 0's top rung, chain 1's prior rung
    comp_mean, comp_chol, comp_lam, mean_t, inv_chol_t, log_norm, inv_lam = move.components
    np.testing.assert_array_equal(comp_mean, mean[[[1, 2], [4, 5]]])
    np.testing.assert_array_equal(comp_lam, [[1.0, 2.0], [1.0, 2.0]])
    # log det C_m + (d/2) log lambda_m, d = 2
    np.testing.assert_allclose(log_norm, 2 * np.log([[2.0, 3.0], [5.0, 6.0]]) + np.log([[1.0, 2.0], [1.0, 2.0]]))
    np.testing.assert_array_equal(mean_t[1], mean[[4, 5]].T)
    np.testing.assert_allclose(inv_chol_t[1, 0, 0], 1.0 / np.array([5.0, 6.0]))
    np.testing.assert_array_equal(inv_lam, 1.0 / comp_lam)
    np.testing.assert_array_equal(move.chain_of_row, [0, 1])
    ready, *_ = move.kernel_state({"accepted": np.zeros(2), "tried": np.zeros(2)}, adapt=False)
    assert ready
    ready, *_ = move.kernel_state({"accepted": np.zeros(2), "tried": np.zeros(2)}, adapt=True)
    assert not ready  # never during the burn-in


def test_mixture_log_q_differences_equal_the_mixture_density_of_widened_normals():
    """log q(x) - log q(x') of the kernel against scipy: the equal-weight mixture of
    N(mu_m, (lambda_m / lambda) C_m C_m^T), densities far apart included (components 1e3 nats down)."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    from remc_mpi.moves.mixture import MixtureMove, mixture_logq

    rng = np.random.default_rng(3)
    n_comp, d, lam = 7, 4, 30.0
    means = rng.normal(0.0, 2.0, (n_comp, d))
    a = rng.normal(0.0, 0.4, (n_comp, d, d)) + np.eye(d)
    covs = a @ np.transpose(a, (0, 2, 1))
    comp_lam = np.geomspace(1.0, 1e3, n_comp)
    move = MixtureMove(joint=True, mixture=True)
    move.set_gaussians(means[None], np.linalg.cholesky(covs)[None], comp_lam[None], [0])
    state = move.kernel_state({"accepted": np.zeros(1), "tried": np.zeros(1)}, adapt=False)
    free = np.array([2, 0, 3, 1])  # the kernel reads theta's free columns in this order

    def reference(x):
        return logsumexp([multivariate_normal(means[m], covs[m] * comp_lam[m] / lam).logpdf(x) for m in range(n_comp)])

    def kernel(x):
        theta = np.zeros(d)
        theta[free] = x
        return mixture_logq(theta, free, state.mean_t[0], state.inv_chol_t[0], state.log_norm[0], state.inv_lam[0], lam,
                            state.work)

    points = [means[0] + 0.1, means[3], means[6] - 0.5, np.full(d, 8.0)]
    for x, y in zip(points, points[1:]):
        assert kernel(x) - kernel(y) == pytest.approx(reference(x) - reference(y), rel=1e-12, abs=1e-10)


def differential_only_block(lam, archive, seed=1):
    """One slot at ``lam`` whose only move is the differential step from the given frozen
    archive (the component-wise move off, the joint move never learnt, no mode jumps)."""
    from move_harness import X, target
    from remc_mpi.sampling.sampler import SlotBlock

    model, priors, y = target()
    block = SlotBlock(model, priors, X, y, np.array([lam]), 0, 1, seed, componentwise=False, mixture=False,
                      differential=True)
    move = block.move("differential")
    block.move_state["differential"]["archive"][0, :len(archive)] = archive
    move.scalars["filled"] = len(archive)
    return block, y


def test_differential_move_alone_samples_the_posterior_from_any_archive():
    """The step is symmetric whatever the archive holds: an archive of draws from a shifted
    Gaussian twice as wide as the posterior still gives the exact moments; the counters agree
    with the chain."""
    from analytic import linear_gaussian_posterior
    from move_harness import M0, S0, X

    _, _, y = run_chain(LAM, 0)
    mean, cov = linear_gaussian_posterior(np.vander(X, 3, increasing=True), y, LAM ** -0.5, M0, S0)
    rng = np.random.default_rng(7)
    archive = rng.multivariate_normal(mean + np.sqrt(np.diag(cov)), 4.0 * cov, size=64)
    block, y = differential_only_block(LAM, archive)
    block.set_row(0, mean)  # no transient from the prior draw: the check is of the stationary law
    states = sweep_states(block, 20000)
    check_moments(states[1:], LAM, y)
    ds = block.move_state["differential"]
    assert ds["tried"][0] == 20000
    np.testing.assert_array_equal(changes(states), ds["accepted"][0])
    assert 0.05 < ds["accepted"][0] / 20000 < 0.6
    assert np.all(block.tried == 0) and block.move_state["joint"]["tried"][0] == 0


def test_differential_archive_holds_the_slots_states_of_the_learning_window():
    """During the burn-in every ARCHIVE_EVERY-th sweep's state goes to the next archive row;
    restart_learning empties it; after the burn-in it is frozen and gamma with it."""
    from remc_mpi.moves.differential import ARCHIVE_EVERY

    states, block, _ = run_chain(LAM, 0, differential=True)
    after = []
    for t in range(40):
        block.sweep(adapt=True)
        after.append(block.rows.theta[0].copy())
    move, ds = block.move("differential"), block.move_state["differential"]
    assert move.scalars["filled"] == 40 // ARCHIVE_EVERY
    written = np.array(after[::ARCHIVE_EVERY])
    np.testing.assert_array_equal(ds["archive"][0, :len(written)], written)
    block.restart_learning()
    assert move.scalars["filled"] == 0
    for t in range(200):
        block.sweep(adapt=True)
    assert ds["tried"][0] > 0  # the move runs once the archive holds MIN_ARCHIVE states
    frozen, gamma = ds["archive"].copy(), ds["log_gamma"].copy()
    for t in range(50):
        block.sweep()
    np.testing.assert_array_equal(ds["archive"], frozen)
    np.testing.assert_array_equal(ds["log_gamma"], gamma)


def test_random_buffers_refill_each_slot_from_its_own_stream_every_block_of_sweeps():
    """A slot's buffers come from its own generator alone (normals and log-uniforms at lambda > 0,
    prior draws at lambda = 0), refilled every RAND_BLOCK sweeps; the move offsets follow the
    declared columns."""
    from remc_mpi.priors import Prior, PriorSet
    from remc_mpi.sampling.buffers import RAND_BLOCK, RandomBuffers
    from remc_mpi.sampling.streams import slot_generator

    priors = PriorSet(("a", "b"), {"a": Prior("uniform", (0.0, 1.0)), "b": Prior("normal", (5.0, 1.0))})
    buf = RandomBuffers([slot_generator(7, s) for s in (3, 4)], 2, [2, 1], [2, 3])
    np.testing.assert_array_equal(buf.z_off, [0, 2])
    np.testing.assert_array_equal(buf.u_off, [0, 2])
    lam = np.array([0.0, 0.5])
    positions = [buf.next_sweep(lam, priors)[1] for _ in range(RAND_BLOCK + 2)]
    assert positions == list(range(RAND_BLOCK)) + [0, 1]
    alone = slot_generator(7, 4)  # slot 4's stream, first refill: what its rows hold before the second
    z, u = alone.standard_normal((RAND_BLOCK, 3)), np.log(alone.random((RAND_BLOCK, 5)))
    second_z, second_u = alone.standard_normal((RAND_BLOCK, 3)), np.log(alone.random((RAND_BLOCK, 5)))
    np.testing.assert_array_equal(buf.rand_z[1], second_z)
    np.testing.assert_array_equal(buf.rand_logu[1], second_u)
    assert not np.array_equal(z, second_z)
    assert np.all(buf.rand_z[0] == 0.0) and np.all((buf.rand_prior[0][:, 0] >= 0) & (buf.rand_prior[0][:, 0] <= 1))
