"""Output fields: what a run reports about its posterior beyond the evidence and the parameter table.

An output field is a quantity computed from the reported rung's posterior samples (a
:class:`FieldInputs`), written under its name in the run's summary: the summary JSON that
``remc-mpi analyze --json`` prints, the one the results file stores (docs/format.md), and every
reader of them (``select``, ``collect``, the plots). The registry :data:`OUTPUT_FIELDS` drives
it: the summary (:func:`remc_mpi.driver.summary.summarize`) computes every field in registry order
and leaves out a field whose value is None; the text report prints the ``line`` of a
field that has one. A new field is one :func:`register_field` call (docs/extending.md, recipe 6).

Built in, in this order (docs/contract.md, section 6):

- ``fit``: the fit quality (remc_mpi.evidence.fitquality): reduced chi^2 or deviance / N at the MAP
  and averaged over the posterior, the posterior-predictive p-value, the residuals' lag-1
  autocorrelation;
- ``parameter_flags``: posterior mass at a prior bound, marginals that are their prior, pairs
  the data cannot separate;
- ``derived``: the posterior table (mean, sd, MAP, quantiles) of the model's derived quantities
  (Model.derived: n_f, the ground and final states of a cluster model);
- ``combinations``: the posterior table of the combinations the data determine where their
  parts are not (Model.combinations: delta - ufc of cluster2 with a pure 4f0 initial state).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from remc_mpi.evidence.fitquality import fit_quality, parameter_flags


class FieldInputs(NamedTuple):
    """What an output field is computed from (the reported rung, peaks relabelled where the run
    orders them)."""

    cfg: Any  # the RunConfig: data (cfg.data.energy, cfg.data.intensity), noise model, seed
    model: Any  # the candidate's model (param_names, spectrum(theta, energy), derived, combinations)
    priors: Any  # its PriorSet (free, priors)
    theta: np.ndarray  # (n, P) the posterior samples
    map_theta: np.ndarray  # (P,) the MAP among them
    posterior: dict  # the parameter table, name -> mean, sd, map, q025, q50, q975, fixed
    level: float | None  # the noise level: sigma (Gaussian), the count scale s, None (Poisson)


class OutputField(NamedTuple):
    """One output field: ``compute(inputs)`` gives its JSON-ready value (None: left out);
    ``line(value)``, when given, its line in the text report."""

    compute: Callable[[FieldInputs], Any]
    line: Callable[[Any], str] | None = None


#: the output fields, in the order the summary holds them
OUTPUT_FIELDS: dict[str, OutputField] = {}


def register_field(name: str, field: OutputField) -> None:
    """Add output field ``name`` (a new key of every later run's summary)."""
    if name in OUTPUT_FIELDS:
        raise ValueError(f"output field {name!r} is already registered")
    OUTPUT_FIELDS[name] = field


def compute_fields(inputs: FieldInputs, taken: set[str]) -> dict[str, Any]:
    """Every registered field's value by name (those not None); ``taken``: the
    summary's own keys, which no field may replace."""
    for name in OUTPUT_FIELDS:
        if name in taken:
            raise ValueError(f"output field {name!r} would replace the summary's own key")
    out = {}
    for name, field in OUTPUT_FIELDS.items():
        with np.errstate(all="ignore"):
            value = field.compute(inputs)
        if value is not None:
            out[name] = value
    return out


def report_lines(summary: dict) -> list[str]:
    """The text report's lines of the fields that have one and that the summary holds."""
    return [f"  {field.line(summary[name])}" for name, field in OUTPUT_FIELDS.items()
            if field.line is not None and name in summary]


def posterior_table(theta: np.ndarray, names: tuple[str, ...], free: np.ndarray, map_theta: np.ndarray) -> dict:
    """mean, sd, map, q025, q50, q975 of each parameter's samples (n, P)."""
    out = {}
    for j, name in enumerate(names):
        x = theta[:, j]
        q = np.quantile(x, [0.025, 0.5, 0.975])
        out[name] = {"mean": float(x.mean()), "sd": float(x.std(ddof=1)) if x.size > 1 else 0.0,
                     "map": float(map_theta[j]), "q025": float(q[0]), "q50": float(q[1]), "q975": float(q[2]),
                     "fixed": bool(not free[j])}
    return out


def fit_field(inputs: FieldInputs) -> dict:
    cfg, model = inputs.cfg, inputs.model
    return fit_quality(lambda th: model.spectrum(th, cfg.data.energy), inputs.theta, inputs.map_theta,
                       cfg.data.intensity, cfg.noise.model, inputs.level, cfg.seed, sigma_estimated=cfg.noise.estimate)


def flags_field(inputs: FieldInputs) -> dict:
    priors = inputs.priors
    return parameter_flags(inputs.theta, inputs.model.param_names, priors.free, priors, inputs.cfg.seed)


def derived_field(inputs: FieldInputs) -> dict | None:
    """The posterior table of Model.derived over the samples, their MAP column at the MAP
    sample; None for a model without derived quantities."""
    values = inputs.model.derived(inputs.theta)
    if not values:
        return None
    at_map = inputs.model.derived(inputs.map_theta)
    names = tuple(values)
    table = posterior_table(np.stack([values[n] for n in names], axis=1), names, np.ones(len(names), bool),
                            np.array([at_map[n][0] for n in names]))
    return {n: {k: v for k, v in row.items() if k != "fixed"} for n, row in table.items()}


def combinations_field(inputs: FieldInputs) -> dict | None:
    """The posterior table of each combination theta @ w of Model.combinations (None: none)."""
    combos = inputs.model.combinations()
    if not combos:
        return None
    names = tuple(combos)
    values = np.stack([inputs.theta @ w for w in combos.values()], axis=1)
    map_values = np.array([inputs.map_theta @ w for w in combos.values()])
    return posterior_table(values, names, np.ones(len(names), bool), map_values)


register_field("fit", OutputField(fit_field))
register_field("parameter_flags", OutputField(flags_field))
register_field("derived", OutputField(derived_field))
register_field("combinations", OutputField(combinations_field))
