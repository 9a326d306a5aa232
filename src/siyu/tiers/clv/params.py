"""Parameter, fit and explanation dataclasses, and the input validation and numerical helpers both models share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_Scalar = TypeVar("_Scalar", bound=np.generic)


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
# Numerical helpers


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
