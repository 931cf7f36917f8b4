"""`macroquant quarantine list|show|accept|drop` over two CSV files with bad rows."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from macroquant.cli import main

HEADER = "symbol,date,open,high,low,close,volume\n"
FILE_A = HEADER + ("AAA,2012-10-01,10,11,9,10.5,100\n"
                   "AAA,2012-10-02,-1,11,9,10.5,100\n"      # line 3: negative open
                   "AAA,2012-10-03,10,11,9,x,100\n")        # line 4: unreadable close
FILE_B = HEADER + ("BBB,2012-10-01,20,21,19,20.5,100\n"
                   "BBB,2012-10-02,20,18,19,20.5,100\n")    # line 3: high below low


@pytest.fixture
def files(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "250")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(FILE_A)
    b.write_text(FILE_B)
    return a, b


def _rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            """SELECT quarantine_id, origin, line, check_name, status, decided_by
               FROM quarantine ORDER BY origin, line, check_name""").fetchall()


def _ids(out: str) -> dict[str, int]:
    """file:line -> id, from `quarantine list` output."""
    return {line.split()[-1].rsplit("/", 1)[-1]: int(line.split()[0])
            for line in out.splitlines() if " as_of " in line}


def test_a_second_file_keeps_the_first_files_records(files, db_url, capsys):
    a, b = files
    assert main(["ingest", "csv", str(a)]) == 1
    assert main(["ingest", "csv", str(b)]) == 1
    rows = _rows(db_url)
    assert [(Path(o).name, line, check, status) for _, o, line, check, status, _ in rows] == [
        ("a.csv", 3, "non_positive_price", "open"),   # reported once, not also as OHLC
        ("a.csv", 4, "malformed_row", "open"),
        ("b.csv", 3, "ohlc_consistency", "open")]
    capsys.readouterr()
    assert main(["quarantine", "list"]) == 0
    out = capsys.readouterr().out
    assert "AAA      2012-10-02  non_positive_price" in out
    assert f"{a.resolve()}:3" in out and f"{b.resolve()}:3" in out
    # loading a file again keeps every id (a person may be about to name one)
    assert main(["ingest", "csv", str(a)]) == 1
    assert _rows(db_url) == rows


def test_accept_publishes_and_drop_discards_both_audited_and_kept_on_reload(files, db_url,
                                                                         capsys):
    a, b = files
    main(["ingest", "csv", str(a)])
    main(["ingest", "csv", str(b)])
    capsys.readouterr()
    main(["quarantine", "list"])
    ids = _ids(capsys.readouterr().out)
    assert main(["quarantine", "show", str(ids["a.csv:3"])]) == 0
    shown = capsys.readouterr().out
    assert "check:   non_positive_price: non-positive price" in shown
    assert '"open": -1' in shown

    assert main(["quarantine", "accept", str(ids["a.csv:3"]), "--by", "alice"]) == 0
    assert main(["quarantine", "drop", str(ids["b.csv:3"]), "--by", "bob"]) == 0
    capsys.readouterr()
    with psycopg.connect(db_url) as conn:
        published = conn.execute(
            """SELECT m.open, m.close, m.source_id FROM market_data m
               JOIN instruments i USING (instrument_id)
               WHERE i.symbol = 'AAA' AND m.trade_date = '2012-10-02'""").fetchone()
        dropped = conn.execute(
            """SELECT count(*) FROM market_data m JOIN instruments i USING (instrument_id)
               WHERE i.symbol = 'BBB' AND m.trade_date = '2012-10-02'""").fetchone()[0]
        audit = conn.execute("SELECT actor, action, outcome FROM audit_log ORDER BY audit_id"
                             ).fetchall()
    assert published == (-1.0, 10.5, "csv") and dropped == 0
    assert audit == [("alice", "quarantine.accept", "success"),
                     ("bob", "quarantine.drop", "success")]

    # the same failure on the same unchanged row keeps the decision
    assert main(["ingest", "csv", str(a)]) == 1
    decided = {(Path(o).name, line): (status, who) for _, o, line, _, status, who
               in _rows(db_url)}
    assert decided[("a.csv", 3)] == ("accepted", "alice")
    assert decided[("b.csv", 3)] == ("dropped", "bob")
    capsys.readouterr()
    assert main(["quarantine", "list"]) == 0
    assert list(_ids(capsys.readouterr().out)) == ["a.csv:4"]

    # a decided bar cannot be decided again; an unreadable line cannot be published
    assert main(["quarantine", "drop", str(ids["a.csv:3"]), "--by", "carol"]) == 1
    assert "was already accepted by alice" in capsys.readouterr().err
    assert main(["quarantine", "accept", str(ids["a.csv:4"]), "--by", "carol"]) == 1
    assert "its line could not be read as a bar" in capsys.readouterr().err
