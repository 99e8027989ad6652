"""Config validation: every kind of bad input is one line, exit 2, nothing written."""

import copy

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remc_mpi.ui.cli import main
from remc_mpi.config import load_config, parse_config
from remc_mpi.errors import InputError

from conftest import LINEAR_CONFIG


def write(tmp_path, cfg, name="config.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(cfg) if isinstance(cfg, dict) else cfg)
    return p


def test_valid_config_loads(linear_case):
    cfg = load_config(linear_case / "config.yaml")
    assert cfg.data.n == 25
    assert [c.label for c in cfg.candidates] == ["polynomial2"]
    assert cfg.candidates[0].model.param_names == ("c0", "c1", "c2")
    assert cfg.output == str(linear_case / "out.h5")  # relative to the config's folder
    assert cfg.sampler.sweeps == 400 and cfg.ladder.n_temps == 8


BASE = yaml.safe_load(LINEAR_CONFIG)


@pytest.mark.parametrize("mutate,match", [
    (lambda c: c.update(sampel={}), r"config.yaml: sampel: unknown key \(did you mean 'sampler'\?\)"),
    (lambda c: c["priors"].update(c3={"uniform": [0, 1]}), "priors.c3: no candidate model has this parameter"),
    (lambda c: c["priors"].update(c1={"uniform": [2.0, 1.0]}), r"priors.c1.uniform: uniform bounds \[2.0, 1.0\] are empty or inverted"),
    (lambda c: c["priors"].update(c1={"uniform": [1.0, 1.0]}), "priors.c1.uniform: .*empty"),
    (lambda c: c["priors"].pop("c2"), "priors.c2: missing prior"),
    (lambda c: c.pop("noise"), "noise: missing required key"),
    (lambda c: c["sampler"].update(sweeps="many"), "sampler.sweeps: must be an integer"),
    (lambda c: c["sampler"].update(burn_in=400), "sampler.burn_in: must be less than"),
    (lambda c: c["sampler"].update(check_growth=1.5), "sampler.check_growth: must be at most 1"),
    (lambda c: c["sampler"].update(check_growth=-0.1), "sampler.check_growth: must not be negative"),
    (lambda c: c["ladder"].update(n_temps=1), "ladder.n_temps: must be at least 2"),
    (lambda c: c["data"].update(file="missing.csv"), "missing.csv: file does not exist"),
    (lambda c: c["model"].update(name="cluster4"), "model.name: unknown model 'cluster4'"),
    (lambda c: c["model"]["options"].update(n_peaks=2), "model.options.n_peaks: unknown key"),
    (lambda c: c["priors"].update(c0={"gamma": [1.0, -1.0]}), "priors.c0.gamma: gamma needs positive"),
    (lambda c: c["priors"].update(c0={"normal": [0.0, 1.0, 2.0]}), "priors.c0.normal: normal takes 2"),
    (lambda c: c["noise"].update(sigma=-1), "noise.sigma: must be positive"),
    (lambda c: c["ladder"].update(betas=[0.0, 0.5, 0.4, 1.0]), "ladder.betas: must be strictly increasing"),
    (lambda c: c["sampler"].update(moves={"diferential": True}), r"sampler.moves.diferential: unknown key \(did you mean 'differential'"),
    (lambda c: c["sampler"].update(moves={"componentwise": False}), "sampler.moves.componentwise: is always on"),
    (lambda c: c["sampler"].update(moves={"joint": False}), "sampler.moves.joint: has its own key: set sampler.joint_moves"),
    (lambda c: c["sampler"].update(moves={"mixture": "no"}), "sampler.moves.mixture: has its own key"),
    (lambda c: c["sampler"].update(moves=[True]), "sampler.moves: must be a mapping"),
])
def test_bad_configs(linear_case, capsys, mutate, match):
    cfg = copy.deepcopy(BASE)
    mutate(cfg)
    p = write(linear_case, cfg)
    assert main(["run", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    import re
    assert re.search(match, err), err
    assert not (linear_case / "out.h5").exists()


def test_yaml_syntax_error_names_the_line(tmp_path, capsys):
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  file: x.csv\nnoise: [1,\n")
    assert main(["validate", str(p)]) == 2
    assert "line" in capsys.readouterr().err


def test_existing_output_is_never_overwritten(linear_case, capsys):
    out = linear_case / "out.h5"
    out.write_bytes(b"earlier result")
    assert main(["run", str(linear_case / "config.yaml")]) == 2
    assert "exists; use --force" in capsys.readouterr().err
    assert out.read_bytes() == b"earlier result"


def test_unwritable_output_folder_is_reported(linear_case, capsys):
    cfg = dict(BASE, output="no/such/folder/out.h5")
    assert main(["run", str(write(linear_case, cfg))]) == 2
    assert "does not exist" in capsys.readouterr().err


def _ceo2_csv(tmp_path):
    from remc_mpi.config import synthesize
    from remc_mpi.io.data import write_spectrum
    from remc_mpi.models import get_model

    m = get_model("cluster3")
    e, y = synthesize(m, dict(delta=1.6, v=0.76, uff=10.5, ufc=12.5, gamma=0.7, shift=0.0, amp=1.0),
                      np.linspace(-8, 14, 100), 0.01, 1)
    write_spectrum(tmp_path / "ceo2.csv", e, y)


#: the minimal file of the project's contract (a fixed-length run), exactly as written there
MINIMAL = """
data:
  file: ceo2.csv
model:
  name: cluster3
  options: {nf: 14}
noise:
  sigma: 0.01
priors:
  delta: {uniform: [-5.0, 15.0]}
  v:     {uniform: [0.1, 2.0]}
  uff:   {uniform: [5.0, 15.0]}
  ufc:   {uniform: [5.0, 20.0]}
  gamma: {uniform: [0.1, 2.0]}
  shift: {uniform: [-3.0, 3.0]}
  amp:   {fixed: 1.0}
ladder:
  n_temps: 32
sampler:
  sweeps: 20000
  burn_in: 5000
seed: 1
output: ceo2-cluster3.h5
"""


def test_minimal_spec_config_validates(tmp_path):
    """The contract's minimal file, as written (with a generated ceo2.csv)."""
    _ceo2_csv(tmp_path)
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.candidates[0].priors.free.tolist() == [True] * 6 + [False]
    assert cfg.ladder.n_temps == 32 and cfg.seed == 1
    assert cfg.sampler.sweeps == 20000 and cfg.sampler.burn_in == 5000 and cfg.sampler.target_error is None


def test_the_readme_minimal_config_validates(tmp_path):
    """The README's minimal config, read from the README itself: the same file sized by a target."""
    import re
    from pathlib import Path

    _ceo2_csv(tmp_path)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    text = re.search(r"The minimal config:\n\n```yaml\n(.*?)```", readme, re.S).group(1)
    cfg = load_config(write(tmp_path, text))
    assert cfg.candidates[0].priors.free.tolist() == [True] * 6 + [False]
    assert cfg.ladder.n_temps == 32 and cfg.seed == 1
    assert cfg.sampler.target_error == 0.05 and cfg.sampler.cap == 200000  # it sizes itself


def test_multi_model_config_and_per_model_priors(linear_case):
    cfg = copy.deepcopy(BASE)
    del cfg["model"]
    cfg["models"] = [{"name": "polynomial", "options": {"degree": 1}},
                     {"name": "polynomial", "options": {"degree": 2}, "priors": {"c2": {"normal": [0, 2]}}}]
    rc = parse_config(cfg, "x.yaml", base=linear_case)
    assert [c.label for c in rc.candidates] == ["polynomial1", "polynomial2"]
    assert rc.candidates[1].priors.priors[2].args == (0.0, 2.0)


# ---- property-based: random mutations never produce a traceback ------------------------

VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                   st.text(max_size=8), st.lists(st.floats(-10, 10), max_size=5),
                   st.dictionaries(st.text(max_size=6), st.integers(), max_size=2))


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))


@st.composite
def mutated_configs(draw):
    cfg = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(cfg) if p]
        path = draw(st.sampled_from(paths))
        parent = cfg
        for k in path[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(VALUES)
        else:
            parent[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
    return cfg


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cfg=mutated_configs())
def test_mutated_configs_exit_2_with_one_line_or_succeed(linear_case, capsys, cfg):
    p = write(linear_case, cfg, "mut.yaml")
    rc = main(["validate", str(p)])
    out = capsys.readouterr()
    assert rc in (0, 2), out.err
    if rc == 2:
        assert out.err.count("\n") == 1 and out.err.startswith("remc-mpi: error: "), out.err
        assert "Traceback" not in out.err


@st.composite
def mutated_data(draw):
    rows = [f"{i * 0.1!r},{float(np.sin(i))!r}" for i in range(20)]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(rows) - 1)) if rows else 0
        action = draw(st.sampled_from(["delete", "corrupt", "insert", "cell"]))
        junk = draw(st.text(alphabet="0123456789.,-e+ \tnaifNA#x;", max_size=12))
        if action == "delete" and rows:
            rows.pop(i)
        elif action == "corrupt" and rows:
            rows[i] = junk
        elif action == "insert":
            rows.insert(i, junk)
        elif rows:
            rows[i] = rows[i].split(",")[0] + "," + junk
    return "\n".join(rows)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated_data())
def test_mutated_data_files_exit_2_with_one_line_or_succeed(linear_case, capsys, text):
    (linear_case / "data.csv").write_text(text)
    rc = main(["validate", str(linear_case / "config.yaml")])
    out = capsys.readouterr()
    assert rc in (0, 2), out.err
    if rc == 2:
        assert out.err.count("\n") == 1 and "data.csv" in out.err, out.err


@pytest.mark.parametrize("noise,match", [({"model": "student"}, "noise.model: must be one of gaussian, poisson"),
                                         ({"model": "poisson", "sigma": 1.0}, "noise.sigma: counts have no noise"),
                                         ({"model": "poisson", "estimate": True}, "noise.estimate: counts have no"),
                                         ({"model": "scaled_counts"}, "noise: give exactly one of 'scale' or"),
                                         ({"model": "scaled_counts", "sigma": 2.0}, "noise.sigma: noise.model "
                                                                                   "scaled_counts takes 'scale'"),
                                         ({"model": "scaled_counts", "scale": -1.0}, "noise.scale"),
                                         ({"scale": 2.0, "estimate": True}, "noise.scale: noise.model gaussian")])
def test_bad_likelihood_settings_are_one_line(noise, match):
    raw = copy.deepcopy(BASE)
    raw["noise"] = noise
    with pytest.raises(InputError, match=match):
        parse_config(raw, "c.yaml")


def test_poisson_refuses_negative_intensities():
    raw = {"data": {"synthetic": {"model": "polynomial", "options": {"degree": 1}, "params": {"c0": -1.0, "c1": 0.5},
                                  "grid": [-1.0, 1.0, 20]}},
           "model": {"name": "polynomial", "options": {"degree": 1}}, "noise": {"model": "poisson"},
           "priors": {"c0": {"normal": [0, 1]}, "c1": {"normal": [0, 1]}}}
    with pytest.raises(InputError, match="noise.model: poisson needs counts"):
        parse_config(raw, "c.yaml")
    raw["noise"] = {"model": "scaled_counts", "estimate": True}
    with pytest.raises(InputError, match="noise.model: scaled_counts needs counts"):
        parse_config(raw, "c.yaml")


def test_iterative_shirley_is_computed_from_the_data_and_kept_in_the_options(tmp_path):
    from remc_mpi.io.data import write_spectrum
    from remc_mpi.models.backgrounds import iterative_shirley

    x = np.linspace(0.0, 20.0, 201)
    y = 1000.0 * np.exp(-0.5 * (x - 10.0) ** 2) + 200.0 + 300.0 * (x > 10.0)
    write_spectrum(tmp_path / "d.csv", x, y)
    raw = {"data": {"file": str(tmp_path / "d.csv")}, "noise": {"model": "scaled_counts", "estimate": True},
           "model": {"name": "gauss_peaks", "options": {"n_peaks": 1, "background": ["iterative_shirley"]}},
           "priors": {"a1": {"uniform": [0, 2000]}, "mu1": {"uniform": [5, 15]}, "b1": {"uniform": [0.1, 5]}}}
    model = parse_config(raw, "c.yaml").candidates[0].model
    bg = model.spectrum(np.array([0.0, 10.0, 1.0]), x)  # no line: the fixed curve alone
    np.testing.assert_allclose(bg, iterative_shirley(x, y), rtol=1e-12)
    assert bg[0] == pytest.approx(np.mean(y[:5])) and bg[-1] == pytest.approx(np.mean(y[-5:]))
    raw["data"] = {"synthetic": {"model": "gauss_peaks", "options": {"n_peaks": 1, "background": "iterative_shirley"},
                                 "params": {"a1": 1.0, "mu1": 10.0, "b1": 1.0}, "grid": [0, 20, 50]}}
    with pytest.raises(InputError, match="data.synthetic.options.background: iterative_shirley is computed"):
        parse_config(raw, "c.yaml")


def test_numbers_yaml_reads_as_strings_are_numbers(linear_case):
    """PyYAML (YAML 1.1) reads 1.0e4 as the string '1.0e4'; a prior written so is the number."""
    raw = yaml.safe_load(LINEAR_CONFIG)
    raw["priors"] = {k: {"uniform": ["-1.0e1", "1e1"]} for k in raw["priors"]}
    raw["noise"] = {"sigma": yaml.safe_load("1e-3")}  # PyYAML: the string '1e-3'
    cfg = parse_config(raw, "c.yaml", base=linear_case)
    assert all(p.args == (-10.0, 10.0) for p in cfg.candidates[0].priors.priors) and cfg.noise.sigma == 1e-3
    raw["priors"] = {k: {"uniform": ["ten", 1]} for k in raw["priors"]}
    with pytest.raises(InputError, match="must be a number, got 'ten'"):
        parse_config(raw, "c.yaml", base=linear_case)


def _validate(capsys, path) -> tuple[int, str]:
    rc = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if rc == 2:
        assert err.count("\n") == 1, err
    return rc, err


def test_duplicate_yaml_keys_are_refused_naming_both_lines(linear_case, capsys):
    text = LINEAR_CONFIG.replace("  sweeps: 400\n", "  sweeps: 60\n  thin: 1\n  sweeps: 100000000\n")
    rc, err = _validate(capsys, write(linear_case, text))
    first = 1 + text.splitlines().index("  sweeps: 60")
    assert rc == 2 and f"duplicate key 'sweeps' (lines {first} and {first + 2})" in err, err


def test_anchors_and_merge_keys_still_work(linear_case):
    text = LINEAR_CONFIG.replace("priors:\n  c0: {normal: [0.0, 1.0]}\n  c1: {normal: [0.0, 1.0]}",
                                 "priors:\n  c0: &wide {normal: [0.0, 1.0]}\n  c1: *wide")
    cfg = load_config(write(linear_case, text))
    assert cfg.candidates[0].priors.priors[1].args == (0.0, 1.0)
    from remc_mpi.io import safeyaml
    merged = safeyaml.load("base: &b {p: 1, q: 2}\nc:\n  <<: *b\n  p: 5\n")
    assert merged["c"] == {"p": 5, "q": 2}  # a merge may be overridden: not a duplicate


@pytest.mark.parametrize("text,match", [
    ('a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
     + "".join(f"{k}: &{k} [{','.join(['*' + p] * 10)}]\n" for p, k in zip("abcdefgh", "bcdefghi")),
     "values once its aliases are expanded"),
    ("data: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than 64 levels"),
])
def test_alias_bombs_and_deep_nesting_are_one_short_line(tmp_path, capsys, text, match):
    from remc_mpi.errors import MAX_PART

    rc, err = _validate(capsys, write(tmp_path, text))
    assert rc == 2 and match in err and len(err) < 3 * MAX_PART, err


def test_numbers_are_read_as_yaml_1_2(linear_case):
    text = LINEAR_CONFIG.replace("sigma: 0.1", "sigma: 1e-1").replace("sweeps: 400", "sweeps: 4e2")
    cfg = load_config(write(linear_case, text))
    assert cfg.noise.sigma == 0.1 and cfg.sampler.sweeps == 400 and isinstance(cfg.sampler.sweeps, int)


@pytest.mark.parametrize("mutate,match", [
    (lambda c: c["ladder"].update(n_temps=10**5), "ladder.n_temps: must be at most 10,000"),
    (lambda c: c["ladder"].update(n_temps=2**70), "ladder.n_temps: must be at most 10,000"),
    (lambda c: c["ladder"].update(n_temps=200, chains=100), "ladder.chains: 100 chains of 200 rungs exceed"),
    (lambda c: c.update(seed=2**64), "seed: must be at most 9,223,372,036,854,775,807"),
    (lambda c: c["sampler"].update(sweeps=10**12), "sampler.sweeps: must be at most 1,000,000,000"),
    (lambda c: c["noise"].update(sigma=1e-320), r"noise.sigma: magnitude must lie within 1e-100 … 1e\+15"),
    (lambda c: c["noise"].update(sigma=1e308), "noise.sigma: magnitude must lie within"),
    (lambda c: c["priors"].update(c0={"uniform": [-1e308, 1e308]}), "priors.c0.uniform: magnitude must lie within"),
    (lambda c: c["model"]["options"].update(degree=2**64), "model.options: option degree must be an integer from 0 to 1000"),
    (lambda c: c["priors"].update(c0={"normal": [0.0, 2**2000]}), "priors.c0.normal: must be finite"),
])
def test_values_beyond_the_documented_limits_are_refused(linear_case, capsys, mutate, match):
    import re

    cfg = copy.deepcopy(BASE)
    mutate(cfg)
    rc, err = _validate(capsys, write(linear_case, cfg))
    assert rc == 2 and re.search(match, err), err


@pytest.mark.parametrize("output,match", [
    ("data.csv", "would overwrite the run's input"),
    ("config.yaml", "would overwrite the run's input"),
    (".", "is a folder"),
    ("sub", "is a folder"),
    ("missing/out.h5", "output folder .*missing does not exist"),
    ("x" * 250 + ".h5", "is too long"),
    ("o\0ut.h5", "cannot hold a NUL"),
    ("d" * 5000 + "/out.h5", "longer than the system's 4096"),
])
def test_validate_refuses_every_output_run_would(linear_case, capsys, output, match):
    import re

    (linear_case / "sub").mkdir()
    cfg = dict(copy.deepcopy(BASE), output=output)
    rc, err = _validate(capsys, write(linear_case, cfg))
    assert rc == 2 and re.search(match, err), err
    assert main(["run", str(linear_case / "config.yaml")]) == 2 and re.search(match, capsys.readouterr().err)


def test_validate_estimates_memory_and_warns_beyond_the_machine(tmp_path, capsys, monkeypatch):
    from remc_mpi.io import output
    from remc_mpi.io.paths import MEMORY_FIXED, MEMORY_PER_SLOT, memory_bytes

    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 16 * 2**30 // 4096}  # a machine of 16 GB
    monkeypatch.setattr(output.os, "sysconf", lambda name: pages[name])

    raw = {"data": {"synthetic": {"model": "polynomial", "params": {"c0": 1.0, "c1": 0.5}, "grid": [0.0, 1.0, 200000]}},
           "model": {"name": "polynomial"}, "noise": {"sigma": 0.1},
           "priors": {"c0": {"normal": [0, 1]}, "c1": {"normal": [0, 1]}}, "ladder": {"n_temps": 10000},
           "sampler": {"sweeps": 400, "burn_in": 100}, "progress": False}
    cfg = parse_config(raw, str(tmp_path / "m.yaml"), base=tmp_path)
    assert memory_bytes(cfg, cfg.candidates[0]) == 8 * 200000 * (MEMORY_FIXED + MEMORY_PER_SLOT * 10000)
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(raw))
    assert main(["validate", str(tmp_path / "m.yaml")]) == 0
    out = capsys.readouterr().out
    assert "about 178.9 GB of memory on one rank and this machine has 16.0 GB" in out
    raw["ladder"] = {"n_temps": 100}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(raw))
    assert main(["validate", str(tmp_path / "m.yaml")]) == 0
    assert "warning" not in capsys.readouterr().out


def test_a_prior_whose_corner_makes_the_model_nan_is_refused(tmp_path):
    """A Lorentzian of zero width on a grid point is 0/0: the prior [0, 2] for its width is
    refused, naming the corner; from 0.01 it is accepted. +inf (counts where the model is 0) is
    a state the sampler rejects and passes."""
    raw = {"data": {"synthetic": {"model": "lorentz_peaks", "params": {"a1": 1.0, "mu1": 0.0, "w1": 0.5},
                                  "grid": [-1.0, 1.0, 21]}},
           "model": {"name": "lorentz_peaks"}, "noise": {"sigma": 0.1},
           "priors": {"a1": {"uniform": [0, 2]}, "mu1": {"uniform": [-1, 1]}, "w1": {"uniform": [0.0, 2.0]}}}
    with pytest.raises(InputError, match=r"priors: candidate lorentz_peaks is not finite at the corner a1 = 0, "
                                         r"mu1 = -1, w1 = 0 of its prior"):
        parse_config(raw, "c.yaml")
    raw["priors"]["w1"] = {"uniform": [0.01, 2.0]}
    assert parse_config(raw, "c.yaml").candidates[0].label == "lorentz_peaks"
    raw["data"]["synthetic"]["params"]["a1"] = 50.0
    raw["noise"] = {"model": "poisson"}
    raw["data"]["synthetic"]["grid"] = [-1.0, 1.0, 20]
    with pytest.raises(InputError, match="poisson needs integer counts"):  # checked after the corners pass
        parse_config(raw, "c.yaml")
