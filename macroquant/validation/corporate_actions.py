"""Raw and adjusted bars from ``market_data`` (raw, as traded) and ``corporate_actions``.

``market_data`` keeps the prices as they traded; adjustments are computed on read, so a
split or dividend recorded later re-adjusts the whole history without rewriting bars.

Back-adjustment (the latest prices are unchanged): the multiplier of a bar dated ``d`` is
the product, over the symbol's actions with ``ex_date > d``, of

- ``1 / ratio`` for a split (ratio = new/old shares; 2 for a 2:1 split);
- ``1 - D / C`` for a cash dividend ``D`` (``kind='total_return'`` only), where ``C`` is the
  raw close of the last bar before the ex-date.

Prices are multiplied, volume divided, by the split part (dividends do not change volume).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd
import psycopg

from macroquant.db.bulk import read_frame

PRICE_COLUMNS = ("open", "high", "low", "close")


def adjustment_factors(trade_dates: pd.Series, closes: pd.Series, actions: pd.DataFrame,
                       kind: Literal["split", "total_return"] = "split"
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per bar of ONE symbol (dates ascending): (price multiplier, split-only multiplier).

    ``actions``: ``ex_date`` (datetime64), ``action`` ('split'|'dividend'), ``value``.
    """
    dates = pd.to_datetime(trade_dates).to_numpy()
    raw_close = closes.to_numpy(dtype=float)
    step_price = np.ones(len(dates))
    step_split = np.ones(len(dates))
    for action in actions.itertuples():
        # bars before the ex-date are those at positions < first
        first = int(np.searchsorted(dates, np.datetime64(action.ex_date), side="left"))
        if first == 0:
            continue
        if action.action == "split":
            multiplier = 1.0 / float(action.value)
            step_split[first - 1] *= multiplier
        elif kind == "total_return":
            multiplier = 1.0 - float(action.value) / raw_close[first - 1]
        else:
            continue
        step_price[first - 1] *= multiplier
    # multiplier of bar i = product of steps at positions >= i (actions after its date)
    return (np.cumprod(step_price[::-1])[::-1], np.cumprod(step_split[::-1])[::-1])


def adjusted_bars(conn: psycopg.Connection, symbols: Sequence[str], start: date, end: date,
                  kind: Literal["split", "total_return"] = "split") -> pd.DataFrame:
    """Bars of ``symbols`` dated ``start..end``: the raw columns and ``adj_open``,
    ``adj_high``, ``adj_low``, ``adj_close``, ``adj_volume`` and ``factor``.

    Factors use every action after each bar (also after ``end``), so the series is
    back-adjusted to the latest stored action."""
    if kind not in ("split", "total_return"):
        raise ValueError(f"kind must be 'split' or 'total_return', got {kind!r}")
    bars = read_frame(conn, """SELECT i.symbol, m.trade_date, m.open, m.high, m.low, m.close,
                                      m.volume
                               FROM market_data m JOIN instruments i USING (instrument_id)
                               WHERE i.symbol = ANY(%s) ORDER BY i.symbol, m.trade_date""",
                      (list(symbols),))
    actions = read_frame(conn, """SELECT symbol, ex_date, action, value FROM corporate_actions
                                  WHERE symbol = ANY(%s) ORDER BY ex_date""", (list(symbols),))
    bars["trade_date"] = pd.to_datetime(bars["trade_date"])
    actions["ex_date"] = pd.to_datetime(actions["ex_date"])
    for column in (*PRICE_COLUMNS, "volume"):
        bars[column] = bars[column].astype(float)
    frames = []
    for symbol, group in bars.groupby("symbol", sort=True):
        price, split = adjustment_factors(group["trade_date"], group["close"],
                                          actions[actions["symbol"] == symbol], kind)
        group = group.assign(factor=price)
        for column in PRICE_COLUMNS:
            group[f"adj_{column}"] = group[column] * price
        group["adj_volume"] = group["volume"] / split
        frames.append(group)
    if not frames:
        return bars.assign(factor=np.nan)
    out = pd.concat(frames, ignore_index=True)
    keep = (out["trade_date"] >= pd.Timestamp(start)) & (out["trade_date"] <= pd.Timestamp(end))
    return out.loc[keep].reset_index(drop=True)
