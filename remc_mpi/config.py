"""The run configuration: YAML schema, validation and the normalised :class:`RunConfig`.

Every problem is an :class:`~remc_mpi.errors.InputError` whose one line names the file and
the dotted key (``FILE: priors.delta.uniform: bounds [3.0, 1.0] are empty or inverted``).
The full schema with defaults is documented in docs/config.md; keep the two in step.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from remc_mpi.io import safeyaml
from remc_mpi.io.data import MAX_MAGNITUDE, MAX_POINTS, MIN_POINTS, Spectrum, prepare, read_table
from remc_mpi.errors import InputError, did_you_mean, shown
from remc_mpi.likelihood import COUNTS, LIKELIHOOD_CODES
from remc_mpi.models import MODELS, Model, default_label, get_model
from remc_mpi.models.backgrounds import iterative_shirley
from remc_mpi.priors import Prior, PriorSet, check_prior

TOP_KEYS = {
    "data": False, "model": False, "models": False, "noise": True, "priors": False,
    "ladder": False, "sampler": False, "seed": False, "output": False, "model_priors": False,
    "checkpoint": False, "progress": False, "order_peaks": False,
}
DATA_KEYS = {"file", "synthetic", "window", "normalize", "block", "work_function", "charge_reference"}
CHARGE_KEYS = {"line", "at", "shift"}
SYNTH_KEYS = {"model", "options", "params", "grid", "noise", "seed"}
MODEL_KEYS = {"name", "options", "label", "priors"}


@dataclass
class Candidate:
    """One candidate model of a run, with its priors."""

    label: str
    model: Model
    priors: PriorSet


@dataclass
class LadderSpec:
    n_temps: int = 32
    spacing: str = "geometric"
    beta_min: float | None = None
    betas: list[float] | None = None
    #: re-space at equal rejection during burn-in: the default since it won on the benchmark
    #: problems (docs/free_energy.md, "The ladder")
    adapt: bool = True
    #: independent copies of the ladder run side by side (docs/config.md, "ladder")
    chains: int = 1
    #: n_temps: auto — the rungs chosen from a pilot's communication barrier (n_temps is then
    #: the pilot's until the run sets it)
    auto: bool = False


@dataclass
class SamplerSpec:
    sweeps: int = 20000
    burn_in: int = 5000
    thin: int = 10
    exchange_interval: int = 1
    adapt_steps: bool = True
    target_acceptance: float = 0.4
    save_every: int = 1
    joint_moves: bool = True
    #: after the burn-in, one mode jump per sweep from the chain's learnt Gaussians (moves.mixture)
    mixture_moves: bool = True
    #: differential-evolution steps from the slot's archive of burn-in states (moves.differential)
    differential_moves: bool = False
    #: further moves on or off by name (moves.sweep.MOVES; those above keep their own keys)
    moves: dict[str, bool] = field(default_factory=dict)
    #: stop once the headline log evidence's error is at or below this (nats); docs/config.md
    target_error: float | None = None
    #: the cap on a run with a target (default: sweeps)
    max_sweeps: int | None = None
    #: a wall-clock cap in minutes (the run stops at the next check after it, writing results)
    max_minutes: float | None = None
    #: post-burn-in sweeps between checks of the target (each writes a checkpoint), at least
    check_every: int = 1000
    #: the gap between checks grows with the post-burn-in sweeps n: max(check_every,
    #: check_growth x n, in whole check_every); 0 keeps it at check_every (driver.stopping)
    check_growth: float = 0.25

    @property
    def cap(self) -> int:
        """The most sweeps the run makes."""
        return self.max_sweeps if self.target_error is not None and self.max_sweeps else self.sweeps


@dataclass
class NoiseSpec:
    sigma: float | None = None
    estimate: bool = False
    b_max: float | None = None
    #: gaussian (sigma or estimate), poisson (the data are counts) or scaled_counts (scale or
    #: estimate: counts times a factor, variance scale x expectation): remc_mpi.likelihood
    model: str = "gaussian"
    #: scaled_counts: the factor s (variance s f), when given
    scale: float | None = None


@dataclass
class CheckpointSpec:
    every_sweeps: int | None = None
    every_minutes: float | None = 10.0


def _keys(spec) -> set[str]:
    """The config keys of a section: its dataclass's fields (one list, not two to keep in step)."""
    return {f.name for f in fields(spec)}


NOISE_KEYS, LADDER_KEYS, SAMPLER_KEYS, CHECKPOINT_KEYS = (_keys(c) for c in (NoiseSpec, LadderSpec, SamplerSpec,
                                                                            CheckpointSpec))


@dataclass
class RunConfig:
    source: str
    text: str
    data: Spectrum
    candidates: list[Candidate]
    noise: NoiseSpec
    ladder: LadderSpec
    sampler: SamplerSpec
    seed: int
    output: str
    model_priors: dict[str, float]
    checkpoint: CheckpointSpec = field(default_factory=CheckpointSpec)
    progress: bool = True
    truth: dict[str, float] | None = None
    #: report peak models' parameters with the peaks ordered by position (docs/config.md)
    order_peaks: bool = True


#: the limits every config value is checked against (docs/config.md, "Limits"): far beyond
#: any real run, and small enough that nothing derived from them overflows a float (with
#: remc_mpi.io.data's MAX_MAGNITUDE, for any number given, and MAX_POINTS)
MIN_NOISE_LEVEL = 1e-100  # a sigma or count scale: (data / sigma)**2 stays finite for |data| <= 1e15
MAX_COUNT = 10**9       # sweeps, burn-in, thinning, checkpoint intervals
MAX_TEMPS = 10_000      # rungs × chains of a ladder
MAX_SEED = 2**63 - 1    # the seed, stored as a signed 64-bit integer
PATH_MAX_BYTES = 4096   # Linux's PATH_MAX


#: a number PyYAML (YAML 1.1) leaves as a string: 1e-3 (no dot), 1.0e6 (no sign in the exponent);
#: config files are read as YAML 1.2 (remc_mpi.io.safeyaml), a mapping given to parse_config may hold them
YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class Validator:
    """The file being validated; raises errors that name it and a key path (used by the run
    config and by campaign files alike)."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, message: str) -> None:
        raise InputError(message, self.source, where)

    def mapping(self, obj: Any, where: str, allowed: set[str] | dict, required: tuple[str, ...] = ()) -> dict:
        if not isinstance(obj, dict):
            self.fail(where, f"must be a mapping, got {type(obj).__name__}")
        for key in obj:
            if not isinstance(key, str) or key not in allowed:
                self.fail(_join(where, str(key)), "unknown key" + did_you_mean(str(key), allowed))
        for key in required:
            if key not in obj:
                self.fail(_join(where, key), "missing required key")
        return obj

    def number(self, obj: Any, where: str, positive: bool = False, nonneg: bool = False,
               smallest: float = 0.0) -> float:
        """A finite number within ±MAX_MAGNITUDE; ``smallest``: the least magnitude of a
        positive one (a noise level, whose inverse square must stay finite)."""
        if isinstance(obj, str) and YAML11_FLOAT.fullmatch(obj.strip()):
            obj = float(obj)  # from PyYAML's own loader (the Python API): 1e-3 and 1.0e4 as strings
        if isinstance(obj, bool) or not isinstance(obj, (int, float)):
            self.fail(where, f"must be a number, got {shown(obj)}")
        val = float(obj) if not isinstance(obj, int) or obj.bit_length() < 1024 else math.inf  # beyond a float
        if not math.isfinite(val):
            self.fail(where, f"must be finite, got {shown(obj)}")
        if positive and not val > 0:
            self.fail(where, f"must be positive, got {shown(obj)}")
        if nonneg and val < 0:
            self.fail(where, f"must not be negative, got {shown(obj)}")
        if abs(val) > MAX_MAGNITUDE or (val != 0 and abs(val) < smallest):
            lo = f"{smallest:g} … " if smallest else ""
            self.fail(where, f"magnitude must lie within {lo}{MAX_MAGNITUDE:g} (docs/config.md, 'Limits'), "
                             f"got {shown(obj)}")
        return val

    def integer(self, obj: Any, where: str, minimum: int = 0, maximum: int = MAX_COUNT) -> int:
        """An integer in [minimum, maximum]; a whole float (``1e5``, a number in YAML 1.2) counts."""
        if isinstance(obj, float) and obj.is_integer() and abs(obj) <= 2**53:
            obj = int(obj)
        if isinstance(obj, bool) or not isinstance(obj, int):
            self.fail(where, f"must be an integer, got {shown(obj)}")
        if obj < minimum:
            self.fail(where, f"must be at least {minimum}, got {obj}")
        if obj > maximum:
            self.fail(where, f"must be at most {maximum:,} (docs/config.md, 'Limits'), got {shown(obj)}")
        return int(obj)

    def boolean(self, obj: Any, where: str) -> bool:
        if not isinstance(obj, bool):
            self.fail(where, f"must be true or false, got {obj!r}")
        return obj

    def string(self, obj: Any, where: str) -> str:
        if not isinstance(obj, str) or not obj:
            self.fail(where, f"must be a non-empty string, got {obj!r}")
        return obj

    def path(self, obj: Any, where: str) -> str:
        """A file name: a non-empty string without NUL, at most PATH_MAX_BYTES long."""
        name = self.string(obj, where)
        if "\0" in name:
            self.fail(where, "a file name cannot hold a NUL character")
        if len(os.fsencode(name)) > PATH_MAX_BYTES:
            self.fail(where, f"a path of {len(name):,} characters is longer than the system's {PATH_MAX_BYTES}")
        return name

    def numbers(self, obj: Any, where: str, positive: bool = False) -> list[float]:
        """A non-empty list of finite numbers."""
        if not isinstance(obj, list) or not obj:
            self.fail(where, "must be a non-empty list of numbers")
        for v in obj:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or (positive and not v > 0):
                self.fail(where, f"{v!r} is not a{' positive' if positive else ''} number")
        return [float(v) for v in obj]

    def integers(self, obj: Any, where: str) -> list[int]:
        """A non-empty list of integers."""
        if not isinstance(obj, list) or not obj:
            self.fail(where, "must be a non-empty list of integers")
        return [self.integer(v, where) for v in obj]


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _resolve(base: Path, name: str) -> Path:
    p = Path(os.path.expanduser(name))
    return p if p.is_absolute() else base / p


def _model(ctx: Validator, obj: Any, where: str) -> tuple[str, Model, dict | None]:
    m = ctx.mapping(obj, where, MODEL_KEYS, ("name",))
    name = ctx.string(m["name"], _join(where, "name"))
    if name not in MODELS:
        ctx.fail(_join(where, "name"), f"unknown model {name!r}" + did_you_mean(name, MODELS)
                 + f"; choose from {', '.join(MODELS)}")
    opts = m.get("options") or {}
    ctx.mapping(opts, _join(where, "options"), MODELS[name].options)
    for key, val in opts.items():
        kinds = MODELS[name].options[key]
        ok = isinstance(val, kinds) and not (isinstance(val, bool) and bool not in kinds)
        if not ok:
            ctx.fail(_join(where, f"options.{key}"), f"must be {' or '.join(k.__name__ for k in kinds)}, got {val!r}")
    try:
        model = get_model(name, **opts)
    except ValueError as err:
        ctx.fail(_join(where, "options"), str(err))
    label = m.get("label")
    label = ctx.string(label, _join(where, "label")) if label is not None else default_label(name, opts)
    return label, model, m.get("priors")


def _priors(ctx: Validator, obj: Any, where: str) -> dict[str, Prior]:
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        ctx.fail(where, f"must be a mapping, got {type(obj).__name__}")
    out: dict[str, Prior] = {}
    for pname, spec in obj.items():
        pw = _join(where, str(pname))
        if not isinstance(spec, dict) or len(spec) != 1:
            ctx.fail(pw, "must be one {form: arguments} pair, e.g. {uniform: [0.0, 1.0]}")
        (form, args), = spec.items()
        fw = _join(pw, str(form))
        if form not in ("uniform", "loguniform", "normal", "truncnormal", "gamma", "fixed"):
            ctx.fail(fw, "unknown prior form" + did_you_mean(str(form), ["uniform", "loguniform", "normal",
                                                                         "truncnormal", "gamma", "fixed"]))
        seq = args if isinstance(args, (list, tuple)) else [args]
        vals = tuple(ctx.number(v, fw) for v in seq)
        why = check_prior(form, vals)
        if why:
            ctx.fail(fw, why)
        out[str(pname)] = Prior(form, vals)
    return out


def _data(ctx: Validator, obj: Any, base: Path) -> tuple[Spectrum, dict[str, float] | None]:
    d = ctx.mapping(obj, "data", DATA_KEYS)
    if ("file" in d) == ("synthetic" in d):
        ctx.fail("data", "give exactly one of 'file' or 'synthetic'")
    window = None
    if "window" in d:
        w = d["window"]
        if not isinstance(w, (list, tuple)) or len(w) != 2:
            ctx.fail("data.window", "must be [lo, hi]")
        window = (ctx.number(w[0], "data.window"), ctx.number(w[1], "data.window"))
        if not window[0] < window[1]:
            ctx.fail("data.window", f"[{window[0]}, {window[1]}] is empty or inverted")
    norm = d.get("normalize")
    if norm is not None and norm not in ("max", "area"):
        ctx.fail("data.normalize", f"must be 'max' or 'area', got {norm!r}")
    if "file" in d:
        path = _resolve(base, ctx.path(d["file"], "data.file"))
        from remc_mpi.instruments import detect_format

        fmt = detect_format(path)
        if fmt is not None:
            return _instrument(ctx, path, fmt, d, window, norm), None
        for key in ("block", "work_function"):
            if key in d:
                ctx.fail(f"data.{key}", "applies to instrument files (VAMAS, .xy, .spe, ...), not to a text table")
        energy, intensity, linenos, restored = read_table(path)
        shift, how = _charge_shift(ctx, d.get("charge_reference"), None)
        note = "; ".join(part for part in (restored, how) if part)
        return _finish(ctx, energy + shift, intensity, str(path), window, norm, note, linenos=linenos), None
    s = ctx.mapping(d["synthetic"], "data.synthetic", SYNTH_KEYS, ("model", "params", "grid"))
    _, model, _ = _model(ctx, {"name": s["model"], "options": s.get("options") or {}}, "data.synthetic.model")
    if "iterative_shirley" in getattr(model, "background", ()):
        ctx.fail("data.synthetic.options.background", "iterative_shirley is computed from measured data; "
                                                      "a synthetic spectrum takes the active shirley or tougaard")
    params = ctx.mapping(s["params"], "data.synthetic.params", set(model.param_names), tuple(model.param_names))
    truth = {k: ctx.number(v, f"data.synthetic.params.{k}") for k, v in params.items()}
    g = s["grid"]
    if not isinstance(g, (list, tuple)) or len(g) != 3:
        ctx.fail("data.synthetic.grid", "must be [lo, hi, n]")
    lo, hi = ctx.number(g[0], "data.synthetic.grid"), ctx.number(g[1], "data.synthetic.grid")
    n = ctx.integer(g[2], "data.synthetic.grid", MIN_POINTS, MAX_POINTS)
    if not lo < hi:
        ctx.fail("data.synthetic.grid", f"[{lo}, {hi}] is empty or inverted")
    sigma = ctx.number(s.get("noise", 0.0), "data.synthetic.noise", nonneg=True)
    seed = ctx.integer(s.get("seed", 0), "data.synthetic.seed", 0, MAX_SEED)
    energy, y = synthesize(model, truth, np.linspace(lo, hi, n), sigma, seed)
    return prepare(energy, y, f"{ctx.source} (synthetic)", window, norm), truth


def _instrument(ctx: Validator, path: Path, fmt, d: dict, window, norm) -> Spectrum:
    """One region of an instrument file (remc_mpi.instruments) as the spectrum to fit: picked by
    data.block, on the binding-energy axis of data.work_function, charge-referenced, as counts."""
    from remc_mpi import instruments as ins

    wf = d.get("work_function")
    if wf is not None and wf not in ins.WORK_FUNCTION_RULES:
        wf = ctx.number(wf, "data.work_function")
    _, regions = ins.read_regions(path, fmt)
    block = d.get("block")
    region = ins.pick(regions, block, str(path))
    ins.check_region(region, str(path))
    if ins.is_survey(region) and block is None:
        raise InputError(f"the only block, {region.label!r}, is a survey; name it in data.block to fit it", str(path),
                         "data.block")
    energy, rule = ins.binding_energy(region, wf, str(path))
    counts, how = ins.counts_of(region, str(path))
    shift, charge = _charge_shift(ctx, d.get("charge_reference"), (regions, wf, str(path)))
    what = f"{path.name} ({fmt.description}) block {region.index} {region.label!r}"
    note = f"{what}: {rule}; {how}" + (f"; {charge}" if charge else "")
    spectrum = _finish(ctx, energy + shift, counts, str(path), window, norm, note, region.label)
    spectrum.unit = "counts" if region.counts or region.per_second else (region.unit or "not stated")
    return spectrum


def _charge_shift(ctx: Validator, ref: Any, file_regions) -> tuple[float, str]:
    """The shift of data.charge_reference ({shift: eV} or {line: LABEL, at: eV}) and its note."""
    if ref is None:
        return 0.0, ""
    r = ctx.mapping(ref, "data.charge_reference", CHARGE_KEYS)
    if ("shift" in r) == ("line" in r or "at" in r):
        ctx.fail("data.charge_reference", "give either {shift: eV} or {line: LABEL, at: eV}")
    if "shift" in r:
        shift = ctx.number(r["shift"], "data.charge_reference.shift")
        return shift, f"charge reference: a shift of {shift:+g} eV"
    if "line" not in r or "at" not in r:
        ctx.fail("data.charge_reference", "needs both 'line' (a block's label) and 'at' (its energy in eV)")
    if file_regions is None:
        ctx.fail("data.charge_reference.line", "a reference line needs an instrument file holding it; use {shift: eV}")
    from remc_mpi import instruments as ins

    regions, wf, source = file_regions
    at = ctx.number(r["at"], "data.charge_reference.at")
    ref_region = ins.pick(regions, r["line"], source)
    ins.check_region(ref_region, source)
    e_ref, _ = ins.binding_energy(ref_region, wf, source)
    found = ins.peak_position(e_ref, ref_region.intensity)
    return at - found, f"charge reference: {ref_region.label} peak at {found:.2f} eV put at {at:g} eV ({at - found:+.2f} eV)"


def _finish(ctx: Validator, energy, intensity, source: str, window, norm, note: str, label: str = "",
            linenos: np.ndarray | None = None) -> Spectrum:
    """Check that the window lies inside the data's range, then sort, cut it and normalise
    (remc_mpi.io.data.prepare; ``linenos`` name a text file's duplicate energies by line)."""
    if window is not None and energy.size:
        lo, hi = float(np.min(energy)), float(np.max(energy))
        step = float(np.min(np.abs(np.diff(np.sort(energy))))) if energy.size > 1 else 0.0
        if window[0] < lo - step or window[1] > hi + step:
            what = f"block {label!r}" if label else "the data"
            raise InputError(f"the window [{window[0]:g}, {window[1]:g}] eV is not inside {what}'s range "
                             f"[{lo:.2f}, {hi:.2f}] eV", source, "data.window")
    spectrum = prepare(np.asarray(energy, dtype=np.float64), np.asarray(intensity, dtype=np.float64), source,
                       window, norm, linenos)
    spectrum.note = note
    return spectrum


def synthesize(model: Model, params: dict[str, float], energy: np.ndarray, sigma: float = 0.0,
               seed: int = 0, counts: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A model spectrum with Gaussian noise ``sigma`` or Poisson counting noise at a peak of
    ``counts`` (rescaled back to the model's units), from ``np.random.default_rng(seed)``."""
    theta = np.array([[params[n] for n in model.param_names]], dtype=np.float64)
    y = model.spectrum(theta, energy)[0]
    rng = np.random.default_rng(seed)
    if counts is not None:
        scale = counts / np.max(np.abs(y))
        y = rng.poisson(np.clip(y * scale, 0.0, None)) / scale
    elif sigma > 0:
        y = y + rng.normal(0.0, sigma, y.shape)
    return energy, y


#: relative tolerance for "an integer" in counts converted from a rate (c/s x dwell x scans)
COUNT_ROUNDING = 1e-6


def _check_counts(ctx: Validator, data: Spectrum, likelihood: str) -> None:
    """Counting noise needs non-negative intensities, and the Poisson likelihood integers (to
    within rounding)."""
    y = data.intensity
    if np.any(y < 0) or not np.all(np.isfinite(y)):
        ctx.fail("noise.model", f"{likelihood} needs counts, but {data.source} has negative intensities")
    if likelihood != "poisson":
        return
    off = np.abs(y - np.round(y)) > COUNT_ROUNDING * np.maximum(1.0, np.abs(y))
    if np.any(off):
        example = float(y[np.flatnonzero(off)[0]])
        unit = f" (unit: {data.unit})" if data.unit else ""
        ctx.fail("noise.model", f"poisson needs integer counts, but {data.source} holds non-integer intensities, "
                                f"e.g. {example:g}{unit}: transmission-corrected or averaged counts; "
                                f"use noise: {{model: scaled_counts, estimate: true}} (docs/config.md, 'noise')")


#: corners of the prior box (closed, finite ends of each free parameter's support) at which
#: validation evaluates a candidate's energy; beyond 2^8, this many of them drawn at random
MAX_PRIOR_CORNERS = 256
#: at most this many model values (8 bytes each) held at once while the corners are evaluated
CORNER_FLOATS = 1 << 22


def prior_corners(priors: PriorSet, seed: int = 0) -> np.ndarray:
    """Points (n, P) at the corners of the prior's support: each free parameter at a closed,
    finite end of its support (or a draw where it has none), fixed ones at their value."""
    rng = np.random.default_rng(seed)
    ends = []
    for p in priors.priors:
        if p.fixed:
            ends.append([p.args[0]])
            continue
        lo, hi, lo_open = p.support()
        choice = [x for x, ok in ((lo, not lo_open), (hi, True)) if ok and math.isfinite(x)]
        ends.append(choice or [float(p.sample(rng))])
    n = int(np.prod([len(e) for e in ends]))
    if n <= MAX_PRIOR_CORNERS:
        grids = np.meshgrid(*ends, indexing="ij")
        return np.stack([g.ravel() for g in grids], axis=1)
    return np.array([[e[rng.integers(len(e))] for e in ends] for _ in range(MAX_PRIOR_CORNERS)])


def _check_finite_over_prior(ctx: Validator, cand: Candidate, data: Spectrum, likelihood: str) -> None:
    """Refuse a candidate whose energy is NaN somewhere on its prior's corners (a Lorentzian of
    zero width on a grid point, say): NaN compares false with everything, so a sampler that met
    one could not tell it from a good state. +inf (a count model of zero where counts are) is a
    state the sampler rejects, and allowed."""
    from remc_mpi.likelihood import energies

    corners = prior_corners(cand.priors)
    rows = max(1, CORNER_FLOATS // data.n)  # spectra evaluated a few at a time: bounded memory
    with np.errstate(all="ignore"):
        u = np.concatenate([energies(cand.model.spectrum(corners[i:i + rows], data.energy), data.intensity, likelihood)
                            for i in range(0, len(corners), rows)])
    bad = np.flatnonzero(np.isnan(u))
    if bad.size:
        at = ", ".join(f"{n} = {v:g}" for n, v, p in zip(cand.model.param_names, corners[bad[0]], cand.priors.priors)
                       if not p.fixed)
        ctx.fail("priors", f"candidate {cand.label} is not finite at the corner {at} of its prior: a width or "
                           "scale of 0 there? start that prior above it")


def read_yaml(path: str | Path, what: str = "config") -> tuple[Any, str]:
    """The parsed YAML of ``path`` and its text; a missing or unreadable file, or invalid YAML
    (with its line number), is one InputError naming the file."""
    path = Path(path)
    src = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} file does not exist", src) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {what} ({err.__class__.__name__})", src) from None
    try:
        return safeyaml.load(text), text
    except safeyaml.YamlProblem as err:
        raise InputError(f"invalid YAML: {err.problem}", src, f"line {err.line}" if err.line else None) from None


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML config file (everything but MPI happens here)."""
    raw, text = read_yaml(path)
    return parse_config(raw, str(path), text, Path(path).parent)


def _candidates(ctx: Validator, cfg: dict) -> list[Candidate]:
    """The candidate models (``model`` or ``models``) with their merged priors."""
    if ("model" in cfg) == ("models" in cfg):
        ctx.fail("model", "give exactly one of 'model' or 'models'")
    if "models" in cfg:
        if not isinstance(cfg["models"], list) or not cfg["models"]:
            ctx.fail("models", "must be a non-empty list of models")
        specs = [_model(ctx, m, f"models[{i}]") for i, m in enumerate(cfg["models"])]
    else:
        specs = [_model(ctx, cfg["model"], "model")]
    labels = [s[0] for s in specs]
    if len(set(labels)) != len(labels):
        ctx.fail("models", "candidate labels must be unique; give each a 'label'")

    shared = _priors(ctx, cfg.get("priors"), "priors")
    all_params = {n for _, m, _ in specs for n in m.param_names}
    for pname in shared:
        if pname not in all_params:
            ctx.fail(f"priors.{pname}", "no candidate model has this parameter" + did_you_mean(pname, all_params))
    candidates = []
    for i, (label, model, own) in enumerate(specs):
        where = f"models[{i}].priors" if "models" in cfg else "model.priors"
        mine = _priors(ctx, own, where)
        for pname in mine:
            if pname not in model.param_names:
                ctx.fail(f"{where}.{pname}", f"model {model.name} has no such parameter"
                         + did_you_mean(pname, model.param_names))
        merged = {**shared, **mine}
        for pname in model.param_names:
            if pname not in merged:
                ctx.fail(f"priors.{pname}", f"missing prior for parameter of model {label}")
        candidates.append(Candidate(label, model, PriorSet(model.param_names, merged)))
    return candidates


def candidate_specs(cfg: dict, source: str) -> list[Candidate]:
    """The candidates of a config mapping (labels, models, merged priors) without its data
    (campaigns and plans read them from a base config); InputError naming ``source``."""
    return _candidates(Validator(source), cfg)


def _with_data_background(cand: Candidate, data: Spectrum) -> Candidate:
    """The candidate with its ``iterative_shirley`` curve computed from the data (models.backgrounds),
    held in the model's options so that the results file rebuilds the same model."""
    model = cand.model
    if "iterative_shirley" not in getattr(model, "background", ()):
        return cand
    curve = iterative_shirley(data.energy, data.intensity)
    options = {**model.options, "fixed_background": {"energy": data.energy.tolist(), "values": curve.tolist()}}
    return Candidate(cand.label, get_model(model.name, **options), cand.priors)


def _noise(ctx: Validator, cfg: dict) -> NoiseSpec:
    noise_raw = ctx.mapping(cfg["noise"], "noise", NOISE_KEYS)
    model = noise_raw.get("model", "gaussian")
    if model not in LIKELIHOOD_CODES:
        ctx.fail("noise.model", f"must be one of {', '.join(LIKELIHOOD_CODES)}, got {model!r}")
    if model == "poisson":
        extra = [k for k in ("sigma", "estimate", "b_max", "scale") if k in noise_raw]
        if extra:
            ctx.fail(f"noise.{extra[0]}", "counts have no noise level to give or estimate (noise.model: poisson; "
                                          "noise.model: scaled_counts learns a count scale)")
        return NoiseSpec(model="poisson")
    level, other = ("scale", "sigma") if model == "scaled_counts" else ("sigma", "scale")
    if other in noise_raw:
        ctx.fail(f"noise.{other}", f"noise.model {model} takes '{level}', not '{other}'")
    estimate = ctx.boolean(noise_raw.get("estimate", False), "noise.estimate")
    if estimate == (level in noise_raw):
        ctx.fail("noise", f"give exactly one of '{level}' or 'estimate: true'")
    given = (ctx.number(noise_raw[level], f"noise.{level}", positive=True, smallest=MIN_NOISE_LEVEL)
             if level in noise_raw else None)
    return NoiseSpec(
        sigma=given if level == "sigma" else None, scale=given if level == "scale" else None,
        estimate=estimate, model=model,
        b_max=ctx.number(noise_raw["b_max"], "noise.b_max", positive=True) if "b_max" in noise_raw else None,
    )


def _ladder(ctx: Validator, cfg: dict, estimate: bool) -> LadderSpec:
    lad_raw = ctx.mapping(cfg.get("ladder") or {}, "ladder", LADDER_KEYS)
    ladder = LadderSpec()
    if lad_raw.get("n_temps") == "auto":
        ladder.auto = True
        if "betas" in lad_raw:
            ctx.fail("ladder.n_temps", "auto chooses the rungs; it cannot go with explicit betas")
    elif "n_temps" in lad_raw:
        ladder.n_temps = ctx.integer(lad_raw["n_temps"], "ladder.n_temps", 2, MAX_TEMPS)
    if "spacing" in lad_raw:
        if lad_raw["spacing"] not in ("geometric", "linear"):
            ctx.fail("ladder.spacing", f"must be 'geometric' or 'linear', got {lad_raw['spacing']!r}")
        ladder.spacing = lad_raw["spacing"]
    if "beta_min" in lad_raw:
        ladder.beta_min = ctx.number(lad_raw["beta_min"], "ladder.beta_min", positive=True)
        if ladder.beta_min >= 1:
            ctx.fail("ladder.beta_min", "must be below 1")
    if "adapt" in lad_raw:
        ladder.adapt = ctx.boolean(lad_raw["adapt"], "ladder.adapt")
    if "chains" in lad_raw:
        ladder.chains = ctx.integer(lad_raw["chains"], "ladder.chains", 1, MAX_TEMPS)
    if "betas" in lad_raw:
        b = lad_raw["betas"]
        if not isinstance(b, list) or not 2 <= len(b) <= MAX_TEMPS:
            ctx.fail("ladder.betas", f"must be a list of 2 to {MAX_TEMPS:,} numbers")
        betas = [ctx.number(x, "ladder.betas", nonneg=True) for x in b]
        if betas[0] != 0.0 or (betas[-1] != 1.0 and not estimate):
            ctx.fail("ladder.betas", "must start at 0 and end at 1")
        if any(b2 <= b1 for b1, b2 in zip(betas, betas[1:])):
            ctx.fail("ladder.betas", "must be strictly increasing")
        ladder.betas = betas
        ladder.n_temps = len(betas)
    if ladder.n_temps * ladder.chains > MAX_TEMPS:
        ctx.fail("ladder.chains", f"{ladder.chains} chains of {ladder.n_temps} rungs exceed {MAX_TEMPS:,} "
                                  "temperature slots (docs/config.md, 'Limits')")
    return ladder


def _sampler(ctx: Validator, cfg: dict) -> SamplerSpec:
    sam_raw = ctx.mapping(cfg.get("sampler") or {}, "sampler", SAMPLER_KEYS)
    sampler = SamplerSpec()
    for f in fields(SamplerSpec):  # integers and switches by their declared type
        if f.name in sam_raw and f.type == "int":
            setattr(sampler, f.name, ctx.integer(sam_raw[f.name], f"sampler.{f.name}", 0 if f.name == "burn_in" else 1))
        elif f.name in sam_raw and f.type == "bool":
            setattr(sampler, f.name, ctx.boolean(sam_raw[f.name], f"sampler.{f.name}"))
    if "target_acceptance" in sam_raw:
        t = ctx.number(sam_raw["target_acceptance"], "sampler.target_acceptance")
        if not 0 < t < 1:
            ctx.fail("sampler.target_acceptance", "must be between 0 and 1")
        sampler.target_acceptance = t
    if "target_error" in sam_raw:
        sampler.target_error = ctx.number(sam_raw["target_error"], "sampler.target_error", positive=True)
    if "max_sweeps" in sam_raw:
        if "target_error" not in sam_raw:
            ctx.fail("sampler.max_sweeps", "caps a run with a target_error; without one, set sampler.sweeps")
        sampler.max_sweeps = ctx.integer(sam_raw["max_sweeps"], "sampler.max_sweeps", 1)
    if "max_minutes" in sam_raw:
        sampler.max_minutes = ctx.number(sam_raw["max_minutes"], "sampler.max_minutes", positive=True)
    if "check_growth" in sam_raw:
        sampler.check_growth = ctx.number(sam_raw["check_growth"], "sampler.check_growth", nonneg=True)
        if sampler.check_growth > 1.0:
            ctx.fail("sampler.check_growth", "must be at most 1 (a run may overshoot its target by that share)")
    if "moves" in sam_raw:
        sampler.moves = _move_switches(ctx, sam_raw["moves"])
    if sampler.burn_in >= sampler.cap:
        key = "max_sweeps" if sampler.cap != sampler.sweeps else "sweeps"
        ctx.fail("sampler.burn_in", f"must be less than sampler.{key} ({sampler.cap})")
    return sampler


def _move_switches(ctx: Validator, raw: Any) -> dict[str, bool]:
    """``sampler.moves``: a registered move's switch by its name (moves.base), refused for the
    moves a run cannot switch (essential) and for those with a key of their own."""
    from remc_mpi.moves.sweep import MOVES  # the numba kernels: loaded only when the key is used

    by_name = {cls.name: cls for cls in MOVES}
    switches = {}
    for name, on in ctx.mapping(raw or {}, "sampler.moves", set(by_name)).items():
        where = f"sampler.moves.{name}"
        if by_name[name].essential:
            ctx.fail(where, "is always on (the chain's irreducibility rests on it)")
        if f"{name}_moves" in SAMPLER_KEYS:
            ctx.fail(where, f"has its own key: set sampler.{name}_moves")
        switches[name] = ctx.boolean(on, where)
    return switches


def _checkpoint(ctx: Validator, cfg: dict) -> CheckpointSpec:
    ck_raw = ctx.mapping(cfg.get("checkpoint") or {}, "checkpoint", CHECKPOINT_KEYS)
    checkpoint = CheckpointSpec()
    if "every_sweeps" in ck_raw:
        checkpoint.every_sweeps = ctx.integer(ck_raw["every_sweeps"], "checkpoint.every_sweeps", 1)
    if "every_minutes" in ck_raw:
        checkpoint.every_minutes = ctx.number(ck_raw["every_minutes"], "checkpoint.every_minutes", positive=True)
    return checkpoint


def parse_config(raw: Any, source: str = "<config>", text: str | None = None,
                 base: Path | None = None) -> RunConfig:
    """Validate an already-parsed config mapping (the Python API's entry point). Sections are
    checked in file order of importance: models and priors, noise, ladder, sampler,
    checkpoint, the top-level scalars, then the data (whose loading is the slow part)."""
    ctx = Validator(source)
    base = base or Path.cwd()
    cfg = ctx.mapping(raw, "", TOP_KEYS, ("data", "noise", "priors"))
    candidates = _candidates(ctx, cfg)
    noise = _noise(ctx, cfg)
    ladder = _ladder(ctx, cfg, noise.estimate)
    sampler = _sampler(ctx, cfg)
    checkpoint = _checkpoint(ctx, cfg)
    seed = ctx.integer(cfg.get("seed", 0), "seed", 0, MAX_SEED)
    output = str(_resolve(base, ctx.path(cfg.get("output", "remc-out.h5"), "output")))
    mp_raw = cfg.get("model_priors") or {}
    ctx.mapping(mp_raw, "model_priors", {c.label for c in candidates})
    model_priors = {k: ctx.number(v, f"model_priors.{k}", positive=True) for k, v in mp_raw.items()}
    progress = ctx.boolean(cfg.get("progress", True), "progress")
    order_peaks = ctx.boolean(cfg.get("order_peaks", True), "order_peaks")
    data, truth = _data(ctx, cfg["data"], base)
    candidates = [_with_data_background(c, data) for c in candidates]
    for cand in candidates:
        _check_finite_over_prior(ctx, cand, data, noise.model)
    if noise.model in COUNTS:
        _check_counts(ctx, data, noise.model)
    if text is None:
        text = yaml.safe_dump(raw, sort_keys=False)
    return RunConfig(source, text, data, candidates, noise, ladder, sampler, seed, output, model_priors,
                     checkpoint, progress, truth, order_peaks)
