"""The benchmark problems, as config mappings (shared by the benchmarks of this folder).

- ``k3``: the K = 3 Gaussian-peak problem of Nagata, Sugita, Okada, Neural Networks 28, 82
  (2012): x = 0..3 step 0.01 (N = 301), sigma = 0.1, their true peaks, priors
  a_k ~ Gamma(5, rate 5), mu_k ~ N(1.5, sd sqrt 0.2), b_k ~ Gamma(5, rate 0.04); L = 30,
  4000 sweeps of which 2000 burn-in.
- ``cluster2``: a La2O3-like 3d spectrum (Mototake et al. 2019 parameters) through the 2-level
  model, 4 free parameters (delta, v, ufc, gamma), N = 300, sigma = 0.005; L = 24, 6000 sweeps.
- ``cluster3``: the CeO2-like 3-level problem of the demo, 6 free parameters, N = 300,
  sigma = 0.01; L = 32, 4000 sweeps.
- ``cluster3_states``: the same with a Lorentzian width per final state (8 free parameters);
  ``cluster3_voigt``: per-state widths and Voigt lines of a shared Gaussian sigma_g (9 free):
  the cost per evaluation of the measured-spectrum variants (docs/models.md).
- ``ct_band1`` … ``ct_band7``: the cluster3 problem through the charge-transfer family with a
  ligand band of M = 1, 3, 5, 7 levels (6 free parameters, 7 with band_w; 3, 10, 21, 36 final
  states): the cost of the band (docs/models.md, "charge_transfer").
"""

from __future__ import annotations

import copy

_K3_TRUTH = {"a1": 0.587, "a2": 1.522, "a3": 1.183, "mu1": 1.210, "mu2": 1.455, "mu3": 1.703,
             "b1": 95.689, "b2": 146.837, "b3": 164.469}

PROBLEMS: dict[str, dict] = {
    "k3": {
        "data": {"synthetic": {"model": "gauss_peaks", "options": {"n_peaks": 3}, "params": _K3_TRUTH,
                               "grid": [0.0, 3.0, 301], "noise": 0.1, "seed": 1}},
        "model": {"name": "gauss_peaks", "options": {"n_peaks": 3}},
        "noise": {"sigma": 0.1},
        "priors": {**{f"a{k}": {"gamma": [5.0, 5.0]} for k in (1, 2, 3)},
                   **{f"mu{k}": {"normal": [1.5, 0.2 ** 0.5]} for k in (1, 2, 3)},
                   **{f"b{k}": {"gamma": [5.0, 0.04]} for k in (1, 2, 3)}},
        "ladder": {"n_temps": 30},
        "sampler": {"sweeps": 4000, "burn_in": 2000},
    },
    "cluster2": {
        "data": {"synthetic": {"model": "cluster2", "params": {"delta": 12.5, "v": 0.57, "ufc": 12.7, "gamma": 0.5,
                                                               "shift": 0.0, "amp": 1.0},
                               "grid": [-8.0, 16.0, 300], "noise": 0.005, "seed": 2012}},
        "model": {"name": "cluster2"},
        "noise": {"sigma": 0.005},
        "priors": {"delta": {"uniform": [-5.0, 15.0]}, "v": {"uniform": [0.1, 2.0]}, "ufc": {"uniform": [5.0, 20.0]},
                   "gamma": {"uniform": [0.1, 2.0]}, "shift": {"fixed": 0.0}, "amp": {"fixed": 1.0}},
        "ladder": {"n_temps": 24},
        "sampler": {"sweeps": 6000, "burn_in": 1500},
    },
    "cluster3": {
        "data": {"synthetic": {"model": "cluster3", "params": {"delta": 1.6, "v": 0.76, "uff": 10.5, "ufc": 12.5,
                                                               "gamma": 0.7, "shift": 0.0, "amp": 1.0},
                               "grid": [-8.0, 16.0, 300], "noise": 0.01, "seed": 1}},
        "model": {"name": "cluster3"},
        "noise": {"sigma": 0.01},
        "priors": {"delta": {"uniform": [-5.0, 15.0]}, "v": {"uniform": [0.1, 2.0]}, "uff": {"uniform": [5.0, 15.0]},
                   "ufc": {"uniform": [5.0, 20.0]}, "gamma": {"uniform": [0.1, 2.0]},
                   "shift": {"uniform": [-3.0, 3.0]}, "amp": {"fixed": 1.0}},
        "ladder": {"n_temps": 32},
        "sampler": {"sweeps": 4000, "burn_in": 1000},
    },
}


def _cluster3_variant(lineshape: str) -> dict:
    cfg = copy.deepcopy(PROBLEMS["cluster3"])
    options = {"lineshape": lineshape, "widths": "per_state"}
    truth = {k: v for k, v in cfg["data"]["synthetic"]["params"].items() if k != "gamma"}
    truth.update(gamma1=0.6, gamma2=1.0, gamma3=0.7, **({"sigma_g": 0.3} if lineshape == "voigt" else {}))
    cfg["data"]["synthetic"].update(options=options, params=truth)
    cfg["model"]["options"] = options
    del cfg["priors"]["gamma"]
    cfg["priors"].update({f"gamma{j}": {"uniform": [0.1, 2.0]} for j in (1, 2, 3)})
    if lineshape == "voigt":
        cfg["priors"]["sigma_g"] = {"uniform": [0.05, 1.0]}
    return cfg


PROBLEMS["cluster3_states"] = _cluster3_variant("lorentz")
PROBLEMS["cluster3_voigt"] = _cluster3_variant("voigt")


def _band_variant(levels: int) -> dict:
    """The cluster3 problem fitted by the charge-transfer family with a ligand band of M levels
    (the truth stays the point ligand; band_w free)."""
    cfg = copy.deepcopy(PROBLEMS["cluster3"])
    cfg["model"] = {"name": "charge_transfer", "options": {"band": {"levels": levels}}}
    if levels > 1:
        cfg["priors"]["band_w"] = {"uniform": [0.1, 4.0]}
    return cfg


for _m in (1, 3, 5, 7):
    PROBLEMS[f"ct_band{_m}"] = _band_variant(_m)


def problem(name: str, output: str, seed: int = 1, n_temps: int | None = None, sweeps: int | None = None) -> dict:
    """The config of problem ``name`` writing ``output`` (optionally another L or length)."""
    cfg = copy.deepcopy(PROBLEMS[name])
    if n_temps is not None:
        cfg["ladder"]["n_temps"] = n_temps
    if sweeps is not None:
        cfg["sampler"]["burn_in"] = cfg["sampler"]["burn_in"] * sweeps // cfg["sampler"]["sweeps"]
        cfg["sampler"]["sweeps"] = sweeps
    return {**cfg, "seed": seed, "progress": False, "output": output}


def n_free(name: str) -> int:
    return sum(1 for p in PROBLEMS[name]["priors"].values() if "fixed" not in p)
