"""The sweep kernel: every move of every local slot in one compiled call.

Per slot l of the block, in slot order (slots never interact inside a sweep, so the result of
a slot does not depend on which other slots share its process: rank-count invariance), a
sequence of proposals:

    lambda_l = 0:  one prior draw  (:mod:`remc_mpi.moves.prior_draw`)
    lambda_l > 0:  one component-wise proposal per free parameter
                   (:mod:`remc_mpi.moves.componentwise`), then, once the slot's covariance
                   is learnt, one joint proposal  (:mod:`remc_mpi.moves.joint`), then, with
                   ``sampler.differential_moves`` (off by default) and once the slot's archive
                   holds enough states, one differential-evolution step
                   (:mod:`remc_mpi.moves.differential`), then, after the burn-in, one mode
                   jump from the chain's mixture (:mod:`remc_mpi.moves.mixture`)
    then, while learning, the slot's state joins its running covariance and, every few sweeps,
    its archive.

Every proposal goes through the same three steps: the move proposes (the new state, its log
prior, the model stage it changes); the model is evaluated at the one call site below
(:func:`remc_mpi.kernels.spectra.trial`: only the changed stage); the one accept rule
(:func:`remc_mpi.moves.base.metropolis`) decides, and the move records the outcome (counters,
adaptation). Each move reads its own columns of the slot's random buffers (offsets from the
moves' declarations, sized by the sampler) at sweep ``pos`` of the current block.
"""

from __future__ import annotations

import math

from remc_mpi.kernels import borrowed, cycle_count, jit, jit_inline
from typing import NamedTuple

import numpy as np

from remc_mpi.kernels.priors import KernelPriors
from remc_mpi.kernels.spectra import Stages, TrialBuffers, commit, copy_into, named_model, trial
from remc_mpi.moves.base import metropolis
from remc_mpi.moves.componentwise import (ComponentwiseMove, ComponentwiseState, componentwise_propose,
                                          componentwise_record)
from remc_mpi.moves.differential import (DifferentialMove, DifferentialState, archive_write, differential_propose,
                                         differential_record)
from remc_mpi.moves.joint import JointMove, JointState, joint_propose, joint_record, welford
from remc_mpi.moves.mixture import MixtureMove, MixtureState, mixture_propose
from remc_mpi.moves.prior_draw import PriorDrawMove, prior_draw_propose

#: the sampler's moves, in the order of ``states`` (the sampler builds, sizes and checkpoints
#: them from this tuple; a new move joins it here and gets its branch below)
MOVES = (ComponentwiseMove, JointMove, PriorDrawMove, MixtureMove, DifferentialMove)
COMPONENT, JOINT, PRIOR_DRAW, MIXTURE, DIFFERENTIAL = range(len(MOVES))


class Draws(NamedTuple):
    """The block's random buffers (RAND_BLOCK sweeps of each slot) and each move's columns."""

    z: np.ndarray  # (rows, sweeps, sum of the moves' normals)
    logu: np.ndarray  # (rows, sweeps, sum of their uniforms), as logs
    fresh: np.ndarray  # (rows, sweeps, P) prior draws
    z_off: np.ndarray  # (moves,) each move's first column of z
    u_off: np.ndarray  # (moves,) each move's first column of logu


@jit
def move_of(e, lam, joint_ready, de_ready):
    """Which move makes extra proposal e of a slot at ``lam``, the proposals after its
    component-wise ones (module docstring's order)."""
    if lam == 0.0:
        return PRIOR_DRAW
    if joint_ready:
        if e == 0:
            return JOINT
        e -= 1
    return DIFFERENTIAL if de_ready and e == 0 else MIXTURE


@jit_inline
def propose(move, i, pos, th, lp, prop, lp_prop, prior, model, draws, lam_i, states):
    """Slot i's proposal by ``move`` (any but the component-wise walk, which the sweep calls
    directly) at sweep ``pos`` of the buffers: (stage, peak, log prior (and q) ratio, inside
    support, log u of its accept decision)."""
    if move == PRIOR_DRAW:
        st, pk, dlp, valid = prior_draw_propose(draws.fresh[i, pos], prop, lp_prop, prior)
        return st, pk, dlp, valid, -math.inf
    zi, ui, z_off, u_off = draws.z[i, pos], draws.logu[i, pos], draws.z_off, draws.u_off
    if move == JOINT:
        js = states[JOINT]
        st, pk, dlp, valid = joint_propose(th, lp, prop, lp_prop, prior, zi[z_off[JOINT]:], js.chol[i], js.log_scale[i])
        return st, pk, dlp, valid, ui[u_off[JOINT]]
    if move == DIFFERENTIAL:
        ds = states[DIFFERENTIAL]
        st, pk, dlp, valid = differential_propose(th, lp, prop, lp_prop, prior, ui[u_off[DIFFERENTIAL]:],
                                                  ds.archive[i], ds.filled, ds.log_gamma[i])
        return st, pk, dlp, valid, ui[u_off[DIFFERENTIAL] + 3]
    ms = states[MIXTURE]
    st, pk, dlp, valid = mixture_propose(th, lp, prop, lp_prop, prior, zi[z_off[MIXTURE]:], ui[u_off[MIXTURE]], ms,
                                         ms.chain_of_row[i], lam_i)
    return st, pk, dlp, valid, ui[u_off[MIXTURE] + 1]


@jit_inline
def record(move, i, ok, adapt, gain, states):
    """The outcome of slot i's proposal by ``move`` (as in :func:`propose`): counters, burn-in
    adaptation."""
    if move == JOINT:
        js = states[JOINT]
        js.log_scale[i] = joint_record(ok, adapt, gain, js.target, js.log_scale[i])
        tally(js.accepted, js.tried, i, ok)
    elif move == DIFFERENTIAL:
        ds = states[DIFFERENTIAL]
        ds.log_gamma[i] = differential_record(ok, adapt, gain, ds.target, ds.log_gamma[i])
        tally(ds.accepted, ds.tried, i, ok)
    elif move == MIXTURE:
        tally(states[MIXTURE].accepted, states[MIXTURE].tried, i, ok)


@jit
def tally(accepted, tried, i, ok):
    """One more proposal of slot i tried, and accepted if ``ok``."""
    accepted[i] += ok
    tried[i] += 1


@jit_inline
def attempt(st, pk, dlp, log_u, i, th, lp, prop, lp_prop, lam_i, U, model, stages, tb):
    """Slot i's proposal ``prop`` (inside the support; model stage st, peak pk, log prior ratio
    dlp): the one model evaluation and the one accept rule; on acceptance the slot takes it.
    Returns whether it did."""
    u_new = trial(prop, st, pk, model, stages, i, tb)
    log_ratio = dlp + (lam_i * (U[i] - u_new) if lam_i > 0.0 else 0.0)
    ok = metropolis(log_ratio, log_u)
    if ok:
        commit(st, model.spec, stages, i, tb)
        U[i] = u_new
        copy_into(th, prop)
        copy_into(lp, lp_prop)
    return ok


@jit
def named_states(t):
    """Every move's kernel state (:data:`MOVES` order) from its plain tuple, named again by its
    class (the prior draw has none: an empty tuple)."""
    return (ComponentwiseState(*t[COMPONENT]), JointState(*t[JOINT]), t[PRIOR_DRAW], MixtureState(*t[MIXTURE]),
            DifferentialState(*t[DIFFERENTIAL]))


@jit
def sweep_entry(lam, theta, U, logprior, stages, model, prior, tb, scratch, draws, pos, states, adapt, gain, ticks):
    """The compiled entry point of one sweep: :func:`sweep_kernel` with its named tuples passed
    as plain ones (:func:`remc_mpi.kernels.plain`) and named again here, by their classes, before
    any kernel reads them. Numba types a named tuple argument at every call several times slower
    than a plain one (15 against 5 us a sweep: docs/performance.md). Every array is passed on
    :func:`~remc_mpi.kernels.borrowed` (no reference counts inside the sweep: a quarter to a third
    of its time); the block holds them until the call returns."""
    lam, theta, U, logprior, scratch, ticks = borrowed((lam, theta, U, logprior, scratch, ticks))
    stages, model, prior, tb, draws, states = borrowed((stages, model, prior, tb, draws, states))
    sweep_kernel(lam, theta, U, logprior, Stages(*stages), named_model(model), KernelPriors(*prior),
                 TrialBuffers(*tb), scratch, Draws(*draws), pos, named_states(states), adapt, gain, ticks)


@jit
def sweep_kernel(lam, theta, U, logprior, stages, model, prior, tb, scratch, draws, pos, states, adapt, gain,
                 ticks):
    """One sweep of slots 0..len(lam)-1 of the block (their stages a
    :class:`~remc_mpi.kernels.spectra.Stages`, the model a ``ModelArrays``, the priors a
    ``KernelPriors``, the random buffers :class:`Draws` at sweep ``pos``); ``states`` holds each
    move's ``kernel_state`` (a named tuple) in :data:`MOVES` order. ``ticks[i]`` grows by the
    processor ticks slot i's updates took (:func:`~remc_mpi.kernels.cycle_count`: what each slot
    costs, for sharing the slots among ranks by cost).

    The component-wise proposals, most of a sweep's, call their kernels with the arrays they
    read; the other moves go through :func:`propose` and :func:`record`, which receive every
    move's state (sent through them, the component-wise proposals made the cluster3 sweep 1.24
    times slower: docs/performance.md, "Two revisions side by side")."""
    free = prior.free
    prop, lp_prop = scratch[0], scratch[1]
    cs, js, ds = states[COMPONENT], states[JOINT], states[DIFFERENTIAL]
    n_component = free.size if cs.on else 0
    n_extra = (1 if js.ready else 0) + (1 if ds.ready else 0) + (1 if states[MIXTURE].ready else 0)
    z_c, u_c = draws.z_off[COMPONENT], draws.u_off[COMPONENT]
    for i in range(lam.size):
        t0 = cycle_count()
        th, lp = theta[i], logprior[i]
        zi, ui, log_step = draws.z[i, pos], draws.logu[i, pos], cs.log_step[i]
        for k in range(0 if lam[i] == 0.0 else n_component):
            st, pk, dlp, valid = componentwise_propose(k, th, lp, prop, lp_prop, prior, model.stage, model.peak,
                                                       zi[z_c:], log_step)
            ok = valid and attempt(st, pk, dlp, ui[u_c + k], i, th, lp, prop, lp_prop, lam[i], U, model, stages, tb)
            componentwise_record(k, free, cs.accepted[i], cs.tried[i], log_step, ok, adapt, gain, cs.target)
        for e in range(1 if lam[i] == 0.0 else n_extra):
            move = move_of(e, lam[i], js.ready, ds.ready)
            st, pk, dlp, valid, log_u = propose(move, i, pos, th, lp, prop, lp_prop, prior, model, draws, lam[i],
                                                states)
            ok = valid and attempt(st, pk, dlp, log_u, i, th, lp, prop, lp_prop, lam[i], U, model, stages, tb)
            record(move, i, ok, adapt, gain, states)
        if js.learn_n > 0:
            welford(th, free, js.learn_n, js.mean[i], js.m2[i], scratch[2])
        if ds.write_row >= 0 and lam[i] > 0.0:
            archive_write(th, free, ds.archive[i, ds.write_row])
        ticks[i] += cycle_count() - t0
