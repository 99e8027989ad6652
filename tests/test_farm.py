"""The task farm's control flow on one rank (remc_mpi.driver.farm; tests/mpi/test_farm.py runs it on
1, 2 and 4): a task's bad input ends that task only, a signal stops the farm after a checkpoint
with no new task started, a full disk stops it with one collective error, skips are honoured;
and the command line's farm modes (local, and the SLURM farm job)."""

import errno
from pathlib import Path

import pytest
import yaml

from remc_mpi.ui.campaign import SKIPPED, Task
from remc_mpi.ui.cli import main
from remc_mpi.errors import Interrupted
from remc_mpi.errors import InputError, OutputError
from remc_mpi.driver.farm import run_farm


def _tasks(tmp_path, n):
    return [Task(i, {}, tmp_path / f"{i:04d}") for i in range(n)]


def test_bad_input_ends_one_task_and_the_farm_goes_on(tmp_path):
    seen, lines = [], []

    def run_one(task, group, signals):
        seen.append(task.index)
        if task.index == 1:
            raise InputError("no such file", "config.yaml", "data.file")

    stats = run_farm(_tasks(tmp_path, 4), run_one, report=lines.append)
    assert seen == [0, 1, 2, 3] and (stats.ran, stats.failed, stats.skipped) == (3, 1, 0)
    assert lines[1] == "task 2/4 (0001) failed: config.yaml: data.file: no such file"


def test_a_signal_stops_the_farm_and_no_new_task_starts(tmp_path):
    seen = []

    def run_one(task, group, signals):
        seen.append(task.index)
        if task.index == 1:
            signals._set(2)  # what SIGTERM does; the run checkpoints and stops
            raise Interrupted("stopped by SIGTERM")

    with pytest.raises(Interrupted, match="after 1 tasks"):
        run_farm(_tasks(tmp_path, 5), run_one)
    assert seen == [0, 1]


def test_a_full_disk_stops_the_farm_with_one_collective_error(tmp_path):
    def run_one(task, group, signals):
        raise OutputError(tmp_path / "x.h5", OSError(errno.ENOSPC, "No space left on device"))

    with pytest.raises(OutputError, match="No space left on device.*make space") as err:
        run_farm(_tasks(tmp_path, 3), run_one)
    assert err.value.collective


def test_skipped_tasks_are_counted_and_not_run(tmp_path):
    seen = []
    stats = run_farm(_tasks(tmp_path, 4), lambda t, g, s: seen.append(t.index),
                     skip=lambda t: "skipped: decided" if t.index % 2 else None)
    assert seen == [0, 2] and (stats.ran, stats.skipped) == (2, 2)


def test_group_larger_than_the_job_is_bad_input(tmp_path):
    with pytest.raises(InputError, match="--group-size"):
        run_farm(_tasks(tmp_path, 1), lambda *a: None, group_size=2)


def test_campaign_and_plan_farm_modes_on_the_command_line(tmp_path, capsys):
    from test_campaign import BASE, CAMPAIGN

    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "camp.yaml").write_text(yaml.safe_dump(CAMPAIGN))
    assert main(["campaign", str(tmp_path / "camp.yaml"), "--farm"]) == 0
    out = capsys.readouterr().out
    assert "farm: 12 tasks run, 0 skipped, 0 failed, on 1 group(s) of 1 rank(s)" in out
    assert (tmp_path / "out" / "collected.csv").exists()
    assert main(["campaign", str(tmp_path / "camp.yaml"), "--slurm", "--farm"]) == 0
    script = (tmp_path / "out" / "jobs" / "farm.sbatch").read_text()
    assert "#SBATCH --ntasks=2" in script and "mpiexec -n 2" in script and "scontrol requeue" in script
    assert f"campaign {(tmp_path / 'camp.yaml').resolve()} --farm --group-size 2" in script
    from test_plan import write_plan

    (tmp_path / "p").mkdir()
    plan = write_plan(tmp_path / "p", levels={"counts": [30]}, repeats=4, min_repeats=2, noise="gaussian")
    assert main(["plan", str(plan), "--farm"]) == 0
    out = capsys.readouterr().out
    assert "farm: 2 tasks run, 2 skipped, 0 failed" in out and "0/2 decisive and right" in out
    assert sum((Path(plan.parent) / "out" / "tasks" / f"{i:04d}" / SKIPPED).exists() for i in range(4)) == 2
