"""Backtests of rules that read point-in-time macro data or fit models, on the database."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from macroquant.backtest.data import read_market_data
from macroquant.backtest.engine import options_for, run_backtest, strategy_signals
from macroquant.backtest.store import read_backtest_inputs, save_backtest
from macroquant.config.settings import load_trading_config
from macroquant.db.bulk import read_frame
from macroquant.pipeline.ingest import load_sample_history
from macroquant.strategies.loader import load_strategy_file
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "include" / "examples"
TRADING = load_trading_config(ROOT / "include" / "macroquant.yaml")


def extend_history(tmp_path: Path, url: str) -> None:
    """The bundled history through 2014: the sample's VIX starts on 2014-01-03."""
    load_sample_history(make_settings(tmp_path, url), end=date(2014, 12, 31),
                        start=date(2012, 10, 1))


def _inputs(conn: psycopg.Connection, name: str):
    loaded = load_strategy_file(EXAMPLES / f"{name}.yaml")
    panels = read_market_data(conn, list(loaded.config.universe), None)
    return loaded, panels, read_backtest_inputs(conn, loaded.strategy, panels)


def test_macro_regime_backtests_and_stores_daily_performance(loaded_db_url, tmp_path):
    extend_history(tmp_path, loaded_db_url)
    with psycopg.connect(loaded_db_url) as conn:
        loaded, panels, inputs = _inputs(conn, "macro_regime")
    assert list(inputs.macro.columns) == sorted(loaded.strategy.required_macro())
    assert inputs.asset_classes.to_dict() == {"SPX": "equity_index", "IXIC": "equity_index",
                                              "WTI": "commodity", "VIX": "volatility"}
    options = options_for(loaded.config, TRADING, capital=1_000_000.0,
                          start=date(2014, 1, 2), end=date(2014, 12, 31))
    result = run_backtest(loaded.strategy, panels, options, inputs)
    assert len(result.trades) > 0 and set(result.trades["symbol"]) == {"SPX", "IXIC", "WTI",
                                                                       "VIX"}
    assert math.isfinite(result.final_equity) and result.final_equity != 1_000_000.0
    # tilts 1 / 1 / 0.5 / -1 times one regime score per day
    signals = result.signals.dropna()
    score = signals["SPX"]
    np.testing.assert_allclose(signals["IXIC"], score)
    np.testing.assert_allclose(signals["WTI"], 0.5 * score)
    np.testing.assert_allclose(signals["VIX"], -score)

    with psycopg.connect(loaded_db_url) as conn:
        save_backtest(conn, "bt-macro-1", loaded, options, result, price_source="market_data")
        perf = read_frame(conn, """SELECT p.as_of, p.equity, p.daily_return, s.enabled
                                   FROM strategy_backtest_performance p
                                   JOIN strategies s USING (strategy_id)
                                   WHERE p.backtest_id = 'bt-macro-1' AND s.name = %s
                                   ORDER BY p.as_of""", (loaded.config.name,))
        monitoring = conn.execute("""SELECT as_of, source FROM strategy_monitoring
                                     WHERE source_ref = 'bt-macro-1'""").fetchall()
    assert len(perf) == len(result.equity) == 252            # the 2014 sessions
    np.testing.assert_allclose(perf["equity"].astype(float), result.equity.to_numpy())
    np.testing.assert_allclose(perf["daily_return"].astype(float).iloc[1:],
                               result.equity.pct_change().iloc[1:].to_numpy())
    assert not perf["enabled"].any()          # a backtest does not enable a strategy
    assert monitoring == [(date(2014, 12, 31), "backtest")]


def test_macro_signals_do_not_look_ahead_through_macro_data(loaded_db_url, tmp_path):
    """The signal on d from all data equals the one from data cut at d (prices after d and
    every economic vintage released after d deleted)."""
    extend_history(tmp_path, loaded_db_url)
    with psycopg.connect(loaded_db_url) as conn:
        loaded, panels, inputs = _inputs(conn, "macro_regime")
        full = strategy_signals(loaded.strategy, panels, inputs)
    for cut in (date(2014, 3, 14), date(2014, 6, 16), date(2014, 10, 15)):
        with psycopg.connect(loaded_db_url) as conn:
            later = conn.execute("DELETE FROM economic_indicators WHERE realtime_start > %s",
                                 (cut,)).rowcount
            conn.execute("DELETE FROM market_data WHERE trade_date > %s", (cut,))
            _, cut_panels, cut_inputs = _inputs(conn, "macro_regime")
            conn.rollback()
        assert later > 0                          # the cut removed releases
        assert cut_panels.dates[-1] == pd.Timestamp(cut)
        cut_signals = strategy_signals(loaded.strategy, cut_panels, cut_inputs)
        day = pd.Timestamp(cut)
        pd.testing.assert_series_equal(cut_inputs.macro.loc[day], inputs.macro.loc[day])
        pd.testing.assert_series_equal(cut_signals.loc[day], full.loc[day])
        pd.testing.assert_frame_equal(cut_signals, full.loc[:day])


def test_walk_forward_classifier_backtests(loaded_db_url):
    with psycopg.connect(loaded_db_url) as conn:
        loaded, panels, inputs = _inputs(conn, "walk_forward_logit")
    options = options_for(loaded.config, TRADING, capital=1_000_000.0,
                          start=date(2011, 1, 3), end=date(2012, 9, 28))
    result = run_backtest(loaded.strategy, panels, options, inputs)
    known = result.signals.stack().dropna()
    assert len(known) > 0 and known.between(-1.0, 1.0).all()
    assert len(result.trades) > 0 and math.isfinite(result.final_equity)


def test_cli_stored_backtest_stores_daily_strategy_performance(loaded_db_url, tmp_path,
                                                               monkeypatch):
    import json

    from macroquant.cli import main

    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", loaded_db_url)
    out = tmp_path / "out.json"
    assert main(["backtest", str(EXAMPLES / "sma_cross_msft.yaml"), "--capital", "100000",
                 "--start", "2012-01-03", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    with psycopg.connect(loaded_db_url) as conn:
        perf = read_frame(conn, """SELECT as_of, equity FROM strategy_backtest_performance
                                   WHERE backtest_id = %s ORDER BY as_of""",
                          (payload["backtest_id"],))
    assert [[d.isoformat(), e] for d, e in zip(perf["as_of"], perf["equity"], strict=True)] \
        == payload["equity"]
    assert payload["equity"][0] == ["2012-01-03", 100000.0]


def test_cli_backtests_macro_regime(loaded_db_url, tmp_path, monkeypatch):
    import json

    from macroquant.cli import main

    extend_history(tmp_path, loaded_db_url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", loaded_db_url)
    out = tmp_path / "out.json"
    assert main(["backtest", str(EXAMPLES / "macro_regime.yaml"), "--start", "2014-01-02",
                 "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert len(payload["trades"]) > 0 and math.isfinite(payload["final_equity"])


def test_grid_search_and_walk_forward_read_macro_point_in_time(loaded_db_url, tmp_path):
    from macroquant.backtest.research import grid_search, walk_forward

    extend_history(tmp_path, loaded_db_url)
    with psycopg.connect(loaded_db_url) as conn:
        loaded, panels, inputs = _inputs(conn, "macro_regime")
    options = options_for(loaded.config, TRADING, capital=100_000, start=date(2014, 1, 2))
    base = loaded.config.parameters
    grid = {"vix": [{"series": "VIX", "max_level": 20}, {"series": "VIX", "max_level": 30}]}
    search = grid_search(type(loaded.strategy), base, grid, panels, options, inputs)
    assert search.n_trials == 2 and all(t.error == "" and t.result is not None
                                        for t in search.trials)
    assert search.trials[0].result.final_equity != search.trials[1].result.final_equity
    run = walk_forward(type(loaded.strategy), base, grid, panels, options, train=120,
                       test=60, inputs=inputs)
    assert len(run.folds) >= 3 and math.isfinite(float(run.equity.iloc[-1]))
