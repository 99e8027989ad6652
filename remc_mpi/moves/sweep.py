"""The sweep kernel: every move of every local slot in one compiled call.

Per slot l of the block, in slot order (slots never interact inside a sweep, so the result of
a slot does not depend on which other slots share its process: rank-count invariance):

    lambda_l = 0:  prior draw  (:mod:`remc_mpi.moves.prior_draw`)
    lambda_l > 0:  component-wise moves  (:mod:`remc_mpi.moves.componentwise`),
                   then, once its covariance is learnt, one joint move  (:mod:`remc_mpi.moves.joint`)
    then, while learning, the slot's state joins its running covariance.

Each move reads its own columns of the slot's random buffers (offsets from the moves'
declarations, sized by the sampler) at sweep ``pos`` of the current block.
"""

from __future__ import annotations

from remc_mpi.kernels import jit
from remc_mpi.moves.componentwise import componentwise_step
from remc_mpi.moves.joint import joint_step, welford
from remc_mpi.moves.prior_draw import prior_draw_step


@jit
def sweep_kernel(lam, theta, U, logprior, lev, lines, S, y, model, prior, tbuf, scratch,
                 z, logu, fresh, pos, z_off, u_off,
                 component_on, log_step, accepted, tried, target,
                 joint_ready, chol, log_jscale, j_accepted, j_tried, j_target, learn_n, mean, m2,
                 adapt, gain):
    free = prior[3]
    for i in range(lam.size):
        row = (lev[i], lines[i], S[i], y[i])
        if lam[i] == 0.0:
            U[i] = prior_draw_step(theta[i], logprior[i], model, prior, row, tbuf, fresh[i, pos])
        else:
            if component_on:
                U[i] = componentwise_step(lam[i], theta[i], logprior[i], U[i], model, prior, row, tbuf,
                                          z[i, pos, z_off[0]:], logu[i, pos, u_off[0]:], log_step[i], accepted[i],
                                          tried[i], adapt, gain, target)
            if joint_ready:
                u, ok, ls = joint_step(lam[i], theta[i], logprior[i], U[i], model, prior, row, tbuf,
                                       z[i, pos, z_off[1]:], logu[i, pos, u_off[1]], chol[i], log_jscale[i], scratch,
                                       j_target, adapt, gain)
                U[i] = u
                log_jscale[i] = ls
                j_accepted[i] += ok
                j_tried[i] += 1
        if learn_n > 0:
            welford(theta[i], free, learn_n, mean[i], m2[i], scratch[2])
