"""The compiled kernels against the numpy reference they replace (every model family), and
the Evaluator contract inside the kernels: recomputing one stage equals recomputing all, bit for bit."""

import math

import numpy as np
import pytest

from remc_mpi.kernels.priors import kernel_priors, logpdf
from remc_mpi.kernels.spectra import Stages, TrialBuffers, commit, exp_into, full_row, kernel_model, spectra, trial
from remc_mpi.models import get_model
from remc_mpi.priors import Prior, PriorSet

FAMILIES = [
    ("cluster3", {}), ("cluster2", {}), ("cluster2", {"hybridized_initial": True}),
    ("gauss_peaks", {"n_peaks": 3}), ("lorentz_peaks", {"n_peaks": 2}),
    ("cluster3", {"doublet": True, "background": ["linear", "shirley"]}),
    ("cluster2", {"doublet": True, "background": "constant"}),
    ("gauss_peaks", {"n_peaks": 2, "doublet": True, "background": ["constant", "shirley"]}),
    ("lorentz_peaks", {"n_peaks": 3, "background": "linear"}),
    ("pvoigt_peaks", {"n_peaks": 2}),
    ("pvoigt_peaks", {"n_peaks": 2, "doublet": True, "background": ["linear", "shirley"]}),
    ("voigt_peaks", {"n_peaks": 2}),
    ("voigt_peaks", {"n_peaks": 3, "doublet": True, "background": ["constant", "shirley"]}),
    ("cluster3", {"lineshape": "voigt"}),
    ("cluster3", {"lineshape": "voigt", "widths": "per_state", "doublet": True, "background": ["linear", "shirley"]}),
    ("cluster2", {"widths": "per_state", "doublet": True}),
    ("cluster2", {"lineshape": "voigt", "widths": "per_state", "hybridized_initial": True}),
    ("cluster3", {"lineshape": "voigt", "doublet": True, "background": ["constant", "shirley", "tougaard"],
                  "extra_lines": {"n": 2, "shape": "gauss"}, "tougaard_c": 4.0}),
    ("gauss_peaks", {"n_peaks": 2, "background": ["tougaard"], "extra_lines": {"n": 1, "shape": "voigt"},
                     "tougaard_c": 2.0}),
    ("cluster2", {"lineshape": "voigt", "widths": "per_state", "doublet": True, "background": ["constant", "tougaard"],
                  "extra_lines": {"n": 2, "shape": "gauss", "doublet": True}, "tougaard_c": 4.0}),
    ("voigt_peaks", {"n_peaks": 2, "doublet": True, "extra_lines": {"n": 3, "shape": "voigt", "doublet": 2},
                     "lines_in_window": True}),
    ("cluster2", {"doublet": True, "background": ["iterative_shirley", "linear"], "extra_lines": {"n": 1},
                  "fixed_background": {"energy": [-5.0, 15.0], "values": [0.1, 0.4]}}),
    ("cluster3", {"lineshape": "voigt", "widths": "per_state", "doublet": True, "lines_in_window": True,
                  "background": ["constant", "shirley", "tougaard"], "tougaard_c": 4.0}),
    ("gauss_peaks", {"n_peaks": 3, "doublet": True, "lines_in_window": True}),
    ("polynomial", {"degree": 3}),
    ("charge_transfer", {}), ("charge_transfer", {"configurations": 4}),
    ("charge_transfer", {"configurations": 2, "pure_initial": True}),
    ("charge_transfer", {"n0": 1, "configurations": 3, "lineshape": "voigt", "widths": "per_state", "doublet": True,
                         "background": ["constant", "shirley"]}),
    ("charge_transfer", {"band": {"levels": 3}, "lineshape": "voigt", "doublet": True}),
]
IDS = [f"{n}-{'-'.join(str(v)[:40] for v in o.values()) or 'plain'}" for n, o in FAMILIES]


def test_every_registered_family_is_tested_here():
    """A family added through the registries (docs/extending.md) must join FAMILIES: its kernel
    is then checked against its numpy reference below."""
    from remc_mpi.models import MODELS

    assert set(MODELS) == {name for name, _ in FAMILIES}


def random_theta(model, n, rng):
    """Parameters spread over physically sensible ranges (energies on a -5..15 eV grid)."""
    th = rng.uniform(0.2, 2.0, (n, len(model.param_names)))
    for j, name in enumerate(model.param_names):
        if name == "delta":
            th[:, j] = rng.uniform(-5, 15, n)
        elif name in ("uff", "ufc"):
            th[:, j] = rng.uniform(5, 15, n)
        elif name.startswith("mu") or name == "shift":
            th[:, j] = rng.uniform(-3, 12, n)
        elif name == "so_split":
            th[:, j] = rng.uniform(1, 5, n)
        elif name.startswith("b") and name[1:].isdigit():
            th[:, j] = rng.uniform(0.5, 20, n)
    return th


@pytest.mark.parametrize("name,opts", FAMILIES, ids=IDS)
def test_kernel_spectra_and_energies_match_the_numpy_reference(name, opts):
    m = get_model(name, **opts)
    x = np.linspace(-5, 15, 300)
    rng = np.random.default_rng(7)
    th = random_theta(m, 40, rng)
    data = rng.normal(0, 0.5, x.size)
    y, u = spectra(kernel_model(m, x), th, data)
    ref = m.spectrum(th, x)
    scale = np.abs(ref).max(axis=1, keepdims=True)
    assert np.all(np.abs(y - ref) <= 1e-12 * scale), np.abs(y - ref).max()
    ref_u = m.energies(th, x, data)  # 0.5 sum (ref - data)^2, +inf outside a lines_in_window support
    np.testing.assert_allclose(u, ref_u, rtol=1e-12)
    if opts.get("lines_in_window"):  # both sides of the constraint are exercised
        assert 0 < np.sum(np.isinf(u)) < len(u)
        np.testing.assert_allclose(u[np.isfinite(u)], 0.5 * np.sum((ref - data) ** 2, axis=1)[np.isfinite(u)],
                                   rtol=1e-12)


@pytest.mark.parametrize("name,opts", FAMILIES, ids=IDS)
def test_one_stage_recomputed_equals_every_stage_bitwise(name, opts):
    m = get_model(name, **opts)
    x = np.linspace(-5, 15, 200)
    km = kernel_model(m, x)
    rng = np.random.default_rng(8)
    th = random_theta(m, 1, rng)[0]
    data = rng.normal(0, 0.5, x.size)
    model = km.arrays(data)
    state, ref, tb = Stages.zeros(km, 1), Stages.zeros(km, 1), TrialBuffers.zeros(km)
    full_row(th, model, state, 0, tb)
    for j in rng.permutation(len(m.param_names)):
        th[j] *= 1.1
        u = trial(th, km.stage[j], km.peak[j], model, state, 0, tb)
        commit(km.stage[j], km.spec, state, 0, tb)
        u_full = full_row(th, model, ref, 0, TrialBuffers.zeros(km))
        assert u == u_full, m.param_names[j]
        for a in Stages._fields:
            np.testing.assert_array_equal(getattr(state, a)[0], getattr(ref, a)[0], err_msg=f"{m.param_names[j]}: {a}")


@pytest.mark.parametrize("name,opts", FAMILIES, ids=IDS)
def test_rows_after_sweeps_of_every_move_equal_a_fresh_evaluation_bitwise(name, opts):
    """Whole-vector moves (the prior draw at lambda = 0, the joint move) change every
    parameter: the stage they recompute must cover every line (extra lines included), so the
    stored rows and energies after sweeps equal a fresh evaluation of the stored theta."""
    from remc_mpi.sampling.sampler import SlotBlock

    m = get_model(name, **opts)
    x = np.linspace(-5, 15, 120)
    rng = np.random.default_rng(9)
    th = random_theta(m, 1, rng)[0]
    data = m.spectrum(th[None], x)[0] + rng.normal(0, 0.05, x.size)
    priors = PriorSet(m.param_names, {n: Prior("normal", (v, 0.05 * abs(v) + 0.01)) for n, v in zip(m.param_names, th)})
    block = SlotBlock(m, priors, x, data, np.array([0.0, 0.05**-2]), 0, 2, 1)
    for _ in range(260):  # past the joint move's first covariance (JOINT_START sweeps)
        block.sweep(adapt=True)
    assert block.move_state["joint"]["tried"][1] > 0
    y, u = spectra(block.km, block.rows.theta, data)
    np.testing.assert_array_equal(u, block.rows.U)
    np.testing.assert_array_equal(y, block.rows.stages.y)


def test_stages_follow_the_model_declarations():
    from remc_mpi.kernels.spectra import DOUBLET, LEVELS, LINES, OUTPUT, PEAK

    km = kernel_model(get_model("cluster3", doublet=True, background="linear"), np.linspace(0, 1, 20))
    assert list(km.stage) == [LEVELS] * 4 + [LINES] * 2 + [OUTPUT] + [DOUBLET] * 2 + [OUTPUT] * 2
    # a per-state width recomputes its own line (and its doublet copy); sigma_g every line
    m = get_model("cluster3", doublet=True, lineshape="voigt", widths="per_state")
    assert m.param_names[4:8] == ("gamma1", "gamma2", "gamma3", "sigma_g")
    km = kernel_model(m, np.linspace(0, 1, 20))
    assert list(km.stage) == [LEVELS] * 4 + [PEAK] * 3 + [LINES, LINES, OUTPUT] + [DOUBLET] * 2
    assert list(km.peak[4:7]) == [0, 1, 2]
    km = kernel_model(get_model("gauss_peaks", n_peaks=2), np.linspace(0, 1, 20))
    assert list(km.stage) == [PEAK] * 6 and list(km.peak) == [0, 1, 0, 1, 0, 1]


@pytest.mark.parametrize("form,args", [("uniform", (-1.0, 2.0)), ("loguniform", (0.1, 10.0)), ("normal", (0.3, 2.0)),
                                       ("truncnormal", (0.5, 1.0, -1.0, 3.0)), ("gamma", (5.0, 0.04)),
                                       ("gamma", (0.7, 2.0)), ("fixed", (1.5,))])
def test_kernel_prior_log_densities_match_the_reference(form, args):
    ps = PriorSet(("p",), {"p": Prior(form, args)})
    kp = kernel_priors(ps)
    xs = np.concatenate([np.linspace(-3, 300, 301), [1.5, 0.1, 10.0, -1.0, 2.0, 0.0]])
    ref = ps.priors[0].logpdf(xs)
    got = np.array([logpdf(kp, 0, x) for x in xs])
    assert np.array_equal(np.isinf(got), np.isinf(ref))
    finite = np.isfinite(ref)
    np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-13, atol=1e-13)


def test_vectorisable_exp_is_within_one_ulp_of_libm():
    t = np.concatenate([np.linspace(-745.5, 0.0, 2_000_001), np.linspace(0.0, 709.7, 200_001),
                        [-746.0, -800.0, -1e300, -708.4, -0.0, 1e-300, 710.0, 1e300]])
    out = np.empty_like(t)
    exp_into(t, out, np.empty(2 * t.size, dtype=np.int64))
    with np.errstate(over="ignore"):  # 710 and 1e300 overflow to inf, as the kernel's must
        ref = np.exp(t)
    ulp = np.spacing(np.maximum(np.abs(ref), 5e-324))
    finite = np.isfinite(ref)
    assert np.all(np.abs(out[finite] - ref[finite]) <= ulp[finite])
    assert np.all(out[~finite] == np.inf)


def test_tougaard_on_a_non_uniform_grid_uses_the_matrix_and_matches_the_reference():
    """A uniform grid gives the Tougaard operator as N lags (3 rows of basis), any other the full
    matrix; both kernels equal the numpy reference."""
    m = get_model("gauss_peaks", n_peaks=2, background=["constant", "tougaard"], tougaard_c=3.0)
    rng = np.random.default_rng(3)
    for x, rows in ((np.linspace(-5, 15, 200), 3), (np.sort(rng.uniform(-5, 15, 200)), 201)):
        km = kernel_model(m, x)
        assert km.basis.shape[0] == rows
        th = random_theta(m, 5, rng)
        y, _ = spectra(km, th)
        ref = m.spectrum(th, x)
        assert np.all(np.abs(y - ref) <= 1e-12 * np.abs(ref).max(axis=1, keepdims=True))


def test_tougaard_lags_in_blocks_of_four_equal_the_operator_at_every_grid_length():
    """The uniform-grid kernel adds four points' shares per pass and the rest one at a time:
    every length (the remainders 0..3 and grids shorter than a block) equals the numpy operator."""
    from remc_mpi.kernels.spectra import tougaard_into
    from remc_mpi.models.backgrounds import tougaard_lags, tougaard_matrix

    rng = np.random.default_rng(8)
    for n in list(range(2, 14)) + [384]:
        x = np.linspace(830.0, 880.0, n)
        s = rng.uniform(0.5, 2.0, n)
        basis = np.ascontiguousarray(np.concatenate([np.zeros((1, n)), tougaard_lags(x, 600.0)]))
        t = np.full(n, np.nan)
        tougaard_into(basis, s, t)
        ref = s @ tougaard_matrix(x, 600.0)
        assert np.all(np.abs(t - ref) <= 1e-13 * np.abs(ref).max()), n


def test_the_cache_key_covers_every_remc_mpi_module_the_kernels_import():
    """numba bakes imported constants in and checks only the defining file's time stamp: the
    cache folder's digest must cover every module that kernels/ and moves/ import from (found here
    independently, by the parser)."""
    import ast
    from pathlib import Path

    from remc_mpi.kernels import kernel_sources

    package = Path(__file__).resolve().parents[1] / "remc_mpi"
    covered = set(kernel_sources())
    for path in [p for folder in ("kernels", "moves") for p in (package / folder).glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("remc_mpi"):
                base = package.joinpath(*node.module.split(".")[1:])
                module = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
                assert module in covered, (path.name, node.module)
                for alias in node.names:
                    sub = base / f"{alias.name}.py"
                    assert not sub.is_file() or sub in covered, (path.name, node.module, alias.name)
    assert {package / "priors.py", package / "models" / "lineshapes.py", package / "likelihood.py"} <= covered


def _same(a, b):
    """Equal named tuples (nested ones too, arrays by value): the same class and fields."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


WINDOW_FAMILIES = [k for k, (_, o) in enumerate(FAMILIES) if o.get("lines_in_window")]


@pytest.mark.parametrize("name,opts", [FAMILIES[0]] + [FAMILIES[k] for k in WINDOW_FAMILIES],
                         ids=[IDS[0]] + [IDS[k] for k in WINDOW_FAMILIES])
def test_the_sweep_entry_names_again_every_tuple_it_receives_plain(name, opts):
    """sweep_entry takes the block's named tuples as plain ones (numba types those faster) and
    names them again by their classes: every field arrives under its own name (a wrong order in
    named_model or named_states fails here, not as wrong numbers)."""
    from remc_mpi.kernels import plain
    from remc_mpi.kernels.spectra import named_model
    from remc_mpi.moves.sweep import named_states
    from remc_mpi.sampling.sampler import SlotBlock

    m = get_model(name, **opts)
    x = np.linspace(-5, 15, 60)
    th = random_theta(m, 1, np.random.default_rng(3))[0]
    priors = PriorSet(m.param_names, {n: Prior("normal", (v, 0.1)) for n, v in zip(m.param_names, th)})
    block = SlotBlock(m, priors, x, m.spectrum(th[None], x)[0], np.array([0.0, 1.0]), 0, 2, 1)
    for _ in range(3):
        block.sweep(adapt=True)
    _same(named_model(plain(block.model_arrays)), block.model_arrays)
    states = tuple(mv.kernel_state(block.move_state[mv.name], True) for mv in block.moves)
    _same(named_states(plain(states)), states)


def test_borrowed_arrays_share_their_data_and_keep_their_owners_counts():
    """kernels.borrowed hands a compiled call every array of a nested tuple without an owner
    (no reference counting inside): reads and writes reach the caller's arrays, nested tuples
    and scalars pass unchanged, and the owners' reference counts are the same after the call
    (a borrowed array that numba counted down would free or corrupt its owner)."""
    import sys

    import numba

    from remc_mpi.kernels import borrowed

    @numba.njit
    def fill(t):
        a, (b, k), c = borrowed(t)
        for i in range(c.size):
            c[i] = a[i] + b[i % b.size] * k
        views = 0.0
        for j in range(a.size):  # views of borrowed arrays are borrowed too
            views += a[j:][0]
        return views

    a, b, c = np.arange(5.0), np.array([10.0, 20.0]), np.zeros(5)
    counts = [sys.getrefcount(v) for v in (a, b, c)]
    for _ in range(3):
        assert fill((a, (b, 3.0), c)) == a.sum()
    np.testing.assert_array_equal(c, a + np.array([10.0, 20.0, 10.0, 20.0, 10.0]) * 3.0)
    assert [sys.getrefcount(v) for v in (a, b, c)] == counts

    @numba.extending.intrinsic
    def owner(typingctx, array):
        def codegen(context, builder, signature, args):
            view = context.make_array(signature.args[0])(context, builder, value=args[0])
            return builder.ptrtoint(view.meminfo, context.get_value_type(numba.types.intp))
        return numba.types.intp(array), codegen

    @numba.njit
    def owners(t):
        return owner(t[1][0]), owner(borrowed(t)[1][0])

    held, lent = owners((a, (b, 3.0), c))
    assert held != 0 and lent == 0


def test_cycle_count_grows_with_the_work_between_two_reads():
    """kernels.cycle_count, the ticks the sweep kernel charges each slot with: it never goes back,
    and a loop ten times longer takes more ticks (on a machine without a user-readable counter it
    is 0, and the slots are shared by count)."""
    import numba

    from remc_mpi.kernels import cycle_count, cycle_source

    @numba.njit
    def ticks(n):
        t0, s = cycle_count(), 0.0
        for i in range(n):
            s += math.sqrt(i + s)
        return cycle_count() - t0, s

    short = min(ticks(20_000)[0] for _ in range(5))
    long = min(ticks(200_000)[0] for _ in range(5))
    if cycle_source() is None:
        assert short == long == 0
    else:
        assert 0 < short < long


def test_a_sweep_charges_every_slot_its_own_ticks():
    """SlotBlock.slot_ticks: after sweeps every row has ticks, a prior draw (the lambda = 0 slot)
    costs less than a row with one evaluation per free parameter, and reset_ticks zeroes them."""
    from remc_mpi.kernels import cycle_source
    from remc_mpi.priors import Prior, PriorSet
    from remc_mpi.sampling.sampler import SlotBlock

    if cycle_source() is None:
        pytest.skip(f"no user-readable cycle counter on {__import__('platform').machine()}")
    m = get_model("gauss_peaks", n_peaks=2)
    x = np.linspace(-5, 5, 200)
    th = np.array([1.0, 0.8, -1.0, 1.0, 1.5, 0.6])
    y = m.spectrum(th[None], x)[0]
    priors = PriorSet(m.param_names, {n: Prior("uniform", (v - 0.5, v + 0.5)) for n, v in zip(m.param_names, th)})
    block = SlotBlock(m, priors, x, y, np.array([0.0, 1.0, 100.0, 1e4]), 0, 4, seed=3)
    for _ in range(50):
        block.sweep()
    ticks = block.slot_ticks()
    assert np.all(ticks > 0) and ticks[0] < ticks[1:].min()
    block.reset_ticks()
    assert np.all(block.slot_ticks() == 0)
