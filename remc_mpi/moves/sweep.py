"""The sweep kernel: every move of every local slot in one compiled call.

Per slot l of the block, in slot order (slots never interact inside a sweep, so the result of
a slot does not depend on which other slots share its process: rank-count invariance), a
sequence of proposals:

    lambda_l = 0:  one prior draw  (:mod:`remc_mpi.moves.prior_draw`)
    lambda_l > 0:  one component-wise proposal per free parameter
                   (:mod:`remc_mpi.moves.componentwise`), then, once the slot's covariance
                   is learnt, one joint proposal  (:mod:`remc_mpi.moves.joint`), then, after
                   the burn-in, one mode jump from the chain's mixture
                   (:mod:`remc_mpi.moves.mixture`)
    then, while learning, the slot's state joins its running covariance.

Every proposal goes through the same three steps: the move proposes (the new state, its log
prior, the model stage it changes); the model is evaluated at the one call site below
(:func:`remc_mpi.kernels.spectra.trial`: only the changed stage); the one accept rule
(:func:`remc_mpi.moves.base.metropolis`) decides, and the move records the outcome (counters,
adaptation). Each move reads its own columns of the slot's random buffers (offsets from the
moves' declarations, sized by the sampler) at sweep ``pos`` of the current block.
"""

from __future__ import annotations

import math

from remc_mpi.kernels import jit
from remc_mpi.kernels.spectra import commit, copy_into, trial
from remc_mpi.moves.base import metropolis
from remc_mpi.moves.componentwise import ComponentwiseMove, componentwise_propose, componentwise_record
from remc_mpi.moves.joint import JointMove, joint_propose, joint_record, welford
from remc_mpi.moves.mixture import MixtureMove, mixture_propose
from remc_mpi.moves.prior_draw import PriorDrawMove, prior_draw_propose

#: the sampler's moves, in the order of ``states`` (the sampler builds, sizes and checkpoints
#: them from this tuple; a new move joins it here and gets its branch below)
MOVES = (ComponentwiseMove, JointMove, PriorDrawMove, MixtureMove)
COMPONENT, JOINT, PRIOR_DRAW, MIXTURE = range(len(MOVES))


@jit
def sweep_kernel(lam, theta, U, logprior, lev, lines, S, y, model, prior, tbuf, scratch,
                 z, logu, fresh, pos, z_off, u_off, states, adapt, gain):
    """One sweep of slots 0..len(lam)-1 of the block; ``states`` holds each move's
    ``kernel_state`` in :data:`MOVES` order, ``z_off``/``u_off`` its columns of the buffers."""
    ispec, fspec, stage, peak, basis, x, data = model
    free = prior[3]
    tlev, tlines, tS, ty, redo, work, bits = tbuf
    prop, lp_prop = scratch[0], scratch[1]
    component_on, log_step, accepted, tried, target = states[COMPONENT]
    joint_ready, chol, log_jscale, j_accepted, j_tried, j_target, learn_n, mean, m2 = states[JOINT]
    mix_ready, mix_mean, mix_chol, mix_logdet, mix_lam, mix_chain, mix_work, x_accepted, x_tried = states[MIXTURE]
    n_component = free.size if component_on else 0
    for i in range(lam.size):
        th, lp = theta[i], logprior[i]
        n_prop = 1 if lam[i] == 0.0 else n_component + (1 if joint_ready else 0) + (1 if mix_ready else 0)
        for k in range(n_prop):
            if lam[i] == 0.0:
                move = PRIOR_DRAW
                st, pk, dlp, valid = prior_draw_propose(fresh[i, pos], prop, lp_prop, prior)
                log_u = -math.inf
            elif k < n_component:
                move = COMPONENT
                st, pk, dlp, valid = componentwise_propose(k, th, lp, prop, lp_prop, prior, stage, peak,
                                                           z[i, pos, z_off[COMPONENT]:], log_step[i])
                log_u = logu[i, pos, u_off[COMPONENT] + k]
            elif k == n_component and joint_ready:
                move = JOINT
                st, pk, dlp, valid = joint_propose(th, lp, prop, lp_prop, prior, z[i, pos, z_off[JOINT]:], chol[i],
                                                   log_jscale[i])
                log_u = logu[i, pos, u_off[JOINT]]
            else:
                move = MIXTURE
                c = mix_chain[i]
                st, pk, dlp, valid = mixture_propose(th, lp, prop, lp_prop, prior, z[i, pos, z_off[MIXTURE]:],
                                                     logu[i, pos, u_off[MIXTURE]], mix_mean[c], mix_chol[c],
                                                     mix_logdet[c], mix_lam[c], lam[i], mix_work)
                log_u = logu[i, pos, u_off[MIXTURE] + 1]
            ok = False
            if valid:
                u_new = trial(prop, st, pk, ispec, fspec, basis, x, data, lev[i], lines[i], S[i], tlev, tlines, tS,
                              ty, redo, work, bits)
                log_ratio = dlp + (lam[i] * (U[i] - u_new) if lam[i] > 0.0 else 0.0)
                ok = metropolis(log_ratio, log_u)
                if ok:
                    commit(st, ispec, lev[i], lines[i], S[i], y[i], tlev, tlines, tS, ty, redo)
                    U[i] = u_new
                    copy_into(th, prop)
                    copy_into(lp, lp_prop)
            if move == COMPONENT:
                componentwise_record(k, free, accepted[i], tried[i], log_step[i], ok, adapt, gain, target)
            elif move == JOINT:
                log_jscale[i] = joint_record(ok, adapt, gain, j_target, log_jscale[i])
                j_accepted[i] += ok
                j_tried[i] += 1
            elif move == MIXTURE:
                x_accepted[i] += ok
                x_tried[i] += 1
        if learn_n > 0:
            welford(th, free, learn_n, mean[i], m2[i], scratch[2])
