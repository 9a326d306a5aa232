"""Customer lifetime value from both models, and one customer's score with the numbers behind it."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from siyu.tiers.clv.bgnbd import _expected_given_alive, _p_alive, conditional_expected_purchases, probability_alive
from siyu.tiers.clv.gamma_gamma import conditional_expected_value
from siyu.tiers.clv.params import BGNBDParams, CLVExplanation, FloatArray, GammaGammaParams, _prediction_inputs


def _value_weight(params: GammaGammaParams, x: float) -> float:
    return params.p * x / (params.p * x + params.q - 1.0)


def customer_lifetime_value(
    bgnbd: BGNBDParams,
    gamma_gamma: GammaGammaParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
    monetary_value: ArrayLike,
    horizon: float,
    *,
    discount_rate: float = 0.0,
    period: float = 1.0,
) -> FloatArray:
    """Expected value of each customer's purchases in the next ``horizon`` time units.

    With ``discount_rate == 0`` (the default, no discounting): conditional expected purchases over the
    horizon × Gamma-Gamma conditional expected value. With a per-period ``discount_rate`` d, the horizon
    is cut into periods of length ``period`` (the last one may be shorter) and the purchases expected in
    the k-th period, ending at time s_k, are discounted by (1 + d)^(s_k / period) — end-of-period
    discounting, as in lifetimes' ``customer_lifetime_value``.
    """
    if not (math.isfinite(horizon) and horizon >= 0):
        raise ValueError(f"horizon must be a finite number >= 0, got {horizon!r}")
    if not (math.isfinite(discount_rate) and discount_rate >= 0):
        raise ValueError(f"discount_rate must be a finite number >= 0, got {discount_rate!r}")
    if not (math.isfinite(period) and period > 0):
        raise ValueError(f"period must be a positive finite number, got {period!r}")
    xs, txs, ages = _prediction_inputs(x, t_x, T)
    value = conditional_expected_value(gamma_gamma, xs, monetary_value)
    xs, txs, ages, value = np.broadcast_arrays(xs, txs, ages, value)
    alive = _p_alive(bgnbd, xs, txs, ages)
    if discount_rate == 0.0:
        purchases = alive * _expected_given_alive(bgnbd, np.full(xs.shape, horizon), xs, ages)
        return np.asarray(purchases * value, dtype=np.float64)
    n_periods = max(math.ceil(horizon / period - 1e-9), 0)
    total = np.zeros(xs.shape, dtype=np.float64)
    previous = np.zeros(xs.shape, dtype=np.float64)
    for k in range(1, n_periods + 1):
        end = min(k * period, horizon)
        cumulative = _expected_given_alive(bgnbd, np.full(xs.shape, end), xs, ages)
        total += (cumulative - previous) / (1.0 + discount_rate) ** (end / period)
        previous = cumulative
    return np.asarray(alive * total * value, dtype=np.float64)


def explain(
    bgnbd: BGNBDParams,
    gamma_gamma: GammaGammaParams,
    x: int,
    t_x: float,
    T: float,  # noqa: N803
    monetary_value: float,
    horizon: float,
    *,
    discount_rate: float = 0.0,
    period: float = 1.0,
) -> CLVExplanation:
    """One customer's CLV with the numbers behind it (for showing a score to an operator)."""
    args = (np.array([x]), np.array([t_x]), np.array([T]))
    purchases = float(conditional_expected_purchases(bgnbd, horizon, *args)[0])
    value = float(conditional_expected_value(gamma_gamma, args[0], np.array([monetary_value]))[0])
    clv = customer_lifetime_value(
        bgnbd, gamma_gamma, *args, np.array([monetary_value]), horizon, discount_rate=discount_rate, period=period
    )
    return CLVExplanation(
        x=int(x),
        t_x=float(t_x),
        T=float(T),
        monetary_value=float(monetary_value),
        horizon=float(horizon),
        discount_rate=float(discount_rate),
        p_alive=float(probability_alive(bgnbd, *args)[0]),
        expected_purchases=purchases,
        expected_value=value,
        value_weight=_value_weight(gamma_gamma, float(x)),
        population_mean_value=gamma_gamma.population_mean_value,
        clv=float(clv[0]),
    )
