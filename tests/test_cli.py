"""The macroquant command: user-facing errors and the commands the demo uses."""

from __future__ import annotations

import subprocess
import sys

from macroquant.cli import main


def test_unreachable_database_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:1/mq")
    assert main(["db", "migrate"]) == 1
    err = capsys.readouterr().err
    assert "cannot connect to PostgreSQL at postgresql://u:***@127.0.0.1:1/mq" in err
    assert "hunter2" not in err


def test_previous_session_skips_weekend_and_holiday(capsys):
    assert main(["calendar", "previous-session", "2012-07-05"]) == 0  # July 4th closed
    assert capsys.readouterr().out.strip() == "2012-07-03"
    assert main(["calendar", "previous-session", "2012-03-05"]) == 0
    assert capsys.readouterr().out.strip() == "2012-03-02"


def test_run_daily_and_status_on_a_database(loaded_db_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", loaded_db_url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    assert main(["run", "daily", "--as-of", "2012-10-06"]) == 0  # a Saturday -> Friday 10-05
    out = capsys.readouterr().out
    assert "run cli__2012-10-05__2012-10-05: all 8 stages succeeded" in out
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "paper account on 2012-10-05" in out and "quarantined rows: 0" in out


def test_bad_date_is_a_usage_error():
    result = subprocess.run([sys.executable, "-m", "macroquant.cli", "run", "daily", "--as-of",
                             "yesterday"], capture_output=True, text=True)
    assert result.returncode == 2 and "is not a date" in result.stderr


def test_econ_csv_round_trip_through_the_cli(db_url, tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    path = tmp_path / "cpi.csv"
    path.write_text("series_id,date,value,realtime_start\n"
                    "MYCPI,2012-01-01,100.0,2012-02-15\nMYCPI,2012-01-01,100.5,2012-03-15\n")
    assert main(["ingest", "econ-csv", str(path)]) == 0
    assert "2 new vintages" in capsys.readouterr().out
    assert main(["econ", "show", "MYCPI", "--as-of", "2012-02-14", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["econ", "show", "MYCPI", "--as-of", "2012-03-01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"date": "2012-01-01", "value": 100.0}]
    assert main(["econ", "show", "MYCPI", "--as-of", "2012-03-15", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"date": "2012-01-01", "value": 100.5}]
    assert main(["ingest", "econ-csv"]) == 2


def test_unmigrated_database_says_to_migrate(empty_db_url, monkeypatch, capsys):
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", empty_db_url)
    assert main(["secrets", "list"]) == 1
    assert "run `macroquant db migrate`" in capsys.readouterr().err


def test_csv_ingest_through_the_cli_reports_each_part_and_the_counts(db_url, tmp_path,
                                                                    monkeypatch, capsys):
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    path = tmp_path / "bars.csv"
    path.write_text("symbol,date,open,high,low,close,volume\n"
                    "AAA,2024-01-02,10,11,9.5,10.5,1000\n"
                    "AAA,2024-01-03,10.5,11.5,10,11,1200\n"
                    "AAA,2024-01-04,10.5,9,10,11,1200\n")  # high below low: quarantined
    assert main(["ingest", "csv", str(path)]) == 1
    out = capsys.readouterr().out
    for part in ("COPY into the landing tables", "gate checks", "publish into market_data",
                 "warning checks"):
        assert f"  {part}: " in out
    assert "3 rows in, 2 published, 1 quarantined; 1 instruments created" in out
    assert "quarantined by check: ohlc_consistency: 1" in out
    assert main(["ingest", "csv"]) == 2
