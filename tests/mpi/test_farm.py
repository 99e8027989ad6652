"""The task farm (remc_mpi.driver.farm) under mpiexec at 1, 2 and 4 ranks: every task run exactly once
whatever the group size, each task's result bit for bit the one a serial run of its config
gives (the same seed, the same result at any rank count), and a re-run that redoes nothing.
(A plan's early stops in a farm: tests/test_farm.py, on one rank.)"""

import numpy as np
import pytest
import yaml
from mpi4py import MPI

from remc_mpi.ui.campaign import load_campaign, run_in_farm, task_done, write_tasks
from remc_mpi.driver.farm import TaskCounter, group_of

from mpi_helpers import arrays
from test_campaign import BASE, CAMPAIGN as GRID_CAMPAIGN  # tests/ is on the path (conftest)

CAMPAIGN = dict(GRID_CAMPAIGN, grid=dict(GRID_CAMPAIGN["grid"], seeds=[3]))  # 6 tasks


def _campaign(comm, folder):
    if comm.Get_rank() == 0:
        (folder / "base.yaml").write_text(yaml.safe_dump(BASE))
        (folder / "camp.yaml").write_text(yaml.safe_dump(CAMPAIGN))
        write_tasks(load_campaign(folder / "camp.yaml"))
    comm.Barrier()
    return load_campaign(folder / "camp.yaml")


def test_counter_hands_out_each_index_once(comm):
    counter = TaskCounter(comm)
    mine = [counter.take() for _ in range(25)]
    counter.free()
    every = sorted(i for part in comm.allgather(mine) for i in part)
    assert every == list(range(25 * comm.Get_size()))


def test_groups_are_consecutive_blocks_with_the_remainder_last():
    assert [group_of(r, 5, 2) for r in range(5)] == [0, 0, 1, 1, 1]
    assert [group_of(r, 4, 1) for r in range(4)] == [0, 1, 2, 3]
    assert [group_of(r, 3, 3) for r in range(3)] == [0, 0, 0]


@pytest.mark.parametrize("group_size", [1, 2])
def test_farm_runs_every_task_once_with_serial_results(comm, shared_dir, group_size):
    if group_size > comm.Get_size():
        pytest.skip("needs more ranks")
    camp = _campaign(comm, shared_dir)
    stats = run_in_farm(camp, group_size)
    assert (stats.ran, stats.skipped, stats.failed) == (len(camp.tasks), 0, 0)
    assert stats.groups == comm.Get_size() // group_size
    if comm.Get_rank() == 0:
        assert all(task_done(t) for t in camp.tasks)
        from remc_mpi.config import load_config
        from remc_mpi.driver.engine import run

        for task in camp.tasks[::3]:  # a serial run of the task's config gives the same bits
            ref = run(load_config(task.config), MPI.COMM_SELF, output=str(task.folder / "ref.h5"), progress=False)
            for s in ref:
                got = task.folder / f"result-{s['label']}.h5"
                want = task.folder / f"ref-{s['label']}.h5"
                for name, values in arrays(want).items():
                    np.testing.assert_array_equal(arrays(got)[name], values, err_msg=name)
    stamps = comm.bcast({str(p): p.stat().st_mtime_ns for p in shared_dir.glob("out/tasks/*/result-*.h5")})
    again = run_in_farm(camp, group_size)  # finished tasks are read back, not redone: resume semantics
    assert again.ran == len(camp.tasks)
    if comm.Get_rank() == 0:
        assert {str(p): p.stat().st_mtime_ns for p in shared_dir.glob("out/tasks/*/result-*.h5")} == stamps
        assert len(stamps) == 2 * len(camp.tasks)
