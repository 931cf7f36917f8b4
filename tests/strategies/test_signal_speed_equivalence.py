"""The daily signal stage's trailing-history path equals the full-history computation.

``run_window`` computes features only for the sessions each job needs and runs pointwise
rules on the window alone; the reference is the full-history path (``compute_features``
over everything, every strategy over everything, the window's rows kept).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from macroquant.db.connection import transaction
from macroquant.features import indicators
from macroquant.features.catalog import compute_features
from macroquant.pipeline.signals import load_market_panels
from macroquant.strategies.builtin import (
    EwmaCrossover,
    EwmaCrossoverParameters,
    ZScoreParameters,
    ZScoreReversion,
)
from macroquant.strategies.engine import (
    StrategyJob,
    job_history,
    run_jobs,
    run_window,
    strategy_history,
)
from macroquant.strategies.loader import FilterConfig
from macroquant.strategies.mean_reversion import (
    BollingerParameters,
    BollingerReversion,
    RsiParameters,
    RsiReversion,
)
from macroquant.strategies.moving_average import SmaCrossover, SmaCrossoverParameters
from macroquant.strategies.trend import (
    DonchianBreakout,
    DonchianParameters,
    MomentumParameters,
    MultiSpeedEwma,
    MultiSpeedEwmaParameters,
    TimeSeriesMomentum,
)

STRATEGIES = [
    EwmaCrossover(EwmaCrossoverParameters()),
    EwmaCrossover(EwmaCrossoverParameters(fast_span=8, slow_span=32)),
    MultiSpeedEwma(MultiSpeedEwmaParameters()),
    ZScoreReversion(ZScoreParameters(window=20)),
    TimeSeriesMomentum(MomentumParameters(lookback=63)),
    SmaCrossover(SmaCrossoverParameters(fast=10, slow=40)),
    DonchianBreakout(DonchianParameters(entry_window=20, exit_window=10)),
    BollingerReversion(BollingerParameters(window=20)),
    RsiReversion(RsiParameters(period=14)),
]
FILTERS = [FilterConfig(), FilterConfig(min_strength=0.05, half_life=5),
           FilterConfig(half_life=2.5)]


def synthetic_closes(days: int = 700, instruments: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    closes = pd.DataFrame(100.0 * np.exp(np.cumsum(rng.normal(0, 0.012, (days, instruments)),
                                                   axis=0)),
                          index=pd.bdate_range("2001-01-02", periods=days),
                          columns=[f"i{j}" for j in range(instruments)])
    closes.iloc[:40, 0] = np.nan            # late listing
    closes.iloc[300:303, 1] = np.nan        # short gap (forward-filled)
    closes.iloc[400:420, 2] = np.nan        # long gap (beyond the fill limit)
    closes.iloc[-2:, 3] = np.nan            # stale at the end
    closes.iloc[200:260, 4] = 50.0          # flat stretch: zero volatility, zero std
    return closes


def jobs_for(columns: list) -> list[StrategyJob]:
    return [StrategyJob(name=f"s{i}_{f}", strategy=s, columns=columns, filters=FILTERS[f])
            for i, s in enumerate(STRATEGIES) for f in range(len(FILTERS))]


def compare(raw: pd.DataFrame, adjusted: pd.DataFrame, window: pd.DatetimeIndex) -> int:
    """Assert run_window == full-history reference for every job; return rows compared."""
    jobs = jobs_for(list(adjusted.columns))
    names = set().union(*(s.required_features() for s in STRATEGIES))
    reference = run_jobs(jobs, compute_features(names, raw, adjusted), window=window)
    fast = run_window(jobs, raw, adjusted, window)
    assert not reference.errors and not fast.errors
    compared = 0
    for job in jobs:
        expected, got = reference.signals[job.name], fast.signals[job.name]
        pd.testing.assert_frame_equal(got[["as_of", "instrument", "direction"]],
                                      expected[["as_of", "instrument", "direction"]])
        diff = np.abs(got["strength"].to_numpy() - expected["strength"].to_numpy())
        assert diff.max(initial=0.0) < 1e-12, (job.name, diff.max())
        np.testing.assert_array_equal(got["confidence"], expected["confidence"])
        compared += len(got)
    return compared


@pytest.mark.parametrize("window_sessions", [1, 5, 60])
def test_window_path_equals_full_history_on_a_synthetic_panel(window_sessions):
    closes = synthetic_closes()
    compared = compare(closes, closes, closes.index[-window_sessions:])
    # every job yields rows for the instruments with a known signal in the window
    assert compared >= window_sessions * 3 * len(STRATEGIES)


def test_window_path_equals_full_history_on_the_bundled_data(loaded_db_url):
    with transaction(loaded_db_url) as conn:
        raw, adjusted, _ = load_market_panels(conn, pd.Timestamp("2012-09-28").date(), False)
    assert raw.shape[1] >= 8 and raw.index[-1] == pd.Timestamp("2012-09-28")
    assert compare(raw, adjusted, adjusted.index[-10:]) > 0


def test_recursive_features_equal_pandas_over_all_history():
    closes = synthetic_closes()
    filled = closes.ffill(limit=5)  # the catalog's forward fill of short gaps
    expected = {"ewma:16": indicators.ewma(filled, 16),
                "price_volatility:36": indicators.price_volatility(filled, 36),
                "return_volatility:25": indicators.return_volatility(filled, 25),
                "rsi:14": indicators.rsi(filled, 14)}
    for rows in (None, 1, 30):
        got = compute_features(set(expected), closes, closes, rows=rows)
        for name, frame in expected.items():
            frame = frame if rows is None else frame.iloc[-rows:]
            pd.testing.assert_frame_equal(got[name], frame, rtol=0, atol=1e-12)


def test_rolling_features_do_not_depend_on_how_much_history_is_given():
    closes = synthetic_closes()
    names = {"zscore:20", "sma:40", "channel_high:55", "channel_low:10", "momentum:63"}
    full = compute_features(names, closes, closes)
    tail = compute_features(names, closes, closes, rows=7)
    for name in names:  # the SMA's compensated running sum differs in the last bits only
        tolerance = 1e-12 if name.startswith("sma") else 0.0
        pd.testing.assert_frame_equal(tail[name], full[name].iloc[-7:], rtol=0, atol=tolerance)
    # pandas' running-sum rolling std drifts with history; the kernel stays within 1e-10
    pd.testing.assert_frame_equal(full["zscore:20"],
                                  indicators.rolling_zscore(closes.ffill(limit=5), 20),
                                  rtol=0, atol=1e-10)
    pd.testing.assert_frame_equal(full["sma:40"], indicators.sma(closes.ffill(limit=5), 40),
                                  rtol=0, atol=1e-12)


def test_history_declarations():
    assert strategy_history(STRATEGIES[0]) == 0
    assert strategy_history(STRATEGIES[6]) is None          # Donchian holds a position
    job = StrategyJob("x", STRATEGIES[3], ["a"], FilterConfig(half_life=2.5))
    assert job_history(job) == 100                           # 40 half-lives of 2.5 sessions

    class Subclass(ZScoreReversion):                         # overrides may add state
        pass

    assert strategy_history(Subclass(ZScoreParameters())) is None


def test_sma_crossover_runs_in_the_daily_signals_stage(loaded_settings, tmp_path):
    """``sma:<n>`` is a catalog feature, so the example SMA file runs in the pipeline."""
    from macroquant.db.bulk import read_frame
    from macroquant.pipeline.runner import run_stage
    from tests.conftest import make_settings

    directory = tmp_path / "strategies"
    directory.mkdir()
    (directory / "sma_cross_msft.yaml").write_text(
        "name: sma_cross_msft\ntype: trend_following\nrule: sma_crossover\n"
        "universe: [MSFT]\nparameters: {fast: 20, slow: 100}\nlong_only: true\n")
    settings = make_settings(tmp_path, loaded_settings.database_url, strategies_dir=directory)
    day = pd.Timestamp("2012-10-01").date()
    run_stage("ingest", day, day, "sma", settings)
    run_stage("validate", day, day, "sma", settings)
    assert run_stage("signals", day, day, "sma", settings)["signals"] == 1
    with transaction(loaded_settings.database_url) as conn:
        rows = read_frame(conn, "SELECT strength FROM signals")
        raw, adjusted, _ = load_market_panels(conn, day, False)
        msft = conn.execute("SELECT instrument_id FROM instruments WHERE symbol = 'MSFT'"
                            ).fetchone()[0]
    close = adjusted[msft].ffill(limit=5)
    expected = np.sign(close.rolling(20).mean().iloc[-1] - close.rolling(100).mean().iloc[-1])
    assert rows["strength"].tolist() == [max(expected, 0.0)]
