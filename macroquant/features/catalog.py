"""Named features: ``"<kind>:<parameter>"`` strings that the features stage computes and
stores, and that strategies and sizing ask for.

- ``price``: last raw close (forward-filled over at most ``MAX_FILL_SESSIONS``), for sizing.
- ``close``: back-adjusted close (forward-filled the same way).
- ``open`` / ``high`` / ``low``: back-adjusted bar prices (need the ``bars`` argument).
- ``ewma:<span>``: EWMA of the back-adjusted close.
- ``price_volatility:<span>``: daily EWMA volatility of back-adjusted price changes.
- ``return_volatility:<span>``: annualised EWMA volatility of daily returns.
- ``zscore:<window>``: rolling z-score of the back-adjusted close.
- ``rsi:<period>``: Wilder RSI of the back-adjusted close, 0..100.
- ``channel_high:<window>`` / ``channel_low:<window>``: highest / lowest back-adjusted
  close of the ``window`` sessions before the date (Donchian channel on closes).
- ``momentum:<lookback>``: return over ``lookback`` sessions.
- ``candle:<PATTERN>``: TA-Lib candlestick pattern (e.g. ``candle:CDLENGULFING``) in
  {-1, 0, 1}; needs the ``bars`` argument.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pandas as pd

from macroquant.features import indicators

# Holidays differ across markets (ECB vs NYSE): carry a price over a few missing sessions.
MAX_FILL_SESSIONS = 5

_PARAMETRISED: dict[str, Callable[[pd.DataFrame, int], pd.DataFrame]] = {
    "ewma": indicators.ewma,
    "price_volatility": indicators.price_volatility,
    "return_volatility": indicators.return_volatility,
    "zscore": indicators.rolling_zscore,
    "rsi": indicators.rsi,
    "channel_high": indicators.channel_high,
    "channel_low": indicators.channel_low,
    "momentum": indicators.momentum,
}
BAR_FIELDS = ("open", "high", "low")
_PLAIN = {"price", "close", *BAR_FIELDS}
CANDLE = "candle"


def feature_name(kind: str, parameter: int | str | None = None) -> str:
    """The stored name of a feature, e.g. ``feature_name("ewma", 16) == "ewma:16"``."""
    return kind if parameter is None else f"{kind}:{parameter}"


def parse_feature(name: str) -> tuple[str, int | str | None]:
    """Split ``"ewma:16"`` into ``("ewma", 16)`` (``"candle:CDLDOJI"`` into ``("candle",
    "CDLDOJI")``); raises ValueError for unknown features."""
    kind, _, raw = name.partition(":")
    if kind in _PLAIN and not raw:
        return kind, None
    if kind == CANDLE and raw.startswith("CDL") and raw.isalnum() and raw.isupper():
        return kind, raw
    if kind not in _PARAMETRISED or not raw.isdigit() or int(raw) < 2:
        raise ValueError(f"unknown feature '{name}'")
    return kind, int(raw)


def needs_bars(names: set[str]) -> bool:
    """True when any of ``names`` needs open/high/low prices."""
    return any(parse_feature(n)[0] in (*BAR_FIELDS, CANDLE) for n in names)


def compute_features(
    names: set[str],
    raw_close: pd.DataFrame,
    adjusted_close: pd.DataFrame,
    bars: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, pd.DataFrame]:
    """Compute each named feature over the wide panels (sessions × instruments).

    ``bars`` maps ``open``/``high``/``low`` to back-adjusted panels shaped like
    ``adjusted_close``; it is required only by bar and candlestick features.
    """
    raw = raw_close.ffill(limit=MAX_FILL_SESSIONS)
    adjusted = adjusted_close.ffill(limit=MAX_FILL_SESSIONS)
    if needs_bars(names) and (bars is None or not set(BAR_FIELDS) <= set(bars)):
        wanted = sorted(n for n in names if parse_feature(n)[0] in (*BAR_FIELDS, CANDLE))
        raise ValueError(f"features {wanted} need open/high/low bars, which were not given")
    out: dict[str, pd.DataFrame] = {}
    for name in sorted(names):
        kind, parameter = parse_feature(name)
        if kind == "price":
            out[name] = raw
        elif kind == "close":
            out[name] = adjusted
        elif kind in BAR_FIELDS:
            assert bars is not None
            out[name] = bars[kind]
        elif kind == CANDLE:
            assert bars is not None and isinstance(parameter, str)
            out[name] = indicators.candlestick(parameter, bars["open"], bars["high"],
                                               bars["low"], adjusted_close)
        else:
            assert isinstance(parameter, int)
            out[name] = _PARAMETRISED[kind](adjusted, parameter)
    return out
