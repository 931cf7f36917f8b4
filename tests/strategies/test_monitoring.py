"""Rolling Sharpe / drawdown against YAML bounds; breaches logged to system_logs."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import psycopg
import pytest

from macroquant.strategies.loader import MonitoringConfig, load_strategy_file
from macroquant.strategies.monitoring import (
    breaches,
    monitor,
    rolling_statistics,
    store_backtest_performance,
)

YAML = """name: watched
type: mean_reversion
rule: zscore
universe: [SPX]
weight: 0.5
monitoring: {window: 5, min_rolling_sharpe: -1.0, max_drawdown: 0.1}
"""


def test_rolling_statistics_by_hand():
    returns = pd.Series([0.01, -0.02, 0.03, -0.01, 0.02, -0.05])
    stats = rolling_statistics(returns, 5)
    window = np.array([0.01, -0.02, 0.03, -0.01, 0.02])
    assert stats["rolling_sharpe"].iloc[:4].isna().all()
    assert stats["rolling_sharpe"].iloc[4] == pytest.approx(
        window.mean() / window.std(ddof=1) * np.sqrt(252))
    equity = np.cumprod(1 + returns.to_numpy())
    assert stats["drawdown"].iloc[-1] == pytest.approx(equity[-1] / equity[:-1].max() - 1)
    assert stats["drawdown"].iloc[0] == 0.0


def test_breaches_name_the_bound():
    bounds = MonitoringConfig(window=63, min_rolling_sharpe=-1.0, max_drawdown=0.2)
    assert breaches(-0.5, -0.1, bounds) == []
    assert breaches(-1.5, -0.25, bounds) == [
        "rolling Sharpe -1.50 < -1.00 over 63 sessions", "drawdown 25.0% > 20.0%"]


def test_monitor_stores_statistics_and_logs_breaches(db_url, tmp_path):
    path = tmp_path / "watched.yaml"
    path.write_text(YAML)
    loaded = load_strategy_file(path)
    days = pd.bdate_range("2020-01-01", periods=8)
    returns = [0.0, 0.01, -0.03, -0.04, -0.02, -0.03, 0.005, -0.01]
    with psycopg.connect(db_url, autocommit=False) as conn:
        strategy_id = conn.execute(
            """INSERT INTO strategies (name, strategy_type, config, config_hash, source_file)
               VALUES ('watched', 'mean_reversion', '{}', 'x', 'f') RETURNING strategy_id"""
        ).fetchone()[0]
        equity = 100 * np.cumprod(1 + np.array(returns))
        for d, r, e in zip(days, returns, equity, strict=True):
            conn.execute("""INSERT INTO performance (as_of, scope, equity, daily_pnl,
                            daily_return, drawdown, gross_exposure, net_exposure)
                            VALUES (%s, 'strategy:watched', %s, 0, %s, 0, 0, 0)""",
                         (d.date(), float(e), r))
        result = monitor(conn, [loaded], {"watched": strategy_id}, date(2020, 1, 7), "r1")
        store_backtest_performance(conn, "bt1", strategy_id, pd.Series(equity, index=days))
        backtest = monitor(conn, [loaded], {"watched": strategy_id}, days[-1].date(), "r1",
                           source="backtest", source_ref="bt1")
        logs = conn.execute("SELECT level, message, run_id FROM system_logs").fetchall()
        stored = conn.execute("""SELECT source, drawdown, breaches FROM strategy_monitoring
                                 ORDER BY source""").fetchall()
    # by 2020-01-07 (5th session): equity 1, 1.01, .9797, .9405, .9217 -> dd -8.74%
    # (inside 10%); the Sharpe of the 5 returns is far below -1
    assert len(result[0][1]) == 1 and result[0][1][0].startswith("rolling Sharpe")
    assert stored[1][0] == "paper" and stored[1][1] == pytest.approx(0.97 * 0.96 * 0.98 - 1,
                                                                     rel=1e-6)
    # the full curve ends .8895: 11.9% below its 1.01 peak: both bounds are breached
    assert [b.split(" ")[0] for b in backtest[0][1]] == ["rolling", "drawdown"]
    assert stored[0][0] == "backtest" and len(stored[0][2]) == 2
    assert len(logs) == 3 and all(level == "WARNING" and run_id == "r1"
                                  for level, _, run_id in logs)
    assert "strategy watched (paper) left its bounds on 2020-01-07" in logs[0][1]


def test_monitor_window_alerts_when_a_bound_is_left_and_not_again_on_rerun(db_url, tmp_path):
    from macroquant.strategies.monitoring import monitor_window

    path = tmp_path / "watched.yaml"
    path.write_text(YAML.replace("min_rolling_sharpe: -1.0, ", ""))  # drawdown bound only
    loaded = load_strategy_file(path)
    days = pd.bdate_range("2020-01-01", periods=8)
    # equity 100, 95, 89.3 (dd -10.7%: leaves), 98.2 (dd -1.8%: back), 98.2,
    # 88.4 (dd -11.6%: leaves again), 87.5 (still out), 100 (back)
    returns = [0.0, -0.05, -0.06, 0.1, 0.0, -0.1, -0.01, 0.142857]
    with psycopg.connect(db_url, autocommit=False) as conn:
        strategy_id = conn.execute(
            """INSERT INTO strategies (name, strategy_type, config, config_hash, source_file)
               VALUES ('watched', 'mean_reversion', '{}', 'x', 'f') RETURNING strategy_id"""
        ).fetchone()[0]
        for d, r in zip(days, returns, strict=True):
            conn.execute("""INSERT INTO performance (as_of, scope, equity, daily_pnl,
                            daily_return, drawdown, gross_exposure, net_exposure)
                            VALUES (%s, 'strategy:watched', 1, 0, %s, 0, 0, 0)""",
                        (d.date(), r))
        sessions = [d.date() for d in days]
        assert monitor_window(conn, [loaded], {"watched": strategy_id}, sessions, "w1") == 2
        logged = [r[0] for r in conn.execute(
            "SELECT message FROM system_logs WHERE level = 'WARNING' ORDER BY log_id")]
        assert logged == ["strategy watched (paper) left its bounds on 2020-01-03: "
                          "drawdown 10.7% > 10.0%",
                          "strategy watched (paper) left its bounds on 2020-01-08: "
                          "drawdown 11.6% > 10.0%"]
        rows = conn.execute("""SELECT cardinality(breaches) FROM strategy_monitoring
                               ORDER BY as_of""").fetchall()
        assert [r[0] for r in rows] == [0, 0, 1, 0, 0, 1, 1, 0]
        # a rerun of the window, and of its second half alone, alerts nothing new
        assert monitor_window(conn, [loaded], {"watched": strategy_id}, sessions, "w2") == 0
        assert monitor_window(conn, [loaded], {"watched": strategy_id}, sessions[4:], "w3") == 0
        assert conn.execute("SELECT count(*) FROM system_logs").fetchone()[0] == 2
