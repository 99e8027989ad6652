"""Checkpoints and restarts: interrupted runs finish with exactly an uninterrupted run's output."""

import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import yaml

from remc_mpi.io import checkpoint

CONFIG = {
    "data": {"synthetic": {"model": "gauss_peaks", "options": {"n_peaks": 2},
                           "params": {"a1": 1.0, "a2": 0.6, "mu1": -1.0, "mu2": 1.2, "b1": 3.0, "b2": 5.0},
                           "grid": [-4.0, 4.0, 60], "noise": 0.05, "seed": 1}},
    "model": {"name": "gauss_peaks", "options": {"n_peaks": 2}},
    "noise": {"sigma": 0.05},
    "priors": {"a1": {"uniform": [0.0, 3.0]}, "a2": {"uniform": [0.0, 3.0]}, "mu1": {"uniform": [-3.0, 3.0]},
               "mu2": {"uniform": [-3.0, 3.0]}, "b1": {"loguniform": [0.5, 20.0]}, "b2": {"loguniform": [0.5, 20.0]}},
    "ladder": {"n_temps": 8, "adapt": True},
    "sampler": {"sweeps": 6000, "burn_in": 1500, "thin": 3},
    "checkpoint": {"every_sweeps": 500},
    "seed": 5,
    "progress": False,
}


def samples(path):
    with h5py.File(path) as h5:
        out = {k: h5[f"samples/{k}"][:] for k in ("energy", "theta", "replica", "sweep", "theta_sweep")}
        out.update({k: h5[f"free_energy/{k}"][:] for k in h5["free_energy"]})
        out["lambda"] = h5["ladder/lambda"][:]
        return out


def assert_same_output(a, b):
    sa, sb = samples(a), samples(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    (d / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, output="ref.h5")))
    r = subprocess.run([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "-q"], cwd=d, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return d / "ref.h5"


def start(d, name):
    (d / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, output=name)))
    return subprocess.Popen([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "-q"], cwd=d,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(d, name, proc, timeout=120):
    t0 = time.time()
    while not checkpoint.exists(d / name):
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < timeout
        time.sleep(0.05)


def resume(d):
    return subprocess.run([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "--resume", "-q"], cwd=d,
                          capture_output=True, text=True, timeout=600)


def test_sigterm_checkpoints_and_resume_equals_uninterrupted(tmp_path, reference):
    proc = start(tmp_path, "out.h5")
    wait_for_checkpoint(tmp_path, "out.h5", proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "stopped by SIGTERM" in err and "--resume" in err and "Traceback" not in err
    assert not (tmp_path / "out.h5").exists()
    assert checkpoint.exists(tmp_path / "out.h5")
    r = resume(tmp_path)
    assert r.returncode == 0, r.stderr
    assert_same_output(reference, tmp_path / "out.h5")
    # finished: checkpoints and segments are gone, --resume again just reads the result
    assert not checkpoint.exists(tmp_path / "out.h5") and not list(tmp_path.glob("out.h5.seg*"))
    assert resume(tmp_path).returncode == 0


def test_sigterm_during_start_up_stops_cleanly_before_sampling(tmp_path, reference, monkeypatch, capsys):
    """A job signalled while its ranks are still loading (SLURM may signal a requeued job at
    once) must not be killed: ``run`` holds the signal and stops before the candidate starts."""
    from remc_mpi.ui import cli
    from remc_mpi import config

    load = config.load_config

    def signalled_while_loading(path):
        os.kill(os.getpid(), signal.SIGTERM)
        return load(path)

    monkeypatch.setattr(config, "load_config", signalled_while_loading)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, output="out.h5")))
    assert cli.main(["run", "c.yaml", "-q"]) == 1
    assert "gauss_peaks2: not started, stopped by SIGTERM; continue with --resume" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    assert not list(tmp_path.glob("out.h5*"))
    r = resume(tmp_path)
    assert r.returncode == 0, r.stderr
    assert_same_output(reference, tmp_path / "out.h5")


def test_kill_9_then_resume_equals_uninterrupted(tmp_path, reference):
    proc = start(tmp_path, "out.h5")
    wait_for_checkpoint(tmp_path, "out.h5", proc)
    time.sleep(0.3)  # let it write past the checkpoint into the next segment
    proc.kill()
    proc.communicate()
    r = resume(tmp_path)
    assert r.returncode == 0, r.stderr
    assert_same_output(reference, tmp_path / "out.h5")


def test_corrupted_checkpoint_falls_back_to_previous_generation(tmp_path, reference):
    proc = start(tmp_path, "out.h5")
    new, prev, _ = checkpoint.paths(tmp_path / "out.h5")
    t0 = time.time()
    while not prev.exists():
        assert proc.poll() is None and time.time() - t0 < 120
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    data = new.read_bytes()
    new.write_bytes(data[: len(data) // 2])  # truncated newest generation
    r = resume(tmp_path)
    assert r.returncode == 0, r.stderr
    assert "unusable" in r.stderr and "previous generation" in r.stderr
    assert_same_output(reference, tmp_path / "out.h5")


def test_a_plain_run_refuses_to_discard_a_checkpoint(tmp_path):
    proc = start(tmp_path, "out.h5")
    wait_for_checkpoint(tmp_path, "out.h5", proc)
    proc.kill()
    proc.communicate()
    r = subprocess.run([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "-q"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--resume" in r.stderr and r.stderr.count("\n") == 1
    assert checkpoint.exists(tmp_path / "out.h5")


def test_checkpoint_of_another_config_is_refused(tmp_path):
    proc = start(tmp_path, "out.h5")
    wait_for_checkpoint(tmp_path, "out.h5", proc)
    proc.kill()
    proc.communicate()
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, output="out.h5", seed=6)))
    r = resume(tmp_path)
    assert r.returncode == 2
    assert "was computed from other inputs" in r.stderr and r.stderr.count("\n") == 1


def test_checkpoint_of_an_older_format_is_refused_with_its_reason(tmp_path):
    proc = start(tmp_path, "out.h5")
    wait_for_checkpoint(tmp_path, "out.h5", proc)
    proc.kill()
    proc.communicate()
    for path in checkpoint.paths(tmp_path / "out.h5")[:2]:
        if path.exists():
            with h5py.File(path, "r+") as h5:
                h5.attrs["format"] = "remc_mpi-checkpoint/1"
    r = resume(tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "remc_mpi-checkpoint/1" in r.stderr and "--force" in r.stderr and "Traceback" not in r.stderr


def test_checkpoint_roundtrip_and_checksum(tmp_path):
    arrays = {"a": np.arange(5.0), "slot/b": np.ones((2, 3))}
    checkpoint.write(tmp_path / "x.h5", arrays, {"sweep": 3})
    got, scalars, path, warns = checkpoint.read(tmp_path / "x.h5")
    assert scalars == {"sweep": 3} and warns == [] and path.name == "x.h5.ckpt"
    np.testing.assert_array_equal(got["slot/b"], arrays["slot/b"])
    with h5py.File(path, "r+") as h5:
        h5["a"][0] = 99.0
    with pytest.raises(checkpoint.CheckpointError, match="checksum"):
        checkpoint.read(tmp_path / "x.h5")


def test_wall_clock_checkpoints_do_not_change_the_result(tmp_path, reference, monkeypatch):
    """checkpoint.every_minutes: checkpoints are written as the clock says (here every 30 ms)
    and a run that wrote them ends with the same output as one that did not."""
    from mpi4py import MPI

    from remc_mpi.config import parse_config
    from remc_mpi.driver.engine import run

    written = []
    orig = checkpoint.write
    monkeypatch.setattr(checkpoint, "write", lambda *a, **k: written.append(1) or orig(*a, **k))
    raw = dict(CONFIG, output=str(tmp_path / "out.h5"), checkpoint={"every_minutes": 0.0005})
    run(parse_config(raw, str(tmp_path / "c.yaml")), MPI.COMM_SELF)
    assert len(written) >= 3
    assert_same_output(reference, tmp_path / "out.h5")


def test_a_second_run_on_the_same_output_refuses_at_once(tmp_path):
    """One run per output: while a run holds OUT.h5.lock, a second run of the same config
    stops at once (exit 2, one line naming the holder) and leaves the first run's files alone;
    the lock goes when the first run ends, and a lock whose holder is dead is taken over."""
    import json
    import socket

    from remc_mpi.io.lock import lock_path

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, output="out.h5",
                                                         sampler={"sweeps": 10**8, "burn_in": 1000, "thin": 3,
                                                                  "save_every": 1000})))
    proc = subprocess.Popen([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "-q"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_checkpoint(tmp_path, "out.h5", proc)
        # the first run's durable files (its checkpoint rotation's transients come and go)
        durable = lambda: {p.name for p in tmp_path.glob("out.h5*") if not p.name.endswith((".lock", ".tmp", ".link"))}
        before = durable()
        r = subprocess.run([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "-q", "--resume"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "being written by another run" in r.stderr and f"pid {proc.pid}" in r.stderr
        assert before <= durable()  # nothing of the first run removed
    except BaseException:
        proc.kill()  # never leave the endless first run behind
        raise
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "stopped by SIGTERM" in err  # the first run went on undisturbed
    assert not lock_path(tmp_path / "out.h5").exists()
    # a lock left by a dead process on this host is stale: the resumed run takes it over
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, output="out.h5")))
    lock_path(tmp_path / "out.h5").write_text(json.dumps({"host": socket.gethostname(), "pid": 2**22 + 12345,
                                                          "job": None, "started": 0}))
    r = subprocess.run([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "-q", "--force"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.h5").exists() and not lock_path(tmp_path / "out.h5").exists()


def interrupted_with_samples(d, name="out.h5", segments=6, ready=lambda newest, older: True):
    """A run killed once both checkpoint generations exist, ``segments`` segments (some past the
    burn-in, so they hold samples) are on disk and ``ready(newest, older)`` holds for the two
    generations' segment records. The run is frozen (SIGSTOP) before the files are read and only
    killed if they qualify, else it goes on: a generation being written between the checks (the
    moment in which ``.ckpt`` and ``.ckpt.1`` are one file) cannot slip in between check and kill."""
    proc = start(d, name)
    new, prev, _ = checkpoint.paths(d / name)
    t0 = time.time()
    while True:
        assert proc.poll() is None and time.time() - t0 < 120, proc.communicate()
        if prev.exists() and len(list(d.glob(name + ".seg*"))) >= segments:
            proc.send_signal(signal.SIGSTOP)
            records = [checkpoint._read_one(p)[1]["segments"] for p in (new, prev)]
            if ready(*records):
                proc.kill()
                proc.communicate()
                return records
            proc.send_signal(signal.SIGCONT)
        time.sleep(0.02)


def newest_records_a_segment_with_samples_the_older_lacks(newest, older):
    return len(newest) > len(older) and newest[-1]["rows"] > 0


def test_a_segment_only_the_newest_checkpoint_records_damaged_falls_back_and_finishes_identically(tmp_path,
                                                                                                   reference):
    newest, older = interrupted_with_samples(tmp_path, ready=newest_records_a_segment_with_samples_the_older_lacks)
    victim = tmp_path / f"out.h5.seg{newest[-1]['index']:04d}"
    donor = tmp_path / f"out.h5.seg{newest[-2]['index']:04d}"
    victim.write_bytes(donor.read_bytes())  # another segment of the same run copied over it
    r = resume(tmp_path)
    assert r.returncode == 0, r.stderr
    assert "does not hold the samples the checkpoint recorded" in r.stderr and "previous generation" in r.stderr
    assert_same_output(reference, tmp_path / "out.h5")


@pytest.mark.parametrize("damage", ["delete", "flip"])
def test_a_segment_every_checkpoint_needs_damaged_is_one_line_exit_1(tmp_path, damage):
    newest, older = interrupted_with_samples(tmp_path, segments=7,
                                             ready=lambda newest, older: any(r["rows"] > 0 for r in older))
    rec = next(r for r in older if r["rows"] > 0)  # a segment with samples, which both generations need
    seg = tmp_path / f"out.h5.seg{rec['index']:04d}"
    if damage == "delete":
        seg.unlink()
    else:  # bits flipped in its energies: the file reads, the samples are wrong
        with h5py.File(seg, "r") as h5:
            at = h5["samples/energy"].id.get_chunk_info(0).byte_offset
        data = bytearray(seg.read_bytes())
        data[at:at + 64] = bytes(b ^ 0x10 for b in data[at:at + 64])
        seg.write_bytes(bytes(data))
    r = resume(tmp_path)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert "no usable checkpoint" in r.stderr and seg.name in r.stderr and "--force" in r.stderr
    assert checkpoint.exists(tmp_path / "out.h5")  # nothing of the earlier run was removed


def test_resume_of_a_finished_run_refuses_changed_data(tmp_path):
    from remc_mpi.io.data import write_spectrum

    x = np.linspace(-4.0, 4.0, 60)
    write_spectrum(tmp_path / "d.csv", x, np.exp(-0.5 * x**2))
    cfg = dict(CONFIG, output="out.h5", data={"file": "d.csv"}, sampler={"sweeps": 600, "burn_in": 200})
    cfg.pop("checkpoint")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "-q"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert resume(tmp_path).returncode == 0  # the same inputs: the result is read back
    write_spectrum(tmp_path / "d.csv", x, 1.01 * np.exp(-0.5 * x**2))
    for extra in ([], ["--extend", "100"]):
        r = subprocess.run([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "--resume" if not extra else extra[0],
                            *extra[1:], "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "out.h5: was computed from other inputs" in r.stderr


@pytest.mark.parametrize("text", ["[1, 2]", "null", "not json"])
def test_a_lock_file_that_names_no_run_is_one_line(tmp_path, text):
    from remc_mpi.io.lock import lock_path

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(dict(CONFIG, output="out.h5")))
    lock_path(tmp_path / "out.h5").write_text(text)
    r = subprocess.run([sys.executable, "-m", "remc_mpi", "run", "c.yaml", "-q"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "out.h5.lock, which names no run" in r.stderr and not (tmp_path / "out.h5").exists()


def test_checkpointer_requests_on_its_sweeps_and_at_the_checks_takes_signals_and_time():
    """A checkpoint is due every every_sweeps sweeps whatever the clock; signals and the
    every_minutes clock count only at the collective checks (every CHECK_EVERY sweeps), where a
    SIGTERM's STOP outranks a due checkpoint; the hint names the newest checkpoint's sweep."""
    from pathlib import Path

    from mpi4py import MPI

    from remc_mpi.driver.checkpointer import CHECK_EVERY, Checkpointer
    from remc_mpi.config import CheckpointSpec
    from remc_mpi.sampling.parallel import LadderComm
    from remc_mpi.driver.signals import Request, Signals

    signals = Signals()
    beats = []
    ck = Checkpointer(CheckpointSpec(every_sweeps=7, every_minutes=None), LadderComm(MPI.COMM_SELF, 4),
                      Path("x.h5"), signals, heartbeat=lambda: beats.append(1))
    assert [int(ck.request(s)) for s in range(14)] == [0] * 6 + [1] + [0] * 6 + [1]
    assert len(beats) == 1  # sweep 9: the one collective check among them
    signals.code = Request.STOP  # as the SIGTERM handler leaves it
    assert ck.request(CHECK_EVERY - 2) is Request.GO_ON  # not a check: the signal waits
    assert ck.request(2 * CHECK_EVERY - 1) is Request.STOP and signals.code is Request.GO_ON
    assert "no checkpoint was written yet" in ck.resume_hint()
    ck.restored(40, {"segments": [{"rows": 3}]})
    assert ck.records == [{"rows": 3}] and "checkpoint of sweep 40 is intact" in ck.resume_hint()
    late = Checkpointer(CheckpointSpec(every_sweeps=None, every_minutes=0.0), LadderComm(MPI.COMM_SELF, 4),
                        Path("x.h5"), Signals())
    assert [int(late.request(s)) for s in range(CHECK_EVERY)] == [0] * (CHECK_EVERY - 1) + [1]
