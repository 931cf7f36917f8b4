"""CSV file source: ``ingest_csv`` through the landing tables, the gate checks and the
publish, on a real PostgreSQL; the file split over two COPY connections; malformed files;
idempotent reloads; a loaded instrument through features."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql

from macroquant.calendars import sessions
from macroquant.db.bulk import read_frame
from macroquant.pipeline.runner import run_stage
from macroquant.sources.csv_files import CsvFormatError, ingest_csv, ingest_csv_command

HEADER = "symbol,date,open,high,low,close,volume,adj_close\n"
# line: content (line 1 is the header)
MIXED = HEADER + (
    "AAA,2024-01-02,10,11,9.5,10.5,1000,10.4\n"       # 2 good
    "AAA,2024-01-03,10.5,11.5,10,11,1200,10.9\n"      # 3 good
    "BBB,2024-01-02,50,52,49,51,300,\n"               # 4 good (no adj_close)
    "AAA,2024-01-06,11,11.2,10.8,11.1,500,11.0\n"     # 5 good: a Saturday, as_of Monday
    "BBB,2024-01-03,51,52,50,,400,\n"                 # 6 NaN close
    "BBB,2024-01-04,51,52,50,51.5,400,0\n"            # 7 non-positive adj_close
    "BBB,2024-01-05,51,49,50,51.5,400,\n"             # 8 high below low
    "CCC,2024-01-02,5,6,4,5.5,10,\n"                  # 9 duplicate of line 10
    "CCC,2024-01-02,5,6,4,5.6,10,\n"                  # 10 duplicate of line 9
)


def _write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _snapshot(url: str) -> dict[str, pd.DataFrame]:
    with psycopg.connect(url) as conn:
        return {
            "market_data": read_frame(conn, """SELECT i.symbol, m.trade_date, m.open, m.high,
                    m.low, m.close, m.adj_close, m.volume, m.source_id, m.loaded_at
                    FROM market_data m JOIN instruments i USING (instrument_id)
                    ORDER BY 1, 2"""),
            "quarantine": read_frame(conn, """SELECT source_id, as_of, row_number, check_name,
                    symbol, trade_date, reason FROM quarantine ORDER BY 1, 2, 3, 4"""),
            "instruments": read_frame(conn, "SELECT * FROM instruments ORDER BY symbol"),
            "landing": read_frame(conn, """SELECT * FROM csv_landing_1 UNION ALL
                                           SELECT * FROM csv_landing_2"""),
            "data_checks": read_frame(conn, """SELECT * FROM data_checks
                                               WHERE dataset = 'csv_file'
                                               ORDER BY as_of, check_name"""),
        }


def test_good_rows_are_published_and_bad_rows_quarantined_with_reasons(settings, tmp_path):
    result = ingest_csv(settings, _write(tmp_path, MIXED))
    assert (result["rows_in"], result["published"], result["quarantined"]) == (9, 4, 5)
    assert result["quarantined_by_check"] == {"duplicate": 2, "missing_values": 1,
                                              "non_positive_price": 1, "ohlc_consistency": 1}
    assert result["instruments_created"] == 3
    assert (result["start"], result["end"]) == (date(2024, 1, 2), date(2024, 1, 8))
    assert result["validate_failed"] is True

    tables = _snapshot(settings.database_url)
    quarantine = tables["quarantine"].sort_values("row_number")
    assert list(zip(quarantine["row_number"], quarantine["check_name"], strict=True)) == [
        (6, "missing_values"), (7, "non_positive_price"), (8, "ohlc_consistency"),
        (9, "duplicate"), (10, "duplicate")]
    reasons = dict(zip(quarantine["row_number"], quarantine["reason"], strict=True))
    assert reasons[6] == "close is missing"
    assert reasons[7] == "non-positive price"
    assert reasons[8] == "high 49 / low 50 inconsistent with open 51 close 51.5"
    assert reasons[9] == "more than one row for this symbol and date"

    market = tables["market_data"]
    assert list(zip(market["symbol"], market["trade_date"].astype(str), strict=True)) == [
        ("AAA", "2024-01-02"), ("AAA", "2024-01-03"), ("AAA", "2024-01-06"),
        ("BBB", "2024-01-02")]
    assert market["close"].tolist() == [10.5, 11.0, 11.1, 51.0]
    assert market["adj_close"].iloc[0] == 10.4 and np.isnan(market["adj_close"].iloc[3])
    assert set(market["source_id"]) == {"csv"}

    instruments = tables["instruments"]
    assert instruments["symbol"].tolist() == ["AAA", "BBB", "CCC"]
    assert set(instruments["vendor_symbol"]) == {"AAA", "BBB", "CCC"}
    assert set(instruments["asset_class"]) == {"single_stock"}
    assert set(instruments["currency"]) == {"USD"} and set(instruments["lot_size"]) == {1.0}
    with psycopg.connect(settings.database_url) as conn:
        source = conn.execute("SELECT kind, adapter, enabled FROM data_sources "
                              "WHERE source_id = 'csv'").fetchone()
        run = conn.execute("SELECT stage, status, rows_written FROM pipeline_runs "
                           "WHERE run_id = 'ingest_csv__bars.csv'").fetchone()
    assert source == ("market_data", "csv_files", False)
    assert run[:2] == ("ingest_csv", "success")
    assert (run[2]["rows_in"], run[2]["published"], run[2]["quarantined"]) == (9, 4, 5)
    # per as_of (the Saturday bar of line 5 belongs to Monday 8 January): rows checked and
    # failed, under dataset csv_file
    checks = _snapshot(settings.database_url)["data_checks"]
    checked = checks.groupby("as_of")["rows_checked"].first()
    assert {str(k): int(v) for k, v in checked.items()} == {
        "2024-01-02": 4, "2024-01-03": 2, "2024-01-04": 1, "2024-01-05": 1, "2024-01-08": 1}
    failed = checks[checks["rows_failed"] > 0]
    assert [(str(r.as_of), r.check_name, r.rows_failed) for r in failed.itertuples()] == [
        ("2024-01-02", "duplicate", 2), ("2024-01-03", "missing_values", 1),
        ("2024-01-04", "non_positive_price", 1), ("2024-01-05", "ohlc_consistency", 1)]
    assert _snapshot(settings.database_url)["landing"].empty


def test_a_file_split_over_two_connections_loads_the_same_rows_and_lines(
        settings, tmp_path, monkeypatch):
    from macroquant.sources.csv_files import load

    path = _write(tmp_path, MIXED)
    offset, first_line = load.split_offset(path)
    assert offset == path.stat().st_size  # a small file is one part
    monkeypatch.setattr(load, "SPLIT_MIN_BYTES", 0)
    offset, first_line = load.split_offset(path)
    # the second part starts at the line after the middle byte
    assert MIXED.encode()[:offset].count(b"\n") == first_line - 1
    assert 2 < first_line < 11 and MIXED.encode()[offset - 1:offset] == b"\n"
    result = ingest_csv(settings, path)
    assert (result["rows_in"], result["published"], result["quarantined"]) == (9, 4, 5)
    quarantine = _snapshot(settings.database_url)["quarantine"]
    assert sorted(quarantine["row_number"]) == [6, 7, 8, 9, 10]


def test_a_malformed_line_in_the_second_part_is_quarantined_with_its_line(
        settings, tmp_path, monkeypatch):
    from macroquant.sources.csv_files import load

    monkeypatch.setattr(load, "SPLIT_MIN_BYTES", 0)
    text = MIXED + "CCC,2024-01-03,5,x6,4,5.5,10,\n"  # line 11, in the second part
    result = ingest_csv(settings, _write(tmp_path, text))
    assert (result["rows_in"], result["published"], result["quarantined"]) == (10, 4, 6)
    assert result["malformed_lines"] == ["line 11: column 'high': 'x6' is not a number"]
    assert _snapshot(settings.database_url)["landing"].empty


def test_reloading_the_same_file_changes_nothing(settings, tmp_path):
    path = _write(tmp_path, MIXED)
    first = ingest_csv(settings, path)
    before = _snapshot(settings.database_url)
    second = ingest_csv(settings, path)
    after = _snapshot(settings.database_url)
    for key in ("rows_in", "published", "quarantined", "quarantined_by_check"):
        assert first[key] == second[key]
    assert second["instruments_created"] == 0
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], obj=name)  # loaded_at included
    assert len(after["market_data"]) == 4 and after["landing"].empty


def test_all_good_file_exits_zero_and_bad_rows_exit_one(settings, tmp_path):
    good = HEADER.replace(",adj_close", "").replace("volume\n", "volume\n") + (
        "XYZ,2024-02-01,1,2,0.5,1.5,10\nXYZ,2024-02-02,1.5,2,1,1.8,12\n")
    code, message = ingest_csv_command(settings, _write(tmp_path, good, "good.csv"),
                                       "crypto", "eur")
    assert code == 0, message
    assert "2 rows in, 2 published, 0 quarantined; 1 instruments created" in message
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute("SELECT asset_class, currency FROM instruments "
                           "WHERE symbol = 'XYZ'").fetchone()
    assert row == ("crypto", "EUR")
    code, message = ingest_csv_command(settings, _write(tmp_path, MIXED), "single_stock", "USD")
    assert code == 1
    assert "9 rows in, 4 published, 5 quarantined" in message
    assert "duplicate: 2" in message


@pytest.mark.parametrize(("text", "expected"), [
    ("symbol,date,open,high,low,close\nA,2024-01-02,1,1,1,1\n",
     r"line 1 \(header\): missing column\(s\) volume"),
    (HEADER.replace("\n", ",note\n") + "A,2024-01-02,1,1,1,1,1,1,x\n",
     r"line 1 \(header\): unknown column\(s\) note"),
    (HEADER + "A,2024-13-02,1,1,1,1,1,1\n", r"no row with a readable date; first problem: "
                                            r"line 2: column 'date'"),
    (HEADER, r"no row with a readable date"),
], ids=["missing-column", "extra-column", "no-readable-date", "no-rows"])
def test_malformed_file_names_line_and_column_and_writes_nothing(settings, tmp_path, text,
                                                                 expected):
    path = _write(tmp_path, text)
    with pytest.raises(CsvFormatError, match=expected) as raised:
        ingest_csv(settings, path)
    assert str(path) in str(raised.value)
    code, message = ingest_csv_command(settings, path, "single_stock", "USD")
    assert code == 2 and "nothing was written" in message
    with psycopg.connect(settings.database_url) as conn:
        for table in ("data_sources", "instruments", "market_data_staging", "market_data",
                      "quarantine", "pipeline_runs"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


MALFORMED = HEADER + (
    "A,2024-01-02,1,1.5,0.5,1.2,10,1.2\n"        # 2 good
    "A,2024-13-03,1,1.5,0.5,1.2,10,1.2\n"        # 3 bad date
    "A,2024-01-04,1,x1,0.5,1.2,10,1.2\n"         # 4 bad number
    "A,2024-01-05,1,1.5,0.5,1.2,10,1.2,7\n"      # 5 one field too many
    "\n"                                         # 6 blank line
    ",2024-01-08,1,1.5,0.5,1.2,10,1.2\n"         # 7 empty symbol: staged, then quarantined
    "A,2024-01-09,1,1.5,0.5,1.3,10,1.3\n"        # 8 good
)


def test_malformed_rows_are_quarantined_with_their_line_and_good_rows_published(
        settings, tmp_path):
    path = _write(tmp_path, MALFORMED)
    result = ingest_csv(settings, path)
    assert (result["rows_in"], result["published"], result["quarantined"]) == (7, 2, 5)
    assert result["quarantined_by_check"] == {"malformed_row": 4, "missing_values": 1}
    assert result["malformed_lines"] == [
        "line 3: column 'date': '2024-13-03' is not a date (expected YYYY-MM-DD)",
        "line 4: column 'high': 'x1' is not a number",
        "line 5: expected 8 fields, found 9 fields",
        "line 6: expected 8 fields, found a blank line"]
    with psycopg.connect(settings.database_url) as conn:
        kept = conn.execute("""SELECT row_number, dataset, raw_row->>'text' FROM quarantine
                               ORDER BY row_number""").fetchall()
        closes = [r[0] for r in conn.execute(
            "SELECT close FROM market_data ORDER BY trade_date").fetchall()]
    assert kept == [(3, "csv_file", "A,2024-13-03,1,1.5,0.5,1.2,10,1.2"),
                    (4, "csv_file", "A,2024-01-04,1,x1,0.5,1.2,10,1.2"),
                    (5, "csv_file", "A,2024-01-05,1,1.5,0.5,1.2,10,1.2,7"),
                    (6, "csv_file", ""),
                    (7, "market_data", None)]
    assert closes == [1.2, 1.3]
    code, message = ingest_csv_command(settings, path, "single_stock", "USD")
    assert code == 1
    assert message.startswith(f"error: {path}: 4 malformed row(s) kept in quarantine")
    assert "line 4: column 'high': 'x1' is not a number" in message
    assert "7 rows in, 2 published, 5 quarantined" in message


def test_bad_option_is_an_error_before_anything_is_written(settings, tmp_path):
    with pytest.raises(CsvFormatError, match="currency"):
        ingest_csv(settings, _write(tmp_path, MIXED), currency="DOLLARS")
    with pytest.raises(CsvFormatError, match="asset_class|Input should be"):
        ingest_csv(settings, _write(tmp_path, MIXED), asset_class="stocks")


def test_loaded_instrument_runs_through_features_without_touching_sample_rows(
        loaded_settings, tmp_path):
    url = loaded_settings.database_url
    days = sessions(date(2011, 9, 1), date(2012, 9, 28))
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
    frame = pd.DataFrame({"symbol": "CSVCO", "date": [d.isoformat() for d in days],
                          "open": close, "high": close * 1.01, "low": close * 0.99,
                          "close": close, "volume": 1000.0})
    path = tmp_path / "csvco.csv"
    frame.to_csv(path, index=False)
    before = _snapshot(url)
    result = ingest_csv(loaded_settings, path)
    assert (result["rows_in"], result["published"], result["quarantined"]) == (
        len(days), len(days), 0)
    assert result["validate_failed"] is False
    after = _snapshot(url)
    # the sample source's rows are unchanged
    sample_before = before["market_data"]
    sample_after = after["market_data"][after["market_data"]["symbol"] != "CSVCO"]
    pd.testing.assert_frame_equal(sample_before, sample_after.reset_index(drop=True))
    pd.testing.assert_frame_equal(before["quarantine"], after["quarantine"])

    last = days[-1]
    run_stage("features", last, last, "csv-features", loaded_settings)
    with psycopg.connect(url) as conn:
        features = read_frame(conn, """SELECT f.feature, f.value FROM features f
                                       JOIN instruments i USING (instrument_id)
                                       WHERE i.symbol = 'CSVCO' AND f.as_of = %s""", (last,))
    values = dict(zip(features["feature"], features["value"], strict=True))
    assert values["price"] == pytest.approx(close[-1], rel=1e-12)
    assert len(values) >= 3


def test_symbols_are_trimmed_and_merged_before_instruments_are_created(settings, tmp_path):
    text = HEADER + ("AAA,2024-01-02,10,11,9.5,10.5,1000,\n"
                     " AAA ,2024-01-03,10.5,11.5,10,11,1200,\n"
                     "BBB,2024-01-04,50,52,49,51,300,\n")
    result = ingest_csv(settings, _write(tmp_path, text))
    assert (result["rows_in"], result["published"], result["instruments_created"]) == (3, 3, 2)
    market = _snapshot(settings.database_url)["market_data"]
    assert list(zip(market["symbol"], market["trade_date"].astype(str), strict=True)) == [
        ("AAA", "2024-01-02"), ("AAA", "2024-01-03"), ("BBB", "2024-01-04")]


def test_a_failed_load_writes_nothing_and_leaves_the_landing_tables_empty(
        settings, tmp_path, monkeypatch):
    from macroquant.sources.csv_files import load
    from macroquant.validation import publish

    monkeypatch.setattr(load, "SPLIT_MIN_BYTES", 0)  # the second part is committed apart

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(publish, "publish", broken)
    before = _snapshot(settings.database_url)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_csv(settings, _write(tmp_path, MIXED))
    after = _snapshot(settings.database_url)
    assert after["landing"].empty
    for name in ("market_data", "quarantine", "instruments", "data_checks"):
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


def test_a_file_that_changes_another_sources_bar_says_so(loaded_settings, tmp_path):
    url = loaded_settings.database_url
    with psycopg.connect(url) as conn:
        bars = conn.execute("""SELECT m.trade_date, m.open, m.high, m.low, m.close,
                                       m.volume, m.source_id
                                FROM market_data m JOIN instruments i USING (instrument_id)
                                WHERE i.symbol = 'MSFT' ORDER BY m.trade_date DESC LIMIT 2
                                """).fetchall()
    day, open_, high, low, close, volume, source = bars[1]
    last = bars[0][0]
    assert source == "sample"
    new_close = round(close * 1.01, 4)
    text = HEADER + "".join(
        f"MSFT,{d},{open_},{max(high, new_close)},{low},{new_close},{volume},\n"
        for d in (day, last))
    code, message = ingest_csv_command(loaded_settings, _write(tmp_path, text),
                                       "single_stock", "USD")
    assert code == 0
    assert ("warning: this file replaced stored bars of other sources (2 from 'sample'); "
            "market_data.source_id now says 'csv' for them") in message
    with psycopg.connect(url) as conn:
        stored = conn.execute("""SELECT m.close, m.source_id FROM market_data m
                                 JOIN instruments i USING (instrument_id)
                                 WHERE i.symbol = 'MSFT' AND m.trade_date = %s
                                 """, (day,)).fetchone()
    assert stored == (new_close, "csv")


def test_infinite_values_read_by_copy_are_quarantined_by_the_gate(settings, tmp_path):
    text = HEADER + ("AAA,2024-01-02,10,11,9.5,10.5,1000,\n"
                     "AAA,2024-01-03,10,Infinity,9.5,Infinity,1000,\n"   # 3: infinite price
                     "AAA,2024-01-04,10,11,9.5,10.5,1000,inf\n"          # 4: infinite adj_close
                     "AAA,2024-01-05,10,11,9.5,10.5,Infinity,\n")        # 5: infinite volume
    result = ingest_csv(settings, _write(tmp_path, text))
    assert (result["rows_in"], result["published"], result["quarantined"]) == (4, 1, 3)
    assert result["malformed_lines"] == []
    quarantine = _snapshot(settings.database_url)["quarantine"]
    assert list(zip(quarantine["row_number"], quarantine["check_name"], quarantine["reason"],
                    strict=True)) == [
        (3, "non_positive_price", "infinite price"),
        (4, "non_positive_price", "infinite price"),
        (5, "non_positive_price", "infinite volume")]


def test_the_as_of_of_a_landing_row_is_the_first_session_on_or_after_its_date(settings):
    """parse.staged_rows' binary search equals assign_as_of for every calendar day of a
    window with weekends and holidays (Christmas, New Year, MLK day, Good Friday 2024), and
    a row without a date belongs to the window's end."""
    from macroquant.calendars import session_on_or_after
    from macroquant.pipeline.ingest import assign_as_of
    from macroquant.sources.csv_files import parse

    days = pd.date_range("2023-12-22", "2024-03-31", freq="D")
    start, end = session_on_or_after(days[0].date()), session_on_or_after(days[-1].date())
    expected = assign_as_of(pd.Series(days), start, end).dt.date.tolist()
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("INSERT INTO csv_landing_1 (symbol, date, close) "
                     "SELECT 'A', d, 1 FROM unnest(%s::date[]) AS d",
                     ([d.date() for d in days] + [None],))
        rows = conn.execute(sql.SQL("SELECT trade_date, as_of FROM ({}) s ORDER BY row_number"
                                    ).format(parse.staged_rows(end, True, sessions(start, end)))
                            ).fetchall()
        conn.rollback()
    assert [a for _, a in rows] == [*expected, end]
    assert rows[0] == (date(2023, 12, 22), date(2023, 12, 22))  # a Friday session
    assert rows[1][1] == date(2023, 12, 26)                      # Saturday -> after Christmas
    assert dict(rows)[date(2024, 3, 29)] == date(2024, 4, 1)     # Good Friday -> Monday
    assert end == date(2024, 4, 1)


def test_failures_spooled_through_a_file_are_the_same_rows_and_reasons(
        settings, tmp_path, monkeypatch):
    """audit.insert_parallel copies the failing rows out and back in; with a spool of 16
    bytes they go through a temporary file in 7-byte chunks and arrive whole."""
    from macroquant.validation import audit

    monkeypatch.setattr(audit, "_SPOOL_BYTES", 16)
    monkeypatch.setattr(audit, "_SPOOL_CHUNK", 7)
    result = ingest_csv(settings, _write(tmp_path, MIXED))
    assert (result["rows_in"], result["published"], result["quarantined"]) == (9, 4, 5)
    quarantine = _snapshot(settings.database_url)["quarantine"].sort_values("row_number")
    assert list(zip(quarantine["row_number"], quarantine["reason"], strict=True)) == [
        (6, "close is missing"), (7, "non-positive price"),
        (8, "high 49 / low 50 inconsistent with open 51 close 51.5"),
        (9, "more than one row for this symbol and date"),
        (10, "more than one row for this symbol and date")]
    assert quarantine["as_of"].astype(str).tolist()[:3] == [
        "2024-01-03", "2024-01-04", "2024-01-05"]
