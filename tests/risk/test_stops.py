"""Stop-loss and take-profit: hand-computed trigger days, the re-entry rule, invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from macroquant.config.settings import StrategyStops, TradingConfig
from macroquant.portfolio.book import stop_book_targets
from macroquant.risk.stops import TRADING_DAYS, apply_stops

SQRT = float(np.sqrt(TRADING_DAYS))


def rules(**spec: object) -> StrategyStops:
    return StrategyStops.model_validate(spec)


def run(prices, directions, spec, daily_vol=0.01):
    price = np.asarray(prices, dtype=float).reshape(-1, 1)
    direction = np.asarray(directions, dtype=float).reshape(-1, 1)
    vol = np.full_like(price, daily_vol) if np.isscalar(daily_vol) else \
        np.asarray(daily_vol, dtype=float).reshape(-1, 1)
    return apply_stops(direction, price, vol, rules(**spec))


def fired(result):
    return [(x.date_index, x.check_name, round(x.level, 9)) for x in result.triggers]


def test_fixed_stop_loss_long_triggers_on_the_first_close_at_or_below_entry_minus_10pct():
    # entry 100 -> level 90; 95 is above, 89 is the first close at or below
    result = run([100, 105, 95, 89, 92, 88], [1] * 6,
                 {"stop_loss": {"kind": "fixed", "fraction": 0.10}})
    assert fired(result) == [(3, "stop_loss", 90.0)]
    assert result.flat[:, 0].tolist() == [False, False, False, True, True, True]
    trigger = result.triggers[0]
    assert (trigger.side, trigger.price, trigger.entry_price, trigger.best_price) == \
        (1, 89.0, 100.0, 105.0)


def test_fixed_stop_loss_short_triggers_at_or_above_entry_plus_10pct():
    # entry 100 -> level 110: 105 holds, 110.5 triggers
    result = run([100, 105, 110.5, 100], [-1] * 4, {"stop_loss": {"kind": "fixed",
                                                                  "fraction": 0.10}})
    assert fired(result) == [(2, "stop_loss", 110.0)]
    assert result.flat[:, 0].tolist() == [False, False, True, True]


def test_trailing_stop_follows_the_best_close():
    # best 120 on day 2 -> level 108: 109 holds, 107 triggers (a fixed 10% stop would not)
    prices = [100, 110, 120, 109, 107]
    trailing = run(prices, [1] * 5, {"stop_loss": {"kind": "trailing", "fraction": 0.10}})
    assert [(t, c, lvl) for t, c, lvl in fired(trailing)] == [(4, "stop_loss", 108.0)]
    assert trailing.triggers[0].best_price == 120.0
    assert fired(run(prices, [1] * 5, {"stop_loss": {"kind": "fixed", "fraction": 0.1}})) == []
    # a short trails the lowest close: best 80 -> level 88; 87 holds, 88.5 triggers
    short = run([100, 90, 80, 87, 88.5], [-1] * 5,
                {"stop_loss": {"kind": "trailing", "fraction": 0.10}})
    assert [(t, c) for t, c, _ in fired(short)] == [(4, "stop_loss")]
    assert short.triggers[0].level == pytest.approx(88.0)


def test_volatility_stop_from_entry_uses_the_entry_dates_volatility():
    # daily vol 1% at entry, price 100: 3 volatilities = 3.00 -> level 97.
    # The volatility later jumps to 50%: the distance stays the one fixed at entry.
    vol = [0.01, 0.5, 0.5, 0.5]
    result = run([100, 98, 97.5, 96.9], [1] * 4,
                 {"stop_loss": {"kind": "volatility", "multiple": 3}}, daily_vol=vol)
    assert [(t, c) for t, c, _ in fired(result)] == [(3, "stop_loss")]
    assert result.triggers[0].level == pytest.approx(97.0)


def test_volatility_stop_from_best_close():
    # best 104 -> level 104 - 3 = 101: 101.5 holds, 100.9 triggers
    result = run([100, 104, 101.5, 100.9], [1] * 4,
                 {"stop_loss": {"kind": "volatility", "multiple": 3, "anchor": "best"}})
    assert [(t, c) for t, c, _ in fired(result)] == [(3, "stop_loss")]
    assert result.triggers[0].level == pytest.approx(101.0)


def test_take_profit_fixed_short_and_volatility_long():
    # short from 100, take profit 5% -> 95: 95.5 holds, 94.9 triggers
    short = run([100, 97, 95.5, 94.9, 90], [-1] * 5,
                {"take_profit": {"kind": "fixed", "fraction": 0.05}})
    assert [(t, c) for t, c, _ in fired(short)] == [(3, "take_profit")]
    assert short.triggers[0].level == pytest.approx(95.0)
    assert short.flat[:, 0].tolist() == [False, False, False, True, True]
    # long from 50, daily vol 1% -> 6 volatilities = 3.00 -> level 53: 53.1 triggers
    long = run([50, 52, 53.1], [1] * 3, {"take_profit": {"kind": "volatility", "multiple": 6}})
    assert [(t, c) for t, c, _ in fired(long)] == [(2, "take_profit")]
    assert long.triggers[0].level == pytest.approx(53.0)


def test_reentry_only_after_the_signal_changes_sign():
    spec = {"stop_loss": {"kind": "fixed", "fraction": 0.10}}
    # stopped on day 1; the signal stays long (flat), goes to 0, then long again from 70:
    # a new episode with entry 70 -> no longer flat, and its own level 63 triggers on day 6.
    result = run([100, 80, 75, 72, 70, 66, 62], [1, 1, 1, 0, 1, 1, 1], spec)
    assert result.flat[:, 0].tolist() == [False, True, True, False, False, False, True]
    assert [(t, c) for t, c, _ in fired(result)] == [(1, "stop_loss"), (6, "stop_loss")]
    assert result.triggers[1].entry_price == 70.0
    # a flip to short re-enters at once (a new episode from 80, short)
    flip = run([100, 80, 80, 85], [1, 1, -1, -1], spec)
    assert flip.flat[:, 0].tolist() == [False, True, False, False]


def test_a_date_without_observation_neither_triggers_nor_ends_the_episode():
    spec = {"stop_loss": {"kind": "fixed", "fraction": 0.10}}
    result = run([100, np.nan, 95, 89], [1, np.nan, 1, 1], spec)
    assert [(t, c) for t, c, _ in fired(result)] == [(3, "stop_loss")]
    assert result.triggers[0].entry_index == 0


def test_stop_loss_wins_when_both_fire_and_columns_are_independent():
    spec = {"stop_loss": {"kind": "fixed", "fraction": 0.10},
            "take_profit": {"kind": "fixed", "fraction": 0.10}}
    price = np.array([[100.0, 100.0], [111.0, 89.0], [80.0, 120.0]])
    direction = np.ones_like(price)
    result = apply_stops(direction, price, np.full_like(price, 0.01), rules(**spec))
    assert [(x.date_index, x.column, x.check_name) for x in result.triggers] == \
        [(1, 1, "stop_loss"), (1, 0, "take_profit")]
    assert result.flat.tolist() == [[False, False], [True, True], [True, True]]


def test_configuration_is_strict():
    config = TradingConfig.model_validate({"stops": {"ewma_trend": {
        "stop_loss": {"kind": "trailing", "fraction": 0.08},
        "take_profit": {"kind": "volatility", "multiple": 6}}}})
    assert config.stops["ewma_trend"].stop_loss.fraction == 0.08
    bad = [
        {"stop_loss": {"kind": "trailing", "fraction": 0.08, "multiple": 2}},  # unknown key
        {"stop_loss": {"kind": "atr", "fraction": 0.08}},                      # unknown kind
        {"take_profit": {"kind": "trailing", "fraction": 0.08}},               # no trailing TP
        {"take_profit": {"kind": "volatility", "multiple": 2, "anchor": "best"}},
        {"stop_loss": {"kind": "fixed", "fraction": 1.0}},                     # >= 100%
        {"stop_loss": {"kind": "volatility"}},                                 # no multiple
        {"stop_los": {"kind": "fixed", "fraction": 0.1}},                      # typo
    ]
    for spec in bad:
        with pytest.raises(ValidationError):
            StrategyStops.model_validate(spec)
    with pytest.raises(ValidationError, match="frozen"):
        config.stops["ewma_trend"].stop_loss.fraction = 0.5  # type: ignore[misc]


# ------------------------------------------------------------------ properties

rule_specs = st.sampled_from([
    {"stop_loss": {"kind": "fixed", "fraction": 0.05}},
    {"stop_loss": {"kind": "trailing", "fraction": 0.03}},
    {"stop_loss": {"kind": "volatility", "multiple": 2, "anchor": "best"}},
    {"take_profit": {"kind": "fixed", "fraction": 0.04}},
    {"stop_loss": {"kind": "trailing", "fraction": 0.05},
     "take_profit": {"kind": "volatility", "multiple": 3}},
])


@st.composite
def paths(draw):
    days = draw(st.integers(2, 40))
    columns = draw(st.integers(1, 3))
    steps = draw(st.lists(st.floats(-0.06, 0.06), min_size=days * columns,
                          max_size=days * columns))
    price = 100 * np.cumprod(1 + np.array(steps).reshape(days, columns), axis=0)
    direction = np.array(draw(st.lists(st.sampled_from([-1.0, 0.0, 1.0, 1.0, 1.0]),
                                       min_size=days * columns, max_size=days * columns)))
    return direction.reshape(days, columns), price


@settings(max_examples=150, deadline=None)
@given(paths(), rule_specs, st.data())
def test_a_stop_on_day_t_uses_prices_up_to_t_only(path, spec, data):
    direction, price = path
    vol = np.full_like(price, 0.012)
    cut = data.draw(st.integers(1, len(price)))
    full = apply_stops(direction, price, vol, rules(**spec))
    truncated = apply_stops(direction[:cut], price[:cut], vol[:cut], rules(**spec))
    assert (full.flat[:cut] == truncated.flat).all()
    assert [x for x in full.triggers if x.date_index < cut] == truncated.triggers
    # flat only where the strategy has a side, and only after a trigger in that episode
    assert not (full.flat & (direction == 0)).any()


def _targets_frame(direction, price, strategy_id=1):
    days, columns = price.shape
    dates = pd.bdate_range("2012-03-01", periods=days)
    rows = []
    for t in range(days):
        for i in range(columns):
            quantity = direction[t, i] * (1000.0 + 17 * t + i)
            rows.append({"as_of": dates[t], "symbol": f"S{i}", "strategy_id": strategy_id,
                         "signal_strength": direction[t, i] * 0.5, "price": price[t, i],
                         "instrument_volatility": 0.012 * SQRT, "target_quantity": quantity,
                         "target_notional": quantity * price[t, i]})
    return pd.DataFrame(rows), dates


@settings(max_examples=60, deadline=None)
@given(paths(), rule_specs)
def test_stops_disabled_leave_targets_unchanged_and_a_stop_never_enlarges(path, spec):
    targets, dates = _targets_frame(*path)
    history = pd.DataFrame(columns=["as_of", "strategy", "symbol", "signal_strength", "price",
                                    "instrument_volatility"])
    off, events = stop_book_targets(targets, history, {1: "trend"}, TradingConfig(), dates[0])
    pd.testing.assert_frame_equal(off, targets)
    assert events.empty
    on, events = stop_book_targets(targets, history, {1: "trend"},
                              TradingConfig.model_validate({"stops": {"trend": spec}}), dates[0])
    before, after = targets["target_quantity"].abs(), on["target_quantity"].abs()
    assert (after <= before).all()
    assert ((after == before) | (after == 0)).all()
    assert set(events["check_name"]) <= {"stop_loss", "take_profit"}
    assert set(events["outcome"]) <= {"block"}


def test_history_before_the_window_carries_the_episode():
    # Same path split at day 3: the window alone would start a new episode at 92 and miss
    # the stop; with the earlier targets as history the entry is 100 and day 3 triggers.
    direction = np.ones((5, 1))
    price = np.array([[100.0], [97.0], [92.0], [89.0], [91.0]])
    targets, dates = _targets_frame(direction, price)
    spec = TradingConfig.model_validate({"stops": {"trend": {
        "stop_loss": {"kind": "fixed", "fraction": 0.10}}}})
    whole, whole_events = stop_book_targets(targets, targets.iloc[:0].assign(strategy="trend"),
                                       {1: "trend"}, spec, dates[0])
    history = targets.iloc[:3].assign(strategy="trend")
    window, window_events = stop_book_targets(targets.iloc[3:], history, {1: "trend"}, spec,
                                         dates[3])
    assert whole["target_quantity"].tolist()[3:] == window["target_quantity"].tolist() == [0, 0]
    assert whole_events.drop(columns="run_id").to_dict("records") == \
        window_events.drop(columns="run_id").to_dict("records")
    event = window_events.iloc[0]
    assert (event["check_name"], event["subject"], event["limit_value"],
            event["observed_value"]) == ("stop_loss", "trend:S0", 90.0, 89.0)
    assert "since 2012-03-01 at 100" in event["reason"]
