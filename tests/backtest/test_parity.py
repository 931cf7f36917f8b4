"""One engine, two drivers: the book backtest of a window equals the paper account's
backfill of the same window on a fresh account — same orders, same fills, same equity.

Two books: the shipped demo book over the demo window (2012-03-01..2013-02-28), and a
book built so that stops, signal filters, drawdown control, the position limit and a
custom plugin strategy all bind (each is asserted to have acted, so the parity covers it).
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from macroquant.backtest.book import compare_with_account, read_account, run_book_backtest
from macroquant.backtest.book_store import save_book_backtest
from macroquant.cli import main
from macroquant.config.settings import INCLUDE_DIR, load_trading_config
from macroquant.db.connection import transaction
from macroquant.errors import ConfigError, MissingInputError
from macroquant.pipeline.ingest import load_sample_history
from macroquant.pipeline.runner import run_pipeline
from tests.conftest import make_settings
from tests.pipeline.test_pipeline import snapshot

DEMO_START, DEMO_END = date(2012, 3, 1), date(2013, 2, 28)


def _parity(settings, start: date, end: date):
    result = run_book_backtest(settings, start, end)
    with transaction(settings.database_url) as conn:
        account = read_account(conn, start, end)
    return result, account, compare_with_account(result, account)


def test_the_demo_book_backtest_equals_the_paper_account(tmp_path, db_url):
    settings = make_settings(tmp_path, db_url)
    load_sample_history(settings, end=date(2012, 2, 29))
    run_pipeline(DEMO_START, DEMO_END, "demo", settings)
    before = snapshot(db_url)

    result, account, parity = _parity(settings, DEMO_START, DEMO_END)

    assert parity.equal, parity
    assert parity.sessions_compared == 250
    assert parity.orders_backtest == parity.orders_account == len(account["orders"]) > 500
    assert parity.fills_backtest == parity.fills_account > 500
    assert parity.worst_equity_difference <= 1e-9
    assert result.performance["commission"].sum() == pytest.approx(
        account["trades"]["commission"].sum(), rel=1e-12)
    # the replay only reads: every table is as the backfill left it
    after = snapshot(db_url)
    assert after.keys() == before.keys()
    for table, frame in before.items():
        assert frame.equals(after[table]), table


def _binding_book(tmp_path: Path) -> tuple[Path, Path]:
    """A configuration and strategies folder in which every rule the issue names binds,
    with a candlestick rule (it reads open/high/low) among the strategies."""
    config = yaml.safe_load((INCLUDE_DIR / "macroquant.yaml").read_text())
    config["risk"]["max_position_fraction"] = 0.04          # clips the largest targets
    config["risk"]["drawdown"] = {"reduce_at": 0.004, "halt_at": 0.5, "min_scale": 0.25}
    config["stops"] = {"ewma_trend": {"stop_loss": {"kind": "trailing", "fraction": 0.02}},
                       "zscore_reversion": {"stop_loss": {"kind": "fixed", "fraction": 0.01}}}
    config_path = tmp_path / "trading.yaml"
    config_path.write_text(yaml.safe_dump(config))
    folder = tmp_path / "strategies"
    (folder / "plugins").mkdir(parents=True)
    trend = yaml.safe_load((INCLUDE_DIR / "strategies" / "ewma_trend.yaml").read_text())
    trend.update(weight=0.3, filters={"min_strength": 0.3, "half_life": 15})
    candles = {"name": "candles", "type": "price_pattern", "rule": "candlestick",
               "universe": ["SPX", "IXIC", "AAPL", "IBM", "MSFT"], "weight": 0.1,
               "parameters": {"patterns": ["CDLENGULFING", "CDLHAMMER"], "hold": 5}}
    reversion = yaml.safe_load((INCLUDE_DIR / "strategies" / "zscore_reversion.yaml")
                               .read_text())
    reversion.update(weight=0.4)
    plugin = yaml.safe_load((INCLUDE_DIR / "examples" / "custom_momentum.yaml").read_text())
    for name, spec in (("ewma_trend", trend), ("zscore_reversion", reversion),
                       ("custom_momentum", plugin), ("candles", candles)):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(INCLUDE_DIR / "plugins" / "my_momentum.py", folder / "plugins")
    return config_path, folder


def test_a_book_where_every_rule_binds_backtests_as_it_trades(tmp_path, loaded_db_url):
    config_path, folder = _binding_book(tmp_path)
    settings = make_settings(tmp_path, loaded_db_url, config_path=config_path,
                             strategies_dir=folder)
    start, end = date(2012, 10, 1), date(2013, 2, 28)
    run_pipeline(start, end, "binding", settings)

    result, account, parity = _parity(settings, start, end)

    assert parity.equal, parity
    assert parity.orders_account > 100 and parity.sessions_compared > 90
    checks = result.risk_events.groupby(["check_name", "outcome"]).size()
    assert checks.get(("max_position", "clip"), 0) > 0          # the position limit
    assert checks.get(("stop_loss", "block"), 0) > 0             # stops
    assert {e.check_name for e in result.control_events} >= {"drawdown_control"}
    trend = result.signals.loc[result.signals["strategy"] == "ewma_trend", "strength"]
    assert (trend == 0).sum() > 0 and (trend.abs() < 0.3).sum() == (trend == 0).sum()
    plugin_orders = result.orders.merge(result.symbols.rename("symbol"),
                                        left_on="instrument_id", right_index=True)
    assert set(plugin_orders["symbol"]) >= {"SPX", "IXIC", "WTI"}
    assert "custom_momentum" in set(result.signals["strategy"])
    # a candlestick rule (open/high/low panels) runs in both drivers and takes positions
    candles = result.signals.loc[result.signals["strategy"] == "candles", "strength"]
    assert len(candles) > 0 and (candles != 0).sum() > 0


def test_a_window_without_bars_is_refused_naming_it(settings):
    with pytest.raises(MissingInputError, match=r"no bar in market_data for "
                                                r"1995-01-03\.\.1995-01-31"):
        run_book_backtest(settings, date(1995, 1, 3), date(1995, 1, 31))


def test_the_cli_compares_a_window_with_the_account(tmp_path, loaded_settings, monkeypatch,
                                                     capsys):
    start, end = date(2012, 10, 1), date(2012, 10, 31)
    run_pipeline(start, end, "cli", loaded_settings)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", loaded_settings.database_url)
    out = tmp_path / "book.json"
    assert main(["backtest", "--start", str(start), "--end", str(end), "--compare-account",
                 "--json", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "equal" in stdout and "worst relative difference 0 " in stdout
    payload = json.loads(out.read_text())
    assert payload["kind"] == "book" and payload["parity"]["equal"] is True
    with transaction(loaded_settings.database_url) as conn:
        stored = conn.execute("""SELECT count(*) FROM backtest_trades
                                 WHERE backtest_id = %s""", (payload["backtest_id"],)).fetchone()
    assert stored[0] == len(payload["fills"]) > 0
    assert main(["backtest", "--start", str(start)]) == 1
    assert "needs --start and --end" in capsys.readouterr().err


def test_next_close_execution_fills_at_the_close_in_both_drivers(tmp_path, loaded_db_url):
    config = yaml.safe_load((INCLUDE_DIR / "macroquant.yaml").read_text())
    config["broker"]["execution_price"] = "next_close"
    path = tmp_path / "trading.yaml"
    path.write_text(yaml.safe_dump(config))
    settings = make_settings(tmp_path, loaded_db_url, config_path=path)
    start, end = date(2012, 10, 1), date(2012, 11, 30)
    run_pipeline(start, end, "close", settings)
    result, account, parity = _parity(settings, start, end)
    assert parity.equal, parity
    fills = account["trades"]
    assert len(fills) > 20
    with transaction(settings.database_url) as conn:
        bars = conn.execute("""SELECT count(*) FROM trades t JOIN market_data m
                               ON m.instrument_id = t.instrument_id
                              AND m.trade_date = t.trade_date
                               WHERE t.price_field = 'close'
                                 AND abs(t.reference_price - m.close) < 1e-12""").fetchone()
    assert bars[0] == len(fills)          # every fill at its day's close
    with transaction(settings.database_url) as conn:     # stored as it was run
        save_book_backtest(conn, "bt-book-close", result, settings)
        stored = conn.execute("""SELECT execution_price FROM backtest_runs
                                 WHERE backtest_id = 'bt-book-close'""").fetchone()[0]
    assert stored == "next_close"


def test_a_live_broker_cannot_be_told_to_fill_at_the_close(tmp_path):
    config = yaml.safe_load((INCLUDE_DIR / "macroquant.yaml").read_text())
    config["broker"].update(name="alpaca", execution_price="next_close")
    path = tmp_path / "trading.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="execution_price next_close is simulated by the "
                                          "paper broker only"):
        load_trading_config(path)
