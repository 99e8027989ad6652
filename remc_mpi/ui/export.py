"""Export the beta = 1 posterior to ArviZ (optional dependency: ``pip install 'remc-mpi[arviz]'``).

The samples of the top temperature slot (in noise-estimation mode, of the rung nearest b_hat)
form the InferenceData's ``posterior`` group, one chain per independent ladder
(``ladder.chains``), one variable per free parameter and one per derived quantity of the model
(a cluster model's n_f, configuration weights and final states);
``sample_stats`` carries ``mse`` = E(theta) and ``lp``, the log likelihood
-N b E + (N/2) log(b / 2 pi), at each draw; ``observed_data`` the spectrum (``constant_data``
its energy axis), and the attributes the model, the log evidence and its error.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from remc_mpi.likelihood import evidence_constant
from remc_mpi.io.output import ResultsFile
from remc_mpi.io.safeio import METADATA_SLACK, output_error, reserve


def derived_draws(summary: dict, theta: np.ndarray) -> dict[str, np.ndarray]:
    """The model's derived quantities (n_f, configuration weights, final states: docs/models.md)
    of every draw, shaped as theta's (chains, draws) — beside the parameters in ``posterior``."""
    from remc_mpi.models import get_model

    model = get_model(summary["model"], **summary["options"])
    chains, draws, n_params = theta.shape
    with np.errstate(all="ignore"):
        values = model.derived(theta.reshape(-1, n_params))
    return {name: v.reshape(chains, draws) for name, v in values.items()}


def to_inference_data(path: str | Path):
    """An ``arviz.InferenceData`` of a finished results file."""
    try:
        with warnings.catch_warnings():  # ArviZ >= 0.23 warns of its coming refactor once a day on import
            warnings.simplefilter("ignore", FutureWarning)
            import arviz as az
    except ImportError as err:
        raise RuntimeError("export needs ArviZ: pip install 'remc-mpi[arviz]'") from err
    with ResultsFile(path) as rf:
        s = rf.summary()
        rung = s["posterior_rung"]
        chains = rf.chains  # one ArviZ chain per independent ladder
        theta = rf.posterior_theta().reshape(chains, -1, len(s["param_names"]))  # peaks ordered if the summary says
        at_theta = np.searchsorted(rf.samples("sweep"), rf.samples("theta_sweep"))
        energy = rf.samples("energy", rung).reshape(chains, -1)[:, at_theta]
        lam = rf.ladder()[rung]
        x, y = rf.data()
    n = s["n_data"]
    posterior = {name: theta[:, :, j] for j, name in enumerate(s["param_names"]) if not s["posterior"][name]["fixed"]}
    posterior.update(derived_draws(s, theta))
    # log P(D | theta) = -lambda U + C(lambda) at the reported rung (remc_mpi.likelihood); files
    # written before the likelihood was recorded are Poisson where they have no sigma
    likelihood = s.get("likelihood") or ("poisson" if s["sigma"] is None else "gaussian")
    lp = -n * lam * energy + evidence_constant(likelihood, n, lam, y)
    stats = {"mse": energy, "lp": lp}
    attrs = {"model": s["label"], "peaks_ordered_by_position": int(bool(s.get("peaks_ordered"))), "log_evidence": s["log_evidence"]["value"],
             "log_evidence_stderr": s["log_evidence"]["stderr"], "source": str(path), "inference_library": "remc_mpi"}
    idata = az.from_dict(posterior=posterior, sample_stats=stats, observed_data={"intensity": y},
                         constant_data={"binding_energy": x}, coords={"point": np.arange(len(x))},
                         dims={"intensity": ["point"], "binding_energy": ["point"]}, attrs=attrs)
    return idata


def export_arviz(path: str | Path, out: str | Path) -> Path:
    """Write the InferenceData of ``path`` to the netCDF file ``out``, whole or not at all.

    The netCDF library writes through HDF5, which must not meet a full disk (safeio
    docstring): the space is reserved first (twice the arrays, and HDF5's metadata)."""
    idata = to_inference_data(path)
    out = Path(out)
    nbytes = sum(v.nbytes for g in idata.groups() for v in idata[g].variables.values())
    reserve(out.parent, 2 * nbytes + METADATA_SLACK, out.name + ".reserve")
    tmp = out.with_name(out.name + ".tmp")
    try:
        idata.to_netcdf(str(tmp))
        os.replace(tmp, out)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise output_error(out, err) from None
    return out
