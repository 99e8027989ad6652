"""A shared harness for the sampler's moves: sample a known posterior at one fixed temperature
and check its moments and the move's acceptance bookkeeping.

The target is the linear-Gaussian posterior of a quadratic with normal priors (closed form,
tests/analytic.py), tempered at lambda; at lambda = 0 it is the prior itself. Tolerances come
from the chains' own effective sample sizes: |mean - exact| < 4 sd / sqrt(ESS) and
|sd / exact sd - 1| < 4 / sqrt(2 ESS).
"""

import numpy as np

from analytic import linear_gaussian_posterior
from remc_mpi.evidence.diagnostics import effective_sample_size
from remc_mpi.models import get_model
from remc_mpi.priors import Prior, PriorSet
from remc_mpi.sampling.sampler import SlotBlock

X = np.linspace(-1.0, 1.0, 30)
M0, S0 = np.array([0.0, 0.5, 0.0]), np.array([1.0, 2.0, 1.0])


def target(seed=3):
    model = get_model("polynomial", degree=2)
    rng = np.random.default_rng(seed)
    y = 0.3 + 0.5 * X - 0.2 * X**2 + rng.normal(0, 0.1, X.size)
    priors = PriorSet(model.param_names, {n: Prior("normal", (m, s)) for n, m, s in zip(model.param_names, M0, S0)})
    return model, priors, y


def run_chain(lam, n_sweeps, burn_in=0, seed=1, component_after_burn_in=True, **moves):
    """One slot at ``lam``: burn_in adaptive sweeps, then n_sweeps recorded. Returns the states
    before and after each recorded sweep (n_sweeps + 1, 3), the block, and the data.
    ``component_after_burn_in=False``: the moves that learn (joint, differential) learn from a
    chain the component-wise move also drives, as in every run, and are then tested alone."""
    model, priors, y = target()
    block = SlotBlock(model, priors, X, y, np.array([lam]), 0, 1, seed, **moves)
    for _ in range(burn_in):
        block.sweep(adapt=True)
    block.move("componentwise").settings["componentwise"] = component_after_burn_in and moves.get("componentwise", True)
    block.reset_counters()
    return sweep_states(block, n_sweeps), block, y


def sweep_states(block, n_sweeps):
    """Slot 0's state before and after each of ``n_sweeps`` sweeps, (n_sweeps + 1, P)."""
    out = np.empty((n_sweeps + 1, block.rows.theta.shape[1]))
    out[0] = block.rows.theta[0]
    for t in range(n_sweeps):
        block.sweep()
        out[t + 1] = block.rows.theta[0]
    return out


def check_moments(chain, lam, y):
    """The chain's means and sds against the exact tempered posterior (prior at lam = 0)."""
    design = np.vander(X, 3, increasing=True)
    if lam > 0:
        mean, cov = linear_gaussian_posterior(design, y, lam ** -0.5, M0, S0)
    else:
        mean, cov = M0, np.diag(S0**2)
    for j in range(3):
        ess = effective_sample_size(chain[:, j])
        sd = np.sqrt(cov[j, j])
        assert abs(chain[:, j].mean() - mean[j]) < 4 * sd / np.sqrt(ess), (j, chain[:, j].mean(), mean[j], ess)
        assert abs(chain[:, j].std() / sd - 1) < 4 / np.sqrt(2 * ess), (j, chain[:, j].std(), sd, ess)


def changes(states):
    """Per parameter, how often it changed from one sweep to the next (a continuous proposal
    never repeats the current value, so each change is one accepted move)."""
    return (states[1:] != states[:-1]).sum(axis=0)
