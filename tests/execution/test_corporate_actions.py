"""Splits and dividends in the paper account's replay (the core both drivers run): fills at
raw prices, positions adjusted on a split's ex-date, cash credited with dividends on theirs.

Checked on the bundled real AAPL history 2000-2013 (2:1 splits on 2000-06-21 and
2005-02-28, dividends from 2012-08-09) against a total-return calculation written
independently of the replay: shares held × raw close + cash, where cash is what was paid
for the shares plus every dividend per share × the shares held on its ex-date.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from macroquant.calendars import sessions as calendar_sessions
from macroquant.config.settings import TradingConfig
from macroquant.execution.accounting import apply_corporate_actions
from macroquant.execution.paper.replay import AccountState, replay_sessions
from macroquant.sources import sample

CAPITAL = 1_000_000.0
SHARES = 100.0


@pytest.fixture(scope="module")
def aapl():
    bars = sample.fetch_bars(date(1990, 1, 1), date(2030, 1, 1), ["AAPL"])
    bars["trade_date"] = pd.to_datetime(bars["trade_date"]).dt.date
    actions = sample.fetch_corporate_actions()
    actions = actions[actions["symbol"] == "AAPL"].assign(
        ex_date=lambda f: pd.to_datetime(f["ex_date"]).dt.date, instrument_id=1)
    return bars, actions


def _hold(aapl, start: date, end: date, with_actions: bool = True) -> dict:
    """Hold SHARES of AAPL (split-adjusted target) from ``start`` to ``end``."""
    bars, actions = aapl
    days = [d for d in calendar_sessions(start, end)
            if d in set(bars["trade_date"])]
    window = bars[bars["trade_date"].between(start, end)]
    splits = actions[actions["action"] == "split"].set_index("ex_date")["value"]
    ratio = pd.Series([float(splits[splits.index <= d].prod()) for d in days], index=days)
    ratio = ratio / ratio.iloc[0]
    approved = pd.DataFrame({"as_of": days, "instrument_id": 1,
                             "approved_quantity": SHARES * ratio.to_numpy()})
    config = TradingConfig.model_validate({"broker": {"name": "paper", "commission_bps": 0,
                                                      "slippage_bps": 0}, "stops": {}})
    instruments = pd.DataFrame({"symbol": ["AAPL"], "lot_size": [1.0],
                                "asset_class": ["single_stock"]}, index=pd.Index([1]))
    instruments.index.name = "instrument_id"
    first_close = pd.Series({1: float(window["close"].iloc[0])})
    state = AccountState.fresh(CAPITAL, first_close)
    return replay_sessions(days, config, state, instruments,
                           window.assign(instrument_id=1)[["trade_date", "instrument_id",
                                                           "open", "close"]],
                           approved, actions if with_actions else None)


def test_raw_price_replay_with_splits_and_dividends_is_total_return(aapl):
    bars, actions = aapl
    start, end = date(2000, 3, 1), date(2013, 2, 28)
    result = _hold(aapl, start, end)
    trades = result["trades"]
    assert len(trades) == 1                       # bought once; splits bring no trade
    bought = trades.iloc[0]
    assert bought["price"] == pytest.approx(float(
        bars.loc[bars["trade_date"] == bought["trade_date"], "open"].iloc[0]))

    # independent total-return book: shares and cash by hand from the vendor's actions
    performance = result["performance"].set_index("as_of")
    closes = bars.set_index("trade_date")["close"].astype(float)
    shares, cash, expected = 0.0, CAPITAL, {}
    events = actions.sort_values(["ex_date", "action"])
    for day in performance.index:
        for row in events[events["ex_date"] == day].itertuples():
            if row.action == "dividend":
                cash += shares * row.value
        for row in events[events["ex_date"] == day].itertuples():
            if row.action == "split":
                shares *= row.value
        if day == bought["trade_date"]:
            shares, cash = SHARES, cash - SHARES * float(bought["price"])
        expected[day] = cash + shares * closes[day]
    expected = pd.Series(expected)
    np.testing.assert_allclose(performance["equity"].to_numpy(float),
                               expected.reindex(performance.index).to_numpy(), rtol=1e-6)
    assert shares == SHARES * 4                   # two 2:1 splits after 2000-03
    dividends = result["account_actions"].query("action == 'dividend'")
    assert len(dividends) == 3 and (dividends["quantity_before"] == 400).all()
    assert dividends["cash"].sum() == pytest.approx(
        400 * actions.query("action == 'dividend'")["value"].sum())


def test_without_the_actions_the_split_shows_as_a_fake_loss(aapl):
    bars, _ = aapl
    start, end = date(2005, 2, 1), date(2005, 3, 31)
    adjusted = _hold(aapl, start, end)["performance"].set_index("as_of")["equity"]
    raw = _hold(aapl, start, end, with_actions=False)["performance"].set_index("as_of")[
        "equity"]
    split_day = date(2005, 2, 28)
    before = adjusted.index[adjusted.index.get_loc(split_day) - 1]
    # the same book up to the split; on the ex-date the unadjusted replay loses the value
    # of the 100 new shares at that day's close (and then trades to buy them back)
    assert adjusted[before] == raw[before]
    close = float(bars.loc[bars["trade_date"] == split_day, "close"].iloc[0])
    assert adjusted[split_day] - raw[split_day] == pytest.approx(SHARES * close, rel=1e-12)


def test_a_short_position_pays_the_dividend_and_a_split_keeps_the_cost():
    book = pd.DataFrame({"quantity": [-10.0, 30.0], "average_cost": [50.0, 90.0]},
                        index=pd.Index([1, 2], name="instrument_id"))
    actions = pd.DataFrame({"instrument_id": [1, 2, 2, 3], "action": ["dividend", "split",
                                                                      "dividend", "split"],
                            "value": [0.5, 3.0, 1.0, 2.0]})
    out, cash, entries = apply_corporate_actions(book, actions, date(2012, 5, 1))
    assert cash == pytest.approx(-10 * 0.5 + 30 * 1.0)     # dividend before the split
    assert out.loc[2, "quantity"] == 90.0 and out.loc[2, "average_cost"] == 30.0
    assert out.loc[1, "quantity"] == -10.0 and len(entries) == 3   # instrument 3 not held
