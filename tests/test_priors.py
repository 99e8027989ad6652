"""Every registered prior form: its exact sampler and its normalised log density agree."""

import math

import numpy as np
import pytest
from scipy import integrate

from remc_mpi.priors import FORMS, Prior, check_prior

ARGS = {"uniform": (-1.0, 2.0), "loguniform": (0.1, 10.0), "normal": (0.3, 2.0), "truncnormal": (0.5, 1.0, -1.0, 3.0),
        "gamma": (5.0, 0.04)}


def test_every_form_has_test_arguments():
    assert set(ARGS) | {"fixed"} == set(FORMS)


@pytest.mark.parametrize("form", sorted(ARGS))
def test_sampler_and_density_agree(form):
    prior = Prior(form, ARGS[form])
    assert check_prior(form, ARGS[form]) is None
    x = prior.sample(np.random.default_rng(1), 200_000)
    assert np.all(prior.in_support(x))
    lo, hi = prior.bounds()
    lo = max(lo, x.min() - 10 * x.std())
    hi = min(hi, x.max() + 10 * x.std())
    pdf = lambda t: math.exp(float(prior.logpdf(np.array([t]))[0]))  # noqa: E731
    mass, _ = integrate.quad(pdf, lo, hi, limit=200)
    mean, _ = integrate.quad(lambda t: t * pdf(t), lo, hi, limit=200)
    assert mass == pytest.approx(1.0, abs=1e-6)
    assert abs(x.mean() - mean) < 4 * x.std() / math.sqrt(x.size)
    for outside in (prior.bounds()[0] - 1.0, prior.bounds()[1] + 1.0):
        if math.isfinite(outside):
            assert prior.logpdf(np.array([outside]))[0] == -np.inf


def test_bad_arguments_are_named():
    assert "empty or inverted" in check_prior("uniform", (2.0, 1.0))
    assert "positive lower bound" in check_prior("loguniform", (-1.0, 1.0))
    assert "positive sd" in check_prior("truncnormal", (0.0, -1.0, 0.0, 1.0))
    assert "no probability mass" in check_prior("truncnormal", (0.0, 1.0, 50.0, 51.0))
    assert "2 number(s)" in check_prior("gamma", (1.0,))
    assert "unknown prior form" in check_prior("cauchy", (0.0, 1.0))
