"""The deflated Sharpe ratio (Bailey & López de Prado, 2014), a guard against picking the
best of many backtests.

With ``N`` trials whose (per-period, not annualised) Sharpe ratios have variance ``V``,
the Sharpe ratio the best of them would show by luck alone is about

    SR0 = sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))

(``g`` is the Euler-Mascheroni constant, ``Z^-1`` the standard normal quantile). The
deflated Sharpe ratio is the probability that the selected strategy's true Sharpe ratio
exceeds ``SR0``, given its ``T`` returns' skewness ``g3`` and (non-excess) kurtosis ``g4``:

    DSR = Z((SR - SR0) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2))

With one trial ``SR0 = 0`` and DSR is the probabilistic Sharpe ratio against zero.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """``SR0``: the expected maximum per-period Sharpe ratio of ``n_trials`` unskilled
    trials whose Sharpe ratios have variance ``sharpe_variance``."""
    if n_trials < 1:
        raise ValueError("n_trials must be at least 1")
    if n_trials == 1 or sharpe_variance <= 0:
        return 0.0
    z1 = _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    z2 = _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def deflated_sharpe_ratio(sharpe: float, n_returns: int, skewness: float, kurtosis: float,
                          n_trials: int, sharpe_variance: float) -> float:
    """DSR from per-period statistics (``kurtosis`` is non-excess: 3 for a normal)."""
    if n_returns < 2 or not math.isfinite(sharpe):
        return math.nan
    sr0 = expected_max_sharpe(n_trials, sharpe_variance)
    denominator = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not denominator > 0:
        return math.nan
    return _NORMAL.cdf((sharpe - sr0) * math.sqrt(n_returns - 1) / math.sqrt(denominator))


def per_period_sharpe(returns: pd.Series) -> float:
    """``mean / std`` (ddof=1) of the returns, not annualised; NaN if undefined."""
    r = pd.Series(returns, dtype=float).dropna()
    std = r.std(ddof=1)
    return float(r.mean() / std) if len(r) > 1 and std > 0 else math.nan


def deflated_sharpe_of(best_returns: pd.Series, trial_sharpes: np.ndarray) -> float:
    """DSR of the selected trial's daily returns, deflated by all trials' per-period
    Sharpe ratios (NaN trials, e.g. never traded, count as trials but not in the
    variance)."""
    r = pd.Series(best_returns, dtype=float).dropna()
    finite = np.asarray(trial_sharpes, dtype=float)
    finite = finite[np.isfinite(finite)]
    variance = float(np.var(finite, ddof=1)) if len(finite) > 1 else 0.0
    return deflated_sharpe_ratio(per_period_sharpe(r), len(r), float(r.skew()),
                                 float(r.kurt()) + 3.0, len(trial_sharpes), variance)
