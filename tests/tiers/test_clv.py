"""BG/NBD and Gamma-Gamma (siyu.tiers.clv): CDNOW golden values, lifetimes cross-checks, compression,
numerical stability and input validation. No database fixtures are used."""

from __future__ import annotations

import csv
import dataclasses
import importlib.resources
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from siyu.tiers import clv
from siyu.tiers.clv import optimise

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # lifetimes sets a pandas option that pandas 3 deprecates
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter

FloatArray = NDArray[np.float64]

# Fader, Hardie & Lee (2005) and Fader & Hardie (2013) on CDNOW (weeks).
PUBLISHED_BGNBD = clv.BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
REFERENCE_BGNBD = {"r": 0.2425945, "alpha": 4.4136019, "a": 0.7929199, "b": 2.4258881}
PUBLISHED_GG = clv.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def _read_csv(name: str) -> dict[str, FloatArray]:
    resource = importlib.resources.files("lifetimes") / "datasets" / name
    rows = list(csv.DictReader(resource.read_text(encoding="utf-8").splitlines()))
    return {column: np.array([float(row[column]) for row in rows]) for column in rows[0]}


@pytest.fixture(scope="module")
def cdnow() -> dict[str, FloatArray]:
    """ID, frequency (x), recency (t_x), T in weeks: 2,357 customers."""
    return _read_csv("cdnow_customers_summary.csv")


@pytest.fixture(scope="module")
def cdnow_values() -> dict[str, FloatArray]:
    """ID, x, t_x, T, zbar (mean value of the repeat transactions)."""
    return _read_csv("cdnow_customers_summary_with_transactions.csv")


@pytest.fixture(scope="module")
def bgnbd_fit(cdnow: dict[str, FloatArray]) -> clv.BGNBDFit:
    return clv.fit_bgnbd(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def _lifetimes_bgnbd(params: clv.BGNBDParams) -> Any:
    fitter = BetaGeoFitter()
    fitter.params_ = pd.Series({"r": params.r, "alpha": params.alpha, "a": params.a, "b": params.b})
    fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time
    return fitter


def _lifetimes_gg(params: clv.GammaGammaParams) -> Any:
    fitter = GammaGammaFitter()
    fitter.params_ = pd.Series({"p": params.p, "q": params.q, "v": params.gamma})
    return fitter


# --- BG/NBD on CDNOW -----------------------------------------------------------------------------


def test_bgnbd_reproduces_cdnow(bgnbd_fit: clv.BGNBDFit) -> None:
    params = bgnbd_fit.params
    assert bgnbd_fit.converged
    assert bgnbd_fit.n_customers == 2357
    assert bgnbd_fit.n_rows == 2357
    assert bgnbd_fit.iterations > 0
    assert (round(params.r, 3), round(params.alpha, 3), round(params.a, 3), round(params.b, 3)) == (
        0.243,
        4.414,
        0.793,
        2.426,
    )
    for name, reference in REFERENCE_BGNBD.items():
        assert getattr(params, name) == pytest.approx(reference, abs=2e-4), name
    assert bgnbd_fit.log_likelihood == pytest.approx(-9582.429, abs=0.01)


def test_bgnbd_log_likelihood_is_on_the_data_scale(cdnow: dict[str, FloatArray], bgnbd_fit: clv.BGNBDFit) -> None:
    # The fit optimises in rescaled time; the reported value must be the plain sum on the weekly data.
    direct = clv.bgnbd_log_likelihood(bgnbd_fit.params, cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert bgnbd_fit.log_likelihood == pytest.approx(direct, abs=1e-7)
    terms = clv.bgnbd_log_likelihood_terms(bgnbd_fit.params, cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert float(terms.sum()) == pytest.approx(direct, abs=1e-7)


def test_fit_on_compressed_rows_equals_fit_on_customers(cdnow: dict[str, FloatArray], bgnbd_fit: clv.BGNBDFit) -> None:
    packed = clv.compress(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert packed.n_customers == 2357
    assert packed.n_rows < 2357
    fit = clv.fit_bgnbd(packed.x, packed.t_x, packed.T, packed.weights)
    assert fit.n_customers == 2357
    assert fit.n_rows == packed.n_rows
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fit.params, name) == pytest.approx(getattr(bgnbd_fit.params, name), rel=1e-6), name
    assert fit.log_likelihood == pytest.approx(bgnbd_fit.log_likelihood, abs=1e-6)
    # Predictions made once per row and spread back equal predictions per customer.
    per_row = clv.probability_alive(bgnbd_fit.params, packed.x, packed.t_x, packed.T)
    per_customer = clv.probability_alive(bgnbd_fit.params, cdnow["frequency"], cdnow["recency"], cdnow["T"])
    np.testing.assert_array_equal(packed.expand(per_row), per_customer)


def test_compress_rows_counts_and_inverse() -> None:
    x = np.array([1, 0, 1, 1, 0, 2])
    t_x = np.array([3.0, 0.0, 3.0, 2.0, 0.0, 5.0])
    age = np.array([9.0, 4.0, 9.0, 9.0, 4.0, 9.0])
    packed = clv.compress(x, t_x, age)
    np.testing.assert_array_equal(packed.x, [0, 1, 1, 2])
    np.testing.assert_array_equal(packed.t_x, [0.0, 2.0, 3.0, 5.0])
    np.testing.assert_array_equal(packed.T, [4.0, 9.0, 9.0, 9.0])
    np.testing.assert_array_equal(packed.weights, [2, 1, 2, 1])
    np.testing.assert_array_equal(packed.x[packed.inverse], x)
    np.testing.assert_array_equal(packed.t_x[packed.inverse], t_x)
    np.testing.assert_array_equal(packed.T[packed.inverse], age)
    weighted = clv.compress(x, t_x, age, weights=[1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(weighted.weights, [7, 4, 4, 6])
    assert weighted.n_customers == 21


def test_compress_without_packing_gives_the_same_rows(
    cdnow: dict[str, FloatArray], monkeypatch: pytest.MonkeyPatch
) -> None:
    packed = clv.compress(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    monkeypatch.setattr(clv, "_PACK_LIMIT", 0)  # as if (x, t_x, T) had too many combinations for one int64
    sorted_rows = clv.compress(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    for name in ("x", "t_x", "T", "weights", "inverse"):
        np.testing.assert_array_equal(getattr(sorted_rows, name), getattr(packed, name), err_msg=name)


def test_weights_are_repeated_customers() -> None:
    x, t_x, age = _simulate_bgnbd(400, clv.BGNBDParams(r=0.5, alpha=20.0, a=0.8, b=3.0), seed=11)
    weights = np.random.default_rng(12).integers(0, 4, 400)
    weighted = clv.fit_bgnbd(x, t_x, age, weights)
    repeated = clv.fit_bgnbd(np.repeat(x, weights), np.repeat(t_x, weights), np.repeat(age, weights))
    assert weighted.converged
    assert weighted.n_customers == repeated.n_customers == int(weights.sum())
    assert weighted.log_likelihood == pytest.approx(repeated.log_likelihood, abs=1e-6)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(weighted.params, name) == pytest.approx(getattr(repeated.params, name), rel=1e-5)


def test_unidentified_data_do_not_converge() -> None:
    # Uniform noise, not BG/NBD data: a and b run off to infinity together. The fit says so, finitely.
    rng = np.random.default_rng(11)
    x = rng.integers(0, 6, 300)
    age = rng.integers(5, 60, 300).astype(float)
    t_x = np.where(x > 0, np.floor(rng.uniform(0, 1, 300) * age), 0.0)
    fit = clv.fit_bgnbd(x, t_x, age)
    assert not fit.converged
    assert "bound" in fit.message
    assert math.isfinite(fit.log_likelihood)


def test_time_unit_does_not_matter(cdnow: dict[str, FloatArray], bgnbd_fit: clv.BGNBDFit) -> None:
    days = clv.fit_bgnbd(cdnow["frequency"], cdnow["recency"] * 7, cdnow["T"] * 7)
    assert days.params.alpha == pytest.approx(bgnbd_fit.params.alpha * 7, rel=1e-6)
    for name in ("r", "a", "b"):
        assert getattr(days.params, name) == pytest.approx(getattr(bgnbd_fit.params, name), rel=1e-6)
    # A density in x purchase times: ln L(days) = ln L(weeks) − x·ln 7.
    shift = float(cdnow["frequency"].sum()) * math.log(7)
    assert days.log_likelihood == pytest.approx(bgnbd_fit.log_likelihood - shift, abs=1e-5)
    weekly = clv.conditional_expected_purchases(bgnbd_fit.params, 39, cdnow["frequency"], cdnow["recency"], cdnow["T"])
    daily = clv.conditional_expected_purchases(
        days.params, 273, cdnow["frequency"], cdnow["recency"] * 7, cdnow["T"] * 7
    )
    np.testing.assert_allclose(daily, weekly, rtol=1e-6)


# --- Predictions ---------------------------------------------------------------------------------


def test_conditional_expectation_of_the_paper() -> None:
    value = clv.conditional_expected_purchases(PUBLISHED_BGNBD, 39, 2, 30.43, 38.86)
    assert float(value) == pytest.approx(1.226, abs=0.001)


def _hyp2f1_series(a: float, b: float, c: float, z: float) -> float:
    term, total, n = 1.0, 1.0, 0
    while abs(term) > 1e-17 * abs(total):
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
        total += term
        n += 1
    return total


def test_unconditional_expectation(bgnbd_fit: clv.BGNBDFit) -> None:
    times = np.array([0.1429, 1, 3, 31.8571, 32, 78])
    got = clv.expected_purchases(bgnbd_fit.params, times)
    # Hardie's spreadsheet values; the last one (1.8576) is 3.7e-4 below the exact value 1.85797 (lifetimes
    # gets the same, and so does the direct series below), so it is checked to 5e-4.
    np.testing.assert_allclose(got[:5], [0.0078, 0.0532, 0.1506, 1.0405, 1.0437], atol=1e-4)
    assert got[5] == pytest.approx(1.8576, abs=5e-4)
    r, alpha, a, b = (bgnbd_fit.params.r, bgnbd_fit.params.alpha, bgnbd_fit.params.a, bgnbd_fit.params.b)
    exact = [
        (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * _hyp2f1_series(r, b, a + b - 1, t / (alpha + t)))
        for t in times
    ]
    np.testing.assert_allclose(got, exact, rtol=1e-10)
    assert float(clv.expected_purchases(bgnbd_fit.params, 0.0)) == 0.0


def test_conditional_expectation_when_a_plus_b_is_below_one() -> None:
    # a + b + x − 1 < 0 makes the Euler-transformed 2F1 negative (lifetimes returns NaN here); compare
    # with the textbook formula summed directly.
    params = clv.BGNBDParams(r=0.5, alpha=3.0, a=0.3, b=0.5)
    for age, t in ((40.0, 52.0), (0.5, 52.0), (100.0, 1000.0)):
        z = t / (params.alpha + age + t)
        c = params.a + params.b - 1
        exact = c / (params.a - 1) * (1 - (1 - z) ** params.r * _hyp2f1_series(params.r, params.b, c, z))
        got = float(clv.conditional_expected_purchases(params, t, 0, 0.0, age))
        assert got == pytest.approx(exact, rel=1e-10)


def test_stable_log_likelihood() -> None:
    # Hardie note 027, solution 2 (and pymc-marketing's test_numerically_stable_logp). The likelihood of
    # x=200 is a density in 200 purchase times, so its log is legitimately positive: +100.7957.
    params = clv.BGNBDParams(r=0.25, alpha=4.0, a=0.80, b=2.50)
    with np.errstate(all="raise"):
        terms = clv.bgnbd_log_likelihood_terms(params, [0, 200], [0, 38], [40, 40])
    assert terms[0] == pytest.approx(-0.59947382, abs=1e-8)
    assert terms[1] == pytest.approx(100.7957, abs=1e-4)
    r, alpha, a, b = 0.25, 4.0, 0.8, 2.5  # the textbook formula, fine for a small x
    x, t_x, age = 3, 20.0, 40.0
    naive = (
        math.gamma(r + x)
        * alpha**r
        / math.gamma(r)
        * math.exp(math.lgamma(a + b) + math.lgamma(b + x) - math.lgamma(b) - math.lgamma(a + b + x))
        * ((alpha + age) ** -(r + x) + a / (b + x - 1) * (alpha + t_x) ** -(r + x))
    )
    assert float(clv.bgnbd_log_likelihood_terms(params, x, t_x, age)) == pytest.approx(math.log(naive), rel=1e-12)


def test_large_histories_stay_finite() -> None:
    params = clv.BGNBDParams(r=0.25, alpha=4.0, a=0.80, b=2.50)
    x, t_x, age = np.array([0, 200, 5000]), np.array([0.0, 38.0, 39.9]), np.array([40.0, 40.0, 40.0])
    with np.errstate(all="raise"):
        arrays = [
            clv.bgnbd_log_likelihood_terms(params, x, t_x, age),
            clv.probability_alive(params, x, t_x, age),
            clv.conditional_expected_purchases(params, [1.0, 52.0, 1e4], x, t_x, age),
        ]
    for values in arrays:
        assert np.all(np.isfinite(values))


def test_gamma_gamma_expected_values_of_the_first_customers(cdnow_values: dict[str, FloatArray]) -> None:
    expected = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    got = clv.conditional_expected_value(PUBLISHED_GG, cdnow_values["x"][:10], cdnow_values["zbar"][:10])
    np.testing.assert_allclose(got, expected, atol=0.1)
    fitted = clv.GammaGammaParams(p=6.2488, q=3.7446, gamma=15.4477)
    got = clv.conditional_expected_value(fitted, cdnow_values["x"][:10], cdnow_values["zbar"][:10])
    np.testing.assert_allclose(got, expected, atol=0.01)


def test_predictions_match_lifetimes(cdnow: dict[str, FloatArray], cdnow_values: dict[str, FloatArray]) -> None:
    x, t_x, age = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    reference = _lifetimes_bgnbd(PUBLISHED_BGNBD)
    np.testing.assert_allclose(
        clv.probability_alive(PUBLISHED_BGNBD, x, t_x, age),
        reference.conditional_probability_alive(x, t_x, age),
        rtol=1e-6,
    )
    for horizon in (1.0, 39.0, 104.0):
        np.testing.assert_allclose(
            clv.conditional_expected_purchases(PUBLISHED_BGNBD, horizon, x, t_x, age),
            reference.conditional_expected_number_of_purchases_up_to_time(horizon, x, t_x, age),
            rtol=1e-6,
        )
    times = np.array([0.5, 10.0, 78.0, 500.0])
    np.testing.assert_allclose(
        clv.expected_purchases(PUBLISHED_BGNBD, times),
        reference.expected_number_of_purchases_up_to_time(times),
        rtol=1e-6,
    )
    gg = _lifetimes_gg(PUBLISHED_GG)
    freq, value = pd.Series(cdnow_values["x"]), pd.Series(cdnow_values["zbar"])
    np.testing.assert_allclose(
        clv.conditional_expected_value(PUBLISHED_GG, cdnow_values["x"], cdnow_values["zbar"]),
        gg.conditional_expected_average_profit(freq, value).to_numpy(),
        rtol=1e-6,
    )
    # Twelve "months" of 4.345 weeks discounted at 1% a month, end of month: lifetimes' definition.
    np.testing.assert_allclose(
        clv.customer_lifetime_value(
            PUBLISHED_BGNBD,
            PUBLISHED_GG,
            cdnow_values["x"],
            cdnow_values["t_x"],
            cdnow_values["T"],
            cdnow_values["zbar"],
            12 * 4.345,
            discount_rate=0.01,
            period=4.345,
        ),
        gg.customer_lifetime_value(
            reference,
            freq,
            pd.Series(cdnow_values["t_x"]),
            pd.Series(cdnow_values["T"]),
            value,
            time=12,
            discount_rate=0.01,
            freq="W",
        ).to_numpy(),
        rtol=1e-6,
    )


def test_customer_lifetime_value_and_explanation() -> None:
    x, t_x, age, value = np.array([0, 2, 7]), np.array([0.0, 30.43, 35.0]), np.array([38.86] * 3), [0.0, 22.35, 40.0]
    purchases = clv.conditional_expected_purchases(PUBLISHED_BGNBD, 52, x, t_x, age)
    mean_value = clv.conditional_expected_value(PUBLISHED_GG, x, value)
    undiscounted = clv.customer_lifetime_value(PUBLISHED_BGNBD, PUBLISHED_GG, x, t_x, age, value, 52)
    np.testing.assert_allclose(undiscounted, purchases * mean_value, rtol=1e-12)
    discounted = clv.customer_lifetime_value(
        PUBLISHED_BGNBD, PUBLISHED_GG, x, t_x, age, value, 52, discount_rate=0.02, period=4
    )
    assert np.all(discounted < undiscounted)
    # One period as long as the horizon: everything discounted once.
    once = clv.customer_lifetime_value(
        PUBLISHED_BGNBD, PUBLISHED_GG, x, t_x, age, value, 52, discount_rate=0.1, period=52
    )
    np.testing.assert_allclose(once, undiscounted / 1.1, rtol=1e-12)
    # A partial last period is discounted by (1 + d)^(horizon / period).
    partial = clv.customer_lifetime_value(
        PUBLISHED_BGNBD, PUBLISHED_GG, x, t_x, age, value, 10, discount_rate=0.1, period=100
    )
    plain = clv.customer_lifetime_value(PUBLISHED_BGNBD, PUBLISHED_GG, x, t_x, age, value, 10)
    np.testing.assert_allclose(partial, plain / 1.1**0.1, rtol=1e-12)

    why = clv.explain(PUBLISHED_BGNBD, PUBLISHED_GG, 2, 30.43, 38.86, 22.35, 39)
    assert (why.x, why.t_x, why.T, why.monetary_value, why.horizon, why.discount_rate) == (
        2,
        30.43,
        38.86,
        22.35,
        39.0,
        0.0,
    )
    assert why.expected_purchases == pytest.approx(1.226, abs=0.001)
    assert why.p_alive == pytest.approx(float(clv.probability_alive(PUBLISHED_BGNBD, 2, 30.43, 38.86)))
    assert why.population_mean_value == pytest.approx(6.25 * 15.44 / 2.74)
    assert why.expected_value == pytest.approx(
        why.value_weight * 22.35 + (1 - why.value_weight) * why.population_mean_value
    )
    assert why.clv == pytest.approx(why.expected_purchases * why.expected_value)
    new = clv.explain(PUBLISHED_BGNBD, PUBLISHED_GG, 0, 0.0, 10.0, 0.0, 39, discount_rate=0.01, period=4)
    assert new.p_alive == 1.0
    assert new.value_weight == 0.0
    assert new.expected_value == pytest.approx(new.population_mean_value)
    assert new.clv < new.expected_purchases * new.expected_value
    with pytest.raises(dataclasses.FrozenInstanceError):
        why.clv = 0.0  # type: ignore[misc]


# --- Gamma-Gamma on CDNOW ------------------------------------------------------------------------


def test_gamma_gamma_reproduces_cdnow(cdnow_values: dict[str, FloatArray]) -> None:
    fit = clv.fit_gamma_gamma(cdnow_values["x"], cdnow_values["zbar"])
    assert fit.converged
    assert fit.n_customers == 946
    assert abs(fit.params.p - 6.25) < 0.005
    assert abs(fit.params.q - 3.74) < 0.005
    # The published γ is 15.44; the maximum on this file (values rounded to cents) is 15.4477, as in
    # lifetimes, so γ is checked to 0.01 and all three against lifetimes' optimum.
    assert abs(fit.params.gamma - 15.44) < 0.01
    assert (fit.params.p, fit.params.q, fit.params.gamma) == pytest.approx((6.2488, 3.7446, 15.4477), abs=1e-3)
    assert fit.log_likelihood == pytest.approx(-4055.92, abs=0.01)
    direct = clv.gamma_gamma_log_likelihood(fit.params, cdnow_values["x"], cdnow_values["zbar"])
    assert fit.log_likelihood == pytest.approx(direct, abs=1e-7)
    repeaters = cdnow_values["x"] > 0
    only = clv.fit_gamma_gamma(cdnow_values["x"][repeaters], cdnow_values["zbar"][repeaters])
    for name in ("p", "q", "gamma"):
        assert getattr(only.params, name) == pytest.approx(getattr(fit.params, name), rel=1e-9)


def test_gamma_gamma_weights() -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(1, 8, 400)
    value = rng.gamma(4.0, 10.0, 400)
    weights = rng.integers(0, 3, 400)
    weighted = clv.fit_gamma_gamma(x, value, weights)
    repeated = clv.fit_gamma_gamma(np.repeat(x, weights), np.repeat(value, weights))
    assert weighted.n_customers == int(weights.sum())
    for name in ("p", "q", "gamma"):
        assert getattr(weighted.params, name) == pytest.approx(getattr(repeated.params, name), rel=1e-6)


# --- A million customers, day-granular ------------------------------------------------------------


def _simulate_bgnbd(n: int, params: clv.BGNBDParams, seed: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Customers aged 1-730 days with whole-day purchase times, drawn from the BG/NBD process."""
    rng = np.random.default_rng(seed)
    age = rng.integers(1, 731, n).astype(np.float64)
    rate = rng.gamma(params.r, 1.0 / params.alpha, n)
    dropout = rng.beta(params.a, params.b, n)
    arrivals = rng.poisson(rate * age)  # purchases a customer who never left would make in (0, T]
    last = rng.geometric(dropout)  # the repeat purchase after which they leave
    x = np.minimum(arrivals, last)
    # Given n arrivals in (0, T], the k-th arrival time is T·Beta(k, n − k + 1).
    kth = rng.beta(np.maximum(x, 1), np.maximum(arrivals - x + 1, 1))
    t_x = np.where(x > 0, np.floor(kth * age), 0.0)
    return x.astype(np.float64), t_x, age


def test_a_million_day_granular_customers() -> None:
    truth = clv.BGNBDParams(r=0.5, alpha=60.0, a=0.8, b=3.0)
    x, t_x, age = _simulate_bgnbd(1_000_000, truth, seed=7)
    packed = clv.compress(x, t_x, age)
    assert packed.n_customers == 1_000_000
    fit = clv.fit_bgnbd(packed.x, packed.t_x, packed.T, packed.weights)
    assert fit.converged
    assert fit.n_customers == 1_000_000
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fit.params, name) == pytest.approx(getattr(truth, name), rel=0.05), name


# --- Bad input -----------------------------------------------------------------------------------

GOOD = {"x": [0, 1, 2], "t_x": [0.0, 3.0, 5.0], "T": [6.0, 6.0, 6.0]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x": [0, -1, 2]}, "x .* must be >= 0"),
        ({"x": [0, 1.5, 2]}, "whole numbers"),
        ({"t_x": [0.0, -3.0, 5.0]}, "t_x .* must be >= 0"),
        ({"t_x": [0.0, 3.0, 7.0]}, "must not exceed T"),
        ({"t_x": [1.0, 3.0, 5.0]}, "t_x must be 0 for customers with x == 0"),
        ({"T": [6.0, float("nan"), 6.0]}, "NaN"),
        ({"x": [0, 1, math.inf]}, "infinite"),
        ({"x": [], "t_x": [], "T": []}, "empty"),
        ({"x": [0, 1]}, "same length"),
        ({"x": [[0, 1, 2]]}, "one-dimensional"),
        ({"x": ["a", "b", "c"]}, "numeric"),
        ({"weights": [1, -1, 1]}, "weights"),
        ({"weights": [1, 0.5, 1]}, "weights"),
        ({"weights": [1, 1]}, "weights must have shape"),
        ({"weights": [0, 0, 0]}, "weights sum to zero"),
        ({"t_x": [0.0, 0.0, 0.0], "T": [0.0, 0.0, 0.0], "x": [0, 0, 0]}, "T == 0"),
    ],
)
def test_fit_bgnbd_rejects_bad_input(change: dict[str, Any], message: str) -> None:
    args = {**GOOD, "weights": None, **change}
    with pytest.raises(ValueError, match=message):
        clv.fit_bgnbd(args["x"], args["t_x"], args["T"], args["weights"])


def test_repeat_purchase_at_time_zero_is_allowed() -> None:
    # With day-granular times a second purchase on the first day gives x > 0 and t_x == 0: valid.
    params = clv.BGNBDParams(r=0.25, alpha=4.0, a=0.8, b=2.5)
    assert np.isfinite(clv.bgnbd_log_likelihood(params, [1], [0.0], [10.0]))
    assert 0 < float(clv.probability_alive(params, 1, 0.0, 10.0)) < 1


def test_other_bad_input() -> None:
    with pytest.raises(ValueError, match="parameter alpha"):
        clv.BGNBDParams(r=1.0, alpha=0.0, a=1.0, b=1.0)
    with pytest.raises(ValueError, match="parameter q"):
        clv.GammaGammaParams(p=1.0, q=float("nan"), gamma=1.0)
    with pytest.raises(ValueError, match="t_x must not exceed T"):
        clv.probability_alive(PUBLISHED_BGNBD, 1, 5.0, 4.0)
    with pytest.raises(ValueError, match="horizon"):
        clv.conditional_expected_purchases(PUBLISHED_BGNBD, -1.0, 1, 2.0, 4.0)
    with pytest.raises(ValueError, match="broadcast"):
        clv.probability_alive(PUBLISHED_BGNBD, [1, 2], [1.0, 2.0, 3.0], 4.0)
    with pytest.raises(ValueError, match="no customers with x > 0"):
        clv.fit_gamma_gamma([0, 0], [0.0, 0.0])
    with pytest.raises(ValueError, match="monetary_value must be > 0"):
        clv.fit_gamma_gamma([1, 2], [10.0, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        clv.fit_gamma_gamma([1, 2], [10.0, float("nan")])
    with pytest.raises(ValueError, match="empty"):
        clv.fit_gamma_gamma([], [])
    with pytest.raises(ValueError, match="infinite"):
        clv.conditional_expected_value(clv.GammaGammaParams(p=2.0, q=0.9, gamma=5.0), [0, 1], [0.0, 10.0])
    for keyword, bad in (("horizon", -1.0), ("discount_rate", -0.1), ("period", 0.0)):
        arguments: dict[str, float] = {"horizon": 10.0, "discount_rate": 0.0, "period": 1.0, keyword: bad}
        with pytest.raises(ValueError, match=keyword):
            clv.customer_lifetime_value(PUBLISHED_BGNBD, PUBLISHED_GG, [1], [2.0], [4.0], [10.0], **arguments)


def test_the_simplex_rescue_is_kept_for_stops_far_from_an_optimum() -> None:
    def slope(g: float) -> Callable[[FloatArray], tuple[float, FloatArray]]:
        return lambda theta: (float(g * theta.sum()), np.full(theta.shape, g))

    inside = np.array([0.5, -1.0])
    assert optimise._worth_rescuing(slope(1e-2), inside)  # a failed line search: try the simplex
    assert not optimise._worth_rescuing(slope(4e-6), inside)  # nearly flat: the data hardly identify the parameters
    assert not optimise._worth_rescuing(slope(1e-2), np.array([18.0, 0.0]))  # at a bound: the data do not identify it
    assert optimise._worth_rescuing(slope(1e-2), np.array([np.nan, 0.0]))
