"""`ingest econ-csv` on real PostgreSQL: vintages, revisions, no-ops and malformed files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import pytest

from macroquant.economics import EconCsvError, load_econ_csv, read_as_of
from macroquant.economics.econ_csv import infer_frequency

GOOD = """series_id,date,value,realtime_start
CPI_X,2024-01-01,100.0,2024-02-15
CPI_X,2024-01-01,100.5,2024-03-15
CPI_X,2024-02-01,101.0,2024-03-15
GDP_X,2023-07-01,20.1,2023-10-26
GDP_X,2023-10-01,20.4,2024-01-25
"""


def _write(tmp_path: Path, text: str, name: str = "econ.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _count(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM economic_indicators").fetchone()[0]


def test_load_creates_series_and_vintages(db_url, tmp_path):
    path = _write(tmp_path, GOOD)
    with psycopg.connect(db_url) as conn:
        result = load_econ_csv(conn, path)
        assert result == {"file": str(path), "rows_read": 5, "inserted": 5, "unchanged": 0,
                          "repeated_in_file": 0, "series": 2,
                          "series_created": ["CPI_X", "GDP_X"]}
        series = dict(conn.execute("SELECT series_id, frequency FROM economic_series "
                                   "WHERE source_id = 'csv'").fetchall())
        source = conn.execute("SELECT kind, adapter, enabled FROM data_sources "
                              "WHERE source_id = 'csv'").fetchone()
        kinds = conn.execute("SELECT DISTINCT vintage_kind FROM economic_indicators").fetchall()
        assert read_as_of(conn, "CPI_X", date(2024, 3, 1)).tolist() == [100.0]
        assert read_as_of(conn, "CPI_X", date(2024, 3, 15)).tolist() == [100.5, 101.0]
    assert series == {"CPI_X": "monthly", "GDP_X": "quarterly"}
    assert source == ("economic", "csv", False)
    assert kinds == [("vintage",)]


def test_reload_is_noop_and_revision_adds_row(db_url, tmp_path):
    path = _write(tmp_path, GOOD)
    revision = _write(tmp_path, GOOD.splitlines()[0] + "\nCPI_X,2024-02-01,101.3,2024-04-12\n"
                      "CPI_X,2024-01-01,100.5,2024-03-15\n", "rev.csv")
    with psycopg.connect(db_url) as conn:
        load_econ_csv(conn, path)
        again = load_econ_csv(conn, path)
        assert (again["inserted"], again["unchanged"], again["series_created"]) == (0, 5, [])
        rev = load_econ_csv(conn, revision)
        assert (rev["inserted"], rev["unchanged"]) == (1, 1)
        assert _count(conn) == 6
        # the earlier vintage is kept: reads before Apr-12 still see 101.0
        assert read_as_of(conn, "CPI_X", date(2024, 4, 11)).tolist() == [100.5, 101.0]
        assert read_as_of(conn, "CPI_X", date(2024, 4, 12)).tolist() == [100.5, 101.3]


def test_vintages_for_a_sample_series(loaded_db_url, tmp_path):
    # a vintage for an existing series of another source is added beside its lag rows
    path = _write(tmp_path, "series_id,date,value,realtime_start\n"
                            "CPILFESL,2012-01-01,227.9,2012-03-01\n")
    with psycopg.connect(loaded_db_url) as conn:
        result = load_econ_csv(conn, path)
        assert (result["inserted"], result["series_created"]) == (1, [])
        assert read_as_of(conn, "CPILFESL", date(2012, 2, 29)).iloc[-1] == pytest.approx(227.877)
        assert read_as_of(conn, "CPILFESL", date(2012, 3, 1))["2012-01-01"] == 227.9


@pytest.mark.parametrize(("text", "line", "column", "fragment"), [
    ("series_id,date,value\nA,2024-01-01,1\n", 1, "realtime_start", "missing column"),
    ("series_id,date,value,realtime_start\nA,2024-01-01,1,2024-02-01\n"
     "A,2024-13-01,1,2024-02-01\n", 3, "date", "'2024-13-01' is not a date"),
    ("series_id,date,value,realtime_start\nA,2024-01-01,1,2024-02-01\n"
     "A,2024-02-01,abc,2024-03-01\n", 3, "value", "'abc' is not a finite number"),
    ("series_id,date,value,realtime_start\nA,2024-01-01,,2024-02-01\n", 2, "value",
     "is not a finite number"),
    ("series_id,date,value,realtime_start\nA,2024-03-01,1,2024-02-01\n", 2, "realtime_start",
     "is before the observation date"),
    ("series_id,date,value,realtime_start\nA,2024-01-01,1,2024-02-01\n"
     "A,2024-01-01,2,2024-02-01\n", 3, "value", "differs from 1.0 on line 2"),
    ("series_id,date,value,realtime_start\nA,2024-01-01,1,2024-02-01,9\n", 2, "-",
     "expected 4 fields"),
])
def test_malformed_csv_names_line_and_column_and_loads_nothing(db_url, tmp_path, text, line,
                                                               column, fragment):
    path = _write(tmp_path, text)
    with psycopg.connect(db_url) as conn:
        with pytest.raises(EconCsvError) as caught:
            load_econ_csv(conn, path)
        assert _count(conn) == 0
        assert conn.execute("SELECT count(*) FROM economic_series").fetchone()[0] == 0
    message = str(caught.value)
    assert f"{path}: line {line}, column '{column}'" in message
    assert fragment in message
    assert caught.value.problems[0][:2] == (line, column)


def test_conflict_with_stored_row_rolls_back_whole_file(db_url, tmp_path):
    first = _write(tmp_path, GOOD)
    clash = _write(tmp_path, "series_id,date,value,realtime_start\n"
                             "NEW_S,2024-01-01,5,2024-02-01\n"
                             "CPI_X,2024-01-01,99.9,2024-02-15\n", "clash.csv")
    with psycopg.connect(db_url) as conn:
        load_econ_csv(conn, first)
        conn.commit()
        with pytest.raises(EconCsvError, match=r"line 3, column 'value': 99.9 .* would "
                                               r"overwrite the stored 100.0"):
            load_econ_csv(conn, clash)
        assert _count(conn) == 5
        assert conn.execute("SELECT count(*) FROM economic_series WHERE series_id = 'NEW_S'"
                            ).fetchone()[0] == 0


def test_infer_frequency():
    import pandas as pd

    assert infer_frequency(pd.Series(pd.to_datetime(["2024-01-01"]))) == "monthly"
    assert infer_frequency(pd.Series(pd.date_range("2024-01-01", periods=5, freq="D"))) == "daily"
    assert infer_frequency(pd.Series(pd.date_range("2024-01-05", periods=5, freq="W"))) == "weekly"
    assert infer_frequency(pd.Series(pd.date_range("2020-01-01", periods=5, freq="QS"))) == \
        "quarterly"
    assert infer_frequency(pd.Series(pd.date_range("2020-01-01", periods=3, freq="YS"))) == \
        "annual"


def test_csv_source_does_not_break_the_scheduled_ingest(loaded_settings, loaded_db_url, tmp_path):
    # the 'csv' data_sources row is disabled: the pipeline has no 'csv' adapter to fetch with
    from macroquant.pipeline.runner import run_stage

    with psycopg.connect(loaded_db_url) as conn:
        load_econ_csv(conn, _write(tmp_path, GOOD))
    written = run_stage("ingest", date(2012, 10, 1), date(2012, 10, 1), "csv-check",
                        loaded_settings)
    assert written["market_data_staging"] > 0
    with psycopg.connect(loaded_db_url) as conn:
        assert read_as_of(conn, "CPI_X", date(2024, 3, 15)).tolist() == [100.5, 101.0]
