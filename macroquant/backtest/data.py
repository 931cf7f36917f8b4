"""Price panels for a backtest, from a bars CSV file, the database or a bars frame.

A backtest trades **back-adjusted prices** (splits and dividends), so a position's value
is its total return: ``factor = adj_close / close`` (1 where a bar has no ``adj_close``),
``open``, ``close`` are multiplied by it and ``volume`` divided by it (shares in adjusted
units, for the participation cap). The raw close is kept for the ``price`` feature.
Rows are the dates the data has (the union over instruments), ascending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from macroquant.db.bulk import read_frame
from macroquant.errors import MissingInputError
from macroquant.sources.csv_files.client import read_bars_file


@dataclass(frozen=True)
class MarketPanels:
    """Wide panels (dates × symbols) of back-adjusted open/close, adjusted volume and the
    raw close."""

    open: pd.DataFrame
    close: pd.DataFrame
    volume: pd.DataFrame
    raw_close: pd.DataFrame

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.close.index)

    def until(self, end: pd.Timestamp) -> MarketPanels:
        """The panels cut after ``end`` (what was known at ``end``'s close)."""
        return MarketPanels(*(frame.loc[:end] for frame in
                              (self.open, self.close, self.volume, self.raw_close)))


def panels_from_bars(bars: pd.DataFrame, symbols: list[str] | None = None) -> MarketPanels:
    """Panels from long bars (``symbol, trade_date, open, close, adj_close, volume``;
    ``date`` is accepted for ``trade_date``). ``symbols`` picks and orders the columns;
    a symbol without any bar is a :class:`MissingInputError`."""
    frame = bars.rename(columns={"date": "trade_date"})
    if symbols is not None:
        missing = sorted(set(symbols) - set(frame["symbol"]))
        if missing:
            raise MissingInputError(f"no price history for {', '.join(missing)}")
        frame = frame[frame["symbol"].isin(symbols)]
    if frame.empty:
        raise MissingInputError("no price history to backtest")
    frame = frame.assign(trade_date=pd.to_datetime(frame["trade_date"]))
    duplicated = frame.duplicated(["symbol", "trade_date"])
    if duplicated.any():
        first = frame.loc[duplicated].iloc[0]
        raise MissingInputError(f"two bars for {first['symbol']} on "
                                f"{first['trade_date'].date()}")
    close = frame["close"].astype(float)
    adjusted = frame["adj_close"].astype(float)
    factor = (adjusted / close).where(adjusted.notna() & (close > 0), 1.0)
    frame = frame.assign(adj_open=frame["open"].astype(float) * factor,
                         adj_close_=close * factor,
                         adj_volume=frame["volume"].astype(float) / factor)

    def wide(column: str) -> pd.DataFrame:
        panel = frame.pivot(index="trade_date", columns="symbol", values=column).astype(float)
        panel = panel.sort_index()
        panel.index.name, panel.columns.name = "date", None
        return panel if symbols is None else panel.reindex(columns=symbols)

    return MarketPanels(open=wide("adj_open"), close=wide("adj_close_"),
                        volume=wide("adj_volume"), raw_close=wide("close"))


def read_prices_csv(path: Path, symbols: list[str]) -> MarketPanels:
    """Panels of ``symbols`` from a bars CSV (``symbol,date,open,high,low,close,volume
    [,adj_close]``, the ``macroquant ingest csv`` format; its errors name line and column)."""
    return panels_from_bars(read_bars_file(Path(path)), symbols)


def read_market_data(conn: psycopg.Connection, symbols: list[str], end: date | None) -> MarketPanels:
    """Panels of ``symbols`` from ``market_data`` (all history up to ``end``)."""
    bars = read_frame(conn, """SELECT i.symbol, m.trade_date, m.open, m.close, m.adj_close,
                                      m.volume
                               FROM market_data m JOIN instruments i USING (instrument_id)
                               WHERE i.symbol = ANY(%s)
                                 AND (%s::date IS NULL OR m.trade_date <= %s::date)
                               ORDER BY m.trade_date""", (symbols, end, end))
    if bars.empty:
        raise MissingInputError(f"market_data has no bars for {', '.join(symbols)}; load "
                                "history first (`macroquant ingest sample` or `ingest csv`)")
    bars = bars.astype({c: float for c in ("open", "close", "adj_close", "volume")})
    return panels_from_bars(bars, symbols)


def synthetic_panels(n_instruments: int, n_days: int, seed: int = 20240601) -> MarketPanels:
    """Geometric random walks from 100 (1 % daily volatility), open = previous close times
    a small gap; for tests and benchmarks."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0003, 0.01, size=(n_days, n_instruments))
    close = 100.0 * np.exp(np.cumsum(steps, axis=0))
    gap = np.exp(rng.normal(0.0, 0.002, size=(n_days, n_instruments)))
    opened = np.vstack([close[:1], close[:-1]]) * gap
    index = pd.bdate_range("2000-01-03", periods=n_days, name="date")
    columns = [f"S{i:05d}" for i in range(n_instruments)]
    volume = np.full((n_days, n_instruments), 1e6)
    frames = [pd.DataFrame(a, index=index, columns=columns) for a in (opened, close, volume)]
    return MarketPanels(open=frames[0], close=frames[1], volume=frames[2], raw_close=frames[1])
