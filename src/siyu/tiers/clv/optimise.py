"""The maximum-likelihood optimiser both fits use: L-BFGS-B on log-parameters, with a Nelder-Mead rescue."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from siyu.tiers.clv.params import FloatArray

# Log-parameters are kept in [-LOG_BOUND, LOG_BOUND] (about 1e-8 .. 7e7 in fitting units) so that a
# degenerate data set (nobody ever drops out, say) ends at a large finite value instead of overflowing.
_LOG_BOUND = 18.0
_MAX_ITERATIONS = 2000
_GRADIENT_TOLERANCE = 1e-6
# Below this gradient L-BFGS-B stopped on a nearly flat likelihood (parameters the data hardly identify):
# a simplex search from there costs hundreds of evaluations (seconds on a million customers) and gains
# nothing, so the rescue is kept for stops far from an optimum (a failed line search).
_RESCUE_ABOVE = 1e-4


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


def _worth_rescuing(objective: Callable[[FloatArray], tuple[float, FloatArray]], theta: FloatArray) -> bool:
    """Whether L-BFGS-B stopped inside the bounds and far from an optimum."""
    if _at_bound(theta):
        return False
    if not np.all(np.isfinite(theta)):
        return True
    value, grad = objective(theta)
    if not (math.isfinite(value) and np.all(np.isfinite(grad))):
        return True
    return float(np.max(np.abs(grad))) > _RESCUE_ABOVE


def _minimise(objective: Callable[[FloatArray], tuple[float, FloatArray]], start: FloatArray) -> _Optimum:
    """L-BFGS-B with the analytic gradient; if it stops far from an optimum inside the bounds (a failed
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
        if problem is not None and _worth_rescuing(objective, np.asarray(res.x, dtype=np.float64)):
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
