"""Customer lifetime value: BG/NBD for repeat purchases and P(alive), Gamma-Gamma for order value.

* **BG/NBD** (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"): while alive a customer
  buys as a Poisson process with rate λ ~ Gamma(r, α); after every repeat purchase they drop out with
  probability p ~ Beta(a, b).
* **Gamma-Gamma** (Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value"): the value of each
  repeat purchase is Gamma(p, ν) with ν ~ Gamma(q, γ) across customers, independent of the purchase
  process.

Per customer the inputs are ``x`` (number of repeat purchases, i.e. purchases after the first), ``t_x``
(time of the last repeat purchase, measured from the first purchase; 0 when ``x == 0``) and ``T`` (age:
time from the first purchase to the end of the observation window), in **any** time unit; α and every
horizon ``t`` are then in that unit. For Gamma-Gamma, ``monetary_value`` is the mean value of the ``x``
repeat purchases.

Only numpy and scipy are used at run time. Everything is a pure function over arrays and frozen
dataclasses. Fitting accepts integer ``weights`` (customers per row), and :func:`compress` turns a
customer table into its unique ``(x, t_x, T)`` rows and their counts: the log-likelihood is a sum over
customers, so the fit on the compressed table is the fit on the raw one. See ``docs/clv.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

__all__ = [
    "BGNBDFit",
    "BGNBDParams",
    "CLVExplanation",
    "CompressedRFM",
    "GammaGammaFit",
    "GammaGammaParams",
    "bgnbd_log_likelihood",
    "bgnbd_log_likelihood_terms",
    "compress",
    "conditional_expected_purchases",
    "conditional_expected_value",
    "customer_lifetime_value",
    "expected_purchases",
    "explain",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "gamma_gamma_log_likelihood",
    "gamma_gamma_log_likelihood_terms",
    "probability_alive",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_Scalar = TypeVar("_Scalar", bound=np.generic)

# Log-parameters are kept in [-LOG_BOUND, LOG_BOUND] (about 1e-8 .. 7e7 in fitting units) so that a
# degenerate data set (nobody ever drops out, say) ends at a large finite value instead of overflowing.
_LOG_BOUND = 18.0
_MAX_ITERATIONS = 2000
_GRADIENT_TOLERANCE = 1e-6
# compress() packs the codes of (x, t_x, T) into one int64 when there are at most this many combinations.
_PACK_LIMIT = 2**62


# --------------------------------------------------------------------------------------------------
# Parameters and results


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"parameter {name} must be a positive finite number, got {value!r}")


@dataclass(frozen=True)
class BGNBDParams:
    """BG/NBD parameters: λ ~ Gamma(shape ``r``, rate ``alpha``), dropout p ~ Beta(``a``, ``b``).

    ``alpha`` is in the time unit of the data it was fitted on (r/α is the mean purchase rate per unit).
    """

    r: float
    alpha: float
    a: float
    b: float

    def __post_init__(self) -> None:
        _check_positive(r=self.r, alpha=self.alpha, a=self.a, b=self.b)


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: transaction value ~ Gamma(shape ``p``, rate ν), ν ~ Gamma(shape ``q``, rate ``gamma``).

    lifetimes calls ``gamma`` ``v``. ``gamma`` is in the currency unit of the data it was fitted on.
    """

    p: float
    q: float
    gamma: float

    def __post_init__(self) -> None:
        _check_positive(p=self.p, q=self.q, gamma=self.gamma)

    @property
    def population_mean_value(self) -> float:
        """E[Z] = pγ/(q−1), the mean transaction value across customers (infinite when q ≤ 1)."""
        return self.p * self.gamma / (self.q - 1.0) if self.q > 1.0 else math.inf


@dataclass(frozen=True)
class BGNBDFit:
    """A fitted BG/NBD model.

    ``log_likelihood`` is the weighted sum over customers of the log-likelihood in the data's own time
    unit; ``n_customers`` is the sum of the weights and ``n_rows`` the number of rows fitted.
    """

    params: BGNBDParams
    log_likelihood: float
    n_customers: int
    n_rows: int
    converged: bool
    iterations: int
    message: str


@dataclass(frozen=True)
class GammaGammaFit:
    """A fitted Gamma-Gamma model (on the customers with ``x > 0``; see :func:`fit_gamma_gamma`)."""

    params: GammaGammaParams
    log_likelihood: float
    n_customers: int
    n_rows: int
    converged: bool
    iterations: int
    message: str


@dataclass(frozen=True, eq=False)
class CompressedRFM:
    """The unique ``(x, t_x, T)`` rows of a customer table, with how many customers share each.

    ``inverse[i]`` is the row of input customer ``i``, so ``values[inverse]`` (or :meth:`expand`)
    spreads a per-row prediction back to the customers.
    """

    x: IntArray
    t_x: FloatArray
    T: FloatArray
    weights: IntArray
    inverse: IntArray

    @property
    def n_customers(self) -> int:
        return int(self.weights.sum())

    @property
    def n_rows(self) -> int:
        return int(self.x.shape[0])

    def expand(self, values: ArrayLike) -> FloatArray:
        """Per-row ``values`` spread back to the input customers, in input order."""
        return np.asarray(values, dtype=np.float64)[self.inverse]


@dataclass(frozen=True)
class CLVExplanation:
    """Why a customer got their CLV: the inputs and every intermediate the score is made of.

    ``expected_purchases`` is undiscounted over ``horizon``; ``clv`` equals
    ``expected_purchases * expected_value`` when ``discount_rate`` is 0 and is smaller otherwise.
    ``expected_value`` = ``value_weight`` × ``monetary_value`` + (1 − ``value_weight``) ×
    ``population_mean_value``.
    """

    x: int
    t_x: float
    T: float
    monetary_value: float
    horizon: float
    discount_rate: float
    p_alive: float
    expected_purchases: float
    expected_value: float
    value_weight: float
    population_mean_value: float
    clv: float


# --------------------------------------------------------------------------------------------------
# Input validation


def _float_array(name: str, values: ArrayLike) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_rfm(x: FloatArray, t_x: FloatArray, age: FloatArray) -> None:
    if np.any(x < 0):
        raise ValueError("x (repeat purchases) must be >= 0")
    if np.any(x != np.floor(x)):
        raise ValueError("x (repeat purchases) must be whole numbers")
    if np.any(t_x < 0):
        raise ValueError("t_x (time of the last repeat purchase) must be >= 0")
    if np.any(t_x > age):
        raise ValueError("t_x must not exceed T (the last repeat purchase lies inside the customer's age)")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("t_x must be 0 for customers with x == 0 (no repeat purchase)")


def _weights(weights: ArrayLike | None, n: int) -> IntArray:
    if weights is None:
        return np.ones(n, dtype=np.int64)
    w = _float_array("weights", weights)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {w.shape}")
    if np.any(w < 0) or np.any(w != np.floor(w)):
        raise ValueError("weights must be non-negative whole numbers (customers per row)")
    return w.astype(np.int64)


def _fit_inputs(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
    weights: ArrayLike | None,
) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
    xs, txs, ages = _float_array("x", x), _float_array("t_x", t_x), _float_array("T", T)
    for name, arr in (("x", xs), ("t_x", txs), ("T", ages)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not (xs.shape == txs.shape == ages.shape):
        raise ValueError(f"x, t_x and T must have the same length, got {xs.shape[0]}, {txs.shape[0]}, {ages.shape[0]}")
    if xs.shape[0] == 0:
        raise ValueError("no customers: x, t_x and T are empty")
    _check_rfm(xs, txs, ages)
    return xs, txs, ages, _weights(weights, xs.shape[0])


def _prediction_inputs(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
) -> tuple[FloatArray, FloatArray, FloatArray]:
    xs, txs, ages = _float_array("x", x), _float_array("t_x", t_x), _float_array("T", T)
    try:
        xs, txs, ages = np.broadcast_arrays(xs, txs, ages)
    except ValueError as exc:
        raise ValueError(f"x, t_x and T do not broadcast together: {exc}") from exc
    _check_rfm(xs, txs, ages)
    return xs, txs, ages


def _horizon(t: ArrayLike) -> FloatArray:
    ts = _float_array("t", t)
    if np.any(ts < 0):
        raise ValueError("t (the prediction horizon) must be >= 0")
    return ts


# --------------------------------------------------------------------------------------------------
# Numerical helpers and compression


def _dot(u: NDArray[Any], v: NDArray[Any]) -> float:
    """Σ u·v without BLAS: a threaded ``ddot`` slows down by 10-20x when other processes hold the cores."""
    return float(np.einsum("i,i->", u, v))


def _group_sum(index: IntArray, weights: FloatArray, size: int) -> FloatArray:
    """Σ of ``weights`` per value of ``index`` (0 .. size−1)."""
    return np.asarray(np.bincount(index, weights=weights, minlength=size), dtype=np.float64)


def _factorize(values: NDArray[_Scalar]) -> tuple[NDArray[_Scalar], IntArray]:
    """The sorted distinct values of a non-empty 1-D array and each element's index among them.

    One unstable argsort; ``np.unique(..., return_inverse=True)`` is several times slower on 1M rows.
    """
    order = np.argsort(values)
    ordered = values[order]
    starts = np.empty(ordered.shape[0], dtype=bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    codes = np.empty(ordered.shape[0], dtype=np.int64)
    codes[order] = np.cumsum(starts) - 1
    return ordered[starts], codes


def compress(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
    weights: ArrayLike | None = None,
) -> CompressedRFM:
    """The unique ``(x, t_x, T)`` rows (sorted by x, then t_x, then T) and the customers on each.

    ``weights`` (customers per input row, default 1) are summed per unique row. The inputs are
    validated as for :func:`fit_bgnbd`.
    """
    xs, txs, ages, w = _fit_inputs(x, t_x, T, weights)
    ux, ix = _factorize(xs)
    utx, itx = _factorize(txs)
    uage, iage = _factorize(ages)
    n_tx, n_age = utx.shape[0], uage.shape[0]
    if ux.shape[0] * n_tx * n_age <= _PACK_LIMIT:  # one int64 key per row, ordered as (x, t_x, T)
        ukey, inverse = _factorize((ix * n_tx + itx) * n_age + iage)
        ux_rows, rest = np.divmod(ukey, n_tx * n_age)
        utx_rows, uage_rows = np.divmod(rest, n_age)
        rows_x, rows_tx, rows_age = ux[ux_rows], utx[utx_rows], uage[uage_rows]
    else:  # too many distinct values to pack in 63 bits: sort the rows lexicographically
        order = np.lexsort((iage, itx, ix))
        starts = np.ones(xs.shape[0], dtype=bool)
        starts[1:] = (np.diff(ix[order]) != 0) | (np.diff(itx[order]) != 0) | (np.diff(iage[order]) != 0)
        inverse = np.empty(xs.shape[0], dtype=np.int64)
        inverse[order] = np.cumsum(starts) - 1
        first = order[starts]
        rows_x, rows_tx, rows_age = xs[first], txs[first], ages[first]
    inverse = inverse.astype(np.int64).reshape(-1)
    counts = _group_sum(inverse, w.astype(np.float64), rows_x.shape[0])
    return CompressedRFM(
        x=rows_x.astype(np.int64),
        t_x=rows_tx,
        T=rows_age,
        weights=np.rint(counts).astype(np.int64),
        inverse=inverse,
    )


# --------------------------------------------------------------------------------------------------
# BG/NBD log-likelihood


def _bgnbd_ll(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> FloatArray:
    # Hardie note 027 ("Overcoming the BG/NBD Model's #NUM! Error Problem"), solution 2: the bracket
    # (α+T)^-(r+x) + δ(x>0)·a/(b+x−1)·(α+t_x)^-(r+x) is summed in log space.
    head = special.gammaln(r + x) - special.gammaln(r) + r * math.log(alpha)
    head += special.betaln(a, b + x) - special.betaln(a, b)
    log_stay = -(r + x) * np.log(alpha + age)
    log_drop = np.where(
        x > 0, math.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) - (r + x) * np.log(alpha + t_x), -np.inf
    )
    return np.asarray(head + np.logaddexp(log_stay, log_drop), dtype=np.float64)


def bgnbd_log_likelihood_terms(
    params: BGNBDParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
) -> FloatArray:
    """Each customer's BG/NBD log-likelihood ln L(r, α, a, b | x, t_x, T) (vectorised, broadcasting).

    It is a log *density* in the purchase times, so it depends on the time unit and can be positive.
    """
    xs, txs, ages = _prediction_inputs(x, t_x, T)
    return _bgnbd_ll(params.r, params.alpha, params.a, params.b, xs, txs, ages)


def bgnbd_log_likelihood(
    params: BGNBDParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
    weights: ArrayLike | None = None,
) -> float:
    """The weighted sum of :func:`bgnbd_log_likelihood_terms` (the quantity :func:`fit_bgnbd` maximises)."""
    xs, txs, ages, w = _fit_inputs(x, t_x, T, weights)
    return _dot(w, _bgnbd_ll(params.r, params.alpha, params.a, params.b, xs, txs, ages))


def _bgnbd_objective(
    x: FloatArray, t_x: FloatArray, age: FloatArray, w: FloatArray
) -> Callable[[FloatArray], tuple[float, FloatArray]]:
    """Mean negative log-likelihood and its gradient in (ln r, ln α, ln a, ln b).

    Every term that depends on x alone (all the special functions), on T alone or on t_x alone is
    evaluated once per distinct value and summed with that value's total weight; per row there remain a
    few gathers and exps (about 40 ms a call for 400k rows on a 2-core machine).
    """
    ux, ix = _factorize(x)
    uage, iage = _factorize(age)
    utx, itx = _factorize(t_x)
    wu = _group_sum(ix, w, ux.shape[0])
    total = float(w.sum())
    wx = w * x
    w_age, wx_age = _group_sum(iage, w, uage.shape[0]), _group_sum(iage, wx, uage.shape[0])
    w_repeat = w * (x > 0)  # the dropout branch exists only after a repeat purchase
    b_shift_u = np.maximum(ux, 1.0) - 1.0  # b + x − 1 for x > 0 (and b, harmlessly, for x = 0)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        r, alpha, a, b = (float(v) for v in np.exp(theta))
        log_alpha, dig_ab = math.log(alpha), float(special.digamma(a + b))
        dig_abx = special.digamma(a + b + ux)
        ll = _dot(wu, (special.gammaln(r + ux) + special.betaln(a, b + ux)))
        ll += total * (r * log_alpha - float(special.gammaln(r)) - float(special.betaln(a, b)))
        d_r = _dot(wu, special.digamma(r + ux)) + total * (log_alpha - float(special.digamma(r)))
        d_alpha = total * r / alpha
        d_a = total * dig_ab - _dot(wu, dig_abx)
        d_b = _dot(wu, (special.digamma(b + ux) - dig_abx)) + total * (dig_ab - float(special.digamma(b)))

        # ln[(α+T)^-(r+x) + δ(x>0)·a/(b+x−1)·(α+t_x)^-(r+x)] = −(r+x)·ln(α+T) + δ·softplus(gap), where
        # gap = ln a − ln(b+x−1) + (r+x)·ln((α+T)/(α+t_x)) is the log-odds of the dropout branch.
        log_age_u, inv_age_u = np.log(alpha + uage), 1.0 / (alpha + uage)
        log_tx_u, inv_tx_u = np.log(alpha + utx), 1.0 / (alpha + utx)
        inv_b_u = 1.0 / (b + b_shift_u)
        ll -= r * _dot(w_age, log_age_u) + _dot(wx_age, log_age_u)
        d_r -= _dot(w_age, log_age_u)
        d_alpha -= r * _dot(w_age, inv_age_u) + _dot(wx_age, inv_age_u)

        rx = r + x
        log_ratio = log_age_u[iage] - log_tx_u[itx]
        gap = (math.log(a) + np.log(inv_b_u))[ix] + rx * log_ratio
        softplus = np.maximum(gap, 0.0) + np.log1p(np.exp(-np.abs(gap)))
        w_drop = w_repeat * np.exp(gap - softplus)  # weight × share of the dropout branch
        ll += _dot(w_repeat, softplus)
        d_r += _dot(w_drop, log_ratio)
        d_alpha += _dot(w_drop, (rx * (inv_age_u[iage] - inv_tx_u[itx])))
        d_a += float(w_drop.sum()) / a
        d_b -= _dot(_group_sum(ix, w_drop, ux.shape[0]), inv_b_u)
        grad = np.array([r * d_r, alpha * d_alpha, a * d_a, b * d_b], dtype=np.float64)
        return -ll / total, -grad / total

    return objective


@dataclass(frozen=True)
class _Optimum:
    theta: FloatArray
    converged: bool
    iterations: int
    message: str


def _at_bound(theta: FloatArray) -> bool:
    return bool(np.any(np.abs(theta) >= _LOG_BOUND - 1e-6))


def _check_optimum(objective: Callable[[FloatArray], tuple[float, FloatArray]], theta: FloatArray) -> str | None:
    """None when ``theta`` is an interior optimum, else why not."""
    value, grad = objective(theta)
    if not (math.isfinite(value) and np.all(np.isfinite(grad))):
        return "the log-likelihood is not finite there"
    if _at_bound(theta):
        return "a parameter ran to its bound (the data do not identify the model)"
    if float(np.max(np.abs(grad))) > _GRADIENT_TOLERANCE:
        return f"the gradient is still {float(np.max(np.abs(grad))):.1e}"
    return None


def _minimise(objective: Callable[[FloatArray], tuple[float, FloatArray]], start: FloatArray) -> _Optimum:
    """L-BFGS-B with the analytic gradient; if it stops short of an optimum inside the bounds (a failed
    line search, say), Nelder-Mead from there and L-BFGS-B again.

    Converged means: finite, no log-parameter at its bound, and every component of the gradient of the
    per-customer log-likelihood with respect to the log-parameters below 1e-6.
    """
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * start.shape[0]
    options = {"maxiter": _MAX_ITERATIONS, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        res = optimize.minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
        iterations = int(res.nit)
        problem = _check_optimum(objective, np.asarray(res.x, dtype=np.float64))
        if problem is not None and not _at_bound(np.asarray(res.x, dtype=np.float64)):
            simplex = optimize.minimize(
                lambda th: objective(th)[0],
                np.clip(res.x if np.all(np.isfinite(res.x)) else start, -_LOG_BOUND, _LOG_BOUND),
                method="Nelder-Mead",
                bounds=bounds,
                options={"maxiter": 1000, "xatol": 1e-10, "fatol": 1e-14},
            )
            res = optimize.minimize(objective, simplex.x, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
            iterations += int(simplex.nit) + int(res.nit)
            problem = _check_optimum(objective, np.asarray(res.x, dtype=np.float64))
    theta = np.asarray(res.x, dtype=np.float64)
    message = str(res.message) if problem is None else f"{problem} ({res.message})"
    return _Optimum(theta=theta, converged=problem is None, iterations=iterations, message=message)


def fit_bgnbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
    weights: ArrayLike | None = None,
    *,
    initial: BGNBDParams | None = None,
) -> BGNBDFit:
    """Maximum-likelihood BG/NBD fit.

    ``weights`` are customers per row (use :func:`compress` for large tables). The optimisation runs on
    log-parameters with time rescaled so that the mean age is 1 (the fitted α is scaled back; r, a and
    b do not depend on the unit). ``initial`` (in the data's time unit) overrides the starting point
    r = a = b = 1 with α set from the mean purchase rate.
    """
    xs, txs, ages, w = _fit_inputs(x, t_x, T, weights)
    keep = w > 0
    if not np.any(keep):
        raise ValueError("weights sum to zero: no customers to fit")
    xs, txs, ages, w = xs[keep], txs[keep], ages[keep], w[keep]
    wf = w.astype(np.float64)
    scale = _dot(wf, ages) / float(wf.sum())
    if scale <= 0:
        raise ValueError("every customer has T == 0: there is no observed time to fit on")
    if initial is None:
        rate = max(_dot(wf, xs) / _dot(wf, ages) * scale, 1e-3)
        start = np.log(np.array([1.0, 1.0 / rate, 1.0, 1.0]))
    else:
        start = np.log(np.array([initial.r, initial.alpha / scale, initial.a, initial.b]))
    objective = _bgnbd_objective(xs, txs / scale, ages / scale, wf)
    opt = _minimise(objective, np.clip(start, -_LOG_BOUND, _LOG_BOUND))
    r, alpha_scaled, a, b = (float(v) for v in np.exp(opt.theta))
    params = BGNBDParams(r=r, alpha=alpha_scaled * scale, a=a, b=b)
    # Rescaling time by s multiplies each customer's likelihood (a density in x purchase times) by s^x.
    ll = -objective(opt.theta)[0] * float(wf.sum()) - math.log(scale) * _dot(wf, xs)
    return BGNBDFit(
        params=params,
        log_likelihood=ll,
        n_customers=int(w.sum()),
        n_rows=int(xs.shape[0]),
        converged=opt.converged,
        iterations=opt.iterations,
        message=opt.message,
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


# --------------------------------------------------------------------------------------------------
# Predictions


def _p_alive(params: BGNBDParams, x: FloatArray, t_x: FloatArray, age: FloatArray) -> FloatArray:
    # Hardie note 021: 1 / (1 + δ(x>0)·a/(b+x−1)·((α+T)/(α+t_x))^(r+x)), as a logistic of the log odds.
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_odds_dead = (
        math.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
    )
    return np.asarray(np.where(x > 0, special.expit(-log_odds_dead), 1.0), dtype=np.float64)


def _expected_given_alive(params: BGNBDParams, t: FloatArray, x: FloatArray, age: FloatArray) -> FloatArray:
    """E[purchases in (T, T+t] | x, alive at T] (FHL 2005 eq. 10 without its P(alive) factor).

    (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; z)], z = t/(α+T+t). Euler's
    transformation turns the product into (1−z)^(a−1) · 2F1(a−1, a+b−1−r; a+b+x−1; z), whose upper
    parameters stay small however large x is, so nothing overflows. a = 1 is a removable singularity
    that is not handled (it has probability zero in a fit).
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    c = a + b + x - 1.0
    z = t / (alpha + age + t)
    hyp = special.hyp2f1(a - 1.0, a + b - 1.0 - r, c, z)  # can be negative when a + b + x < 1
    with np.errstate(divide="ignore", over="ignore"):
        log_tail = (a - 1.0) * np.log1p(-z) + np.log(np.abs(hyp))
        one_minus_tail = np.where(hyp > 0, -np.expm1(log_tail), 1.0 + np.exp(log_tail))
    return np.asarray(c / (a - 1.0) * one_minus_tail, dtype=np.float64)


def probability_alive(
    params: BGNBDParams,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
) -> FloatArray:
    """P(customer is still alive at T | x, t_x, T); 1 for customers with no repeat purchase (BG/NBD)."""
    xs, txs, ages = _prediction_inputs(x, t_x, T)
    return _p_alive(params, xs, txs, ages)


def conditional_expected_purchases(
    params: BGNBDParams,
    t: ArrayLike,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,  # noqa: N803
) -> FloatArray:
    """E[number of purchases in the next ``t`` periods | x, t_x, T] (FHL 2005 eq. 10), broadcasting."""
    ts = _horizon(t)
    xs, txs, ages = _prediction_inputs(x, t_x, T)
    ts, xs, txs, ages = np.broadcast_arrays(ts, xs, txs, ages)
    return np.asarray(_p_alive(params, xs, txs, ages) * _expected_given_alive(params, ts, xs, ages), dtype=np.float64)


def expected_purchases(params: BGNBDParams, t: ArrayLike) -> FloatArray:
    """E[X(t)]: expected repeat purchases in (0, t] for a new, randomly chosen customer (FHL 2005 eq. 9)."""
    ts = _horizon(t)
    zeros = np.zeros_like(ts)
    return _expected_given_alive(params, ts, zeros, zeros)


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
