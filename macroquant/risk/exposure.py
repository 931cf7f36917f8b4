"""Exposure report: gross, net and contribution to volatility by instrument, asset class
and strategy (pure), and the reader that feeds it from PostgreSQL.

Contribution to volatility is the Euler decomposition of the book's ex-ante volatility:
with notionals ``n`` and annualised covariance ``Σ``, ``sigma = sqrt(n'Σn)`` and
instrument ``i`` contributes ``n_i (Σn)_i / sigma``; contributions sum to ``sigma``. A
group (asset class) contributes the sum of its instruments; a strategy with its own
notionals ``n_s`` contributes ``n_s'Σn / sigma``. Everything is a fraction of equity.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg

from macroquant.db.bulk import read_frame
from macroquant.portfolio.construction import TRADING_DAYS

COLUMNS = ["gross", "net", "volatility_contribution"]


def exposure_report(book: pd.DataFrame, covariance: pd.DataFrame, equity: float,
                    strategy_books: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """``book``: one row per symbol with ``symbol, asset_class, notional`` (signed).
    ``covariance``: annualised, indexed by symbol (missing entries count as 0).
    ``strategy_books``: optional rows ``strategy, symbol, notional``.

    Returns frames ``instrument``, ``asset_class``, ``strategy`` (columns :data:`COLUMNS`)
    and ``total`` (one row ``portfolio``)."""
    if equity <= 0:
        raise ValueError(f"equity must be positive, got {equity}")
    symbols = book["symbol"].tolist()
    n = book["notional"].to_numpy(float)
    cov = covariance.reindex(index=symbols, columns=symbols).fillna(0.0).to_numpy()
    marginal = cov @ n
    sigma = float(np.sqrt(max(n @ marginal, 0.0)))
    contribution = n * marginal / sigma if sigma > 0 else np.zeros_like(n)
    per = pd.DataFrame({"symbol": symbols, "asset_class": book["asset_class"].to_numpy(),
                        "gross": np.abs(n) / equity, "net": n / equity,
                        "volatility_contribution": contribution / equity})
    instrument = per.set_index("symbol")[["asset_class", *COLUMNS]].sort_index()
    asset_class = per.groupby("asset_class")[COLUMNS].sum().sort_index()
    strategy = pd.DataFrame(columns=COLUMNS, dtype=float)
    if strategy_books is not None and not strategy_books.empty:
        rows = {}
        marginal_by_symbol = pd.Series(marginal, index=symbols)
        for name, group in strategy_books.groupby("strategy"):
            ns = group.groupby("symbol")["notional"].sum()
            m = marginal_by_symbol.reindex(ns.index).fillna(0.0)
            rows[name] = {"gross": float(ns.abs().sum()) / equity,
                          "net": float(ns.sum()) / equity,
                          "volatility_contribution":
                              float((ns * m).sum()) / sigma / equity if sigma > 0 else 0.0}
        strategy = pd.DataFrame.from_dict(rows, orient="index")[COLUMNS].sort_index()
    total = pd.DataFrame({"gross": [np.abs(n).sum() / equity], "net": [n.sum() / equity],
                          "volatility_contribution": [sigma / equity]}, index=["portfolio"])
    return {"instrument": instrument, "asset_class": asset_class, "strategy": strategy,
            "total": total}


def read_exposure(conn: psycopg.Connection, as_of: date, *, lookback: int = 250,
                  capital: float) -> dict[str, pd.DataFrame]:
    """The exposure report of the account's positions at the close of ``as_of`` (the last
    snapshot on or before it), with strategy books from that date's ``targets``."""
    snapshot = conn.execute("SELECT max(as_of) FROM performance WHERE scope = 'portfolio' "
                            "AND as_of <= %s", (as_of,)).fetchone()[0]
    equity = capital
    book = pd.DataFrame(columns=["symbol", "asset_class", "notional"])
    if snapshot is not None:
        equity = float(conn.execute("SELECT equity FROM performance WHERE scope = 'portfolio' "
                                    "AND as_of = %s", (snapshot,)).fetchone()[0])
        book = read_frame(conn, """SELECT i.symbol, i.asset_class, p.market_value AS notional
                                   FROM positions p JOIN instruments i USING (instrument_id)
                                   WHERE p.as_of = %s ORDER BY i.symbol""", (snapshot,))
    strategy_books = read_frame(conn, """SELECT s.name AS strategy, i.symbol,
                                                t.target_notional AS notional
                                         FROM targets t JOIN strategies s USING (strategy_id)
                                         JOIN instruments i USING (instrument_id)
                                         WHERE t.as_of = %s""", (snapshot or as_of,))
    closes = read_frame(conn, """SELECT m.trade_date, i.symbol,
                                        coalesce(m.adj_close, m.close) AS close
                                 FROM market_data m JOIN instruments i USING (instrument_id)
                                 WHERE m.trade_date BETWEEN %s AND %s""",
                        (as_of - timedelta(days=int(lookback * 1.6) + 10), as_of))
    if closes.empty:
        covariance = pd.DataFrame(dtype=float)
    else:
        wide = closes.pivot(index="trade_date", columns="symbol", values="close").astype(float)
        covariance = wide.sort_index().pct_change(fill_method=None).tail(lookback).cov(
            min_periods=20) * TRADING_DAYS
    book = book.astype({"notional": float})
    report = exposure_report(book, covariance, equity, strategy_books.astype(
        {"notional": float}) if not strategy_books.empty else None)
    report["meta"] = pd.DataFrame({"as_of": [str(as_of)], "snapshot": [str(snapshot)],
                                   "equity": [equity]})
    return report
