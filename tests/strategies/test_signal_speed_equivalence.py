"""The daily signal stage's trailing-history path equals the full-history computation.

``run_window`` computes features only for the sessions each job needs and runs pointwise
rules on the window alone; the reference is the full-history path (``compute_features``
over everything, every strategy over everything, the window's rows kept).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

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
    HOLD_PROBE_SESSIONS,
    StrategyJob,
    decay_history,
    holds_position,
    job_history,
    run_jobs,
    run_window,
    strategy_history,
)
from macroquant.strategies.filters import decay, sessions_unchanged
from macroquant.strategies.loader import FilterConfig
from macroquant.strategies.mean_reversion import (
    BollingerParameters,
    BollingerReversion,
    RsiParameters,
    RsiReversion,
)
from macroquant.strategies.moving_average import SmaCrossover, SmaCrossoverParameters
from macroquant.strategies.positions import hold_until_exit, starting_position
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
    # the channel kernel is exact: pandas' rolling max / min of the sessions before
    pd.testing.assert_frame_equal(full["channel_high:55"],
                                  indicators.channel_high(closes.ffill(limit=5), 55),
                                  rtol=0, atol=0)
    pd.testing.assert_frame_equal(full["channel_low:10"],
                                  indicators.channel_low(closes.ffill(limit=5), 10),
                                  rtol=0, atol=0)


def test_history_declarations():
    assert strategy_history(STRATEGIES[0]) == 0
    assert strategy_history(STRATEGIES[6]) is None          # Donchian holds a position
    job = StrategyJob("x", STRATEGIES[3], ["a"], FilterConfig(half_life=2.5))
    assert job_history(job) == 100                           # 40 half-lives of 2.5 sessions
    # with a minimum strength the bound is exact: 20 * log2(1 / 0.05) = 86.4 -> 87, + 1
    assert decay_history(FilterConfig(min_strength=0.05, half_life=20)) == 88
    assert 0.5 ** (88 / 20) < 0.05 <= 0.5 ** (86 / 20)
    assert decay_history(FilterConfig(min_strength=0.5, half_life=100)) == 101
    assert decay_history(FilterConfig(min_strength=1e-30, half_life=1)) == 40  # 40 half-lives
    assert holds_position(STRATEGIES[6]) and holds_position(STRATEGIES[8])
    assert not holds_position(STRATEGIES[0])

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


def reference_hold(el, xl, es, xs, ok, start=0.0):
    """The state machine of ``hold_until_exit``'s docstring, one cell at a time."""
    out = np.full(el.shape, np.nan)
    for j in range(el.shape[1]):
        state = start
        for t in range(el.shape[0]):
            if not ok[t, j]:
                continue
            closing = {1.0: xl[t, j] or es[t, j], -1.0: xs[t, j] or el[t, j], 0.0: False}
            if closing[state]:
                state = 0.0
            if state == 0 and el[t, j] != es[t, j]:
                state = 1.0 if el[t, j] else -1.0
            out[t, j] = state
    return out


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40).flatmap(lambda rows: st.tuples(*(
    arrays(bool, (rows, 3)) for _ in range(5)))), st.sampled_from([-1.0, 0.0, 1.0]))
def test_the_hold_kernel_equals_the_state_machine_cell_by_cell(flags, start):
    frames = [pd.DataFrame(f) for f in flags]
    with starting_position(start):
        got = hold_until_exit(*frames).to_numpy()
    np.testing.assert_array_equal(got, reference_hold(*flags, start=start))
    if start == 0.0:  # the default start is flat
        np.testing.assert_array_equal(hold_until_exit(*frames).to_numpy(), got)


def pandas_sessions_unchanged(values: np.ndarray) -> np.ndarray:
    """The previous pandas implementation of the decay filter's age."""
    changed = np.ones(values.shape, dtype=bool)
    changed[1:] = ~(values[1:] == values[:-1])
    positions = np.arange(len(values))[:, None] * np.ones((1, values.shape[1]))
    last_change = pd.DataFrame(np.where(changed, positions, np.nan)).ffill().to_numpy()
    return np.where(np.isnan(values), np.nan, positions - last_change)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40).flatmap(lambda rows: st.tuples(
    arrays(float, (rows, 3), elements=st.sampled_from([np.nan, 0.0, 0.5, -1.0, 0.25])),
    st.integers(0, rows))))
def test_decay_ages_equal_the_previous_pandas_implementation(case):
    values, keep = case
    frame = pd.DataFrame(values)
    np.testing.assert_array_equal(sessions_unchanged(frame).to_numpy(),
                                  pandas_sessions_unchanged(values))
    full = decay(frame, 3.0)
    pd.testing.assert_frame_equal(decay(frame, 3.0, keep), full.iloc[len(values) - keep:])
    expected = values * np.power(0.5, pandas_sessions_unchanged(values) / 3.0)
    np.testing.assert_array_equal(full.to_numpy(), expected)


def test_a_position_held_longer_than_the_probe_comes_from_all_history():
    """An instrument that breaks out and then stays flat keeps its Donchian long for good:
    started long, flat or short on a trailing slice, the rule never agrees with itself,
    so the engine widens the slice up to all history (and finds the long)."""
    days = HOLD_PROBE_SESSIONS * 6
    closes = synthetic_closes(days)
    closes.iloc[:, 1] = np.concatenate([np.linspace(50, 150, 200), np.full(days - 200, 150.0)])
    window = closes.index[-3:]
    jobs = [StrategyJob(f"d{f}", STRATEGIES[6], list(closes.columns), FILTERS[f])
            for f in range(len(FILTERS))]
    names = STRATEGIES[6].required_features()
    reference = run_jobs(jobs, compute_features(names, closes, closes), window=window)
    fast = run_window(jobs, closes, closes, window)
    for job in jobs:  # the decay without a minimum strength is bounded to 1e-12 (d2)
        pd.testing.assert_frame_equal(fast.signals[job.name], reference.signals[job.name],
                                      rtol=0, atol=1e-12 if job.name == "d2" else 0.0)
    held = fast.signals["d0"].set_index("instrument")["strength"]
    assert held["i1"].tolist() == [1.0] * 3  # long since the breakout, 550 sessions before
    with starting_position(-1.0):  # what a slice started short would have said
        short = STRATEGIES[6].generate(compute_features(names, closes, closes,
                                                        rows=HOLD_PROBE_SESSIONS))
    assert short["i1"].iloc[-1] == -1.0
    # decayed for 550 sessions with a half-life of 5, below the minimum strength: 0
    assert fast.signals["d1"].set_index("instrument")["strength"]["i1"].tolist() == [0.0] * 3
    # half-life 2.5 without a minimum: 0.5 ** (552 / 2.5) ~ 1e-67 over all history, and
    # 0.5 ** (100 / 2.5) ~ 9e-13 from the 40 half-lives read by the window path
    full_age = reference.signals["d2"].set_index("instrument")["strength"]["i1"].iloc[0]
    assert 0 < full_age < 1e-60
    window_age = fast.signals["d2"].set_index("instrument")["strength"]["i1"].iloc[0]
    assert math.isclose(window_age, 0.5 ** (100 / 2.5), rel_tol=1e-12)
