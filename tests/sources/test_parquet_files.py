"""Parquet file source: bars and economic vintages, and errors naming file, column, row."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from macroquant.db.bulk import upsert_rows
from macroquant.economics import read_as_of
from macroquant.sources import parquet_files
from macroquant.sources.parquet_files import ParquetFormatError
from macroquant.sources.parquet_files.config import ParquetConfig


def _write(path: Path, columns: dict[str, list]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def _bars(path: Path, **changes: list) -> Path:
    columns = {"symbol": ["AAA", "AAA", "BBB"],
               "date": [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 3)],
               "open": [10.0, 10.5, 20.0], "high": [11.0, 11.0, 21.0],
               "low": [9.5, 10.0, 19.5], "close": [10.5, 10.8, 20.5],
               "volume": [1000, 1200, 500]}
    columns.update(changes)
    return _write(path, columns)


def test_bars_in_window(tmp_path: Path) -> None:
    config = ParquetConfig(bars_files=(_bars(tmp_path / "bars.parquet"),))
    bars = parquet_files.fetch_bars(date(2024, 1, 3), date(2024, 1, 3), config=config)
    assert list(bars.columns) == ["symbol", "trade_date", "open", "high", "low", "close",
                                  "adj_close", "volume"]
    assert list(bars["symbol"]) == ["AAA", "BBB"]
    assert list(bars["close"]) == [10.8, 20.5] and bars["adj_close"].isna().all()
    assert bars["volume"].tolist() == [1200.0, 500.0]


def test_vintages_load_and_read_point_in_time(tmp_path: Path, db_url: str) -> None:
    path = _write(tmp_path / "cpi.parquet", {
        "series_id": ["PQ_CPI", "PQ_CPI", "PQ_CPI"],
        "date": ["2024-01-01", "2024-01-01", "2024-02-01"],
        "value": [100.0, 100.4, 101.0],
        "realtime_start": ["2024-02-13", "2024-03-12", "2024-03-12"]})
    config = ParquetConfig(econ_files=(path,))
    rows = parquet_files.fetch_observations(config=config)
    assert len(rows) == 3 and set(rows["vintage_kind"]) == {"vintage"}
    with psycopg.connect(db_url) as conn:
        parquet_files.register(conn, config)
        upsert_rows(conn, "economic_indicators", rows,
                    ["series_id", "observation_date", "realtime_start"],
                    ["value", "vintage_kind", "source_id"])
        february = read_as_of(conn, "PQ_CPI", date(2024, 3, 11))
        march = read_as_of(conn, "PQ_CPI", date(2024, 3, 12))
        frequency = conn.execute("SELECT frequency, source_id FROM economic_series "
                                 "WHERE series_id = 'PQ_CPI'").fetchone()
    assert february.to_dict() == {pd.Timestamp("2024-01-01"): 100.0}
    assert march.to_dict() == {pd.Timestamp("2024-01-01"): 100.4,
                               pd.Timestamp("2024-02-01"): 101.0}
    assert frequency == ("monthly", "parquet_economic")


@pytest.mark.parametrize(("changes", "message"), [
    ({"close": ["10.5", "oops", "20.5"]}, "row 1, column 'close': 'oops' is not a number"),
    ({"date": ["2024-01-02", "not a date", "2024-01-03"]}, "row 1, column 'date'"),
    ({"symbol": ["AAA", " ", "BBB"]}, "row 1, column 'symbol': empty"),
])
def test_bad_bar_values_name_file_column_and_row(tmp_path: Path, changes: dict,
                                                 message: str) -> None:
    path = _bars(tmp_path / "bad.parquet", **changes)
    with pytest.raises(ParquetFormatError) as caught:
        parquet_files.fetch_bars(date(2024, 1, 1), date(2024, 12, 31),
                                 config=ParquetConfig(bars_files=(path,)))
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)


def test_missing_column_and_not_parquet(tmp_path: Path) -> None:
    path = _write(tmp_path / "nocol.parquet", {"symbol": ["A"], "date": ["2024-01-02"]})
    with pytest.raises(ParquetFormatError, match=r"missing column\(s\) open, high, low, close"):
        parquet_files.fetch_bars(date(2024, 1, 1), date(2024, 1, 9),
                                 config=ParquetConfig(bars_files=(path,)))
    text = tmp_path / "bars.parquet"
    text.write_text("symbol,date\n")
    with pytest.raises(ParquetFormatError, match="cannot read as Parquet"):
        parquet_files.fetch_bars(date(2024, 1, 1), date(2024, 1, 9),
                                 config=ParquetConfig(bars_files=(text,)))


def test_vintage_before_observation_and_conflicting_values(tmp_path: Path) -> None:
    early = _write(tmp_path / "early.parquet", {
        "series_id": ["X", "X"], "date": ["2024-01-01", "2024-02-01"], "value": [1.0, 2.0],
        "realtime_start": ["2024-02-01", "2024-01-31"]})
    with pytest.raises(ParquetFormatError,
                       match="row 1, column 'realtime_start': 2024-01-31 is before"):
        parquet_files.fetch_observations(config=ParquetConfig(econ_files=(early,)))
    clash = _write(tmp_path / "clash.parquet", {
        "series_id": ["X", "X"], "date": ["2024-01-01", "2024-01-01"], "value": [1.0, 2.0],
        "realtime_start": ["2024-02-01", "2024-02-01"]})
    with pytest.raises(ParquetFormatError, match="row 0, column 'value': two different"):
        parquet_files.fetch_observations(config=ParquetConfig(econ_files=(clash,)))
