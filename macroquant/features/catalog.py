"""Named features: ``"<kind>:<parameter>"`` strings that the features stage computes and
stores, and that strategies and sizing ask for.

- ``price``: last raw close (forward-filled over at most ``MAX_FILL_SESSIONS``), for sizing.
- ``ewma:<span>``: EWMA of the back-adjusted close.
- ``price_volatility:<span>``: daily EWMA volatility of back-adjusted price changes.
- ``return_volatility:<span>``: annualised EWMA volatility of daily returns.
- ``zscore:<window>``: rolling z-score of the back-adjusted close.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from macroquant.features import indicators

# Holidays differ across markets (ECB vs NYSE): carry a price over a few missing sessions.
MAX_FILL_SESSIONS = 5

_PARAMETRISED: dict[str, Callable[[pd.DataFrame, int], pd.DataFrame]] = {
    "ewma": indicators.ewma,
    "price_volatility": indicators.price_volatility,
    "return_volatility": indicators.return_volatility,
    "zscore": indicators.rolling_zscore,
}


def feature_name(kind: str, parameter: int | None = None) -> str:
    """The stored name of a feature, e.g. ``feature_name("ewma", 16) == "ewma:16"``."""
    return kind if parameter is None else f"{kind}:{parameter}"


def parse_feature(name: str) -> tuple[str, int | None]:
    """Split ``"ewma:16"`` into ``("ewma", 16)``; raises ValueError for unknown features."""
    kind, _, raw = name.partition(":")
    if kind == "price" and not raw:
        return kind, None
    if kind not in _PARAMETRISED or not raw.isdigit() or int(raw) < 2:
        raise ValueError(f"unknown feature '{name}'")
    return kind, int(raw)


def compute_features(
    names: set[str], raw_close: pd.DataFrame, adjusted_close: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """Compute each named feature over the wide panels (sessions × instruments)."""
    raw = raw_close.ffill(limit=MAX_FILL_SESSIONS)
    adjusted = adjusted_close.ffill(limit=MAX_FILL_SESSIONS)
    out: dict[str, pd.DataFrame] = {}
    for name in sorted(names):
        kind, parameter = parse_feature(name)
        if kind == "price":
            out[name] = raw
        else:
            assert parameter is not None
            out[name] = _PARAMETRISED[kind](adjusted, parameter)
    return out
