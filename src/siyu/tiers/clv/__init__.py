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

import numpy as np
from numpy.typing import ArrayLike

from siyu.tiers.clv.bgnbd import (
    bgnbd_log_likelihood,
    bgnbd_log_likelihood_terms,
    conditional_expected_purchases,
    expected_purchases,
    fit_bgnbd,
    probability_alive,
)
from siyu.tiers.clv.gamma_gamma import (
    conditional_expected_value,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    gamma_gamma_log_likelihood_terms,
)
from siyu.tiers.clv.params import (
    BGNBDFit,
    BGNBDParams,
    CLVExplanation,
    CompressedRFM,
    GammaGammaFit,
    GammaGammaParams,
    _factorize,
    _fit_inputs,
    _group_sum,
)
from siyu.tiers.clv.value import customer_lifetime_value, explain

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

# compress() packs the codes of (x, t_x, T) into one int64 when there are at most this many combinations.
_PACK_LIMIT = 2**62


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
