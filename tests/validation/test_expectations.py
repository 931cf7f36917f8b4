"""The great-expectations suites: the market-bars suite and the SQL gate fail exactly the
same rows per check on a hand-made frame with planted failures; the economic suite finds
its planted failures; ``macroquant data-quality suite`` runs over staging."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import psycopg

from macroquant.cli import build_parser
from macroquant.db.bulk import copy_rows, read_frame
from macroquant.validation import audit
from macroquant.validation.expectations import validate_economic, validate_market_bars

AS_OF = date(2012, 1, 5)
NAN = np.nan
STAGING = ["source_id", "as_of", "row_number", "symbol", "trade_date", "open", "high", "low",
           "close", "adj_close", "volume"]
BARS = [  # symbol, trade_date, open, high, low, close, adj_close, volume
    ("A", "2012-01-05", 10, 11, 9, 10.5, 10.5, 100),        # 0 good
    ("B", "2012-01-05", NAN, NAN, NAN, 1.3, NAN, NAN),      # 1 good: close only
    ("A", "2012-01-04", 10, 11, 9, NAN, 10, 100),           # 2 missing close
    ("A", "2012-01-03", 10, NAN, 9, 10, 10, 100),           # 3 partial OHLC
    ("A", "2012-01-02", 0, 11, 0, 10, 10, 100),             # 4 non-positive open, low
    ("A", "2011-12-30", 10, 9.5, 9, 10, 10, 100),           # 5 high below open
    ("A", "2011-12-29", 10, 11, 9, 10, 10, 100),            # 6 duplicate of 7
    ("A", "2011-12-29", 10, 11, 9, 10.2, 10, 100),          # 7 duplicate of 6
    ("A", "2012-01-06", 10, 11, 9, 10, 10, 100),            # 8 after as_of
    ("ZZZ", "2012-01-05", 10, 11, 9, 10, 10, 100),          # 9 unknown symbol
    ("B", "2012-01-03", 1, 2, 0.5, 1.5, NAN, -5),           # 10 negative volume
    ("B", "2011-12-28", 1, 2, 1.2, 1.1, 1.1, 10),           # 11 low above close
    ("B", "2011-12-27", -1, 2, 0.5, 1.5, 1.5, 10),          # 12 duplicate of 13, open <= 0 (below low)
    ("B", "2011-12-27", 1, 2, 0.5, 1.5, 1.5, 10),           # 13 duplicate of 12
    ("  ", "2012-01-04", 1, 2, 0.5, 1.5, 1.5, 10),          # 14 blank symbol
    ("B", None, 1, 2, 0.5, 1.5, 1.5, 10),                   # 15 no date
    ("ZZZ", "2012-01-09", 1, 0.4, 0.5, 1.5, 1.5, 10),       # 16 unknown + ohlc + future
    ("A", "2011-12-26", 10, np.inf, 9, np.inf, 10, 100),    # 17 infinite high and close
    ("B", "2011-12-26", 1, 2, 0.5, 1.5, 1.5, np.inf),       # 18 infinite volume
]
# The planted failures, by hand.
EXPECTED = {
    "unknown_instrument": {9, 16},
    "missing_values": {2, 3, 14, 15},
    "non_positive_price": {4, 10, 12, 17, 18},
    "ohlc_consistency": {5, 11, 16},  # not 12: its open <= 0 is reported once
    "duplicate": {6, 7, 12, 13},
    "future_timestamp": {8, 16},
}


def _staged() -> pd.DataFrame:
    frame = pd.DataFrame(BARS, columns=["symbol", "trade_date", "open", "high", "low", "close",
                                        "adj_close", "volume"])
    frame["trade_date"] = pd.to_datetime(frame["trade_date"])
    frame["as_of"] = pd.Timestamp(AS_OF)
    frame["source_id"] = "sample"
    frame["row_number"] = np.arange(len(frame))
    return frame[STAGING]


def _seed_and_stage(url: str, staged: pd.DataFrame) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("""INSERT INTO data_sources (source_id, kind, adapter)
                        VALUES ('sample', 'market_data', 'sample')""")
        conn.execute("""INSERT INTO instruments (symbol, name, asset_class, currency,
                                                 source_id, vendor_symbol)
                        VALUES ('A', 'A', 'single_stock', 'USD', 'sample', 'A'),
                               ('B', 'B', 'fx', 'USD', 'sample', 'B')""")
        copy_rows(conn, "market_data_staging", staged, STAGING)


def _sql_gate_failures(url: str) -> dict[str, set[int]]:
    with psycopg.connect(url) as conn:
        audit.open_window(conn, AS_OF, AS_OF)
        audit.find_failures(conn)
        found = read_frame(conn, "SELECT row_number, check_name FROM _audit_failures")
        conn.rollback()
    by_check: dict[str, set[int]] = {}
    for row, check in zip(found["row_number"], found["check_name"], strict=True):
        by_check.setdefault(check, set()).add(int(row))
    return by_check


def test_gx_suite_and_sql_gate_fail_the_same_rows_per_check(db_url):
    staged = _staged()
    _seed_and_stage(db_url, staged)
    sql_failures = _sql_gate_failures(db_url)
    gx_result = validate_market_bars(staged, {"A", "B"})

    assert sql_failures == EXPECTED
    assert gx_result.failing_rows() == EXPECTED  # frame index = row_number
    assert set(audit.GATE_CHECKS) <= set(gx_result.checks)
    assert gx_result.checks["schema"].success and not gx_result.success
    assert gx_result.rows == 19
    # Every row outside the planted failures passes both: rows 0 and 1 only.
    assert set(range(19)) - set().union(*EXPECTED.values()) == {0, 1}


def test_gx_market_suite_passes_clean_rows_and_names_a_missing_column():
    clean = _staged().iloc[[0, 1]]
    assert validate_market_bars(clean, {"A", "B"}).success
    result = validate_market_bars(clean.drop(columns=["row_number"]), {"A", "B"})
    assert not result.checks["schema"].success
    assert result.failing_rows() == {}


def test_gx_economic_suite_finds_each_planted_failure():
    rows = pd.DataFrame([  # series_id, observation_date, realtime_start, value, vintage_kind
        ("CPI", "2020-01-01", "2020-02-12", 258.7, "vintage"),              # 0 good
        ("CPI", "2020-01-01", "2020-03-11", 258.8, "vintage"),              # 1 good revision
        ("CPI", "2020-02-01", "2020-01-15", 259.0, "vintage"),              # 2 public before obs
        ("GDP", "2020-01-01", "2020-04-29", 1.5, "publication_lag"),        # 3 duplicate of 4
        ("GDP", "2020-01-01", "2020-04-29", 1.6, "publication_lag"),        # 4 duplicate of 3
        ("GDP", "2020-04-01", "2020-07-30", np.inf, "publication_lag"),     # 5 infinite
        ("GDP", "2020-07-01", "2020-10-29", NAN, "publication_lag"),        # 6 missing value
        ("UNR", "2020-01-01", "2020-02-07", 3.5, "guess"),                  # 7 unknown kind
    ], columns=["series_id", "observation_date", "realtime_start", "value", "vintage_kind"])
    rows["source_id"] = "fred"
    result = validate_economic(rows)
    assert result.failing_rows() == {"vintage_order": {2}, "duplicate": {3, 4},
                                     "value_finite": {5}, "missing_values": {6},
                                     "vintage_kind": {7}}
    assert result.checks["schema"].success and result.rows == 8


def _cli(settings, *argv: str) -> int:
    args = build_parser().parse_args(["data-quality", "suite", *argv])
    return args.handler(args, settings)


def test_cli_suite_lists_the_failing_staged_rows(settings, capsys):
    _seed_and_stage(settings.database_url, _staged())
    code = _cli(settings, "--dataset", "market_data", "--as-of", AS_OF.isoformat(), "--json")
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["rows"] == 19 and not out["success"]
    checks = {c["check"]: c["failing_rows"] for c in out["checks"]}
    assert checks["duplicate"] == ["sample/2012-01-05/12", "sample/2012-01-05/13",
                                   "sample/2012-01-05/6", "sample/2012-01-05/7"]
    assert checks["future_timestamp"] == ["sample/2012-01-05/16", "sample/2012-01-05/8"]
    assert _cli(settings, "--dataset", "economic", "--as-of", "2012-01-05") == 0
    assert "economic suite as of 2012-01-05: 0 rows, passed" in capsys.readouterr().out
