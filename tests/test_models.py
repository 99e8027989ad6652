"""Forward models against exact numbers (docs/models.md) and their own contracts."""

import numpy as np
import pytest

from remc_mpi.models import get_model
from remc_mpi.models.eigen import tridiag2_eig, tridiag3_eigvals, tridiag3_eigvec_parts
from remc_mpi.models.lineshapes import gaussian, lorentzian

CEO2 = dict(delta=1.6, v=0.76, uff=10.5, ufc=12.5, gamma=0.7, shift=0.0, amp=1.0)
LA2O3 = dict(delta=12.5, v=0.57, ufc=12.7, gamma=0.5, shift=0.0, amp=1.0)


def theta_of(model, **params):
    return np.array([[params[n] for n in model.param_names]], dtype=float)


def test_spec_test_vector():
    m = get_model("cluster3", nf=14)
    p = m.peaks(theta_of(m, delta=12.5, v=0.76, uff=10.5, ufc=12.5, gamma=0.5, shift=0.0, amp=1.0))
    np.testing.assert_array_equal(np.round(p["e"][0], 3), [-2.797, 2.724, 12.481])
    np.testing.assert_array_equal(np.round(p["w"][0], 4), [0.6048, 0.3944, 0.0007])


def _dense_cluster3(delta, v, uff, ufc, nf=14):
    t1, t2 = np.sqrt(nf) * v, np.sqrt(2 * (nf - 1)) * v
    hi = np.array([[0, t1, 0], [t1, delta, t2], [0, t2, 2 * delta + uff]])
    hf = hi.copy()
    hf[1, 1], hf[2, 2] = delta - ufc, 2 * delta + uff - 2 * ufc
    li, vi = np.linalg.eigh(hi)
    lf, vf = np.linalg.eigh(hf)
    return lf - li[0], (vf.T @ vi[:, 0]) ** 2


def test_cluster3_matches_dense_diagonalisation_over_the_prior():
    rng = np.random.default_rng(5)
    m = get_model("cluster3")
    n = 500
    th = np.column_stack([rng.uniform(-5, 15, n), rng.uniform(0.1, 2, n), rng.uniform(5, 15, n),
                          rng.uniform(5, 20, n), np.full(n, 0.5), np.zeros(n), np.ones(n)])
    p = m.peaks(th)
    for i in range(n):
        e, w = _dense_cluster3(*th[i, :4])
        np.testing.assert_allclose(p["e"][i], e, rtol=0, atol=1e-11 * max(1, np.abs(e).max()))
        np.testing.assert_allclose(p["w"][i], w, rtol=0, atol=1e-11)


def test_cluster2_closed_form_eigenvalues_and_weights():
    """H_f = [[0, t], [t, d]], d = delta - ufc: e = d/2 -+ R, R = sqrt(d^2/4 + t^2), and the
    weight of the lower state in |4f0> is (1 + d/(2R))/2."""
    m = get_model("cluster2")
    th = theta_of(m, **LA2O3)
    p = m.peaks(th)
    d, t = LA2O3["delta"] - LA2O3["ufc"], np.sqrt(14) * LA2O3["v"]
    R = np.sqrt(d * d / 4 + t * t)
    np.testing.assert_allclose(p["e"][0], [d / 2 - R, d / 2 + R], rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(p["w"][0], [(1 + d / (2 * R)) / 2, (1 - d / (2 * R)) / 2], rtol=1e-13)


def test_cluster2_hybridized_initial_against_dense():
    m = get_model("cluster2", hybridized_initial=True)
    th = theta_of(m, **LA2O3)
    t = np.sqrt(14) * LA2O3["v"]
    li, vi = np.linalg.eigh([[0, t], [t, LA2O3["delta"]]])
    lf, vf = np.linalg.eigh([[0, t], [t, LA2O3["delta"] - LA2O3["ufc"]]])
    p = m.peaks(th)
    np.testing.assert_allclose(p["e"][0], lf - li[0], rtol=1e-13)
    np.testing.assert_allclose(p["w"][0], (vf.T @ vi[:, 0]) ** 2, rtol=1e-12)


@pytest.mark.parametrize("name", ["cluster2", "cluster3"])
def test_sum_rule(name):
    rng = np.random.default_rng(1)
    m = get_model(name)
    th = np.column_stack([rng.uniform(0.1, 3, 200) if n != "delta" else rng.uniform(-5, 15, 200)
                          for n in m.param_names])
    np.testing.assert_allclose(m.peaks(th)["w"].sum(axis=1), 1.0, rtol=0, atol=1e-13)


def test_v_to_zero_limits():
    """v -> 0: cluster3's ground state is 4f0 (delta > 0), so all weight sits on the final
    4f0 level, at e = 0; cluster2 the same with E_g = 0."""
    for name, params in (("cluster3", dict(CEO2, delta=3.0)), ("cluster2", LA2O3)):
        m = get_model(name)
        p = m.peaks(theta_of(m, **dict(params, v=1e-9)))
        j = int(np.argmax(p["w"][0]))
        assert p["w"][0, j] == pytest.approx(1.0, abs=1e-12)
        assert p["e"][0, j] == pytest.approx(0.0, abs=1e-9)


def test_eigen_solvers_near_degeneracy():
    """Nearly degenerate diagonals with tiny couplings, where arccos alone loses digits."""
    rng = np.random.default_rng(2)
    n = 300
    a = rng.normal(size=(n, 3)) * 1e-3
    b = rng.normal(size=(n, 2)) * 1e-6
    lam = tridiag3_eigvals(a[:, 0], a[:, 1], a[:, 2], b[:, 0], b[:, 1])
    parts, norm2 = tridiag3_eigvec_parts(lam, a[:, 0], a[:, 1], a[:, 2], b[:, 0], b[:, 1])
    vec = np.stack(parts, axis=-1) / np.sqrt(norm2)[..., None]  # unit eigenvectors (the parts the cores use)
    for i in range(n):
        H = np.diag(a[i]) + np.diag(b[i], 1) + np.diag(b[i], -1)
        ref = np.linalg.eigvalsh(H)
        np.testing.assert_allclose(lam[i], ref, rtol=0, atol=1e-15)
        np.testing.assert_allclose(H @ vec[i].T, vec[i].T * lam[i], atol=1e-15)
    lam2, v2 = tridiag2_eig(a[:, 0], a[:, 1], b[:, 0])
    for i in range(n):
        ref = np.linalg.eigvalsh([[a[i, 0], b[i, 0]], [b[i, 0], a[i, 1]]])
        np.testing.assert_allclose(lam2[i], ref, rtol=0, atol=1e-16)


def test_lineshapes_unit_area_and_half_width():
    x = np.linspace(-2000, 2000, 2_000_001)
    out = np.empty((1, x.size))
    lorentzian(x, np.array([0.3]), np.array([1.0]), np.array([0.7]), out)
    # tails beyond |x| = X carry 2 Gamma / (pi X) of the area
    assert np.trapezoid(out[0], x) == pytest.approx(1 - 2 * 0.7 / (np.pi * 2000), rel=1e-9)
    half = lorentzian(np.array([0.3 + 0.7]), np.array([0.3]), np.array([1.0]), np.array([0.7]), np.empty((1, 1)))
    assert half[0, 0] == pytest.approx(0.5 / (np.pi * 0.7), rel=1e-15)
    g = gaussian(x[::100], np.array([1.0]), np.array([2.0]), np.array([4.0]), np.empty((1, x[::100].size)))
    assert np.trapezoid(g[0], x[::100]) == pytest.approx(2.0 * np.sqrt(2 * np.pi / 4.0), rel=1e-9)


@pytest.mark.parametrize("name,opts", [("cluster3", {}), ("cluster2", {}), ("gauss_peaks", {"n_peaks": 3}),
                                       ("lorentz_peaks", {"n_peaks": 2}),
                                       ("cluster3", {"background": ["linear", "shirley"], "doublet": True}),
                                       ("polynomial", {"degree": 3})])
def test_batch_equals_single_exactly(name, opts):
    m = get_model(name, **opts)
    rng = np.random.default_rng(3)
    th = rng.uniform(0.2, 2.0, size=(37, len(m.param_names)))
    x = np.linspace(-5, 15, 400)
    batch = m.spectrum(th, x)
    assert batch.shape == (37, 400) and batch.dtype == np.float64
    for i in (0, 5, 36):
        np.testing.assert_array_equal(batch[i], m.spectrum(th[i], x))
        np.testing.assert_array_equal(batch[i], m.spectrum(th[i:i + 1], x)[0])


@pytest.mark.parametrize("name,opts", [("cluster3", {}), ("gauss_peaks", {"n_peaks": 3}),
                                       ("lorentz_peaks", {"n_peaks": 2, "doublet": True,
                                                          "background": "shirley"})])
def test_incremental_updates_equal_full_evaluation_bitwise(name, opts):
    m = get_model(name, **opts)
    ev = m.evaluator(np.linspace(-5, 15, 300))
    rng = np.random.default_rng(4)
    th = rng.uniform(0.2, 2.0, size=(8, len(m.param_names)))
    cache = ev.full(th)
    for j in range(len(m.param_names)):
        th2 = th.copy()
        th2[:, j] += 0.1
        trial = ev.update(cache, th2, j)
        np.testing.assert_array_equal(trial["y"], ev.full(th2)["y"])
        mask = np.arange(8) % 2 == 0
        ev.accept(cache, trial, mask)
        th[mask, j] = th2[mask, j]
        np.testing.assert_array_equal(cache["y"], ev.full(th)["y"])


def test_cheap_updates_skip_the_diagonalisation(monkeypatch):
    m = get_model("cluster3")
    ev = m.evaluator(np.linspace(-5, 15, 50))
    th = theta_of(m, **CEO2)
    cache = ev.full(th)
    calls = []
    orig = m.core.levels
    monkeypatch.setattr(m.core, "levels", lambda col: calls.append(1) or orig(col))
    for name in ("gamma", "shift", "amp"):
        ev.update(cache, th, m.column(name))
    assert calls == []
    ev.update(cache, th, m.column("delta"))
    assert calls == [1]


def test_one_peak_parameter_recomputes_only_that_peak():
    m = get_model("gauss_peaks", n_peaks=3)
    ev = m.evaluator(np.linspace(-5, 5, 100))
    th = np.array([[1, 2, 3, -1, 0, 1, 4, 4, 4]], dtype=float)
    cache = ev.full(th)
    trial = ev.update(cache, th, m.column("mu2"))
    assert trial["lines"][0] is cache["lines"][0] and trial["lines"][2] is cache["lines"][2]
    assert trial["lines"][1] is not cache["lines"][1]


def test_background_and_doublet_against_direct_formulas():
    x = np.linspace(-4, 10, 500)
    base = get_model("cluster3")
    full = get_model("cluster3", background=["linear", "shirley"], doublet=True)
    p = dict(CEO2, so_split=3.5, so_ratio=0.6, bg_const=0.02, bg_slope=0.001, bg_shirley=0.05)
    y0 = base.spectrum(theta_of(base, **CEO2), x)[0]
    y0s = base.spectrum(theta_of(base, **dict(CEO2, shift=3.5)), x)[0]
    sig = y0 + 0.6 * y0s
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (sig[1:] + sig[:-1]) * np.diff(x))])
    expect = sig + 0.05 * cum + 0.02 + 0.001 * x
    np.testing.assert_allclose(full.spectrum(theta_of(full, **p), x)[0], expect, rtol=1e-13, atol=1e-15)
    assert full.param_names[-5:] == ("so_split", "so_ratio", "bg_const", "bg_slope", "bg_shirley")


def test_gauss_and_lorentz_peaks_formulas():
    x = np.linspace(-3, 3, 61)
    g = get_model("gauss_peaks", n_peaks=2)
    assert g.param_names == ("a1", "a2", "mu1", "mu2", "b1", "b2")
    y = g.spectrum([1.0, 0.5, -1.0, 1.0, 2.0, 8.0], x)
    np.testing.assert_allclose(y, np.exp(-2.0 * (x + 1) ** 2 / 2) + 0.5 * np.exp(-8.0 * (x - 1) ** 2 / 2), rtol=1e-14)
    lz = get_model("lorentz_peaks", n_peaks=1)
    assert lz.param_names == ("a1", "mu1", "w1")
    np.testing.assert_allclose(lz.spectrum([2.0, 0.5, 0.3], x), 2.0 * 0.3 / np.pi / ((x - 0.5) ** 2 + 0.09), rtol=1e-14)


def test_get_model_rejects_bad_names_and_options():
    with pytest.raises(ValueError, match="unknown model"):
        get_model("cluster4")
    with pytest.raises(ValueError, match="no option"):
        get_model("cluster3", n_peaks=2)
    with pytest.raises(ValueError, match="n_peaks"):
        get_model("gauss_peaks", n_peaks=0)


@pytest.mark.parametrize("name,opts", [("cluster3", {"doublet": True}), ("cluster2", {}), ("gauss_peaks", {"n_peaks": 3}),
                                       ("lorentz_peaks", {"n_peaks": 2, "doublet": True})])
def test_line_spectra_add_up_to_the_spectrum(name, opts):
    m = get_model(name, **opts)
    th = np.random.default_rng(5).uniform(0.5, 2.0, len(m.param_names))
    x = np.linspace(-5, 15, 200)
    lines = m.line_spectra(th, x)
    assert lines.shape == (m.n_lines, x.size)
    np.testing.assert_allclose(lines.sum(axis=0), m.spectrum(th, x), rtol=1e-13, atol=1e-15)


def test_relabel_orders_peaks_by_position_and_keeps_every_spectrum():
    model = get_model("gauss_peaks", n_peaks=3, doublet=True, background=["constant", "shirley"])
    rng = np.random.default_rng(3)
    theta = rng.uniform(0.5, 2.0, (50, len(model.param_names)))
    mu = [model.column(f"mu{k}") for k in (1, 2, 3)]
    theta[:, mu] = rng.uniform(-2.0, 2.0, (50, 3))
    ordered = model.relabel(theta)
    assert np.all(np.diff(ordered[:, mu], axis=1) >= 0)
    x = np.linspace(-4, 4, 120)
    np.testing.assert_allclose(model.spectrum(ordered, x), model.spectrum(theta, x), rtol=1e-12, atol=1e-12)
    triples = lambda th: sorted(tuple(th[[model.column(f"{p}{k}") for p in ("a", "mu", "b")]]) for k in (1, 2, 3))
    for r in range(len(theta)):
        assert triples(ordered[r]) == triples(theta[r])  # whole peaks move, never single parameters
    shared = [model.column(n) for n in ("so_split", "so_ratio", "bg_const", "bg_shirley")]
    np.testing.assert_array_equal(ordered[:, shared], theta[:, shared])


def test_cluster_models_have_no_labels_to_order():
    assert get_model("cluster3").relabel(np.ones((2, len(get_model("cluster3").param_names)))) is None
    assert get_model("polynomial", degree=2).relabel(np.ones((2, 3))) is None


def test_pseudo_voigt_limits_and_accuracy_against_the_voigt_profile():
    """Its two limits are exactly the unit-area Lorentzian (sigma -> 0) and Gaussian (gamma -> 0);
    between them it is within 1.3 % of the peak of the exact Voigt profile (TCH 1987 quote about
    1 %; scipy.special.voigt_profile as the reference)."""
    from scipy.special import voigt_profile

    from remc_mpi.models.lineshapes import pseudo_voigt

    x = np.linspace(-15, 15, 3001)
    one = np.array([1.0])

    def pv(sigma, gamma):
        out = np.empty((1, x.size))
        return pseudo_voigt(x, np.array([0.3]), one, np.array([gamma]), np.array([sigma]), out)[0]

    np.testing.assert_allclose(pv(0.0, 0.7), lorentzian(x, np.array([0.3]), one, np.array([0.7]),
                                                        np.empty((1, x.size)))[0], rtol=1e-12)
    gauss = np.exp(-0.5 * ((x - 0.3) / 0.6) ** 2) / (0.6 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(pv(0.6, 0.0), gauss, rtol=1e-12, atol=1e-300)
    for sigma, gamma in [(1.0, 0.1), (1.0, 1.0), (0.3, 1.0), (1.0, 3.0), (0.5, 0.5)]:
        exact = voigt_profile(x - 0.3, sigma, gamma)
        assert np.abs(pv(sigma, gamma) - exact).max() < 0.013 * exact.max()


def test_pvoigt_peaks_have_a_shared_gaussian_width():
    m = get_model("pvoigt_peaks", n_peaks=2)
    assert m.param_names == ("a1", "a2", "mu1", "mu2", "w1", "w2", "sigma_g")
    assert m.lines_of("sigma_g") is None and m.lines_of("w2") == (1,)  # all lines / one line


def test_voigt_profile_is_within_1e_8_of_its_peak_for_every_width_ratio_and_offset():
    """Weideman's series against scipy.special.voigt_profile over Gamma/sigma from 1e-6 to 1e6
    and offsets out to 1e4 widths (docs/models.md): the error is below 1e-8 of the peak height."""
    from scipy.special import voigt_profile

    from remc_mpi.models.lineshapes import voigt

    worst = 0.0
    for ratio in np.geomspace(1e-6, 1e6, 61):
        sigma = 1.0 / np.sqrt(1.0 + ratio)
        gamma = ratio * sigma
        scale = sigma + gamma
        x = 0.2 + scale * np.concatenate([-np.geomspace(1e-3, 1e4, 200), [0.0], np.linspace(-8, 8, 401),
                                          np.geomspace(1e-3, 1e4, 200)])
        out = np.empty((1, x.size))
        voigt(x, np.array([0.2]), np.array([1.0]), np.array([gamma]), np.array([sigma]), out)
        exact = voigt_profile(x - 0.2, sigma, gamma)
        worst = max(worst, float(np.abs(out[0] - exact).max() / voigt_profile(0.0, sigma, gamma)))
    assert worst < 1e-8, worst


def test_voigt_limits_are_the_lorentzian_and_the_gaussian():
    from scipy.integrate import trapezoid

    from remc_mpi.models.lineshapes import voigt

    x = np.linspace(-15, 15, 3001)
    one, c = np.array([1.0]), np.array([0.3])
    out = np.empty((1, x.size))
    lor = lorentzian(x, c, one, np.array([0.7]), np.empty((1, x.size)))[0]
    np.testing.assert_array_equal(voigt(x, c, one, np.array([0.7]), np.array([0.0]), out)[0], lor)
    gauss = np.exp(-0.5 * ((x - 0.3) / 0.6) ** 2) / (0.6 * np.sqrt(2 * np.pi))
    got = voigt(x, c, one, np.array([0.0]), np.array([0.6]), out)[0]
    assert np.abs(got - gauss).max() < 1e-10 * gauss.max()
    # the area is h: a Voigt of area 2.5 integrates to 2.5 (wide grid, Lorentzian tails added)
    xx = np.linspace(-4000, 4000, 1_600_001)
    got = voigt(xx, c, np.array([2.5]), np.array([0.4]), np.array([0.5]), np.empty((1, xx.size)))[0]
    tails = 2.5 * 2 * 0.4 / (np.pi * 4000)
    assert abs(trapezoid(got, xx) + tails - 2.5) < 1e-6


def test_cluster_widths_per_state_and_voigt_reduce_to_the_shared_lorentzian():
    """gamma_1 = .. = gamma_K gives the shared-width spectrum; sigma_g -> 0 the Lorentzian one;
    gamma_j widens final state j alone (states counted upward in energy)."""
    x = np.linspace(-10, 20, 400)
    base = get_model("cluster3", doublet=True)
    col = dict(delta=2.0, v=0.8, uff=8.0, ufc=10.0, gamma=0.5, shift=1.0, amp=2.0, so_split=5.0, so_ratio=0.7)
    ref = base.spectrum(np.array([col[n] for n in base.param_names]), x)
    per = get_model("cluster3", doublet=True, widths="per_state")
    col.update(gamma1=0.5, gamma2=0.5, gamma3=0.5)
    np.testing.assert_allclose(per.spectrum(np.array([col[n] for n in per.param_names]), x), ref, rtol=1e-13)
    vo = get_model("cluster3", doublet=True, lineshape="voigt")
    col["sigma_g"] = 0.0
    np.testing.assert_allclose(vo.spectrum(np.array([col[n] for n in vo.param_names]), x), ref, rtol=1e-13)
    col["gamma2"] = 1.5
    pk = per.peaks(np.array([col[n] for n in per.param_names]))
    assert np.all(np.diff(pk["center"][0, :3]) > 0)
    np.testing.assert_array_equal(pk["width"][0], [0.5, 1.5, 0.5] * 2)
    with pytest.raises(ValueError, match="lineshape"):
        get_model("cluster2", lineshape="gauss")
    with pytest.raises(ValueError, match="widths"):
        get_model("cluster2", widths="each")


def test_tougaard_background_of_a_step_is_its_closed_form():
    """A signal S = 1 above omega_0 gives integral_0^{omega - omega_0} B T / (C + T^2)^2 dT
    = (B / 2) [1 / C - 1 / (C + (omega - omega_0)^2)] (trapezoid on a fine grid)."""
    from remc_mpi.models.backgrounds import tougaard_matrix

    x = np.linspace(0.0, 60.0, 6001)
    got = np.ones(x.size) @ tougaard_matrix(x, 1643.0)
    exact = 0.5 * (1.0 / 1643.0 - 1.0 / (1643.0 + x**2))
    assert np.abs(got - exact).max() < 1e-6 * exact.max()


def test_tougaard_of_a_narrow_line_is_the_cross_section_above_it():
    """A line of area A at mu, much narrower than sqrt(C): B(omega) = bg_tougaard A K1(omega - mu)
    above the line and 0 below it (the loss appears at higher binding energy only)."""
    m = get_model("gauss_peaks", n_peaks=1, background=["tougaard"], tougaard_c=100.0)
    x = np.linspace(0.0, 40.0, 8001)
    y = m.spectrum(np.array([2.0, 10.0, 400.0, 3.0]), x)  # a1 = 2 of sd 0.05 at 10 eV, B = 3 eV^2
    line = 2.0 * np.exp(-0.5 * 400.0 * (x - 10.0) ** 2)
    above, below = x > 11.0, x < 9.0
    t = x[above] - 10.0
    expect = 3.0 * (2.0 * np.sqrt(2 * np.pi / 400.0)) * t / (100.0 + t**2) ** 2
    np.testing.assert_allclose((y - line)[above], expect, rtol=2e-3)
    assert np.all(np.abs((y - line)[below]) < 1e-12 * expect.max())


def test_iterative_shirley_recovers_the_background_it_is_the_fixed_point_of():
    """Data = a line L + B* with B* = lo + (hi - lo) int L / int_total L: the Shirley construction's
    own fixed point; the iterative Shirley of the data returns B* (flat ends averaged exactly)."""
    from remc_mpi.models.backgrounds import iterative_shirley

    x = np.linspace(0.0, 30.0, 3001)
    line = 100.0 * np.exp(-0.5 * (x - 15.0) ** 2)
    area = np.concatenate([[0.0], np.cumsum(0.5 * (line[1:] + line[:-1]) * np.diff(x))])
    true = 20.0 + (50.0 - 20.0) * area / area[-1]
    got = iterative_shirley(x, line + true)
    assert np.abs(got - true).max() < 1e-6 * 30.0


def test_extra_lines_have_their_area_centre_and_width():
    """extra_lines add lines of their own parameters: a Gaussian of area s * area and sd width,
    a Voigt of area s * area (s the core's amp); each parameter touches its own line only."""
    from scipy.integrate import trapezoid

    m = get_model("cluster2", extra_lines={"n": 2, "shape": "gauss"})
    assert m.param_names[-6:] == ("extra1_area", "extra1_center", "extra1_width", "extra2_area", "extra2_center",
                                  "extra2_width")
    assert m.lines_of("extra2_width") == (3,) and m.lines_of("extra1_area") == (2,)
    x = np.linspace(-40, 60, 20001)
    col = dict(delta=3.0, v=0.6, ufc=8.0, gamma=0.4, shift=0.0, amp=3.0, extra1_area=0.2, extra1_center=20.0,
               extra1_width=1.5, extra2_area=0.1, extra2_center=30.0, extra2_width=2.0)
    lines = m.line_spectra(np.array([col[n] for n in m.param_names]), x)
    assert trapezoid(lines[2], x) == pytest.approx(3.0 * 0.2, rel=1e-9)
    assert x[np.argmax(lines[3])] == pytest.approx(30.0, abs=0.01)
    half = lines[2] > 0.5 * lines[2].max()
    assert x[half][-1] - x[half][0] == pytest.approx(2 * np.sqrt(2 * np.log(2)) * 1.5, abs=0.02)
    v = get_model("gauss_peaks", n_peaks=1, extra_lines={"n": 1, "shape": "voigt"})
    assert v.param_names[3:] == ("extra1_area", "extra1_center", "extra1_width", "extra1_sigma")
    with pytest.raises(ValueError, match="extra_lines.shape"):
        get_model("cluster2", extra_lines={"n": 1, "shape": "box"})


def test_an_extra_line_with_doublet_has_the_spin_orbit_copy_of_a_core_line():
    """extra_lines.doublet: each extra line gets a copy at centre + so_split with so_ratio times
    its area, and its parameters (and so_split, so_ratio) change both; the spectrum equals the
    same model with the copy written as a second extra line of its own."""
    from scipy.integrate import trapezoid

    m = get_model("cluster2", doublet=True, extra_lines={"n": 1, "shape": "gauss", "doublet": True})
    two = get_model("cluster2", doublet=True, extra_lines={"n": 2, "shape": "gauss"})
    assert m.n_lines == two.n_lines == 6
    assert m.lines_of("extra1_width") == (4, 5) and m.lines_of("so_split") == (2, 3, 5)
    assert m.lines_of("so_ratio") == (2, 3, 5) and two.lines_of("so_split") == (2, 3)
    col = dict(delta=3.0, v=0.6, ufc=8.0, gamma=0.4, shift=0.0, amp=3.0, extra1_area=0.2, extra1_center=13.0,
               extra1_width=1.5, so_split=17.0, so_ratio=0.6)
    theta = np.array([col[n] for n in m.param_names])
    col2 = dict(col, extra2_area=0.2 * 0.6, extra2_center=13.0 + 17.0, extra2_width=1.5)
    theta2 = np.array([col2[n] for n in two.param_names])
    x = np.linspace(-40, 80, 12001)
    lines = m.line_spectra(theta, x)
    assert trapezoid(lines[5], x) == pytest.approx(3.0 * 0.2 * 0.6, rel=1e-9)
    assert x[np.argmax(lines[5])] == pytest.approx(30.0, abs=0.01)
    np.testing.assert_allclose(lines, two.line_spectra(theta2, x), rtol=1e-13)
    np.testing.assert_allclose(m.evaluator(x).full(theta[None])["y"], two.evaluator(x).full(theta2[None])["y"],
                               rtol=1e-13)
    with pytest.raises(ValueError, match="extra_lines.doublet needs the model's doublet"):
        get_model("cluster2", extra_lines={"n": 1, "doublet": True})
    with pytest.raises(ValueError, match="extra_lines.doublet must be true, false or a count 0..1"):
        get_model("cluster2", doublet=True, extra_lines={"n": 1, "doublet": "yes"})
    with pytest.raises(ValueError, match="extra_lines.doublet must be true, false or a count 0..2"):
        get_model("cluster2", doublet=True, extra_lines={"n": 2, "doublet": 3})


def test_doublet_m_gives_the_first_m_extra_lines_their_copy_and_leaves_the_rest():
    """extra_lines.doublet: M copies the first M extra lines only: the spectrum equals that of the
    same lines with the copy written as an extra line of its own, and a parameter of an uncopied
    line touches its line alone."""
    m = get_model("cluster2", doublet=True, extra_lines={"n": 2, "shape": "gauss", "doublet": 1})
    three = get_model("cluster2", doublet=True, extra_lines={"n": 3, "shape": "gauss"})
    assert m.n_lines == 7 and m.lines_of("extra1_area") == (4, 6) and m.lines_of("extra2_area") == (5,)
    assert m.lines_of("so_ratio") == (2, 3, 6)
    col = dict(delta=3.0, v=0.6, ufc=8.0, gamma=0.4, shift=0.0, amp=3.0, extra1_area=0.2, extra1_center=13.0,
               extra1_width=1.5, extra2_area=0.5, extra2_center=29.0, extra2_width=4.0, so_split=17.0,
               so_ratio=0.6)
    col3 = dict(col, extra3_area=0.2 * 0.6, extra3_center=13.0 + 17.0, extra3_width=1.5)
    x = np.linspace(-40, 80, 6001)
    y = m.evaluator(x).full(np.array([[col[n] for n in m.param_names]]))["y"]
    y3 = three.evaluator(x).full(np.array([[col3[n] for n in three.param_names]]))["y"]
    np.testing.assert_allclose(y, y3, rtol=1e-13)


# ---- derived quantities, against the cluster built in the fermionic Fock space ---------------

@pytest.mark.parametrize("nf,max_k", [(2, None), (3, 2), (4, 2), (6, 2)])
def test_cluster3_derived_quantities_equal_the_fock_space_cluster(nf, max_k):
    """N_f = 2 holds at most two f electrons: cluster3 is then the whole Fock space, exactly; for
    larger N_f it is the space truncated at 4f^2, where its couplings sqrt(N_f) v and
    sqrt(2 (N_f - 1)) v must come out of the fermionic hops. Energies, weights and n_f to 1e-10."""
    from fock import cluster

    m = get_model("cluster3", nf=nf)
    rng = np.random.default_rng(nf)
    for _ in range(4):
        delta, v, uff, ufc = rng.uniform(-3, 8), rng.uniform(0.2, 1.5), rng.uniform(5, 12), rng.uniform(6, 14)
        shift = rng.uniform(-2, 2)
        d = {k: float(x[0]) for k, x in m.derived(np.array([[delta, v, uff, ufc, 0.7, shift, 1.0]])).items()}
        ref = cluster(nf, delta, v, uff, ufc, max_k)
        assert d["e_ground"] == pytest.approx(ref["e_ground"], abs=1e-10)
        assert d["n_f"] == pytest.approx(ref["n_f"], abs=1e-10)
        np.testing.assert_allclose([d["w_4f0"], d["w_4f1L"], d["w_4f2L2"]], ref["by_count"], atol=1e-10)
        np.testing.assert_allclose([d[f"final_e{j}"] - shift for j in (1, 2, 3)], ref["final_e"], atol=1e-10)
        np.testing.assert_allclose([d[f"final_w{j}"] for j in (1, 2, 3)], ref["final_w"], atol=1e-10)


@pytest.mark.parametrize("hybridized", [True, False])
def test_cluster2_derived_quantities_equal_the_fock_space_cluster(hybridized):
    from fock import cluster

    m = get_model("cluster2", nf=14, hybridized_initial=hybridized)
    rng = np.random.default_rng(7)
    for _ in range(4):
        delta, v, ufc = rng.uniform(-2, 8), rng.uniform(0.2, 1.5), rng.uniform(6, 14)
        d = {k: float(x[0]) for k, x in m.derived(np.array([[delta, v, ufc, 0.7, 0.0, 1.0]])).items()}
        ref = cluster(14, delta, v, 0.0, ufc, max_k=1, hybridized=hybridized)
        assert d["e_ground"] == pytest.approx(ref["e_ground"], abs=1e-10)
        assert d["n_f"] == pytest.approx(ref["n_f"], abs=1e-10) and d["w_4f1L"] == pytest.approx(d["n_f"], abs=1e-15)
        np.testing.assert_allclose([d["final_e1"], d["final_e2"]], ref["final_e"], atol=1e-10)
        np.testing.assert_allclose([d["final_w1"], d["final_w2"]], ref["final_w"], atol=1e-10)
    assert hybridized or d["n_f"] == 0.0


def test_n_f_of_a_known_case_and_its_limits():
    """Two levels 0 and Delta coupled by t = sqrt(N_f) v: n_f = (1 - Delta / sqrt(Delta^2 + 4 t^2)) / 2;
    v -> 0 leaves the lower configuration pure."""
    m = get_model("cluster2", hybridized_initial=True)
    delta, v = 2.0, 0.5
    t = np.sqrt(14) * v
    d = m.derived(np.array([[delta, v, 10.0, 0.7, 0.0, 1.0]]))
    assert d["n_f"][0] == pytest.approx(0.5 * (1 - delta / np.hypot(delta, 2 * t)), abs=1e-14)
    assert d["e_ground"][0] == pytest.approx(0.5 * (delta - np.hypot(delta, 2 * t)), abs=1e-13)
    c3 = get_model("cluster3")
    weak = c3.derived(np.array([[3.0, 1e-7, 10.0, 12.0, 0.7, 0.0, 1.0], [-3.0, 1e-7, 10.0, 12.0, 0.7, 0.0, 1.0]]))
    np.testing.assert_allclose(weak["n_f"], [0.0, 1.0], atol=1e-12)  # Delta < 0 < 2 Delta + U_ff: pure 4f1L


def test_derived_weights_are_distributions_and_final_states_are_the_peaks():
    m = get_model("cluster3", doublet=True, lineshape="voigt", widths="per_state", background=["constant"])
    rng = np.random.default_rng(2)
    theta = np.array([[rng.uniform(-3, 8), rng.uniform(0.2, 1.5), rng.uniform(5, 12), rng.uniform(6, 14),
                       0.5, 0.6, 0.7, 0.3, rng.uniform(880, 890), 1e4, 18.6, 0.667, 100.0] for _ in range(5)])
    assert len(m.param_names) == theta.shape[1]
    d = m.derived(theta)
    np.testing.assert_allclose(d["w_4f0"] + d["w_4f1L"] + d["w_4f2L2"], 1.0, atol=1e-14)
    np.testing.assert_allclose(d["final_w1"] + d["final_w2"] + d["final_w3"], 1.0, atol=1e-13)
    pk = m.peaks(theta)
    np.testing.assert_array_equal(np.stack([d[f"final_e{j}"] for j in (1, 2, 3)], axis=1), pk["center"][:, :3])
    assert get_model("gauss_peaks", n_peaks=2).derived(np.ones((1, 6))) == {}


@pytest.mark.parametrize("nf,n0,configs", [(3, 0, 4), (4, 0, 5), (5, 1, 3), (4, 1, 4), (6, 2, 3), (4, 2, 3)])
def test_charge_transfer_family_equals_the_fock_space_cluster(nf, n0, configs):
    """Any 4f^n0 ground configuration and any number of configurations K: energies, weights,
    n_f and E_g of the reduced K x K model against the Fock-space block of one 4f^n0
    configuration truncated at K - 1 transferred electrons, to 1e-10 (K = N_f - n0 + 1 is the
    whole block: no truncation at all)."""
    from fock import cluster

    m = get_model("charge_transfer", nf=nf, n0=n0, configurations=configs)
    rng = np.random.default_rng(10 * nf + n0)
    for _ in range(3):
        delta, v, uff, ufc = rng.uniform(-3, 8), rng.uniform(0.2, 1.5), rng.uniform(5, 12), rng.uniform(6, 14)
        th = np.array([[delta, v, uff, ufc, 0.7, 0.0, 1.0]])
        d = {k: float(x[0]) for k, x in m.derived(th).items()}
        ref = cluster(nf, delta, v, uff, ufc, max_k=configs - 1, n0=n0)
        assert d["e_ground"] == pytest.approx(ref["e_ground"], abs=1e-10)
        assert d["n_f"] == pytest.approx(ref["n_f"], abs=1e-10)
        names = m.core.configurations
        np.testing.assert_allclose([d[f"w_{c}"] for c in names], ref["by_count"], atol=1e-10)
        e = np.array([d[f"final_e{j}"] for j in range(1, configs + 1)])
        w = np.array([d[f"final_w{j}"] for j in range(1, configs + 1)])
        np.testing.assert_allclose(e[w > 1e-13], ref["final_e"], atol=1e-10)
        np.testing.assert_allclose(w[w > 1e-13], ref["final_w"], atol=1e-10)


def test_cluster2_and_cluster3_are_members_of_the_charge_transfer_family():
    """Spectra to 1e-12 of the peak height over the prior's range (their closed forms against
    the family's eigensolver)."""
    x = np.linspace(-20.0, 15.0, 200)
    rng = np.random.default_rng(3)
    for name, opts, ct in [("cluster3", {}, {}), ("cluster2", {}, {"configurations": 2, "pure_initial": True}),
                           ("cluster2", {"hybridized_initial": True}, {"configurations": 2})]:
        a, b = get_model(name, **opts), get_model("charge_transfer", **ct)
        assert a.param_names == b.param_names
        th = np.array([[rng.uniform(-5, 15), rng.uniform(0.1, 2), *([rng.uniform(5, 15)] if name == "cluster3" else []),
                        rng.uniform(5, 20), rng.uniform(0.1, 2), rng.uniform(-3, 3), 1.0] for _ in range(50)])
        ya, yb = a.spectrum(th, x), b.spectrum(th, x)
        assert np.max(np.abs(ya - yb) / ya.max(axis=1, keepdims=True)) < 1e-12


def test_charge_transfer_names_its_configurations_and_refuses_too_many():
    assert get_model("charge_transfer", n0=1, configurations=3).core.configurations == ("4f1", "4f2L", "4f3L2")
    assert get_model("charge_transfer", configurations=2).param_names == ("delta", "v", "ufc", "gamma", "shift", "amp")
    with pytest.raises(ValueError, match="need 4 <= nf = 3"):
        get_model("charge_transfer", nf=3, n0=1, configurations=4)


@pytest.mark.parametrize("nf,n0,configs,levels", [(2, 0, 3, 2), (3, 0, 3, 3), (3, 0, 2, 4), (3, 1, 3, 2),
                                                  (2, 0, 3, 5)])
def test_a_ligand_band_equals_the_fock_space_cluster_with_that_band(nf, n0, configs, levels):
    """band: {levels: M}: M ligand levels per f orbital over the width band_w, each hybridised
    by v / sqrt(M); the reduced model's basis (multisets of hole levels) against the Fock space
    built with M ligand orbitals per f orbital: energies, weights, n_f, E_g to 1e-10."""
    from fock import cluster, merged_lines

    m = get_model("charge_transfer", nf=nf, n0=n0, configurations=configs, band={"levels": levels})
    rng = np.random.default_rng(100 * nf + levels)
    for _ in range(3):
        delta, v, uff, ufc, w = (rng.uniform(-3, 8), rng.uniform(0.2, 1.5), rng.uniform(5, 12), rng.uniform(6, 14),
                                 rng.uniform(0.5, 4.0))
        values = {"delta": delta, "v": v, "uff": uff, "ufc": ufc, "band_w": w, "gamma": 0.7, "shift": 0.0, "amp": 1.0}
        th = np.array([[values[n] for n in m.param_names]])
        d = {k: float(x[0]) for k, x in m.derived(th).items()}
        ref = cluster(nf, delta, v, uff, ufc, max_k=configs - 1, n0=n0, band=levels, band_w=w)
        assert d["e_ground"] == pytest.approx(ref["e_ground"], abs=1e-10)
        assert d["n_f"] == pytest.approx(ref["n_f"], abs=1e-10)
        np.testing.assert_allclose([d[f"w_{c}"] for c in m.core.configurations], ref["by_count"], atol=1e-10)
        pk = m.peaks(th)
        e, wt = merged_lines(pk["e"][0], pk["w"][0])
        np.testing.assert_allclose(e, ref["final_e"], atol=1e-10)
        np.testing.assert_allclose(wt, ref["final_w"], atol=1e-10)


def test_a_band_of_one_level_or_no_width_is_the_point_ligand():
    """M = 1 is today's model exactly; band_w -> 0 merges the M levels' lines into the point
    ligand's (weights summed over degenerate states)."""
    from fock import merged_lines

    x = np.linspace(-20.0, 15.0, 120)
    th = np.array([[1.6, 0.76, 10.5, 12.5, 0.7, 0.0, 1.0]])
    point = get_model("charge_transfer")
    np.testing.assert_array_equal(get_model("charge_transfer", band={"levels": 1}).spectrum(th, x), point.spectrum(th, x))
    band = get_model("charge_transfer", band={"levels": 4})
    narrow = np.insert(th, 4, 1e-9, axis=1)
    np.testing.assert_allclose(band.spectrum(narrow, x), point.spectrum(th, x), atol=1e-8, rtol=0)
    e, w = merged_lines(band.peaks(narrow)["e"][0].round(6), band.peaks(narrow)["w"][0])
    np.testing.assert_allclose(e, point.peaks(th)["e"][0], atol=1e-6)
    np.testing.assert_allclose(w, point.peaks(th)["w"][0], atol=1e-9)
