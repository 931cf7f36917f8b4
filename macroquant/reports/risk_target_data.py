"""The volatility budget of the paper account over a window, from the stored tables (the
pure calculation is :mod:`macroquant.reports.risk_target`)."""

from __future__ import annotations

from datetime import date

import psycopg

from macroquant.config.settings import TradingConfig
from macroquant.db.bulk import read_frame
from macroquant.reports.risk_target import VolatilityBudget, volatility_budget


def stored_volatility_budget(conn: psycopg.Connection, trading: TradingConfig, start: date,
                             end: date) -> VolatilityBudget:
    """The volatility budget of the paper account over ``start``..``end`` from the stored
    ``portfolio_diagnostics``, ``performance``, ``risk_events`` and ``signals``
    (:func:`macroquant.reports.risk_target.volatility_budget`)."""
    window = (start, end)
    diagnostics = read_frame(conn, """SELECT as_of, predicted_volatility, volatility_scale
                                      FROM portfolio_diagnostics
                                      WHERE as_of BETWEEN %s AND %s""", window)
    returns = read_frame(conn, """SELECT daily_return FROM performance
                                  WHERE scope = 'portfolio' AND as_of BETWEEN %s AND %s
                                  ORDER BY as_of""", window)
    events = read_frame(conn, """SELECT as_of, check_name, outcome FROM risk_events
                                 WHERE as_of BETWEEN %s AND %s""", window)
    strengths = read_frame(conn, """SELECT strength FROM signals
                                    WHERE as_of BETWEEN %s AND %s""", window)
    return volatility_budget(
        target=trading.portfolio.annual_volatility_target,
        max_portfolio_scale=trading.portfolio.max_portfolio_scale, diagnostics=diagnostics,
        daily_returns=returns["daily_return"], risk_events=events,
        strengths=strengths["strength"])
