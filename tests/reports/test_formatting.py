"""How report tables print numbers: one rule per kind of column, checked by hand."""

from __future__ import annotations

import math

import pandas as pd

from macroquant.reports.formatting import MISSING, formatted, formatter_for


def test_each_kind_of_column_prints_its_own_way():
    assert formatter_for("pnl")(3.12345) == "3.12"  # an amount never gets 4 decimals
    assert formatter_for("pnl")(-1234567.891) == "-1,234,567.89"
    assert formatter_for("volatility_contribution")(0.5) == "0.50"
    assert formatter_for("pnl_share")(-0.7119) == "-71.2%"
    assert formatter_for("last_price")(1.521321) == "1.5213"  # an FX rate
    assert formatter_for("last_price")(1514.6812) == "1,514.68"
    assert formatter_for("quantity")(-165000.0) == "-165,000"
    assert formatter_for("quantity")(0.5) == "0.5000"
    assert formatter_for("symbol")("EURUSD") == "EURUSD"


def test_missing_values_print_a_dash():
    for value in (None, math.nan, math.inf):
        assert formatter_for("pnl")(value) == MISSING == "—"
    frame = pd.DataFrame({"symbol": ["SPX", None], "average_fill_price": [math.nan, 1.1]})
    assert formatted(frame).to_dict("list") == {"symbol": ["SPX", "—"],
                                                "average_fill_price": ["—", "1.1000"]}
