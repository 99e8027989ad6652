"""Every figure renders from a small finished run and is a real image."""

import copy

import numpy as np
import pytest

from test_engine import LINEAR, run_dict

matplotlib = pytest.importorskip("matplotlib")


def check_png(path):
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 200
    # not blank: many distinct colours
    assert len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 20


def test_plot_command_writes_real_images(cli, linear_case):
    assert cli("run", "config.yaml", cwd=linear_case).returncode == 0
    (linear_case / "config.yaml").write_text((linear_case / "config.yaml").read_text().replace("out.h5", "out2.h5")
                                             .replace("seed: 7", "seed: 8"))
    assert cli("run", "config.yaml", cwd=linear_case).returncode == 0
    r = cli("plot", "out.h5", "-o", "figs", cwd=linear_case)
    assert r.returncode == 0, r.stderr
    names = {p.name for p in (linear_case / "figs").iterdir()}
    assert names == {"fit.png", "marginals.png", "pairs.png", "ladder.png"}
    for p in (linear_case / "figs").iterdir():
        check_png(p)
    r = cli("plot", "out.h5", "out2.h5", "-o", "both", cwd=linear_case)
    assert r.returncode == 0, r.stderr
    check_png(linear_case / "both" / "free_energy.png")


def test_noise_mode_draws_f_of_b(tmp_path):

    from remc_mpi.ui.plots import plot_run
    import copy

    from test_engine import LINEAR, run_dict

    raw = copy.deepcopy(LINEAR)
    raw["noise"] = {"estimate": True}
    raw["ladder"] = {"n_temps": 6}
    raw["sampler"] = {"sweeps": 300, "burn_in": 100}
    _, s = run_dict(tmp_path, raw)
    files = plot_run(s["file"], tmp_path / "figs")
    assert tmp_path / "figs" / "noise.png" in files
    check_png(tmp_path / "figs" / "noise.png")
