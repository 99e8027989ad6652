"""Figures of a finished run (matplotlib, the optional ``plot`` extra).

``plot_run(path, folder)`` writes fit.png (data, MAP fit, its peaks, 95% posterior-predictive
band, the MAP Hamiltonian's levels as sticks), marginals.png (beta = 1 marginals with true
values), pairs.png (pairwise scatter), ladder.png (swap rate per pair, acceptance per rung,
replica traces, the thermodynamic-integration integrand) and, in noise-estimation mode,
noise.png (F(b)). ``plot_selection(summaries, path)`` draws the free energy per model.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from remc_mpi.evidence.fitquality import replicate
from remc_mpi.models import get_model
from remc_mpi.io.output import ResultsFile
from remc_mpi.io.safeio import write_atomic


def pyplot():
    try:
        import matplotlib
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise RuntimeError("plots need matplotlib: pip install 'remc-mpi[plot]'") from err
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Render ``fig`` in memory, close it and write the image whole (safeio.write_atomic: a
    full disk leaves no partial image and one clear error)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=dpi)
    pyplot().close(fig)
    return write_atomic(path, buf.getvalue())


def _load(path: str | Path) -> dict:
    with ResultsFile(path) as rf:
        s = rf.summary()
        energy, intensity = rf.data()
        return {
            "summary": s, "energy": energy, "intensity": intensity,
            "theta": rf.posterior_theta(), "lam": rf.ladder(),
            # replica traces of the first chain; energies averaged over the chains
            "replica": rf.samples("replica")[:, :len(rf.ladder())],
            "E": rf.samples("energy").reshape(-1, rf.chains, len(rf.ladder())).mean(axis=1),
            "acceptance": rf.diagnostic("acceptance"), "swap_rate": rf.diagnostic("swap_rate"),
        }


def _run_view(path: str | Path, n_band: int) -> dict:
    """Everything the figures of one run draw from."""
    d = _load(path)
    s = d["summary"]
    names = s["param_names"]
    return dict(d=d, s=s, model=get_model(s["model"], **s["options"]), names=names, n_band=n_band,
                free=[n for n in names if not s["posterior"][n]["fixed"]],
                theta_map=np.array([s["posterior"][n]["map"] for n in names]), truth=s.get("truth") or {},
                x=d["energy"], y=d["intensity"])


#: a grid whose energies all exceed this is an absolute binding-energy axis (core levels lie
#: above ~20 eV; relative axes of the synthetic problems sit around 0)
ABSOLUTE_AXIS_EV = 20.0


def _fit(plt, v: dict):
    """Data, MAP fit, its lines, the 95 % posterior-predictive band; the normalised residuals
    (data - MAP) / sd; the levels as sticks. Binding energy increases to the left, as XPS is drawn."""
    s, d, model, names, theta_map, x, y, n_band = (
        v["s"], v["d"], v["model"], v["names"], v["theta_map"], v["x"], v["y"], v["n_band"])
    rng = np.random.default_rng(0)
    pick = d["theta"][rng.integers(0, len(d["theta"]), min(n_band, len(d["theta"])))]
    mean = model.spectrum(pick, x)
    likelihood = s.get("likelihood") or ("poisson" if s["sigma"] is None else "gaussian")  # older files
    pred = replicate(mean, likelihood, s["sigma"] if likelihood == "gaussian" else s.get("scale"), rng)
    lo, hi = np.quantile(pred, [0.025, 0.975], axis=0)
    fit = model.spectrum(theta_map, x)
    fig, (ax, ax_res, ax2) = plt.subplots(3, 1, figsize=(7, 7.5), sharex=True,
                                          gridspec_kw={"height_ratios": [3, 1, 1]})
    ax.fill_between(x, lo, hi, color="C0", alpha=0.25, label="95% posterior predictive")
    ax.plot(x, y, ".", ms=3, color="k", label="data")
    ax.plot(x, fit, color="C3", lw=1.5, label="MAP fit")
    _residuals(ax_res, x, y, fit, s)
    try:
        pk, lines = model.peaks(theta_map[None, :]), model.line_spectra(theta_map, x)
    except NotImplementedError:
        pk = None
    if pk is not None:
        scale = theta_map[names.index("amp")] if "amp" in names else 1.0
        for line in lines:
            ax.plot(x, line, "--", lw=0.8, color="C2")
        ax2.vlines(pk["center"][0], 0, pk["height"][0] * scale, color="C2", lw=2)
        ax2.set_ylabel("weight")
    ax.set_ylabel("intensity")
    ax.set_title(f"{s['label']}: log Z = {s['log_evidence']['value']:.2f} ± {s['log_evidence']['stderr']:.2f}")
    ax.legend(fontsize=8)
    absolute = bool(np.min(x) > ABSOLUTE_AXIS_EV)
    ax2.set_xlabel("binding energy (eV)" if absolute else "relative binding energy (eV)")
    ax2.set_xlim(float(np.max(x)), float(np.min(x)))  # shared: every panel increases to the left
    fig.tight_layout()
    return fig


def _residuals(ax, x, y, fit, s: dict) -> None:
    """(data - MAP) / sd: sd = sigma (Gaussian) or sqrt(s MAP) (counts, s = 1 for Poisson); the fit
    statistic in the label."""
    sd = np.sqrt((s.get("scale") or 1.0) * np.clip(fit, 1e-300, None)) if s["sigma"] is None else s["sigma"]
    ax.plot(x, (y - fit) / sd, ".", ms=2, color="k")
    ax.axhline(0.0, color="C3", lw=1)
    for k in (-2, 2):
        ax.axhline(k, color="0.6", lw=0.6, ls=":")
    fit_stat = s.get("fit")
    ax.set_ylabel("residual / sd" + (f"\n{fit_stat['statistic']} {fit_stat['map']:.3g}" if fit_stat else ""),
                  fontsize=8)


def _marginals(plt, v: dict):
    """beta = 1 marginals with their 95 % intervals and the true values."""
    s, d, names, free, truth = v["s"], v["d"], v["names"], v["free"], v["truth"]
    cols = min(3, len(free))
    rows = int(np.ceil(len(free) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), free):
        j = names.index(name)
        ax.hist(d["theta"][:, j], bins=40, color="C0", alpha=0.8)
        p = s["posterior"][name]
        ax.axvspan(p["q025"], p["q975"], color="C0", alpha=0.1)
        if name in truth:
            ax.axvline(truth[name], color="C3", lw=1.5, label="true")
        ax.set_xlabel(name)
    for ax in axes.ravel()[len(free):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def _pairs(plt, v: dict):
    """Pairwise scatter of the free parameters."""
    d, names, free, truth = v["d"], v["names"], v["free"], v["truth"]
    k = len(free)
    fig, axes = plt.subplots(k, k, figsize=(1.8 * k + 1, 1.8 * k + 1), squeeze=False)
    for a, na in enumerate(free):
        for b, nb in enumerate(free):
            ax = axes[a, b]
            if b > a:
                ax.axis("off")
                continue
            xa, xb = d["theta"][:, names.index(nb)], d["theta"][:, names.index(na)]
            if a == b:
                ax.hist(xa, bins=30, color="C0")
            else:
                ax.plot(xa, xb, ",", alpha=0.5, color="C0")
                if na in truth and nb in truth:
                    ax.plot(truth[nb], truth[na], "+", color="C3", ms=8)
            if a == k - 1:
                ax.set_xlabel(nb, fontsize=8)
            if b == 0:
                ax.set_ylabel(na, fontsize=8)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    return fig


def _ladder(plt, v: dict):
    """Swap rates, acceptance per rung, replica traces, the TI integrand."""
    s, d = v["s"], v["d"]
    lam = d["lam"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    axes[0, 0].bar(np.arange(len(d["swap_rate"])) + 0.5, d["swap_rate"])
    barrier = s["diagnostics"].get("barrier")
    axes[0, 0].set(xlabel="pair (l, l+1)", ylabel="swap rate", ylim=(0, 1),
                   title=f"communication barrier {barrier:.2f}" if barrier is not None else None)
    a = d["acceptance"]
    sampled = np.isfinite(a).any(axis=1)  # the beta = 0 rung draws from the prior: no Metropolis
    acc = np.array([np.mean(row[np.isfinite(row)]) for row in a[sampled]])
    axes[0, 1].plot(np.flatnonzero(sampled), acc, "o-")
    axes[0, 1].set(xlabel="rung", ylabel="Metropolis acceptance", ylim=(0, 1))
    rep = d["replica"]
    for r in range(min(4, rep.shape[1])):
        axes[1, 0].plot(np.argmax(rep == r, axis=1), lw=0.6)
    axes[1, 0].set(xlabel="saved sweep", ylabel="rung of replica", title="replica traces")
    U = d["E"] * s["n_data"]
    axes[1, 1].semilogx(lam[1:], U.mean(axis=0)[1:], "o-")
    axes[1, 1].set(xlabel="lambda = beta b0", ylabel="<N E>", title="TI integrand")
    fig.tight_layout()
    return fig


def _noise(plt, v: dict):
    """F(b) in noise-estimation mode (None otherwise)."""
    s = v["s"]
    if "noise" not in s:
        return None
    c = s["noise"]["curve"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(c["b"], c["F"], yerr=c["stderr"], fmt="o-", ms=3)
    level = "scale" if "scale_hat" in s["noise"] else "sigma"
    ax.axvline(s["noise"]["b_hat"], color="C3", label=f"b_hat ({level} = {s['noise'][level + '_hat']:.4g})")
    ax.set_xscale("log")
    ax.set(xlabel="noise precision b", ylabel="F(b)")
    ax.legend()
    fig.tight_layout()
    return fig


#: the figures of one run: file name, how to draw it (None: not for this run), resolution
FIGURES = (("fit.png", _fit, 110), ("marginals.png", _marginals, 110), ("pairs.png", _pairs, 100),
           ("ladder.png", _ladder, 110), ("noise.png", _noise, 110))


def plot_run(path: str | Path, folder: str | Path, n_band: int = 200) -> list[Path]:
    """Write the figures of one results file into ``folder``; return their paths."""
    plt = pyplot()
    view = _run_view(path, n_band)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, draw, dpi in FIGURES:
        fig = draw(plt, view)
        if fig is not None:
            files.append(save_figure(fig, out / name, dpi))
    return files


def plot_selection(summaries: list[dict], path: str | Path) -> Path:
    """Bayes free energy per model with error bars, and P(H_k | D)."""
    from remc_mpi.evidence.selection import select

    plt = pyplot()
    sel = select(summaries)
    models = sel["models"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    names = [m["name"] for m in models]
    ax.errorbar(range(len(models)), [m["free_energy"] for m in models], yerr=[m["stderr"] for m in models],
                fmt="o", capsize=4)
    ax.set_xticks(range(len(models)), names)
    ax.set_ylabel("Bayes free energy F = -log Z")
    ax2.bar(range(len(models)), [m["probability"] for m in models],
            yerr=[m["probability_sd"] for m in models], capsize=4)
    ax2.set_xticks(range(len(models)), names)
    ax2.set(ylabel="P(H | D)", ylim=(0, 1))
    fig.tight_layout()
    return save_figure(fig, path)
