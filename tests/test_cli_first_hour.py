"""Small first-hour fixes of the ``macroquant`` command: no wrapping in pipes, the demo's
arguments and its database."""

from __future__ import annotations

from datetime import date

import pytest

from macroquant.cli import main
from macroquant.cli_demo import DemoError, demo_database_url, parse_demo_date


def test_db_url_is_one_line_when_not_a_terminal(monkeypatch, capsys):
    host = "a-very-long-host-name-" + "x" * 80 + ".example.internal"
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", f"postgresql://trader:S3cretPw@{host}:5432/mq")
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["db", "url"]) == 0
    out = capsys.readouterr().out
    assert out == f"postgresql://trader:***@{host}:5432/mq\n"


def test_demo_dates_name_the_make_variable():
    assert parse_demo_date("DEMO_START", " 2012-03-01") == date(2012, 3, 1)
    with pytest.raises(DemoError, match=r"DEMO_START='2012-13-01' is not a date"):
        parse_demo_date("DEMO_START", "2012-13-01")
    with pytest.raises(DemoError, match=r"DEMO_END='' is not a date"):
        parse_demo_date("DEMO_END", "")


def test_the_demo_database_is_the_same_server_with_another_name():
    assert demo_database_url("postgresql://postgres:@/postgres?host=/home/u/.macroquant/pgdata"
                             ) == "postgresql://postgres:@/macroquant_demo?host=/home/u/.macroquant/pgdata"
    assert demo_database_url("postgresql://bob:pw@db:5432/mq") == \
        "postgresql://bob:pw@db:5432/macroquant_demo"


def test_make_demo_with_a_bad_date_says_which(capsys):
    assert main(["demo", "--start", "2012-13-01", "--end", "2013-02-28"]) == 2
    err = capsys.readouterr().err
    assert err == ("error: make demo: DEMO_START='2012-13-01' is not a date (use YYYY-MM-DD, "
                   "e.g. make demo DEMO_START=2012-03-01 DEMO_END=2013-02-28)\n")


def test_the_demo_database_of_a_key_value_connection_string():
    from psycopg.conninfo import conninfo_to_dict

    assert conninfo_to_dict(demo_database_url("host=/tmp/pg dbname=mq user=postgres")) == {
        "host": "/tmp/pg", "dbname": "macroquant_demo", "user": "postgres"}
