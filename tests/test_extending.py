"""docs/extending.md's recipes 1 (a model from existing pieces), 4 (an estimator) and 6 (an output
field), exactly as written there: after one registry call each, the validator, the engine and the
report take them. Recipes 2 (a core), 3 (a line shape) and 5 (a move with its diagnostics) are
patches on the page: each touches at most two source files, and applied to a copy of the package
the tests it adds pass there."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from remc_mpi.evidence import freeenergy as fe
from remc_mpi.config import parse_config
from remc_mpi.driver.engine import run
from remc_mpi.driver.fields import OUTPUT_FIELDS
from remc_mpi.io.output import read_summary
from remc_mpi.ui.report import format_summary
from remc_mpi.errors import InputError
from remc_mpi.models import MODELS

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "docs" / "extending.md"


def section(number: int) -> str:
    """Recipe ``number`` of docs/extending.md."""
    return RECIPES.read_text().split(f"\n## {number}. ")[1].split("\n## ")[0]


def recipe(number: int) -> str:
    """The first python block of recipe ``number`` in docs/extending.md."""
    return re.search(r"```python\n(.*?)```", section(number), re.S).group(1)


def patch(number: int) -> str:
    """The diff blocks of recipe ``number``, joined."""
    return "".join(re.findall(r"```diff\n(.*?)```", section(number), re.S))


@pytest.fixture
def registered():
    exec(recipe(1), {})
    exec(recipe(4), {})
    exec(recipe(6), {})
    yield
    MODELS.pop("single_line")
    fe.ESTIMATORS.pop("ti_trapezoid")
    OUTPUT_FIELDS.pop("spectrum_maximum")


def test_a_registered_model_and_estimator_run_end_to_end(tmp_path, registered):
    raw = {"data": {"synthetic": {"model": "single_line", "options": {"background": "constant"},
                                  "params": {"a1": 2.0, "mu1": 0.3, "w1": 0.5, "bg_const": 0.1},
                                  "grid": [-4.0, 4.0, 80], "noise": 0.02, "seed": 3}},
           "model": {"name": "single_line", "options": {"background": "constant"}},
           "noise": {"sigma": 0.02},
           "priors": {"a1": {"uniform": [0.0, 5.0]}, "mu1": {"uniform": [-2.0, 2.0]}, "w1": {"uniform": [0.05, 2.0]},
                      "bg_const": {"normal": [0.0, 0.5]}},
           "ladder": {"n_temps": 16}, "sampler": {"sweeps": 6000, "burn_in": 1000, "thin": 2},
           "seed": 4, "progress": False, "output": str(tmp_path / "toy.h5")}
    s = run(parse_config(raw, "toy.yaml"), MPI.COMM_SELF)[0]
    assert s["label"] == "single_line" and s["param_names"] == ["a1", "mu1", "w1", "bg_const"]
    est = s["estimators"]
    assert set(est) == {"mbar", "bar", "stepping_stone", "ti", "ti_trapezoid", "bridge"}  # one peak: bridged
    # the plain trapezoid carries a discretisation bias the Hermite rule removes: it must agree
    # with MBAR within its error bar plus that bias, estimated as the trapezoid-Hermite gap
    gap = abs(est["ti_trapezoid"]["value"] - est["ti"]["value"])
    assert abs(est["ti_trapezoid"]["value"] - est["mbar"]["value"]) < 4 * np.hypot(
        est["ti_trapezoid"]["stderr"], est["mbar"]["stderr"]) + gap
    assert est["ti_trapezoid"]["stderr"] > 0
    for name in ("a1", "mu1", "w1"):
        p = s["posterior"][name]
        assert p["q025"] < raw["data"]["synthetic"]["params"][name] < p["q975"], (name, p)
    # the output field: the spectrum peaks at the line's centre mu1 = 0.3, to the grid's spacing 0.1
    top = s["spectrum_maximum"]
    assert abs(top["mean"] - 0.3) <= 0.1 + 4 * top["sd"], top
    keys = list(s)
    assert [k for k in keys if k in OUTPUT_FIELDS] == [k for k in OUTPUT_FIELDS if k in s]  # in registry order
    assert keys.index("spectrum_maximum") == keys.index("trust") - 1 and "derived" not in s  # a single line derives none
    assert read_summary(tmp_path / "toy.h5")["spectrum_maximum"] == top
    assert f"spectrum maximum at {top['mean']:.4g}" in format_summary(s)


def test_a_registered_model_gets_the_validator(registered):
    raw = {"data": {"synthetic": {"model": "single_line", "params": {"a1": 1.0, "mu1": 0.0, "w1": 0.5},
                                  "grid": [-4.0, 4.0, 40], "noise": 0.02}},
           "model": {"name": "single_line", "options": {"n_peaks": 2}},
           "noise": {"sigma": 0.02}, "priors": {}}
    with pytest.raises(InputError, match=r"model.options.n_peaks: unknown key"):
        parse_config(raw, "toy.yaml")


def test_an_output_field_cannot_replace_a_summary_key():
    from remc_mpi.driver.fields import FieldInputs, OutputField, compute_fields, register_field

    register_field("sigma", OutputField(lambda inputs: 1.0))
    try:
        with pytest.raises(ValueError, match="'sigma' would replace the summary's own key"):
            compute_fields(FieldInputs(*[None] * 7), {"sigma", "label"})
    finally:
        OUTPUT_FIELDS.pop("sigma")
    with pytest.raises(ValueError, match="already registered"):
        register_field("fit", OutputField(lambda inputs: None))


#: recipe -> the tests its patch adds that must pass: for a core and a line shape the registry
#: check, the kernel tests of the two option sets (3 each) and the physics; for a move, the
#: move alone through the harness and in a run
PATCH_TESTS = {2: 8, 3: 8, 5: 2}


@pytest.mark.parametrize("number", sorted(PATCH_TESTS), ids=["core", "line_shape", "move"])
def test_a_recipe_patch_touches_two_source_files_and_its_tests_pass_on_a_patched_copy(tmp_path, number):
    """Recipes 2, 3 and 5 as their patch on the page: at most two files under remc_mpi/ plus
    tests; applied to a copy of the package, the tests the page names (its -k) in the test files
    the patch touches pass."""
    diff, text = patch(number), section(number)
    touched = re.findall(r"^\+\+\+ b/(\S+)", diff, re.M)
    sources = {f for f in touched if f.startswith("remc_mpi/")}
    test_files = [f for f in touched if f.startswith("tests/")]
    assert len(sources) == 2 and test_files, touched
    selection = re.search(r'-k "([^"]+)"', text).group(1)
    tree = tmp_path / "tree"
    for part in ("remc_mpi", "tests"):
        shutil.copytree(ROOT / part, tree / part, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "recipe.diff").write_text(diff)
    applied = subprocess.run(["git", "apply", "recipe.diff"], cwd=tree, capture_output=True, text=True)
    assert applied.returncode == 0, f"docs/extending.md recipe {number} no longer applies: {applied.stderr}"
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *test_files,
                            "-k", selection], cwd=tree, env=env, capture_output=True, text=True, timeout=900)
    tail = tests.stdout[-3000:]
    assert tests.returncode == 0, tail
    passed = int(re.search(r"(\d+) passed", tail).group(1))
    assert passed >= PATCH_TESTS[number] and "failed" not in tail, tail
