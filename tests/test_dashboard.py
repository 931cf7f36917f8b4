"""The dashboard's queries (macroquant.reports.dashboard_data) and the Streamlit app itself.

Every expected number below is worked out by hand from the seeded rows, not recomputed
with the code under test. The app is driven headlessly with Streamlit's AppTest.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from psycopg.types.json import Jsonb
from streamlit.testing.v1 import AppTest

from macroquant.reports import dashboard_data as dd

APP = Path(__file__).resolve().parents[1] / "streamlit_app" / "app.py"
D1, D2, D3, D4 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)
SQRT_252 = math.sqrt(252)

# Sharpe by hand: trend returns 0.01, -0.005, 0.02, 0.0 -> mean 0.025/4; deviations
# 0.00375, -0.01125, 0.01375, -0.00625 -> squares sum 3.6875e-4 -> sample variance /3.
TREND_SHARPE = (0.025 / 4) / math.sqrt(3.6875e-4 / 3) * SQRT_252
# carry returns -0.01, 0.02, -0.03, 0.01 -> mean -0.0025; deviations -0.0075, 0.0225,
# -0.0275, 0.0125 -> squares sum 1.475e-3.
CARRY_SHARPE = (-0.01 / 4) / math.sqrt(1.475e-3 / 3) * SQRT_252

# (as_of, scope, equity, daily_pnl, daily_return, drawdown)
PERFORMANCE = [
    (D1, "portfolio", 1_000_000.0, 0.0, 0.0, 0.0),
    (D2, "portfolio", 1_010_000.0, 10_000.0, 0.01, 0.0),
    (D3, "portfolio", 999_900.0, -10_100.0, -0.01, -0.01),
    (D4, "portfolio", 1_003_899.6, 3_999.6, 0.004, -0.00604),
    (D1, "strategy:trend", 101_000.0, 1_000.0, 0.01, 0.0),
    (D2, "strategy:trend", 100_495.0, -505.0, -0.005, -0.005),
    (D3, "strategy:trend", 102_504.9, 2_009.9, 0.02, 0.0),
    (D4, "strategy:trend", 102_504.9, 0.0, 0.0, 0.0),
    (D1, "strategy:carry", 99_000.0, -1_000.0, -0.01, -0.01),
    (D2, "strategy:carry", 100_980.0, 1_980.0, 0.02, 0.0),
    (D3, "strategy:carry", 97_950.6, -3_029.4, -0.03, -0.03),
    (D4, "strategy:carry", 98_930.106, 979.506, 0.01, -0.0203),
]
# (as_of, instrument_id, quantity, average_cost, last_price, market_value, unrealized_pnl)
POSITIONS = [
    (D3, 1, 10.0, 4700.0, 4690.0, 46_900.0, -100.0),
    (D3, 4, 100.0, 14.0, 15.0, 1_500.0, 100.0),  # VIX: closed by D4, must not show
    (D4, 1, 10.0, 4700.0, 4750.0, 47_500.0, 500.0),
    (D4, 2, -100_000.0, 1.10, 1.09, -109_000.0, 1_000.0),
    (D4, 3, 500.0, 73.0, 72.0, 36_000.0, -500.0),
]


def _seed(url: str) -> None:
    """Small, known rows in every table the dashboard reads."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("INSERT INTO data_sources (source_id, kind, adapter) VALUES (%s, %s, %s)",
                     ("sample", "market_data", "sample"))
        for iid, symbol, asset_class in [(1, "SPX", "equity_index"), (2, "EURUSD", "fx"),
                                         (3, "WTI", "commodity"), (4, "VIX", "volatility")]:
            conn.execute(
                """INSERT INTO instruments (instrument_id, symbol, name, asset_class, currency,
                                            source_id, vendor_symbol)
                   VALUES (%s, %s, %s, %s, 'USD', 'sample', %s)""",
                (iid, symbol, f"{symbol} name", asset_class, symbol))
        for sid, name in [(1, "trend"), (2, "carry")]:
            conn.execute(
                """INSERT INTO strategies (strategy_id, name, strategy_type, config, config_hash,
                                           source_file) VALUES (%s, %s, %s, %s, %s, %s)""",
                (sid, name, name, Jsonb({}), "h", f"include/strategies/{name}.yaml"))
        conn.cursor().executemany(
            """INSERT INTO performance (as_of, scope, equity, daily_pnl, daily_return, drawdown,
                                        gross_exposure, net_exposure)
               VALUES (%s, %s, %s, %s, %s, %s, 0, 0)""", PERFORMANCE)
        conn.cursor().executemany(
            """INSERT INTO positions (as_of, instrument_id, quantity, average_cost, last_price,
                                      market_value, unrealized_pnl)
               VALUES (%s, %s, %s, %s, %s, %s, %s)""", POSITIONS)
        conn.cursor().executemany(
            """INSERT INTO signals (as_of, strategy_id, instrument_id, strength, direction,
                                    confidence) VALUES (%s, %s, %s, %s, %s, %s)""",
            [(D3, 1, 1, 0.5, 1, 0.6), (D4, 1, 1, 0.7, 1, 0.8), (D4, 1, 2, -0.2, -1, 0.5),
             (D3, 2, 2, 0.3, 1, 0.9)])
        conn.cursor().executemany(
            """INSERT INTO orders (client_order_id, as_of, instrument_id, side, quantity, broker,
                                   status, status_date, filled_quantity, average_fill_price)
               VALUES (%s, %s, %s, %s, %s, 'paper', %s, %s, %s, %s)""",
            [("o-1", D1, 1, "buy", 10.0, "filled", D2, 10.0, 4700.0),
             ("o-2", D2, 2, "sell", 100_000.0, "filled", D3, 100_000.0, 1.10),
             ("o-3", D3, 3, "buy", 500.0, "filled", D4, 500.0, 73.0),
             ("o-4", D4, 1, "sell", 5.0, "submitted", D4, 0.0, None)])
        conn.cursor().executemany(
            """INSERT INTO trades (trade_id, client_order_id, trade_date, instrument_id, side,
                                   quantity, price, reference_price, price_field, commission,
                                   slippage_cost)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s)""",
            [("t-1a", "o-1", D2, 1, "buy", 6.0, 4695.0, 4694.0, 1.0, 0.6),
             ("t-1b", "o-1", D2, 1, "buy", 4.0, 4707.5, 4706.5, 1.5, 0.4),
             ("t-2", "o-2", D3, 2, "sell", 100_000.0, 1.10, 1.1001, 11.0, 5.0),
             ("t-3", "o-3", D4, 3, "buy", 500.0, 73.0, 72.99, 3.65, 1.0)])
        conn.cursor().executemany(
            """INSERT INTO pipeline_runs (run_id, stage, window_start, window_end, status,
                                          started_at, finished_at, message)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
            [("r1", "ingest", D3, D3, "success", _at(3, 22, 0), _at(3, 22, 1), ""),
             ("r1", "validate", D3, D3, "success", _at(3, 22, 1), _at(3, 22, 2), ""),
             ("r2", "ingest", D4, D4, "success", _at(4, 22, 0), _at(4, 22, 1), ""),
             ("r2", "validate", D4, D4, "failed", _at(4, 22, 1), _at(4, 22, 3),
              "DataQualityError: 2 rows quarantined")])
        conn.cursor().executemany(
            """INSERT INTO quarantine (source_id, as_of, row_number, check_name, symbol,
                                       trade_date, reason, raw_row)
               VALUES ('sample', %s, %s, %s, %s, %s, %s, '{}')""",
            [(D4, 3, "ohlc_consistency", "SPX", D4, "high below close"),
             (D4, 4, "ohlc_consistency", "WTI", D4, "low above open"),
             (D4, 4, "non_positive", "WTI", D4, "non-positive price"),
             (D3, 1, "duplicates", "EURUSD", D3, "2 rows for EURUSD on 2024-01-04")])
        conn.cursor().executemany(
            """INSERT INTO divergence (as_of, broker, cause, amount, orders)
               VALUES (%s, %s, %s, %s, %s)""",
            [(D2, "paper", "fill_price", 0.0, 1), (D3, "paper", "fill_price", 0.0, 1),
             (D2, "alpaca", "fill_price", 12.5, 2), (D3, "alpaca", "costs", 1.75, 2),
             (D3, "alpaca", "missed", -4.25, 1)])


def _at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2024, 1, 1 + day, hour, minute, tzinfo=UTC)


@pytest.fixture
def seeded_url(db_url: str) -> str:
    _seed(db_url)
    return db_url


@pytest.fixture
def conn(seeded_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(seeded_url, autocommit=True) as connection:
        yield connection


# ---------------------------------------------------------------- queries
def test_portfolio_performance_is_the_portfolio_series_in_date_order(conn):
    perf = dd.portfolio_performance(conn)
    assert list(perf["as_of"]) == list(pd.to_datetime([D1, D2, D3, D4]))
    assert list(perf["equity"]) == [1_000_000.0, 1_010_000.0, 999_900.0, 1_003_899.6]
    assert list(perf["drawdown"]) == [0.0, 0.0, -0.01, -0.00604]
    assert perf["cash"].isna().all()


def test_latest_positions_take_the_last_snapshot_with_instrument_details(conn):
    positions = dd.latest_positions(conn)
    assert list(positions["symbol"]) == ["EURUSD", "SPX", "WTI"]  # by |market value|
    assert list(positions["asset_class"]) == ["fx", "equity_index", "commodity"]
    assert list(positions["market_value"]) == [-109_000.0, 47_500.0, 36_000.0]
    assert set(positions["as_of"]) == {pd.Timestamp(D4)}


def test_latest_positions_are_empty_when_the_portfolio_went_flat(conn):
    conn.execute("DELETE FROM positions WHERE as_of = %s", (D4,))
    assert dd.latest_positions(conn).empty  # performance exists on D4: flat, not stale


def test_exposure_by_asset_class_nets_and_grosses_market_value(conn):
    exposure = dd.exposure_by_asset_class(dd.latest_positions(conn)).set_index("asset_class")
    assert exposure.loc["fx", "net"] == -109_000.0
    assert exposure.loc["fx", "gross"] == 109_000.0
    assert exposure.loc["equity_index", "net"] == 47_500.0
    assert exposure["gross"].sum() == 192_500.0
    assert exposure["net"].sum() == -25_500.0


def test_latest_signals_keep_the_latest_date_per_strategy_and_instrument(conn):
    signals = dd.latest_signals(conn)
    rows = {(r.strategy, r.symbol): (r.as_of.date(), r.strength, r.direction)
            for r in signals.itertuples()}
    assert rows == {("trend", "SPX"): (D4, 0.7, 1), ("trend", "EURUSD"): (D4, -0.2, -1),
                    ("carry", "EURUSD"): (D3, 0.3, 1)}


def test_recent_orders_are_newest_first_with_their_fills(conn):
    orders = dd.recent_orders(conn).set_index("client_order_id")
    assert list(orders.index) == ["o-4", "o-3", "o-2", "o-1"]
    assert orders.loc["o-1", "fills"] == 2
    assert orders.loc["o-1", "filled_by_trades"] == 10.0
    assert orders.loc["o-1", "fill_vwap"] == pytest.approx((6 * 4695.0 + 4 * 4707.5) / 10)
    assert orders.loc["o-1", "commission"] == pytest.approx(2.5)
    assert orders.loc["o-4", "fills"] == 0
    assert orders.loc["o-4", "status"] == "submitted"
    assert math.isnan(orders.loc["o-4", "fill_vwap"])
    assert list(dd.recent_orders(conn, limit=2)["client_order_id"]) == ["o-4", "o-3"]
    assert list(dd.recent_trades(conn)["trade_id"]) == ["t-3", "t-2", "t-1a", "t-1b"]


def test_strategy_summary_matches_hand_computed_numbers(conn):
    summary = dd.strategy_summary(conn).set_index("strategy")
    assert list(summary.index) == ["carry", "trend"]
    assert summary.loc["trend", "sharpe"] == pytest.approx(TREND_SHARPE, abs=1e-9)
    assert summary.loc["carry", "sharpe"] == pytest.approx(CARRY_SHARPE, abs=1e-9)
    # 1.01 * 0.995 * 1.02 * 1.0 - 1 and 0.99 * 1.02 * 0.97 * 1.01 - 1
    assert summary.loc["trend", "total_return"] == pytest.approx(0.025049, abs=1e-12)
    assert summary.loc["carry", "total_return"] == pytest.approx(-0.01069894, abs=1e-12)
    assert summary.loc["trend", "max_drawdown"] == -0.005
    assert summary.loc["carry", "max_drawdown"] == -0.03
    assert summary.loc["carry", "final_equity"] == 98_930.106
    assert summary.loc["trend", "days"] == 4
    assert summary.loc["trend", "end"] == pd.Timestamp(D4)


def test_summary_sharpe_is_nan_without_variation_or_history():
    def series(returns: list[float]) -> pd.DataFrame:
        days = pd.bdate_range("2024-01-01", periods=len(returns))
        return pd.DataFrame({"as_of": days, "equity": 1.0, "daily_return": returns,
                             "drawdown": 0.0})

    assert math.isnan(dd.summarise_performance(series([0.01]))["sharpe"].iloc[0])
    assert math.isnan(dd.summarise_performance(series([0.01] * 3))["sharpe"].iloc[0])
    # 0.02, 0.0 -> mean 0.01, sample std sqrt(2 * 0.01**2) = 0.01 * sqrt(2)
    assert dd.summarise_performance(series([0.02, 0.0]))["sharpe"].iloc[0] == pytest.approx(
        1 / math.sqrt(2) * SQRT_252, abs=1e-12)
    assert dd.summarise_performance(series([])).empty


def test_pipeline_runs_latest_first_and_last_run_status(conn):
    runs = dd.pipeline_runs(conn)
    assert list(zip(runs["run_id"], runs["stage"], strict=True)) == [
        ("r2", "validate"), ("r2", "ingest"), ("r1", "validate"), ("r1", "ingest")]
    assert list(runs["duration_s"]) == [120.0, 60.0, 60.0, 60.0]
    run = dd.last_run(runs)
    assert run is not None
    assert (run["run_id"], run["status"], run["stages"]) == ("r2", "failed", 2)
    assert dd.last_run(runs[runs["run_id"] == "r1"])["status"] == "success"


def test_a_degraded_run_is_never_shown_green(monkeypatch, tmp_path, seeded_url):
    with psycopg.connect(seeded_url) as conn:
        conn.execute("""INSERT INTO pipeline_runs (run_id, stage, window_start, window_end,
                            status, started_at, finished_at, message)
                        VALUES ('r3', 'orders', %s, %s, 'degraded', %s, %s,
                                'unsent: 2 orders after repeated 503s')""",
                     (D4, D4, _at(5, 22, 0), _at(5, 22, 1)))
        conn.execute("""INSERT INTO pipeline_runs (run_id, stage, window_start, window_end,
                            status, started_at, finished_at, message)
                        VALUES ('r3', 'reports', %s, %s, 'success', %s, %s, '')""",
                     (D4, D4, _at(5, 22, 1), _at(5, 22, 2)))
        runs = dd.pipeline_runs(conn)
    assert dd.last_run(runs)["status"] == "degraded"
    summary = dd.run_summary(runs).set_index("run_id")
    assert summary.loc["r3", "status"] == "degraded"
    assert "orders: unsent: 2 orders" in summary.loc["r3", "message"]
    app = _run_app(monkeypatch, tmp_path, seeded_url)
    assert _metric(app, "Last run") == "Degraded"
    assert any("degraded at stage **orders**" in w.value for w in app.warning)


def test_quarantine_summary_counts_rows_per_date_and_check(conn):
    summary = dd.quarantine_summary(conn)
    assert list(zip(summary["as_of"].dt.date, summary["check_name"],
                    summary["rows_quarantined"], strict=True)) == [
        (D4, "non_positive", 1), (D4, "ohlc_consistency", 2), (D3, "duplicates", 1)]
    assert len(dd.quarantine_rows(conn)) == 4


def test_empty_database_has_schema_but_no_output(db_url):
    with psycopg.connect(db_url, autocommit=True) as connection:
        assert dd.schema_present(connection)
        assert not dd.has_pipeline_output(connection)
        assert dd.strategy_summary(connection).empty
        assert dd.latest_positions(connection).empty
        assert dd.last_run(dd.pipeline_runs(connection)) is None


# ---------------------------------------------------------------- the app
def _run_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str,
             page: str | None = None) -> AppTest:
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    app = AppTest.from_file(str(APP), default_timeout=60)
    if page is not None:
        app.query_params["page"] = page
    app = app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def _metric(app: AppTest, label: str) -> str:
    return next(m.value for m in app.metric if m.label == label)


def _table_with(app: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in app.dataframe if column in d.value.columns)


def test_app_shows_the_seeded_numbers(monkeypatch, tmp_path, seeded_url):
    app = _run_app(monkeypatch, tmp_path, seeded_url)
    assert _metric(app, "Equity") == "$1,003,900"
    assert _metric(app, "Today's P&L") == "+$4,000"
    assert _metric(app, "Total return") == "+0.39%"  # 1.01 * 0.99 * 1.004 - 1 = 0.0038996
    assert _metric(app, "Max drawdown") == "-1.00%"
    assert _metric(app, "Last run") == "Failed"
    assert any("validate" in e.value and "2 rows quarantined" in e.value for e in app.error)
    assert app.sidebar.radio[0].options == ["Overview", "Strategies", "Positions & exposure",
                                            "Signals", "Orders & fills", "Divergence",
                                            "Data health", "Pipeline runs"]
    assert any("Kill switch **ACTIVE**" in s.value for s in app.sidebar.success)

    app = _run_app(monkeypatch, tmp_path, seeded_url, "positions")
    assert _metric(app, "Gross exposure") == "$192,500"
    assert _metric(app, "Net exposure") == "-$25,500"
    positions = _table_with(app, "market_value")
    assert list(positions["symbol"]) == ["EURUSD", "SPX", "WTI"]
    assert list(positions["market_value"]) == [-109_000.0, 47_500.0, 36_000.0]

    app = _run_app(monkeypatch, tmp_path, seeded_url, "strategies")
    summary = _table_with(app, "sharpe").set_index("strategy")
    assert summary.loc["trend", "sharpe"] == pytest.approx(TREND_SHARPE, abs=1e-9)
    assert summary.loc["carry", "sharpe"] == pytest.approx(CARRY_SHARPE, abs=1e-9)

    app = _run_app(monkeypatch, tmp_path, seeded_url, "orders")
    assert list(_table_with(app, "fill_vwap")["client_order_id"]) == ["o-4", "o-3", "o-2", "o-1"]
    app = _run_app(monkeypatch, tmp_path, seeded_url, "signals")
    assert len(_table_with(app, "confidence")) == 3
    with psycopg.connect(seeded_url, autocommit=True) as connection:
        connection.execute("""INSERT INTO data_quality_flags (as_of, check_name, symbol,
                              trade_date, observed, threshold, reason)
                              VALUES (%s, 'spike', 'SPX', %s, 9.5, 7, 'log move 9.5 x')""",
                           (D4, D4))
    app = _run_app(monkeypatch, tmp_path, seeded_url, "data")
    assert list(_table_with(app, "rows_quarantined")["rows_quarantined"]) == [1, 2, 1]
    flags = _table_with(app, "threshold")
    assert flags[["symbol", "observed", "threshold"]].values.tolist() == [["SPX", 9.5, 7.0]]
    freshness = _table_with(app, "last_bar")
    assert "sample" in set(freshness["source_id"])
    app = _run_app(monkeypatch, tmp_path, seeded_url, "runs")
    runs = _table_with(app, "airflow")
    assert set(runs["run_id"]) == {"r1", "r2"} and runs["airflow"].isna().all()


def test_halted_kill_switch_shows_on_every_page(monkeypatch, tmp_path, seeded_url):
    with psycopg.connect(seeded_url, autocommit=True) as connection:
        connection.execute("""UPDATE kill_switch SET state = 'HALTED', actor = 'alice',
                              reason = 'drawdown limit', since = '2024-01-05 21:00+00'""")
    for page in ("overview", "orders"):
        app = _run_app(monkeypatch, tmp_path, seeded_url, page)
        message = next(e.value for e in app.sidebar.error)
        assert "Kill switch **HALTED** since 2024-01-05 21:00 by alice: drawdown limit" in message
        assert "macroquant risk resume" in message


def test_rolling_sharpe_and_airflow_links():
    returns = pd.DataFrame({"a": [0.01, -0.005, 0.02, 0.0], "b": [0.0] * 4},
                           index=pd.date_range("2024-01-02", periods=4))
    rolling = dd.rolling_sharpe(returns, window=4)
    assert rolling["a"].iloc[-1] == pytest.approx(TREND_SHARPE, abs=1e-12)
    assert rolling["a"].iloc[:3].isna().all() and rolling["b"].isna().all()  # no variance
    assert dd.airflow_run_link("macroquant_daily__manual__2013-02-28T00:00:00+00:00",
                               "http://127.0.0.1:8080/") == (
        "http://127.0.0.1:8080/dags/macroquant_daily/runs/"
        "manual__2013-02-28T00%3A00%3A00%2B00%3A00")
    assert dd.airflow_run_link("cli__2012-10-05__2012-10-05", "http://x") is None


def test_app_on_an_empty_database_says_to_run_make_demo(monkeypatch, tmp_path, db_url):
    app = _run_app(monkeypatch, tmp_path, db_url)
    assert any("make demo" in i.value for i in app.info)
    assert not app.error and not app.metric


def test_app_on_an_unmigrated_database_says_to_run_make_demo(monkeypatch, tmp_path,
                                                             pg_server_url):
    app = _run_app(monkeypatch, tmp_path, pg_server_url)  # the server's maintenance database
    assert any("make demo" in w.value for w in app.warning)


def test_app_reports_a_failing_query_without_a_traceback(monkeypatch, tmp_path, seeded_url):
    with psycopg.connect(seeded_url, autocommit=True) as connection:
        connection.execute("ALTER TABLE orders DROP COLUMN status_date")  # an older schema
    app = _run_app(monkeypatch, tmp_path, seeded_url, "orders")
    message = next(e.value for e in app.error if "query failed" in e.value)
    assert "status_date" in message
    assert "macroquant db migrate" in message


def test_app_with_an_unreachable_database_shows_the_masked_url(monkeypatch, tmp_path):
    app = _run_app(monkeypatch, tmp_path, "postgresql://u:secret@127.0.0.1:1/x")
    assert len(app.error) == 1
    message = app.error[0].value
    assert "postgresql://u:***@127.0.0.1:1/x" in message
    shown = [e.value for e in [*app.error, *app.caption, *app.markdown, *app.info]]
    assert not any("secret" in text for text in shown)
    assert not app.metric


def test_dashboard_asks_for_a_login_once_a_user_exists(monkeypatch, tmp_path, seeded_url):
    from macroquant.auth.users import create_user

    app = _run_app(monkeypatch, tmp_path, seeded_url)
    assert any("No users yet" in w.value for w in app.sidebar.warning)
    with psycopg.connect(seeded_url) as connection:
        create_user(connection, "vera", "correct horse battery", "viewer", actor="test",
                    at=datetime(2024, 1, 6, tzinfo=UTC))
    app = _run_app(monkeypatch, tmp_path, seeded_url)
    assert not app.metric  # nothing shown before the login
    app.text_input[0].input("vera")
    app.text_input[1].input("wrong password")
    app.button[0].click().run()
    assert app.error and not app.metric
    app.text_input[0].input("vera")
    app.text_input[1].input("correct horse battery")
    app.button[0].click().run()
    assert _metric(app, "Equity") == "$1,003,900"
    assert any("Logged in as **vera** (viewer)" in c.value for c in app.sidebar.caption)


# ---------------------------------------------------------------- what a new user saw (issue 14)
def test_orders_caption_counts_every_order_and_says_when_the_table_is_cut(conn):
    counts = dd.order_status_counts(conn)
    assert counts.to_dict() == {"filled": 3, "submitted": 1}
    assert dd.orders_caption(counts, shown=4) == "4 orders in all: 3 filled · 1 submitted."
    assert dd.orders_caption(pd.Series({"filled": 928, "submitted": 3, "rejected": 3}),
                             shown=500) == ("934 orders in all: 928 filled · 3 submitted · "
                                            "3 rejected. The table shows the latest 500, "
                                            "newest first.")


def test_run_summary_is_one_row_per_run_with_its_failure(conn):
    runs = dd.run_summary(dd.pipeline_runs(conn))
    assert list(runs["run_id"]) == ["r2", "r1"]  # latest first
    assert list(runs["status"]) == ["failed", "success"]
    assert list(runs["stages"]) == [2, 2]
    assert list(runs["duration_s"]) == [180.0, 120.0]  # 22:00 -> 22:03, 22:00 -> 22:02
    assert runs.loc[0, "message"] == "validate: DataQualityError: 2 rows quarantined"
    assert runs.loc[1, "message"] == ""


def test_airflow_links_follow_the_port_make_airflow_uses():
    from macroquant.airflow_local import airflow_ui_url

    assert airflow_ui_url({}) == "http://127.0.0.1:8080"
    assert airflow_ui_url({"MACROQUANT_AIRFLOW_PORT": "18080"}) == "http://127.0.0.1:18080"
    assert airflow_ui_url({"MACROQUANT_AIRFLOW_PORT": "18080",
                           "MACROQUANT_AIRFLOW_URL": "https://airflow.example/"}) == (
        "https://airflow.example")


def test_app_pages_name_the_airflow_port_and_never_print_none(monkeypatch, tmp_path,
                                                             seeded_url):
    monkeypatch.setenv("MACROQUANT_AIRFLOW_PORT", "18080")
    monkeypatch.delenv("MACROQUANT_AIRFLOW_URL", raising=False)
    app = _run_app(monkeypatch, tmp_path, seeded_url, "runs")
    assert any("http://127.0.0.1:18080" in c.value for c in app.caption)
    banner = next(s.value for s in app.sidebar.success)
    assert banner == "Kill switch **ACTIVE**: trading allowed, never halted."
    app = _run_app(monkeypatch, tmp_path, seeded_url, "orders")
    assert any(c.value == "4 orders in all: 3 filled · 1 submitted." for c in app.caption)
    # every table shows a dash, not the word None, for a missing value (o-4 has no fill)
    assert all(d.proto.placeholder == "—" for d in app.dataframe)


def test_login_page_names_no_database(monkeypatch, tmp_path, seeded_url):
    from macroquant.auth.users import create_user

    with psycopg.connect(seeded_url) as connection:
        create_user(connection, "vera", "correct horse battery", "viewer", actor="test",
                    at=datetime(2024, 1, 6, tzinfo=UTC))
    app = _run_app(monkeypatch, tmp_path, seeded_url)
    shown = [e.value for e in [*app.caption, *app.markdown, *app.info, *app.warning,
                               *app.error, *app.sidebar.caption]]
    database = psycopg.conninfo.conninfo_to_dict(seeded_url)
    assert not any("Database" in text or str(database.get("host")) in text
                   or str(database.get("dbname")) in text for text in shown), shown
    app.text_input[0].input("vera")
    app.text_input[1].input("correct horse battery")
    app.button[0].click().run()
    assert any(c.value.startswith("Database ") for c in app.caption)  # after the login


def test_divergence_page_totals_each_account_by_cause(monkeypatch, tmp_path, seeded_url):
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", seeded_url)
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.query_params["page"] = "divergence"
    app.run()
    assert not app.exception
    assert "The paper account equals the engine's fill model (0 on every session)." in [
        s.value for s in app.main.success]
    totals = app.dataframe[0].value.set_index("broker")
    assert totals.loc["alpaca", "fill_price"] == 12.5 and totals.loc["alpaca", "costs"] == 1.75
    assert totals.loc["alpaca", "missed"] == -4.25 and totals.loc["alpaca", "total"] == 10.0
    assert totals.loc["paper", "total"] == 0.0 and totals.loc["alpaca", "sessions"] == 2
