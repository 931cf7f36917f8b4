"""Read what attribution needs from the database and split a period's P&L (I/O side of
:mod:`macroquant.reports.attribution`).

Input tables: ``performance`` (portfolio and ``strategy:<name>`` scopes), ``positions``,
``trades``, ``instruments``, ``strategies``. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import psycopg

from macroquant.db.bulk import read_frame
from macroquant.reports.attribution import (
    attribution_table,
    group_columns,
    instrument_pnl,
    strategy_attribution,
)


@dataclass(frozen=True)
class Attribution:
    """Daily P&L splits of a period (sessions × component) and their summary tables."""

    start: date
    end: date
    portfolio_pnl: pd.Series
    by_instrument: pd.DataFrame
    by_asset_class: pd.DataFrame
    by_strategy: pd.DataFrame
    by_signal_type: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """Summary per dimension (see :func:`attribution_table`)."""
        return {"strategy": attribution_table(self.by_strategy),
                "signal_type": attribution_table(self.by_signal_type),
                "instrument": attribution_table(self.by_instrument),
                "asset_class": attribution_table(self.by_asset_class)}


def _wide(frame: pd.DataFrame, column: str, index: pd.DatetimeIndex) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(index=index, dtype=float)
    frame = frame.assign(as_of=pd.to_datetime(frame["as_of"]))
    return frame.pivot(index="as_of", columns="symbol", values=column).reindex(index)


def load_attribution(conn: psycopg.Connection, start: date, end: date) -> Attribution:
    """P&L attribution of the portfolio over the sessions ``start..end`` (inclusive)."""
    portfolio = read_frame(conn, """SELECT as_of, daily_pnl FROM performance
                                    WHERE scope = 'portfolio' AND as_of BETWEEN %s AND %s
                                    ORDER BY as_of""", (start, end))
    sessions = pd.DatetimeIndex(pd.to_datetime(portfolio["as_of"]), name="as_of")
    portfolio_pnl = pd.Series(portfolio["daily_pnl"].astype(float).to_numpy(), index=sessions)
    positions = read_frame(conn, """SELECT p.as_of, i.symbol, p.market_value
                                    FROM positions p JOIN instruments i USING (instrument_id)
                                    WHERE p.as_of BETWEEN %s AND %s""", (start, end))
    opening = read_frame(conn, """SELECT i.symbol, p.market_value FROM positions p
                                  JOIN instruments i USING (instrument_id)
                                  WHERE p.as_of = (SELECT max(as_of) FROM performance
                                                   WHERE scope = 'portfolio' AND as_of < %s)""",
                         (start,))
    trades = read_frame(conn, """SELECT t.trade_date, i.symbol, t.side, t.quantity, t.price,
                                        t.commission
                                 FROM trades t JOIN instruments i USING (instrument_id)
                                 WHERE t.trade_date BETWEEN %s AND %s""", (start, end))
    instruments = read_frame(conn, "SELECT symbol, asset_class FROM instruments")
    by_instrument = instrument_pnl(
        _wide(positions, "market_value", sessions), trades,
        opening.set_index("symbol")["market_value"].astype(float) if len(opening) else None)
    asset_classes = dict(zip(instruments["symbol"], instruments["asset_class"], strict=True))
    strategy_rows = read_frame(conn, """SELECT p.as_of, substr(p.scope, 10) AS symbol,
                                               p.daily_pnl
                                        FROM performance p WHERE p.scope LIKE 'strategy:%%'
                                        AND p.as_of BETWEEN %s AND %s""", (start, end))
    by_strategy = strategy_attribution(_wide(strategy_rows, "daily_pnl", sessions),
                                       portfolio_pnl)
    types = read_frame(conn, "SELECT name, strategy_type FROM strategies")
    signal_types = dict(zip(types["name"], types["strategy_type"], strict=True))
    signal_types[by_strategy.columns[-1]] = by_strategy.columns[-1]
    return Attribution(start=start, end=end, portfolio_pnl=portfolio_pnl,
                       by_instrument=by_instrument,
                       by_asset_class=group_columns(by_instrument, asset_classes),
                       by_strategy=by_strategy,
                       by_signal_type=group_columns(by_strategy, signal_types))
