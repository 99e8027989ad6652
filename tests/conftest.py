import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def write_csv(path: Path, energy, intensity, header=True):
    with open(path, "w") as fh:
        if header:
            fh.write("energy,intensity\n")
        for e, y in zip(energy, intensity):
            fh.write(f"{float(e)!r},{float(y)!r}\n")
    return path


@pytest.fixture
def cli(tmp_path):
    """Run ``remc-mpi ARGS`` in tmp_path; returns the CompletedProcess."""

    def run(*args, cwd=None, timeout=600):
        return subprocess.run([sys.executable, "-m", "remc_mpi", *map(str, args)], cwd=cwd or tmp_path,
                              capture_output=True, text=True, timeout=timeout)

    return run


LINEAR_CONFIG = """\
data:
  file: data.csv
model:
  name: polynomial
  options: {degree: 2}
noise:
  sigma: 0.1
priors:
  c0: {normal: [0.0, 1.0]}
  c1: {normal: [0.0, 1.0]}
  c2: {normal: [0.0, 1.0]}
ladder:
  n_temps: 8
sampler:
  sweeps: 400
  burn_in: 100
  thin: 1
seed: 7
output: out.h5
progress: false
"""


@pytest.fixture
def linear_case(tmp_path):
    """A small valid config with its data file, in tmp_path."""
    x = np.linspace(-1, 1, 25)
    rng = np.random.default_rng(0)
    write_csv(tmp_path / "data.csv", x, 0.3 + 0.5 * x - 0.2 * x**2 + rng.normal(0, 0.1, x.size))
    (tmp_path / "config.yaml").write_text(LINEAR_CONFIG)
    return tmp_path
