"""Helpers shared by the MPI tests: a results file's sample arrays, and a SIGTERM injected
after a number of sweeps."""

import h5py


def arrays(path):
    with h5py.File(path) as h5:
        return {k: h5[f"samples/{k}"][:] for k in ("energy", "theta", "replica", "sweep")} | {
            "lambda": h5["ladder/lambda"][:]}


def interrupt_at(monkeypatch, comm, n_sweeps):
    """SIGTERM to this process (rank 0 of ``comm``) after n_sweeps calls of SlotBlock.sweep."""
    import os
    import signal

    from remc_mpi.sampling.sampler import SlotBlock

    orig = SlotBlock.sweep
    count = [0]

    def sweep(self, adapt=False):
        count[0] += 1
        if count[0] == n_sweeps and comm.Get_rank() == 0:
            os.kill(os.getpid(), signal.SIGTERM)
        return orig(self, adapt)

    monkeypatch.setattr(SlotBlock, "sweep", sweep)
    return orig
