"""Each data check flags the rows it should, with a reason, and nothing else."""

from __future__ import annotations

import numpy as np
import pandas as pd

from macroquant.validation.checks import run_checks

COLUMNS = ["symbol", "trade_date", "open", "high", "low", "close", "adj_close", "volume"]


def _bars(rows):
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["trade_date"] = pd.to_datetime(frame["trade_date"])
    frame["as_of"] = pd.Timestamp("2012-01-05")
    return frame


def test_each_check_flags_its_rows():
    nan = np.nan
    bars = _bars([
        ("A", "2012-01-05", 10, 11, 9, 10.5, 10.5, 100),      # good
        ("B", "2012-01-05", nan, nan, nan, 1.3, nan, nan),    # good: close-only source
        ("A", "2012-01-04", 10, 11, 9, nan, 10, 100),         # missing close
        ("A", "2012-01-03", 10, nan, 9, 10, 10, 100),         # partial OHLC
        ("A", "2012-01-02", 0, 11, 0, 10, 10, 100),           # non-positive
        ("A", "2011-12-30", 10, 9.5, 9, 10, 10, 100),         # high below open
        ("A", "2011-12-29", 10, 11, 9, 10, 10, 100),          # duplicate pair
        ("A", "2011-12-29", 10, 11, 9, 10.2, 10, 100),
        ("A", "2012-01-06", 10, 11, 9, 10, 10, 100),          # future
        ("ZZZ", "2012-01-05", 10, 11, 9, 10, 10, 100),        # unknown instrument
    ])
    failures, summary = run_checks(bars, {"A", "B"})
    by_check = failures.groupby("check_name")["trade_date"].apply(
        lambda s: sorted(d.strftime("%m-%d") for d in s)).to_dict()
    assert by_check == {
        "missing_values": ["01-03", "01-04"],
        "non_positive_price": ["01-02"],
        "ohlc_consistency": ["12-30"],
        "duplicate": ["12-29", "12-29"],
        "future_timestamp": ["01-06"],
        "unknown_instrument": ["01-05"],
    }
    assert failures["reason"].str.len().min() > 10
    assert summary.set_index("check_name")["rows_failed"].sum() == len(failures)
