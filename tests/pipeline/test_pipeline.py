"""The eight stages end to end on real PostgreSQL and the bundled history."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from macroquant.calendars import sessions
from macroquant.db.bulk import read_frame
from macroquant.db.catalog import qualified, table_key, user_tables
from macroquant.errors import ConfigError, PathDependencyError, RiskGateError
from macroquant.pipeline.runner import STAGES, run_pipeline, run_stage

START, END = date(2012, 10, 1), date(2012, 10, 31)
# Audit columns: wall-clock times of writes, a run's own record of how many rows it
# changed (a rerun truthfully reports 0 changed) and the process that ran a stage (pid,
# host, the key of its liveness lock). Every other column must be identical.
AUDIT_COLUMNS = {"loaded_at", "started_at", "finished_at", "logged_at", "log_id", "rows_written",
                 "recorded_at", "pid", "host", "liveness_key"}


def snapshot(url: str) -> dict[str, pd.DataFrame]:
    """Every table's rows, sorted, without audit columns."""
    out = {}
    with psycopg.connect(url) as conn:
        for schema, name in user_tables(conn):
            table = table_key(schema, name)
            frame = read_frame(conn, psycopg.sql.SQL("SELECT * FROM {}").format(
                qualified(schema, name)))
            frame = frame.drop(columns=[c for c in frame.columns if c in AUDIT_COLUMNS])
            for column in frame.columns:  # jsonb arrives as dicts: compare canonical text
                if frame[column].map(lambda v: isinstance(v, dict | list)).any():
                    frame[column] = frame[column].map(lambda v: json.dumps(v, sort_keys=True))
            out[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True) \
                if not frame.empty else frame
    return out


def test_window_produces_orders_fills_positions_and_report(loaded_settings):
    results = run_pipeline(START, END, "t1", loaded_settings)
    assert list(results) == list(STAGES)
    url = loaded_settings.database_url
    with psycopg.connect(url) as conn:
        perf = read_frame(conn, "SELECT * FROM performance WHERE scope = 'portfolio' ORDER BY as_of")
        trades = read_frame(conn, "SELECT * FROM trades")
        runs = read_frame(conn, "SELECT stage, status FROM pipeline_runs WHERE run_id = 't1'")
        report = conn.execute("SELECT path FROM reports WHERE report_date = %s", (END,)).fetchone()
        last_orders = conn.execute("SELECT count(*) FROM orders WHERE as_of = %s AND "
                                   "status = 'submitted'", (END,)).fetchone()[0]
    assert [d for d in perf["as_of"]] == sessions(START, END)
    assert set(runs["status"]) == {"success"} and len(runs) == 8
    assert len(trades) > 0 and last_orders > 0
    assert Path(report[0]).read_text().count("plotly") > 0
    # Equity identity: each day's P&L is the change of equity.
    equity = perf["equity"].astype(float)
    assert (equity.diff().iloc[1:] - perf["daily_pnl"].astype(float).iloc[1:]).abs().max() < 1e-6


def test_fills_are_next_open_with_configured_costs(loaded_settings):
    run_pipeline(START, END, "t2", loaded_settings)
    with psycopg.connect(loaded_settings.database_url) as conn:
        fills = read_frame(conn, """
            SELECT t.*, o.as_of AS order_date, m.open AS bar_open, m.close AS bar_close
            FROM trades t JOIN orders o USING (client_order_id)
            JOIN market_data m ON m.instrument_id = t.instrument_id AND m.trade_date = t.trade_date""")
    # never filled on the signal's own day, always on a later session
    assert (pd.to_datetime(fills["trade_date"]) > pd.to_datetime(fills["order_date"])).all()
    side = fills["side"].map({"buy": 1.0, "sell": -1.0})
    reference = fills["bar_open"].fillna(fills["bar_close"]).astype(float)
    # include/macroquant.yaml: slippage 2 bps, commission 1 bp
    expected_price = reference * (1 + side * 2.0 / 1e4)
    assert (fills["price"].astype(float) - expected_price).abs().max() < 1e-9
    expected_commission = fills["quantity"].astype(float) * expected_price * 1.0 / 1e4
    assert (fills["commission"].astype(float) - expected_commission).abs().max() < 1e-9
    assert set(fills.loc[fills["bar_open"].isna(), "price_field"]) <= {"close"}
    assert set(fills.loc[fills["bar_open"].notna(), "price_field"]) == {"open"}


def test_positions_reconcile_with_trades_and_cash(loaded_settings):
    """Positions are the fills' sums; cash is capital - what the fills cost + dividends."""
    run_pipeline(START, END, "t3", loaded_settings)
    with psycopg.connect(loaded_settings.database_url) as conn:
        trades = read_frame(conn, "SELECT * FROM trades")
        positions = read_frame(conn, "SELECT * FROM positions WHERE as_of = %s", (END,))
        last = read_frame(conn, "SELECT * FROM performance WHERE scope = 'portfolio' "
                                "AND as_of = %s", (END,)).iloc[0]
        income = conn.execute("SELECT coalesce(sum(cash), 0) FROM account_actions "
                              "WHERE action = 'dividend'").fetchone()[0]
        splits = conn.execute("SELECT count(*) FROM account_actions "
                              "WHERE action = 'split'").fetchone()[0]
    assert splits == 0      # so positions are the trades' sums
    signed = trades["quantity"].where(trades["side"] == "buy", -trades["quantity"]).astype(float)
    from_trades = signed.groupby(trades["instrument_id"]).sum()
    from_trades = from_trades[from_trades != 0].sort_index()
    held = positions.set_index("instrument_id")["quantity"].astype(float).sort_index()
    pd.testing.assert_series_equal(from_trades, held, check_names=False)
    cash = 1_000_000 - float((signed * trades["price"].astype(float)).sum()) \
        - float(trades["commission"].astype(float).sum()) + float(income)
    assert float(last["cash"]) == pytest.approx(cash, rel=1e-12)
    equity = cash + float(positions["market_value"].astype(float).sum())
    assert float(last["equity"]) == pytest.approx(equity, rel=1e-12)


def test_rerunning_a_window_leaves_every_table_identical(loaded_settings):
    run_pipeline(START, END, "idem", loaded_settings)
    first = snapshot(loaded_settings.database_url)
    run_pipeline(START, END, "idem", loaded_settings)
    second = snapshot(loaded_settings.database_url)
    assert first.keys() == second.keys() and {"orders", "secrets"} <= first.keys()
    for table in first:
        pd.testing.assert_frame_equal(first[table], second[table], obj=table)
    assert len(first["orders"]) > 0 and len(first["signals"]) > 0


def test_daily_runs_agree_with_one_backfill(loaded_settings, tmp_path, pg_server_url,
                                            loaded_template_url):
    """Running the window as one backfill or session by session gives the same book."""
    from tests.conftest import _clone, make_settings

    run_pipeline(START, END, "backfill", loaded_settings)
    clone = _clone(pg_server_url, loaded_template_url)
    other_url = next(clone)
    try:
        daily_settings = make_settings(tmp_path / "daily", other_url)
        for day in sessions(START, END):
            run_pipeline(day, day, f"daily-{day}", daily_settings)
        query = ("SELECT as_of, scope, equity, cash, drawdown FROM performance "
                 "ORDER BY scope, as_of")
        with psycopg.connect(loaded_settings.database_url) as a, psycopg.connect(other_url) as b:
            backfill, daily = read_frame(a, query), read_frame(b, query)
            orders_a = read_frame(a, "SELECT * FROM orders ORDER BY client_order_id")
            orders_b = read_frame(b, "SELECT * FROM orders ORDER BY client_order_id")
        pd.testing.assert_frame_equal(backfill, daily, rtol=1e-10)
        pd.testing.assert_frame_equal(orders_a, orders_b)
    finally:
        next(clone, None)


def test_bad_rows_are_quarantined_and_stop_only_their_instruments(loaded_settings):
    url = loaded_settings.database_url
    run_stage("ingest", START, START, "bad", loaded_settings)
    with psycopg.connect(url) as conn:
        # corrupt three real staged bars: a NaN close, a negative price, high below low
        conn.execute("""UPDATE market_data_staging SET close = 'NaN' WHERE symbol = 'IBM'
                        AND as_of = %s""", (START,))
        conn.execute("""UPDATE market_data_staging SET open = -1 WHERE symbol = 'MSFT'
                        AND as_of = %s""", (START,))
        conn.execute("""UPDATE market_data_staging SET high = low - 1 WHERE symbol = 'SPX'
                        AND as_of = %s""", (START,))
        # and a bar from the future
        conn.execute("""INSERT INTO market_data_staging (source_id, as_of, row_number, symbol,
                            trade_date, open, high, low, close, adj_close, volume)
                        VALUES ('sample', %s, 9999, 'AAPL', %s, 1, 1, 1, 1, 1, 1)""",
                     (START, date(2012, 10, 5)))
    counts = run_stage("validate", START, START, "bad", loaded_settings)
    assert (counts["rows_in"], counts["quarantined"], counts["published"]) == (11, 4, 7)
    with psycopg.connect(url) as conn:
        quarantine = read_frame(conn, "SELECT symbol, check_name, reason, origin, line, status "
                                      "FROM quarantine")
        published = conn.execute("SELECT count(*) FROM market_data WHERE trade_date = %s",
                                 (START,)).fetchone()[0]
    # a row is quarantined once per check it fails; a negative price is reported once
    # (not a second time as an OHLC inconsistency)
    assert set(zip(quarantine["symbol"], quarantine["check_name"], strict=True)) == {
        ("IBM", "missing_values"), ("MSFT", "non_positive_price"),
        ("SPX", "ohlc_consistency"), ("AAPL", "future_timestamp")}
    assert all(quarantine["reason"].str.len() > 10)
    assert set(quarantine["origin"]) == {"sample"} and quarantine["line"].isna().all()
    assert set(quarantine["status"]) == {"open"}
    assert published == 10 - 3  # the good rows of that day are published, the bad are not
    run_stage("features", START, START, "bad", loaded_settings)
    rows = run_stage("signals", START, START, "bad", loaded_settings)
    assert rows["quarantined_instruments"] == 4
    with psycopg.connect(url) as conn:
        signalled = {s for (s,) in conn.execute(
            """SELECT DISTINCT i.symbol FROM signals s JOIN instruments i USING (instrument_id)
               WHERE s.as_of = %s AND s.strength <> 'NaN'::float8""", (START,))}
        warning = conn.execute("""SELECT message FROM system_logs WHERE level = 'WARNING'
                                  AND logger = 'macroquant.signals'""").fetchone()[0]
        errors = conn.execute("SELECT count(*) FROM system_logs WHERE level = 'ERROR'"
                              ).fetchone()[0]
    # the four quarantined instruments get no signal; the rest of the book does
    assert not signalled & {"IBM", "MSFT", "SPX", "AAPL"}
    assert {"EURUSD", "GOOG", "IXIC"} <= signalled
    assert "quarantined bars stop AAPL, IBM, MSFT, SPX on 2012-10-01" in warning
    assert errors == 0


def test_orders_refuse_a_date_without_risk_decision(loaded_settings):
    for stage in STAGES[:5]:
        run_stage(stage, START, START, "norisk", loaded_settings)
    with pytest.raises(RiskGateError, match="no order is created without a risk decision"):
        run_stage("orders", START, START, "norisk", loaded_settings)
    with psycopg.connect(loaded_settings.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 0


def test_rerunning_an_earlier_window_is_refused(loaded_settings):
    run_pipeline(START, END, "later", loaded_settings)
    with pytest.raises(PathDependencyError, match="rerun from 2012-10-01 through 2012-10-31"):
        run_pipeline(START, date(2012, 10, 15), "earlier", loaded_settings)


def test_bad_strategy_file_stops_before_anything_runs(loaded_settings, tmp_path):
    from tests.conftest import make_settings

    bad_dir = tmp_path / "strategies"
    bad_dir.mkdir()
    (bad_dir / "typo.yaml").write_text(
        "name: typo\ntype: trend_following\nrule: ewma_crossover\nuniverse: [SPX]\n"
        "weight: 0.5\nparameters: {fast_span: 16, slow_spann: 64}\n")
    settings = make_settings(tmp_path, loaded_settings.database_url, strategies_dir=bad_dir)
    with pytest.raises(ConfigError) as error:
        run_pipeline(START, START, "typo", settings)
    assert "typo.yaml" in str(error.value) and "parameters.slow_spann" in str(error.value)
    with psycopg.connect(loaded_settings.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM features").fetchone()[0] == 0
