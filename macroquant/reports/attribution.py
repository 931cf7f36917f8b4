"""P&L and risk attribution (pure): by instrument, asset class, strategy and signal type.

Conventions (docs/attribution.md):

- **Instrument P&L** is exact accounting of the paper (or live) book. On session t,
  ``pnl_i(t) = MV_i(t) − MV_i(t−1) + sells_i(t) − buys_i(t) − commission_i(t)`` where MV is
  the end-of-day market value from ``positions`` (0 when flat) and buys/sells are the fill
  notionals of ``trades`` on t. Summed over instruments it equals the change in equity
  (cash + market value), so the parts add up to the portfolio's daily P&L.
- **Strategy P&L** is each strategy's notional book (its own targets held close to close,
  before netting and costs, ``performance`` scope ``strategy:<name>``). What the strategies
  do not explain — netting between strategies, execution at the next open, slippage and
  commission — is reported as its own line, ``execution_and_netting``, so the parts still
  add up to the portfolio.
- **Risk contribution** is the Euler split of the realised volatility of the total daily
  P&L: ``c_k = cov(pnl_k, pnl_total) / std(pnl_total)``. The contributions add up to the
  total's volatility; a negative one is a diversifier. Figures are annualised with √252.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

PERIODS_PER_YEAR = 252
RESIDUAL = "execution_and_netting"


def instrument_pnl(
    market_values: pd.DataFrame, trades: pd.DataFrame, opening_values: pd.Series | None = None
) -> pd.DataFrame:
    """Daily P&L per instrument (sessions × symbol).

    ``market_values``: end-of-day market value, sessions (index) × symbol, NaN/absent = flat.
    ``trades``: rows with ``trade_date, symbol, side ('buy'|'sell'), quantity, price,
    commission``. ``opening_values``: market value per symbol on the session before the
    first row (default: flat).
    """
    sessions = pd.DatetimeIndex(market_values.index)
    symbols = sorted(set(market_values.columns) | set(trades.get("symbol", pd.Series()).unique()))
    values = market_values.reindex(columns=symbols).fillna(0.0).astype(float)
    before = (pd.Series(0.0, index=symbols) if opening_values is None
              else opening_values.reindex(symbols).fillna(0.0).astype(float))
    change = values.diff()
    if values.empty:
        return change
    change.iloc[0] = values.iloc[0] - before
    if trades.empty:
        return change
    fills = trades.assign(trade_date=pd.to_datetime(trades["trade_date"]))
    sign = np.where(fills["side"] == "buy", -1.0, 1.0)
    cash = fills.assign(cash=sign * fills["quantity"] * fills["price"] - fills["commission"])
    outside = ~cash["trade_date"].isin(sessions)
    if outside.any():
        first = cash.loc[outside, "trade_date"].min().date()
        raise ValueError(f"trades dated {first} fall outside the sessions of the positions")
    flows = cash.pivot_table(index="trade_date", columns="symbol", values="cash",
                             aggfunc="sum").reindex(index=sessions, columns=symbols)
    return change + flows.fillna(0.0)


def group_columns(pnl: pd.DataFrame, groups: Mapping[str, str], unknown: str = "unknown"
                  ) -> pd.DataFrame:
    """Sum the columns of ``pnl`` by ``groups`` (column → group, e.g. symbol → asset class)."""
    labels = [groups.get(column, unknown) for column in pnl.columns]
    return pnl.T.groupby(labels).sum().T


def strategy_attribution(strategy_pnl: pd.DataFrame, portfolio_pnl: pd.Series) -> pd.DataFrame:
    """Per-strategy daily P&L plus the ``execution_and_netting`` residual, so that each row
    sums to the portfolio's P&L."""
    aligned = strategy_pnl.reindex(portfolio_pnl.index).fillna(0.0)
    residual = portfolio_pnl - aligned.sum(axis=1)
    return aligned.assign(**{RESIDUAL: residual})


def risk_contribution(components: pd.DataFrame) -> pd.DataFrame:
    """Euler split of the realised volatility of ``components.sum(axis=1)``.

    Returns per component: ``pnl`` (sum over the period), ``volatility_contribution``
    (annualised, same units as the P&L) and ``share`` of the total's volatility. With
    fewer than two sessions, or a flat total, contributions are 0.
    """
    frame = components.fillna(0.0).astype(float)
    total = frame.sum(axis=1)
    result = pd.DataFrame({"pnl": frame.sum(axis=0)})
    if len(frame) < 2 or float(total.std(ddof=1)) == 0.0:
        result["volatility_contribution"] = 0.0
        result["share"] = 0.0
        return result
    deviations = frame - frame.mean(axis=0)
    total_dev = total - total.mean()
    covariance = deviations.mul(total_dev, axis=0).sum(axis=0) / (len(frame) - 1)
    total_std = float(total.std(ddof=1))
    contribution = covariance / total_std * np.sqrt(PERIODS_PER_YEAR)
    result["volatility_contribution"] = contribution
    result["share"] = contribution / (total_std * np.sqrt(PERIODS_PER_YEAR))
    return result


def attribution_table(daily: pd.DataFrame) -> pd.DataFrame:
    """The period summary of a daily P&L split: P&L, its share of the gross P&L (the sum of
    the parts' absolute P&L, so winners are positive and losers negative; the ``total``
    row's share is net over gross), volatility contribution and share, sorted by P&L, with
    a ``total`` row."""
    contributions = risk_contribution(daily)
    total_pnl = float(daily.fillna(0.0).to_numpy().sum())
    # share of the gross P&L: a winner's share is positive and a loser's negative whatever
    # the sign of the total (a share of a net loss would turn winners negative)
    gross_pnl = float(contributions["pnl"].abs().sum())
    table = contributions.assign(
        pnl_share=contributions["pnl"] / gross_pnl if gross_pnl else np.nan)
    table = table[["pnl", "pnl_share", "volatility_contribution", "share"]]
    table = table.rename(columns={"share": "volatility_share"}).sort_values(
        "pnl", ascending=False)
    totals = pd.DataFrame({"pnl": [total_pnl],
                           "pnl_share": [total_pnl / gross_pnl if gross_pnl else np.nan],
                           "volatility_contribution": [table["volatility_contribution"].sum()],
                           "volatility_share": [table["volatility_share"].sum()]},
                          index=["total"])
    return pd.concat([table, totals])
