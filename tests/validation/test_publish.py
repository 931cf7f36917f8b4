"""Publish paths of ``macroquant.validation.publish``: the bulk append (indexes dropped and
rebuilt) leaves the same rows, indexes, constraints and trigger as the row-by-row append;
deferred duplicate and unknown-symbol checks are run when the append objects."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from macroquant.db.bulk import copy_rows, read_frame
from macroquant.sources.csv_files import ingest_csv
from macroquant.validation import audit, publish

HEADER = "symbol,date,open,high,low,close,volume,adj_close\n"
GOOD = HEADER + "".join(
    f"{symbol},2024-01-{day:02d},{10 + day},{11 + day},{9 + day},{10.5 + day},100,\n"
    for symbol in ("AAA", "BBB") for day in (2, 3, 4, 5, 8))
AS_OF = date(2012, 1, 5)


def _catalog(url: str) -> dict[str, object]:
    with psycopg.connect(url) as conn:
        return {
            "indexes": sorted(conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'market_data'"
            ).fetchall()),
            "constraints": sorted(conn.execute(
                """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                   WHERE conrelid = 'market_data'::regclass""").fetchall()),
            "triggers": sorted(conn.execute(
                """SELECT tgname, tgenabled FROM pg_trigger
                   WHERE tgrelid = 'market_data'::regclass AND NOT tgisinternal""").fetchall()),
            "bars": read_frame(conn, """SELECT i.symbol, m.trade_date, m.open, m.high, m.low,
                                               m.close, m.adj_close, m.volume, m.source_id
                                        FROM market_data m JOIN instruments i
                                        USING (instrument_id) ORDER BY 1, 2"""),
        }


def _load(settings, tmp_path: Path, text: str) -> dict:
    path = tmp_path / "bars.csv"
    path.write_text(text)
    return ingest_csv(settings, path)


def test_bulk_append_rebuilds_the_same_indexes_and_rows(settings, tmp_path, monkeypatch):
    before = _catalog(settings.database_url)
    assert [name for name, _ in before["indexes"]] == ["market_data_pkey",
                                                       "market_data_trade_date_idx"]
    calls: list[int] = []
    bulk_append = publish._bulk_append
    monkeypatch.setattr(publish, "BULK_MIN_ROWS", 1)
    monkeypatch.setattr(publish, "_bulk_append",
                        lambda conn: calls.append(1) or bulk_append(conn))
    result = _load(settings, tmp_path, GOOD)
    assert calls == [1] and result["published"] == 10
    after = _catalog(settings.database_url)
    for key in ("indexes", "constraints", "triggers"):
        assert after[key] == before[key], key
    assert ("market_data_references_insert", "O") in after["triggers"]  # enabled again
    assert after["bars"]["close"].tolist() == [12.5, 13.5, 14.5, 15.5, 18.5] * 2
    # The trigger dropped for the insert is back and still refuses a bad reference.
    with psycopg.connect(settings.database_url) as conn, pytest.raises(
            psycopg.errors.ForeignKeyViolation, match="unknown instrument or data source"):
        conn.execute("""INSERT INTO market_data (instrument_id, trade_date, close, source_id)
                        SELECT instrument_id, DATE '2024-02-01', 1, 'no_such_source'
                        FROM instruments LIMIT 1""")


def test_bulk_and_row_by_row_append_publish_identical_rows(settings, tmp_path, monkeypatch):
    _load(settings, tmp_path, GOOD)
    rowwise = _catalog(settings.database_url)["bars"]
    with psycopg.connect(settings.database_url) as conn:
        conn.execute("TRUNCATE market_data")
        conn.execute("DELETE FROM pipeline_runs")
    monkeypatch.setattr(publish, "BULK_MIN_ROWS", 1)
    _load(settings, tmp_path, GOOD)
    pd.testing.assert_frame_equal(_catalog(settings.database_url)["bars"], rowwise)


def test_a_duplicate_in_a_bulk_append_is_quarantined_and_the_indexes_survive(
        settings, tmp_path, monkeypatch):
    before = _catalog(settings.database_url)
    monkeypatch.setattr(publish, "BULK_MIN_ROWS", 1)
    text = GOOD + "AAA,2024-01-03,13,14,12,13.6,100,\n"  # line 12 repeats line 3's key
    result = _load(settings, tmp_path, text)
    assert (result["rows_in"], result["published"], result["quarantined"]) == (11, 9, 2)
    assert result["quarantined_by_check"] == {"duplicate": 2}
    after = _catalog(settings.database_url)
    for key in ("indexes", "constraints", "triggers"):
        assert after[key] == before[key], key
    assert len(after["bars"]) == 9


def _stage(conn: psycopg.Connection, symbols: list[str]) -> None:
    conn.execute("""INSERT INTO data_sources (source_id, kind, adapter)
                    VALUES ('sample', 'market_data', 'sample')""")
    conn.execute("""INSERT INTO instruments (symbol, name, asset_class, currency, source_id,
                                             vendor_symbol)
                    VALUES ('A', 'A', 'single_stock', 'USD', 'sample', 'A')""")
    staged = pd.DataFrame({
        "source_id": "sample", "as_of": pd.Timestamp(AS_OF),
        "row_number": range(len(symbols)), "symbol": symbols,
        "trade_date": pd.Timestamp(AS_OF), "open": 10.0, "high": 11.0, "low": 9.0,
        "close": 10.5, "adj_close": 10.5, "volume": 100.0})
    copy_rows(conn, "market_data_staging", staged, list(staged.columns))


def test_an_unknown_symbol_missed_by_the_deferred_checks_is_found_by_the_row_count(db_url):
    with psycopg.connect(db_url) as conn:
        _stage(conn, ["A", "ZZZ"])
        audit.open_window(conn, AS_OF, AS_OF)
        audit.find_failures(conn, audit.ROW_CHECKS)
        ran: list[str] = []

        def deferred() -> int:
            ran.append("checks")
            audit.find_failures(conn, ("duplicate", "unknown_instrument"))
            return audit.count(conn).published

        published = publish.publish(conn, audit.count(conn).published, deferred)
        counts = audit.count(conn)
    assert ran == ["checks"]
    assert published == 1 and counts.failures_by_check == {"unknown_instrument": 1}


def test_clean_rows_never_run_the_deferred_checks(db_url):
    with psycopg.connect(db_url) as conn:
        _stage(conn, ["A"])
        audit.open_window(conn, AS_OF, AS_OF)
        audit.find_failures(conn, audit.ROW_CHECKS)
        published = publish.publish(conn, 1, lambda: pytest.fail("checks ran"))
    assert published == 1


def test_bulk_append_refuses_an_unknown_source(db_url, monkeypatch):
    monkeypatch.setattr(publish, "BULK_MIN_ROWS", 1)
    with psycopg.connect(db_url) as conn:
        _stage(conn, ["A"])
        conn.execute("UPDATE market_data_staging SET source_id = 'nowhere'")
        audit.open_window(conn, AS_OF, AS_OF)
        audit.find_failures(conn)
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="nowhere"):
            publish.publish(conn, 1)
