"""Named features: ``"<kind>:<parameter>"`` strings that the features stage computes and
stores, and that strategies and sizing ask for.

- ``price``: last raw close (forward-filled over at most ``MAX_FILL_SESSIONS``), for sizing.
- ``close``: back-adjusted close (forward-filled the same way).
- ``open`` / ``high`` / ``low``: back-adjusted bar prices (need the ``bars`` argument).
- ``ewma:<span>``: EWMA of the back-adjusted close.
- ``price_volatility:<span>``: daily EWMA volatility of back-adjusted price changes.
- ``return_volatility:<span>``: annualised EWMA volatility of daily returns.
- ``sma:<window>``: simple moving average of the back-adjusted close.
- ``zscore:<window>``: rolling z-score of the back-adjusted close.
- ``rsi:<period>``: Wilder RSI of the back-adjusted close, 0..100.
- ``channel_high:<window>`` / ``channel_low:<window>``: highest / lowest back-adjusted
  close of the ``window`` sessions before the date (Donchian channel on closes).
- ``momentum:<lookback>``: return over ``lookback`` sessions.
- ``candle:<PATTERN>``: TA-Lib candlestick pattern (e.g. ``candle:CDLENGULFING``) in
  {-1, 0, 1}; needs the ``bars`` argument.

**History a feature reads** (:func:`feature_history`): a rolling feature's value on a date
depends on a bounded number of earlier sessions, so :func:`compute_features` can compute it
for the last ``rows`` sessions from a trailing slice and get the full-history value. The
recursive ones (``ewma``, ``*_volatility``, ``rsi``: exponential filters) and candlestick
patterns depend on all history: they are walked over the whole input by the Numba kernels
of :mod:`macroquant.features.kernels` (same recursion as pandas), keeping only the last
``rows`` sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from macroquant.features import indicators, kernels

# Holidays differ across markets (ECB vs NYSE): carry a price over a few missing sessions.
MAX_FILL_SESSIONS = 5

_PARAMETRISED: dict[str, Callable[[pd.DataFrame, int], pd.DataFrame]] = {
    "ewma": indicators.ewma,
    "sma": indicators.sma,
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
# Rolling features computed by a kernel (the others by their pandas indicator).
_KERNELS: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "sma": kernels.rolling_mean,
    "zscore": kernels.rolling_zscore,
    "channel_high": lambda values, window, keep: kernels.channel_extreme(values, window, keep,
                                                                         highest=True),
    "channel_low": lambda values, window, keep: kernels.channel_extreme(values, window, keep,
                                                                        highest=False),
}
# Exponential filters: the value on a date depends on the whole history.
RECURSIVE = frozenset({"ewma", "price_volatility", "return_volatility", "rsi"})


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


def feature_history(name: str) -> int | None:
    """Sessions before a date whose (forward-filled) input the feature's value on that date
    reads, or ``None`` when it depends on all history (recursive filters, candlesticks)."""
    kind, parameter = parse_feature(name)
    if kind in RECURSIVE or kind == CANDLE:
        return None
    if kind in _PLAIN:
        return 0
    assert isinstance(parameter, int)
    return parameter - 1 if kind in ("sma", "zscore") else parameter


def _filled(panel: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The last ``rows`` sessions of ``panel`` forward-filled as over the whole panel."""
    return panel.iloc[-(rows + MAX_FILL_SESSIONS):].ffill(limit=MAX_FILL_SESSIONS).iloc[-rows:]


def _recursive(kind: str, parameter: int, values: np.ndarray, keep: int) -> np.ndarray:
    """A recursive feature's last ``keep`` rows from the whole (filled) history."""
    if kind == "ewma":
        return kernels.ewm_mean(values, 2.0 / (parameter + 1.0), parameter, keep)
    previous = np.full_like(values, np.nan)  # keeps the column-major layout
    previous[1:] = values[:-1]
    if kind == "rsi":
        changes = values - previous
        smooth = (1.0 / parameter, parameter, keep)
        gains = kernels.ewm_mean(np.maximum(changes, 0.0), *smooth)
        losses = kernels.ewm_mean(np.maximum(-changes, 0.0), *smooth)
        total = gains + losses
        with np.errstate(invalid="ignore", divide="ignore"):
            level = 100.0 * gains / total
        return np.asfortranarray(np.where(total > 0, level,
                                          np.where(np.isnan(total), np.nan, 50.0)))
    changes = values - previous if kind == "price_volatility" else values / previous - 1.0
    variance = kernels.ewm_mean(changes * changes, 2.0 / (parameter + 1.0), parameter, keep)
    scale = np.sqrt(indicators.TRADING_DAYS_PER_YEAR) if kind == "return_volatility" else 1.0
    return np.sqrt(variance) * scale


def compute_features(
    names: set[str],
    raw_close: pd.DataFrame,
    adjusted_close: pd.DataFrame,
    bars: Mapping[str, pd.DataFrame] | None = None,
    rows: int | None = None,
) -> dict[str, pd.DataFrame]:
    """Compute each named feature over the wide panels (sessions × instruments).

    ``bars`` maps ``open``/``high``/``low`` to back-adjusted panels shaped like
    ``adjusted_close``; it is required only by bar and candlestick features. With ``rows``,
    only the last ``rows`` sessions are returned, equal to the full computation's (a
    rolling feature reads only its trailing slice; a recursive one walks all history).
    """
    if needs_bars(names) and (bars is None or not set(BAR_FIELDS) <= set(bars)):
        wanted = sorted(n for n in names if parse_feature(n)[0] in (*BAR_FIELDS, CANDLE))
        raise ValueError(f"features {wanted} need open/high/low bars, which were not given")
    total = len(adjusted_close.index)
    rows = total if rows is None else max(0, min(rows, total))
    kinds = {name: parse_feature(name) for name in names}
    # The forward-filled close once, over the longest span any feature reads (a slice of a
    # longer filled panel equals the filled slice: the fill reaches back MAX_FILL_SESSIONS).
    spans = [total if h is None else min(total, rows + h) for h in map(feature_history, names)]
    span_all = max(spans, default=0)
    filled = _filled(adjusted_close, span_all) if span_all else adjusted_close.iloc[:0]
    filled_values = np.asfortranarray(filled.to_numpy(dtype=np.float64))
    out: dict[str, pd.DataFrame] = {}
    for name in sorted(names):
        kind, parameter = kinds[name]
        history = feature_history(name)
        if kind == "price":
            out[name] = _filled(raw_close, rows) if rows else raw_close.iloc[:0]
        elif kind == "close":
            out[name] = filled.iloc[span_all - rows:]
        elif kind in BAR_FIELDS:
            assert bars is not None
            out[name] = bars[kind].iloc[total - rows:]
        elif kind == CANDLE:
            assert bars is not None and isinstance(parameter, str)
            out[name] = indicators.candlestick(parameter, bars["open"], bars["high"],
                                               bars["low"], adjusted_close).iloc[total - rows:]
        elif kind in RECURSIVE:
            assert isinstance(parameter, int) and span_all == total
            values = _recursive(kind, parameter, filled_values, rows)
            out[name] = pd.DataFrame(values, index=adjusted_close.index[total - rows:],
                                     columns=adjusted_close.columns, copy=False)
        else:
            assert isinstance(parameter, int) and history is not None
            span = min(total, rows + history)
            if kind in _KERNELS:
                values = _KERNELS[kind](filled_values[span_all - span:], parameter, rows)
                out[name] = pd.DataFrame(values, index=adjusted_close.index[total - rows:],
                                         columns=adjusted_close.columns, copy=False)
            else:
                source = filled.iloc[span_all - span:]
                out[name] = _PARAMETRISED[kind](source, parameter).iloc[span - rows:]
    return out
