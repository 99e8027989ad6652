"""Faults: an exception on one rank ends the whole MPI job quickly (exit 1); a full disk or a
read-only folder gives one line and the right exit status on every write path (a real tmpfs,
mounted by the test: root only)."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from disk import fill, free, tmpfs
from remc_mpi.io import checkpoint
from remc_mpi.io.output import complete_summary
from test_restart import CONFIG

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent))

FAULTY = """
import sys
from mpi4py import MPI
from remc_mpi.sampling.sampler import SlotBlock
from remc_mpi.ui.cli import main

orig = SlotBlock.sweep
count = [0]

def sweep(self, adapt=False):
    count[0] += 1
    if MPI.COMM_WORLD.Get_rank() == 1 and count[0] == 50:
        raise FloatingPointError("injected fault on rank 1")
    return orig(self, adapt)

SlotBlock.sweep = sweep
sys.exit(main(["run", "c.yaml", "-q"]))
"""


@pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec next to this Python")
def test_exception_on_one_rank_aborts_all_within_seconds(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, output="out.h5",
                                                         sampler={"sweeps": 100000, "burn_in": 100})))
    (tmp_path / "faulty.py").write_text(FAULTY)
    t0 = time.monotonic()
    r = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "faulty.py"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    elapsed = time.monotonic() - t0
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert elapsed < 10
    assert r.stderr.count("injected fault on rank 1") >= 1
    assert "failed on rank 1" in r.stderr
    assert not (tmp_path / "out.h5").exists()


# ---- file-system faults: a full disk, a read-only folder ------------------------------------

FILL_AT = """
import sys
from mpi4py import MPI
sys.path.insert(0, {tests!r})
from disk import fill
from remc_mpi.sampling.sampler import SlotBlock
from remc_mpi.ui.cli import main

orig = SlotBlock.sweep
count = [0]

def sweep(self, adapt=False):
    count[0] += 1
    if MPI.COMM_WORLD.Get_rank() == 0 and count[0] == {at}:
        fill({disk!r})
    return orig(self, adapt)

SlotBlock.sweep = sweep
sys.exit(main(["run", "c.yaml", "-q"]))
"""

TESTS = str(Path(__file__).parent)


@pytest.fixture
def disk(tmp_path):
    with tmpfs(tmp_path / "disk") as folder:
        yield folder


def error_lines(stderr):
    """The lines a user sees, less the up-front low-space warning."""
    return [ln for ln in stderr.splitlines() if ln.strip() and "warning:" not in ln]


@pytest.mark.parametrize("ranks", [1, 2])
def test_full_disk_during_a_run_is_one_line_exit_1_then_resume_finishes(disk, tmp_path, ranks):
    if ranks > 1 and MPIEXEC is None:
        pytest.skip("no mpiexec next to this Python")
    cfg = dict(CONFIG, output=str(disk / "out.h5"), sampler={"sweeps": 3000, "burn_in": 500, "thin": 1})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    (tmp_path / "fill.py").write_text(FILL_AT.format(tests=TESTS, at=1700, disk=str(disk)))
    launch = [MPIEXEC, "-n", str(ranks)] if ranks > 1 else []
    r = subprocess.run(launch + [sys.executable, "fill.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr[-3000:]
    lines = error_lines(r.stderr)
    assert len(lines) == 1, r.stderr[-3000:]  # one line, printed once however many ranks
    assert lines[0].startswith(f"remc-mpi: error: cannot write {disk}/out.h5.seg")
    assert "No space left on device (ENOSPC)" in lines[0] and "--resume" in lines[0]
    assert checkpoint.read(disk / "out.h5")[1]["sweep"] == 1500  # the last checkpoint, untouched
    free(disk)
    r = subprocess.run([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "-q", "--resume"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert complete_summary(disk / "out.h5") is not None


def test_read_only_output_folder_stops_before_any_work(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as folder:
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, output=str(folder / "out.h5"))))
        r = subprocess.run([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "-q"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2
        assert error_lines(r.stderr) == [f"remc-mpi: error: c.yaml: output: output folder {folder} is not writable"]
        assert list(folder.iterdir()) == []


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A finished results file on a normal disk (the input of plot and export)."""
    d = tmp_path_factory.mktemp("res")
    (d / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, output="r.h5", sampler={"sweeps": 600, "burn_in": 200})))
    assert subprocess.run([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "-q"], cwd=d,
                          capture_output=True, timeout=300).returncode == 0
    return d / "r.h5"


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "remc_mpi", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("command", ["plot", "export"])
def test_plot_and_export_on_a_full_disk_leave_one_line_and_no_partial_file(disk, results, command):
    pytest.importorskip("matplotlib" if command == "plot" else "arviz")
    target = disk / ("figures" if command == "plot" else "r.nc")
    if command == "plot":
        target.mkdir()
    fill(disk)
    r = cli(command, results, "-o" if command == "plot" else "--arviz", target)
    assert r.returncode == 1, r.stderr[-3000:]
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"remc-mpi: error: cannot write {disk}"), r.stderr[-3000:]
    assert "No space left on device" in lines[0]
    left = sorted(p.name for p in disk.rglob("*") if p.is_file())
    assert left == ["ballast"]  # no partial image, netCDF or temporary file


def test_campaign_and_collect_on_a_full_disk(disk, tmp_path):
    from test_campaign import BASE, CAMPAIGN

    (tmp_path / "base.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "camp.yaml").write_text(yaml.safe_dump(dict(CAMPAIGN, folder=str(disk / "camp"))))
    assert cli("campaign", "camp.yaml", "--slurm", cwd=tmp_path).returncode == 0
    fill(disk)
    r = cli("collect", disk / "camp", cwd=tmp_path)
    assert r.returncode == 1 and len(error_lines(r.stderr)) == 1, r.stderr[-3000:]
    assert "cannot write" in r.stderr and not list((disk / "camp").glob("collected*"))
    # a campaign whose task folders cannot be written: one line, and no task half-written
    shutil.rmtree(disk / "camp")
    free(disk)
    (disk / "camp").mkdir()
    fill(disk)
    r = cli("campaign", "camp.yaml", "--slurm", cwd=tmp_path)
    assert r.returncode == 1 and len(error_lines(r.stderr)) == 1, r.stderr[-3000:]
    for task in (disk / "camp").glob("tasks/*"):
        if (task / "config.yaml").exists():  # a task folder that claims to be complete is
            yaml.safe_load((task / "config.yaml").read_text())
            assert (task / "point.json").exists()


def test_a_disk_full_before_the_run_starts_is_a_fault_not_bad_input(disk, tmp_path):
    """The first write of a run is its output lock: on a full disk that is exit 1 (a fault),
    one line, nothing left behind."""
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, output=str(disk / "out.h5"))))
    fill(disk)
    r = cli("run", "c.yaml", "-q", cwd=tmp_path)
    lines = error_lines(r.stderr)
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"remc-mpi: error: cannot write {disk}/out.h5.lock: No space left on device")
    assert sorted(p.name for p in disk.iterdir()) == ["ballast"]
