"""Each built-in rule against a small case computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from macroquant.features import indicators
from macroquant.features.catalog import compute_features
from macroquant.strategies.base import StrategyInputs
from macroquant.strategies.macro import MacroRegime, MacroRegimeParameters, risk_off_votes
from macroquant.strategies.mean_reversion import (
    BollingerParameters,
    BollingerReversion,
    RsiParameters,
    RsiReversion,
)
from macroquant.strategies.patterns import (
    BreakoutParameters,
    CandlestickParameters,
    CandlestickPatterns,
    SupportResistanceBreakout,
)
from macroquant.strategies.positions import hold_until_exit
from macroquant.strategies.trend import (
    DonchianBreakout,
    DonchianParameters,
    MomentumParameters,
    MultiSpeedEwma,
    MultiSpeedEwmaParameters,
    TimeSeriesMomentum,
)

NAN = np.nan


def frame(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"x": values}, dtype=float)


def as_list(result: pd.DataFrame) -> list[float]:
    return result["x"].tolist()


def test_hold_until_exit_enters_holds_exits_and_flips():
    b = lambda v: pd.DataFrame({"x": v})  # noqa: E731
    out = hold_until_exit(enter_long=b([0, 1, 0, 0, 0, 0, 1]), exit_long=b([0, 0, 0, 1, 0, 0, 0]),
                          enter_short=b([0, 0, 0, 0, 1, 0, 0]),
                          exit_short=b([0, 0, 0, 0, 0, 0, 0]),
                          known=b([1, 1, 1, 1, 1, 0, 1]))
    # enter long, hold, exit, go short, unknown day keeps the short (NaN out), flip long
    assert out["x"].tolist()[:5] == [0, 1, 1, 0, -1]
    assert np.isnan(out["x"].iloc[5]) and out["x"].iloc[6] == 1


def test_bollinger_holds_from_entry_band_to_exit_band():
    z = frame([0, -2.5, -1.0, -0.4, 0.3, 2.5, 1.0, 0.4, NAN])
    rule = BollingerReversion(BollingerParameters(window=20, entry_band=2.0, exit_band=0.5))
    out = as_list(rule.generate({"zscore:20": z}))
    assert out[:8] == [0, 1, 1, 0, 0, -1, -1, 0] and np.isnan(out[8])


def test_rsi_rule_uses_entry_and_exit_levels():
    rsi = frame([50, 25, 40, 55, 75, 60, 45])
    out = as_list(RsiReversion(RsiParameters(period=14)).generate({"rsi:14": rsi}))
    assert out == [0, 1, 1, 0, -1, -1, 0]


def test_rsi_indicator_agrees_with_talib_after_warmup():
    rng = np.random.default_rng(11)
    close = 100 + np.cumsum(rng.normal(0, 1, 800))
    ours = indicators.rsi(pd.DataFrame({"a": close}), 14)["a"].to_numpy()
    np.testing.assert_allclose(ours[400:], talib.RSI(close, 14)[400:], rtol=1e-9)


def test_rsi_of_a_steady_rise_is_100_and_of_a_flat_line_50():
    rising = indicators.rsi(frame(list(range(1, 30))), 5)
    flat = indicators.rsi(frame([7.0] * 30), 5)
    assert rising["x"].iloc[-1] == 100.0 and flat["x"].iloc[-1] == 50.0


def test_donchian_breakout_by_hand():
    close = frame([10, 11, 12, 13, 12, 11, 10, 9, 10])
    features = compute_features({"close", "channel_high:3", "channel_low:3", "channel_high:2",
                                 "channel_low:2"}, close, close)
    out = as_list(DonchianBreakout(DonchianParameters(entry_window=3, exit_window=2))
                  .generate(features))
    # t=3: 13 > max(10,11,12) long; t=4: 12 not < min(12,13) hold; t=5: 11 < min(12,13,12)
    # breaks the 3-session low: flip short; then 10, 9, 10 never close above the 2-day high
    assert np.isnan(out[:3]).all() and out[3:] == [1, 1, -1, -1, -1, -1]


def test_time_series_momentum_by_hand():
    rule = TimeSeriesMomentum(MomentumParameters(lookback=63, volatility_span=36,
                                                 full_strength_sharpe=2.0))
    # return 0.10 over a quarter with 20% annual volatility: 0.10 / (0.2 * 0.5) = 1 -> 0.5
    out = as_list(rule.generate({"momentum:63": frame([0.10, -0.30, 0.0]),
                                 "return_volatility:36": frame([0.2, 0.2, 0.2])}))
    assert out == pytest.approx([0.5, -1.0, 0.0])


def test_multi_speed_ewma_averages_capped_forecasts():
    rule = MultiSpeedEwma(MultiSpeedEwmaParameters(
        speeds=[{"fast": 2, "slow": 4, "scalar": 2.0}, {"fast": 4, "slow": 8, "scalar": 10.0}],
        volatility_span=5))
    features = {"ewma:2": frame([11.0]), "ewma:4": frame([10.0]), "ewma:8": frame([12.0]),
                "price_volatility:5": frame([0.5])}
    # speed 1: (11-10)/0.5*2 = 4 ; speed 2: (10-12)/0.5*10 = -40 -> capped -20
    # mean (4 - 20)/2 = -8 -> -8/20 = -0.4
    assert as_list(rule.generate(features)) == pytest.approx([-0.4])


def test_macro_votes_and_tilts_by_hand():
    dates = pd.date_range("2020-01-01", periods=3, freq="B")
    macro = pd.DataFrame({"AAA": [4.0, 4.0, 4.0], "US_TBILL_3M_Q": [4.2, 3.0, NAN],
                          "BAA": [5.0, 6.0, 5.0], "VIX": [30.0, 12.0, 30.0]}, index=dates)
    params = MacroRegimeParameters(inflation=None, unemployment=None)
    rule = MacroRegime(params)
    close = pd.DataFrame(1.0, index=dates, columns=["SPX", "VIX", "EURUSD"])
    out = rule.generate_signals(StrategyInputs(
        features={"close": close}, macro=macro,
        asset_classes=pd.Series({"SPX": "equity_index", "VIX": "volatility", "EURUSD": "fx"})))
    # day 1: slope -0.2 off, spread 1.0 on, vix 30 off -> 2/3 off -> score 1 - 4/3 = -1/3
    # day 2: slope +1 on, spread 2.0 off, vix 12 on -> score 1/3
    # day 3: slope unknown; spread 1.0 on, vix off -> 1/2 off -> score 0, confidence 2/3
    assert out.strength["SPX"].tolist() == pytest.approx([-1 / 3, 1 / 3, 0.0])
    assert out.strength["VIX"].tolist() == pytest.approx([1 / 3, -1 / 3, 0.0])
    assert out.strength["EURUSD"].tolist() == [0.0, 0.0, 0.0]
    assert out.confidence["SPX"].tolist() == pytest.approx([1.0, 1.0, 2 / 3])


def test_sahm_style_rule_fires_on_a_half_point_rise_above_the_year_low():
    dates = pd.date_range("2000-01-03", periods=300, freq="B")
    rate = pd.Series(5.0, index=dates)
    rate.iloc[280:] = 5.4
    rate.iloc[290:] = 5.5
    votes = risk_off_votes(pd.DataFrame({"U": rate}), MacroRegimeParameters(
        yield_curve=None, inflation=None, credit_spread=None, vix=None,
        unemployment={"series": "U", "min_rise": 0.5}))["unemployment"]
    assert votes.iloc[:251].isna().all()  # a year of history first
    assert votes.iloc[251:290].eq(0).all() and votes.iloc[290:].eq(1).all()


def test_candlestick_pattern_needs_next_day_confirmation_and_is_held():
    close = frame([10, 10, 10, 11, 11, 11, 11, 11, 9])
    engulf = frame([0, 0, 1, 0, 0, 0, 0, -1, 0])
    rule = CandlestickPatterns(CandlestickParameters(patterns=("CDLENGULFING",), hold=3))
    out = as_list(rule.generate({"close": close, "candle:CDLENGULFING": engulf}))
    # bullish on t=2, t=3 closes higher: long t=3..5; bearish on t=7 confirmed by t=8's fall
    assert np.isnan(out[0]) and out[1:] == [0, 0, 1, 1, 1, 0, 0, -1]
    unconfirmed = as_list(rule.generate({"close": frame([10, 10, 10, 9, 9]),
                                         "candle:CDLENGULFING": frame([0, 0, 1, 0, 0])}))
    assert unconfirmed[1:] == [0, 0, 0, 0]


def test_candlestick_feature_is_talib_sign():
    rng = np.random.default_rng(5)
    close = 100 + np.cumsum(rng.normal(0, 1, 300))
    open_ = close + rng.normal(0, 1, 300)
    high = np.maximum(open_, close) + rng.uniform(0, 1, 300)
    low = np.minimum(open_, close) - rng.uniform(0, 1, 300)
    out = indicators.candlestick("CDLENGULFING", *(pd.DataFrame({"a": v})
                                                   for v in (open_, high, low, close)))
    expected = np.sign(talib.CDLENGULFING(open_, high, low, close))
    assert (out["a"].to_numpy() == expected).all() and np.abs(expected).sum() > 5


def test_breakout_needs_consecutive_closes_beyond_the_buffer():
    close = frame([10, 10, 10, 10, 10.5, 10.5, 10.2, 9.9])
    features = compute_features({"close", "channel_high:3", "channel_low:3"}, close, close)
    rule = SupportResistanceBreakout(BreakoutParameters(window=3, confirm_sessions=2,
                                                        buffer=0.01))
    out = as_list(rule.generate(features))
    # resistance 10 (before the move), level 10.1: closes 10.5, 10.5 confirm on t=5; the
    # midpoint at t=6 is (10.5+10)/2 = 10.25 and 10.2 is below it: exit
    assert np.isnan(out[:4]).all() and out[4:] == [0, 1, 0, 0]
