"""Gamma-Gamma: the log-likelihood and its fit, and the conditional expected transaction value."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from siyu.tiers.clv.optimise import _LOG_BOUND, _minimise
from siyu.tiers.clv.params import (
    FloatArray,
    GammaGammaFit,
    GammaGammaParams,
    IntArray,
    _dot,
    _factorize,
    _float_array,
    _group_sum,
    _weights,
)

# --------------------------------------------------------------------------------------------------
# Gamma-Gamma


def _gg_inputs(
    x: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None
) -> tuple[FloatArray, FloatArray, IntArray]:
    xs, ms = _float_array("x", x), _float_array("monetary_value", monetary_value)
    for name, arr in (("x", xs), ("monetary_value", ms)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if xs.shape != ms.shape:
        raise ValueError(f"x and monetary_value must have the same length, got {xs.shape[0]} and {ms.shape[0]}")
    if xs.shape[0] == 0:
        raise ValueError("no customers: x and monetary_value are empty")
    if np.any(xs < 0) or np.any(xs != np.floor(xs)):
        raise ValueError("x (repeat purchases) must be non-negative whole numbers")
    if np.any((xs > 0) & (ms <= 0)):
        raise ValueError("monetary_value must be > 0 for customers with x > 0")
    return xs, ms, _weights(weights, xs.shape[0])


def _gg_ll(p: float, q: float, gamma: float, x: FloatArray, m: FloatArray) -> FloatArray:
    # The density of the mean z̄ of x Gamma(p, ν) values with ν ~ Gamma(q, γ) (Fader & Hardie 2013, eq. 3).
    px = p * x
    ll = special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * math.log(gamma)
    ll += (px - 1.0) * np.log(m) + px * np.log(x) - (px + q) * np.log(x * m + gamma)
    return np.asarray(ll, dtype=np.float64)


def gamma_gamma_log_likelihood_terms(params: GammaGammaParams, x: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
    """Each customer's Gamma-Gamma log-likelihood (a log density in the mean value; needs x > 0, value > 0)."""
    xs, ms = _float_array("x", x), _float_array("monetary_value", monetary_value)
    if np.any(xs <= 0) or np.any(ms <= 0):
        raise ValueError("the Gamma-Gamma likelihood is defined for x > 0 and monetary_value > 0 only")
    return _gg_ll(params.p, params.q, params.gamma, xs, ms)


def gamma_gamma_log_likelihood(
    params: GammaGammaParams, x: ArrayLike, monetary_value: ArrayLike, weights: ArrayLike | None = None
) -> float:
    """The weighted sum of the log-likelihood over the customers with x > 0 (others are skipped)."""
    xs, ms, w = _gg_inputs(x, monetary_value, weights)
    keep = (xs > 0) & (w > 0)
    return _dot(w[keep], _gg_ll(params.p, params.q, params.gamma, xs[keep], ms[keep]))


def _gg_objective(x: FloatArray, m: FloatArray, w: FloatArray) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """Mean negative Gamma-Gamma log-likelihood and its gradient in (ln p, ln q, ln γ)."""
    ux, x_index = _factorize(x)
    wu = _group_sum(x_index, w, ux.shape[0])
    total = float(w.sum())
    wx = w * x
    xm = x * m
    log_m, log_x = np.log(m), np.log(x)
    sum_wx_logs = _dot(wx, (log_m + log_x))
    sum_w_log_m = _dot(w, log_m)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        p, q, gamma = (float(v) for v in np.exp(theta))
        log_xm_g = np.log(xm + gamma)
        inv_xm_g = 1.0 / (xm + gamma)
        sum_wx_lg, sum_w_lg = _dot(wx, log_xm_g), _dot(w, log_xm_g)
        dig_pxq = special.digamma(p * ux + q)
        ll = _dot(wu, (special.gammaln(p * ux + q) - special.gammaln(p * ux)))
        ll += total * (q * math.log(gamma) - float(special.gammaln(q)))
        ll += p * sum_wx_logs - sum_w_log_m - p * sum_wx_lg - q * sum_w_lg
        d_p = _dot((wu * ux), (dig_pxq - special.digamma(p * ux))) + sum_wx_logs - sum_wx_lg
        d_q = _dot(wu, dig_pxq) + total * (math.log(gamma) - float(special.digamma(q))) - sum_w_lg
        d_gamma = total * q / gamma - _dot((p * wx + q * w), inv_xm_g)
        grad = np.array([p * d_p, q * d_q, gamma * d_gamma], dtype=np.float64)
        return -ll / total, -grad / total

    return objective


def fit_gamma_gamma(
    x: ArrayLike,
    monetary_value: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    initial: GammaGammaParams | None = None,
) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma fit on the customers with ``x > 0``.

    ``monetary_value`` is each customer's mean value of their ``x`` repeat purchases; rows with
    ``x == 0`` are skipped (their value is not used), so the whole customer table can be passed.
    Values are rescaled to mean 1 for the optimisation and γ is scaled back.
    """
    xs, ms, w = _gg_inputs(x, monetary_value, weights)
    keep = (xs > 0) & (w > 0)
    if not np.any(keep):
        raise ValueError("no customers with x > 0: the Gamma-Gamma model needs repeat purchases")
    xs, ms, w = xs[keep], ms[keep], w[keep]
    wf = w.astype(np.float64)
    scale = _dot(wf, ms) / float(wf.sum())
    if initial is None:
        start = np.log(np.array([1.0, 2.0, 1.0]))
    else:
        start = np.log(np.array([initial.p, initial.q, initial.gamma / scale]))
    objective = _gg_objective(xs, ms / scale, wf)
    opt = _minimise(objective, np.clip(start, -_LOG_BOUND, _LOG_BOUND))
    p, q, gamma_scaled = (float(v) for v in np.exp(opt.theta))
    params = GammaGammaParams(p=p, q=q, gamma=gamma_scaled * scale)
    # Rescaling values by s divides each customer's likelihood (a density in their mean value) by s.
    ll = -objective(opt.theta)[0] * float(wf.sum()) - math.log(scale) * float(wf.sum())
    return GammaGammaFit(
        params=params,
        log_likelihood=ll,
        n_customers=int(w.sum()),
        n_rows=int(xs.shape[0]),
        converged=opt.converged,
        iterations=opt.iterations,
        message=opt.message,
    )


def conditional_expected_value(params: GammaGammaParams, x: ArrayLike, monetary_value: ArrayLike) -> FloatArray:
    """E[mean transaction value | x, z̄] = p(γ + x·z̄)/(px + q − 1) (Fader & Hardie 2013, eq. 5).

    This is a weighted average of the customer's own mean value z̄ and the population mean pγ/(q−1);
    customers with x == 0 get the population mean (their ``monetary_value`` is ignored). Raises
    ValueError when the expectation is infinite (q ≤ 1 and x == 0).
    """
    xs, ms = _float_array("x", x), _float_array("monetary_value", monetary_value)
    xs, ms = np.broadcast_arrays(xs, ms)
    if np.any(xs < 0) or np.any(xs != np.floor(xs)):
        raise ValueError("x (repeat purchases) must be non-negative whole numbers")
    if np.any((xs > 0) & (ms <= 0)):
        raise ValueError("monetary_value must be > 0 for customers with x > 0")
    p, q, gamma = params.p, params.q, params.gamma
    denominator = p * xs + q - 1.0
    if np.any(denominator <= 0):
        raise ValueError("the expected value is infinite for these customers (q <= 1 and x == 0)")
    own = np.where(xs > 0, ms, 0.0)
    return np.asarray(p * (gamma + xs * own) / denominator, dtype=np.float64)
