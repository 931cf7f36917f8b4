"""Corporate actions: derived from the bundled AAPL data, stored, and applied on read."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import psycopg
import pytest

from macroquant.sources.sample import client, parse
from macroquant.validation.corporate_actions import adjusted_bars, adjustment_factors


def test_aapl_splits_are_derived_from_raw_and_adjusted_closes():
    actions = parse.corporate_actions_from_adjusted("AAPL", client.bokeh_stock("AAPL"))
    splits = actions[actions["action"] == "split"]
    assert [(d.date(), v) for d, v in zip(splits["ex_date"], splits["value"], strict=True)] == [
        (date(2000, 6, 21), 2.0), (date(2005, 2, 28), 2.0)]


def test_factors_hand_computed():
    dates = pd.Series(pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04",
                                      "2024-01-05"]))
    closes = pd.Series([50.0, 49.0, 25.0, 26.0])
    actions = pd.DataFrame({"ex_date": pd.to_datetime(["2024-01-03", "2024-01-04"]),
                            "action": ["dividend", "split"], "value": [1.0, 2.0]})
    price, split = adjustment_factors(dates, closes, actions, "total_return")
    # 01-02: split 1/2 and dividend (1 - 1/50); 01-03: split only; after: none
    np.testing.assert_allclose(price, [0.5 * 0.98, 0.5, 1.0, 1.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(split, [0.5, 0.5, 1.0, 1.0], rtol=0, atol=1e-15)
    price, _ = adjustment_factors(dates, closes, actions, "split")
    np.testing.assert_allclose(price, [0.5, 0.5, 1.0, 1.0], rtol=0, atol=1e-15)


def test_aapl_raw_close_halves_across_the_split_and_adjusted_is_continuous(loaded_db_url):
    with psycopg.connect(loaded_db_url) as conn:
        stored = conn.execute("""SELECT action, value, source_id FROM corporate_actions
                                 WHERE symbol = 'AAPL' AND ex_date = '2005-02-28'""").fetchall()
        bars = adjusted_bars(conn, ["AAPL"], date(2005, 2, 24), date(2005, 3, 1))
        vendor = dict(conn.execute("""SELECT m.trade_date, m.adj_close FROM market_data m
                                      JOIN instruments i USING (instrument_id)
                                      WHERE i.symbol = 'AAPL' AND m.trade_date
                                      BETWEEN '2005-02-25' AND '2005-02-28'""").fetchall())
    assert stored == [("split", 2.0, "sample")]
    by_date = bars.set_index(bars["trade_date"].dt.date)
    before, after = by_date.loc[date(2005, 2, 25)], by_date.loc[date(2005, 2, 28)]
    # raw: as traded, 88.99 then 44.86 (the close halves)
    assert (before["close"], after["close"]) == (88.99, 44.86)
    # split-adjusted: 88.99 / 2 = 44.495, and the day's return is +0.82 %, not -49.6 %
    assert before["adj_close"] == pytest.approx(44.495, abs=1e-12)
    assert after["adj_close"] == 44.86 and after["factor"] == 1.0
    assert after["adj_close"] / before["adj_close"] - 1 == pytest.approx(0.0082031, abs=1e-6)
    assert before["adj_volume"] == pytest.approx(2 * before["volume"])
    # the same return as the vendor's own adjusted close (5.765135 / 5.718228)
    vendor_return = vendor[date(2005, 2, 28)] / vendor[date(2005, 2, 25)] - 1
    assert after["adj_close"] / before["adj_close"] - 1 == pytest.approx(vendor_return,
                                                                         abs=1e-6)
    # the 2000 split applies to earlier bars too: both factors compound to 1/4
    with psycopg.connect(loaded_db_url) as conn:
        early = adjusted_bars(conn, ["AAPL"], date(2000, 6, 20), date(2000, 6, 20))
    assert early["factor"].iloc[0] == 0.25


def test_unknown_kind_is_an_error(loaded_db_url):
    with psycopg.connect(loaded_db_url) as conn, pytest.raises(ValueError, match="kind"):
        adjusted_bars(conn, ["AAPL"], date(2005, 1, 1), date(2005, 2, 1), kind="dividends")
