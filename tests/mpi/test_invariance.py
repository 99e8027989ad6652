"""Same seed, same samples whatever the number of ranks (docs/contract.md, section 4), to the last bit.

Run under mpiexec at 1, 2 and 4 ranks: each run compares the world run, sub-communicators of
other sizes, and a serial run on COMM_SELF, with L = 7 temperatures (not divisible by 2 or 4).
"""

import numpy as np
import pytest
from mpi4py import MPI

from remc_mpi.ui.cli import main
from remc_mpi.config import parse_config
from remc_mpi.driver.engine import run
from remc_mpi.sampling.parallel import block_costs, partition, partition_by_cost

from mpi_helpers import arrays, interrupt_at

CLUSTER = {
    "data": {"synthetic": {"model": "cluster3", "params": {"delta": 1.6, "v": 0.76, "uff": 10.5, "ufc": 12.5,
                                                          "gamma": 0.7, "shift": 0.0, "amp": 1.0},
                           "grid": [-8.0, 14.0, 60], "noise": 0.02, "seed": 2}},
    "model": {"name": "cluster3"},
    "noise": {"sigma": 0.02},
    "priors": {"delta": {"uniform": [-5.0, 15.0]}, "v": {"uniform": [0.1, 2.0]}, "uff": {"uniform": [5.0, 15.0]},
               "ufc": {"uniform": [5.0, 20.0]}, "gamma": {"uniform": [0.1, 2.0]},
               "shift": {"uniform": [-3.0, 3.0]}, "amp": {"fixed": 1.0}},
    "ladder": {"n_temps": 7, "adapt": True},
    "sampler": {"sweeps": 700, "burn_in": 300, "thin": 2, "exchange_interval": 1},
    "seed": 42,
    "progress": False,
}


def _run(comm, raw, path):
    cfg = parse_config(dict(raw, output=str(path)), "inv.yaml")
    return run(cfg, comm)[0]


def test_partition_is_balanced_and_contiguous():
    for L in range(1, 20):
        for P in range(1, L + 1):
            blocks = partition(L, P)
            assert blocks[0][0] == 0 and blocks[-1][1] == L
            assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
            sizes = [hi - lo for lo, hi in blocks]
            assert max(sizes) - min(sizes) <= 1


def test_partition_by_cost_evens_the_blocks_as_far_as_cuts_allow():
    rng = np.random.default_rng(5)
    for L in range(1, 40):
        for P in range(1, min(L, 9) + 1):
            cost = rng.uniform(0.5, 2.0, L) * np.linspace(1.0, 2.0, L)
            blocks = partition_by_cost(cost, P)
            assert blocks[0][0] == 0 and blocks[-1][1] == L
            assert all(lo < hi for lo, hi in blocks) and all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
            # each cut lies within half a slot's cost of its share; so does no block exceed the
            # even share by more than one slot's cost
            assert block_costs(cost, blocks).max() <= cost.sum() / P + cost.max() + 1e-12
            if P == 2:  # the best cut
                best = min(max(cost[:k].sum(), cost[k:].sum()) for k in range(1, L))
                assert block_costs(cost, blocks).max() == pytest.approx(best)
    assert partition_by_cost(np.zeros(7), 3) == partition(7, 3)  # no counter: by count
    assert partition_by_cost(np.array([1.0] * 6 + [100.0]), 2) == [(0, 6), (6, 7)]


def _skewed_ticks(monkeypatch):
    """Every slot's measured cost made (slot + 1)^2 (the top slots fill a rank alone), and a
    record of the blocks each rebalance leaves."""
    from remc_mpi.driver.candidate import CandidateRun
    from remc_mpi.sampling.sampler import SlotBlock

    monkeypatch.setattr(SlotBlock, "slot_ticks", lambda self: np.arange(self.lo + 1, self.hi + 1, dtype=np.int64) ** 2)
    seen = []
    orig = CandidateRun.rebalance

    def rebalance(self, next_sweep):
        orig(self, next_sweep)
        seen.append(list(self.lc.blocks))

    monkeypatch.setattr(CandidateRun, "rebalance", rebalance)
    return seen


@pytest.mark.parametrize("mode", ["gather", "mpio"])
def test_slots_moved_by_cost_give_the_same_samples(comm, shared_dir, monkeypatch, mode):
    """The slots shared among the ranks by their measured cost (CandidateRun.rebalance; here a
    cost that puts one slot on every rank but the first) give the serial run's samples, to the
    last bit, in either output mode."""
    import h5py

    if mode == "mpio" and not h5py.get_config().mpi:
        pytest.skip("h5py without MPI")
    raw = dict(CLUSTER, sampler={"sweeps": 500, "burn_in": 200, "thin": 2})
    seen = _skewed_ticks(monkeypatch)
    got = run(parse_config(dict(raw, output=str(shared_dir / f"moved-{mode}.h5")), "m.yaml"), comm, hdf5=mode)[0]
    size = comm.Get_size()
    if size > 1:  # moved after the run's first 100 sweeps, then found balanced after the burn-in's
        assert seen[0] == partition_by_cost(np.arange(1.0, 8.0) ** 2, size) != partition(7, size)
        assert len(seen) == 2 and seen[1] == seen[0]
    monkeypatch.undo()
    if comm.Get_rank() == 0:
        ref = run(parse_config(dict(raw, output=str(shared_dir / "ref.h5")), "m.yaml"), MPI.COMM_SELF)[0]
        a, b = arrays(shared_dir / f"moved-{mode}.h5"), arrays(shared_dir / "ref.h5")
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert got["log_evidence"] == ref["log_evidence"] and got["posterior"] == ref["posterior"]
        for key in ("swap_rate", "round_trips", "acceptance"):
            assert got["diagnostics"][key] == ref["diagnostics"][key], key
    comm.Barrier()


def test_same_samples_at_any_rank_count(comm, shared_dir):
    rank, size = comm.Get_rank(), comm.Get_size()
    world = _run(comm, CLUSTER, shared_dir / "world.h5")
    # every other size that divides the world: sub-communicators running side by side
    results = {size: world}
    for sub_size in (1, 2):
        if sub_size < size and size % sub_size == 0:
            sub = comm.Split(rank // sub_size, rank)
            results[sub_size] = _run(sub, CLUSTER, shared_dir / f"sub{sub_size}-{rank // sub_size}.h5")
            sub.Free()
    comm.Barrier()
    if rank == 0:
        serial = _run(MPI.COMM_SELF, CLUSTER, shared_dir / "self.h5")
        ref = arrays(shared_dir / "self.h5")
        files = [shared_dir / "world.h5"] + sorted(shared_dir.glob("sub*.h5"))
        for f in files:
            got = arrays(f)
            for key in ref:
                np.testing.assert_array_equal(got[key], ref[key], err_msg=f"{f.name}:{key}")
        for s in results.values():
            assert s["log_evidence"] == serial["log_evidence"]
            assert s["posterior"] == serial["posterior"]
            assert s["diagnostics"]["swap_rate"] == serial["diagnostics"]["swap_rate"]
            assert s["diagnostics"]["round_trips"] == serial["diagnostics"]["round_trips"]
            assert s["diagnostics"]["acceptance"] == serial["diagnostics"]["acceptance"]
        assert ref["energy"].shape == (400, 7)
        assert len(set(np.unique(ref["replica"]))) == 7  # configurations really moved


def test_cli_run_and_bad_input_under_mpi(comm, shared_dir, capsys):
    import yaml

    cfg_path = shared_dir / "cli.yaml"
    if comm.Get_rank() == 0:
        raw = dict(CLUSTER, sampler={"sweeps": 60, "burn_in": 20}, output="cli.h5")
        cfg_path.write_text(yaml.safe_dump(raw))
        (shared_dir / "bad.yaml").write_text(yaml.safe_dump(dict(raw, sampler={"sweps": 10})))
    comm.Barrier()
    assert main(["run", str(cfg_path), "-q"]) == 0
    assert (shared_dir / "cli.h5").exists()
    assert main(["run", str(shared_dir / "bad.yaml")]) == 2
    err = capsys.readouterr().err
    if comm.Get_rank() == 0:
        assert "sampler.sweps: unknown key (did you mean 'sweeps'?)" in err
    else:
        assert err == ""
    # an existing output is refused on every rank, before sampling
    assert main(["run", str(cfg_path), "-q"]) == 2
    comm.Barrier()


def test_multi_candidate_groups_match_serial(comm, shared_dir):
    raw = {k: v for k, v in CLUSTER.items() if k != "model"}
    raw["models"] = [{"name": "cluster3"}, {"name": "cluster2"}]
    raw["sampler"] = {"sweeps": 200, "burn_in": 100}
    got = run(parse_config(dict(raw, output=str(shared_dir / "mc.h5")), "mc.yaml"), comm)
    assert [s["label"] for s in got] == ["cluster3", "cluster2"]
    if comm.Get_rank() == 0:
        ref = run(parse_config(dict(raw, output=str(shared_dir / "ref.h5")), "mc.yaml"), MPI.COMM_SELF)
        for a, b in zip(got, ref):
            assert a["log_evidence"] == b["log_evidence"]
            assert a["posterior"] == b["posterior"]


@pytest.mark.parametrize("first,second", [("world", "self"), ("self", "world")])
def test_resume_on_another_rank_count(comm, shared_dir, monkeypatch, first, second):
    from remc_mpi.errors import Interrupted

    raw = dict(CLUSTER, sampler={"sweeps": 600, "burn_in": 200, "thin": 2})
    out = shared_dir / f"resume-{first}.h5"
    cfg = parse_config(dict(raw, output=str(out)), "r.yaml")
    comms = {"world": comm, "self": MPI.COMM_SELF}
    c1 = comms[first]
    if c1 is comm or comm.Get_rank() == 0:
        orig = interrupt_at(monkeypatch, c1, 333)
        with pytest.raises(Interrupted):
            run(cfg, c1)
        monkeypatch.setattr("remc_mpi.sampling.sampler.SlotBlock.sweep", orig)
    comm.Barrier()
    c2 = comms[second]
    if c2 is comm or comm.Get_rank() == 0:
        got = run(cfg, c2, resume=True)[0]
        assert got["provenance"]["resumed_at_sweep"] == 340  # the next collective check
    comm.Barrier()
    if comm.Get_rank() == 0:
        ref = run(parse_config(dict(raw, output=str(shared_dir / f"ref-{first}.h5")), "r.yaml"), MPI.COMM_SELF)[0]
        a, b = arrays(out), arrays(shared_dir / f"ref-{first}.h5")
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert got["log_evidence"] == ref["log_evidence"]
        assert got["posterior"] == ref["posterior"]
    comm.Barrier()


def test_interrupt_in_one_candidate_group_stops_all_without_hanging(comm, shared_dir, monkeypatch):
    """Two candidates on rank groups; only world rank 0 gets SIGTERM. Its group checkpoints and
    stops, the other group finishes its candidate, then every rank raises Interrupted (no rank
    is left waiting in a collective); --resume completes both with the serial results."""
    from remc_mpi.errors import Interrupted

    if comm.Get_size() < 2:
        pytest.skip("needs two rank groups")
    raw = {k: v for k, v in CLUSTER.items() if k != "model"}
    raw["models"] = [{"name": "cluster3"}, {"name": "cluster2"}]
    raw["sampler"] = {"sweeps": 400, "burn_in": 100}
    cfg = parse_config(dict(raw, output=str(shared_dir / "grp.h5")), "g.yaml")
    orig = interrupt_at(monkeypatch, comm, 150)
    with pytest.raises(Interrupted):
        run(cfg, comm)
    monkeypatch.setattr("remc_mpi.sampling.sampler.SlotBlock.sweep", orig)
    got = run(cfg, comm, resume=True)
    if comm.Get_rank() == 0:
        ref = run(parse_config(dict(raw, output=str(shared_dir / "grp-ref.h5")), "g.yaml"), MPI.COMM_SELF)
        for a, b in zip(got, ref):
            assert a["log_evidence"] == b["log_evidence"] and a["posterior"] == b["posterior"]
    comm.Barrier()


def test_independent_ladders_same_at_any_rank_count_and_resume_across(comm, shared_dir, monkeypatch):
    """ladder.chains = 3 (21 slots over 1, 2 or 4 ranks, chains split across rank boundaries):
    the world run equals the serial one bit for bit, and a run interrupted on the world and
    resumed on one rank ends identical too."""
    from remc_mpi.errors import Interrupted

    raw = dict(CLUSTER, ladder=dict(CLUSTER["ladder"], chains=3), sampler={"sweeps": 400, "burn_in": 150, "thin": 2})
    world = _run(comm, raw, shared_dir / "chains-world.h5")
    cfg = parse_config(dict(raw, output=str(shared_dir / "chains-resumed.h5")), "c.yaml")
    orig = interrupt_at(monkeypatch, comm, 233)
    with pytest.raises(Interrupted):
        run(cfg, comm)
    monkeypatch.setattr("remc_mpi.sampling.sampler.SlotBlock.sweep", orig)
    comm.Barrier()
    if comm.Get_rank() == 0:
        resumed = run(cfg, MPI.COMM_SELF, resume=True)[0]
        serial = _run(MPI.COMM_SELF, raw, shared_dir / "chains-self.h5")
        ref = arrays(shared_dir / "chains-self.h5")
        for f in ("chains-world.h5", "chains-resumed.h5"):
            got = arrays(shared_dir / f)
            for key in ref:
                np.testing.assert_array_equal(got[key], ref[key], err_msg=f"{f}:{key}")
        for s in (world, resumed):
            assert s["log_evidence"] == serial["log_evidence"] and s["chains"] == serial["chains"]
        assert ref["energy"].shape == (250, 21) and serial["chains"]["count"] == 3
        # replicas travel inside their own chain only
        chain_of = ref["replica"] // 7
        assert np.all(chain_of == np.arange(21) // 7)
    comm.Barrier()


def _world_and_serial(comm, raw, shared_dir, name):
    """The run on every rank and (rank 0) on one: their summaries, once their arrays are
    checked equal (None, None elsewhere)."""
    world = _run(comm, raw, shared_dir / f"{name}-world.h5")
    if comm.Get_rank() != 0:
        return None, None
    serial = _run(MPI.COMM_SELF, raw, shared_dir / f"{name}-self.h5")
    a, b = arrays(shared_dir / f"{name}-world.h5"), arrays(shared_dir / f"{name}-self.h5")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    return world, serial


def test_a_target_error_run_stops_at_the_same_sweep_at_any_rank_count(comm, shared_dir):
    raw = dict(CLUSTER, sampler={"sweeps": 600, "burn_in": 200, "thin": 2, "target_error": 0.5,
                                 "max_sweeps": 5000, "check_every": 100})
    world, serial = _world_and_serial(comm, raw, shared_dir, "target")
    if comm.Get_rank() == 0:
        assert world["stop"] == serial["stop"] and world["log_evidence"] == serial["log_evidence"]
        assert world["stop"]["reason"] == "target_error" and world["log_evidence"]["stderr"] <= 0.5
    comm.Barrier()


def test_extend_equals_the_longer_run_on_any_rank_count(comm, shared_dir):
    """A finished run extended by --extend (here on one rank, after a run on all of them)
    equals, array by array, the run asked for the longer length from the start."""
    raw = dict(CLUSTER, sampler={"sweeps": 400, "burn_in": 150, "thin": 2})
    short = parse_config(dict(raw, output=str(shared_dir / "ext.h5")), "e.yaml")
    run(short, comm)
    long_raw = dict(raw, sampler=dict(raw["sampler"], sweeps=650))
    longer = _run(comm, long_raw, shared_dir / "long.h5")
    if comm.Get_rank() == 0:
        extended = run(short, MPI.COMM_SELF, extend=250)[0]
        a, b = arrays(shared_dir / "ext.h5"), arrays(shared_dir / "long.h5")
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert extended["log_evidence"] == longer["log_evidence"] and extended["posterior"] == longer["posterior"]
        assert extended["stop"]["sweep"] == 650 and not list(shared_dir.glob("ext.h5.*"))  # no segments, no checkpoint
    comm.Barrier()


def test_n_temps_auto_chooses_the_same_ladder_at_any_rank_count(comm, shared_dir):
    raw = dict(CLUSTER, ladder={"n_temps": "auto", "adapt": True}, sampler={"sweeps": 500, "burn_in": 300, "thin": 2})
    world, serial = _world_and_serial(comm, raw, shared_dir, "auto")
    if comm.Get_rank() == 0:
        assert world["ladder_choice"] == serial["ladder_choice"] and world["lambda"] == serial["lambda"]
    comm.Barrier()


def test_a_damaged_segment_on_resume_is_one_fault_on_every_rank(comm, shared_dir, monkeypatch, capsys):
    """A segment every checkpoint generation needs, damaged after the interruption: every rank
    raises the same DamagedFile (no rank left waiting, no MPI_Abort), the command line prints one
    line on rank 0 and exits 1, and the checkpoint is left for a later --resume."""
    import h5py

    from remc_mpi.io import checkpoint
    from remc_mpi.errors import Interrupted
    from remc_mpi.errors import DamagedFile

    raw = dict(CLUSTER, sampler={"sweeps": 600, "burn_in": 200, "thin": 2}, checkpoint={"every_sweeps": 250})
    out = shared_dir / "damaged.h5"
    cfg = parse_config(dict(raw, output=str(out)), "d.yaml")
    orig = interrupt_at(monkeypatch, comm, 333)
    with pytest.raises(Interrupted):
        run(cfg, comm)
    monkeypatch.setattr("remc_mpi.sampling.sampler.SlotBlock.sweep", orig)
    if comm.Get_rank() == 0:
        seg = out.with_name(out.name + ".seg0000")  # sweeps 200-249 kept: every generation needs it
        with h5py.File(seg, "r") as h5:
            at = h5["samples/energy"].id.get_chunk_info(0).byte_offset
        data = bytearray(seg.read_bytes())
        data[at:at + 16] = bytes(b ^ 0x01 for b in data[at:at + 16])
        seg.write_bytes(bytes(data))
    comm.Barrier()
    with pytest.raises(DamagedFile, match="seg0000 does not hold the samples the checkpoint recorded"):
        run(cfg, comm, resume=True)
    assert checkpoint.exists(out)
    (shared_dir / "d.yaml").write_text(__import__("yaml").safe_dump(dict(raw, output="damaged.h5")))
    comm.Barrier()
    capsys.readouterr()
    assert main(["run", str(shared_dir / "d.yaml"), "--resume", "-q"]) == 1
    err = capsys.readouterr().err
    if comm.Get_rank() == 0:
        assert err.count("\n") == 1 and "no usable checkpoint" in err, err
    else:
        assert err == ""
    comm.Barrier()


def test_the_charge_transfer_kernel_gives_the_same_samples_at_any_rank_count(comm, shared_dir):
    """The general family's compiled kind (a LAPACK eigensolver per evaluation, here with a band
    of two ligand levels) under the same guarantee as every other model."""
    raw = dict(CLUSTER, model={"name": "charge_transfer", "options": {"band": {"levels": 2}}},
               priors={**CLUSTER["priors"], "band_w": {"uniform": [0.1, 4.0]}},
               sampler={"sweeps": 300, "burn_in": 100, "thin": 2})
    world = _run(comm, raw, shared_dir / "ct-world.h5")
    if comm.Get_rank() == 0:
        serial = _run(MPI.COMM_SELF, raw, shared_dir / "ct-self.h5")
        a, b = arrays(shared_dir / "ct-world.h5"), arrays(shared_dir / "ct-self.h5")
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert world["log_evidence"] == serial["log_evidence"] and world["derived"] == serial["derived"]
    comm.Barrier()
