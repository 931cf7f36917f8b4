"""The embedded PostgreSQL runs with MacroQuant's settings (``EMBEDDED_SERVER_SETTINGS``),
and under them a first bulk load of ``market_data`` is written without WAL."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest

from macroquant.calendars import sessions
from macroquant.db.connection import (
    EMBEDDED_SERVER_SETTINGS,
    configure_embedded_server,
    embedded_server_url,
    stop_embedded_server,
)
from macroquant.db.migrate import migrate
from macroquant.sources.csv_files import ingest_csv
from tests.conftest import make_settings


@pytest.fixture
def pgdata() -> Iterator[Path]:
    # Not under pytest's tmp_path: as root, pgserver's own user must be able to reach it.
    path = Path(tempfile.mkdtemp(prefix="mq-test-embedded-"))
    yield path
    stop_embedded_server(path)
    shutil.rmtree(path, ignore_errors=True)


def _settings(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                                 (list(EMBEDDED_SERVER_SETTINGS),)).fetchall())


def test_the_embedded_server_gets_its_settings_when_it_starts_never_while_in_use(pgdata):
    import pgserver

    url = embedded_server_url(pgdata)
    assert _settings(url) == {"wal_level": "minimal", "max_wal_senders": "0"}

    # A server started without them (an install from before they existed) and in use:
    # they are written for its next start, and the running server is left alone.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM RESET ALL")
    stop_embedded_server(pgdata)
    pgserver.get_server(pgdata, cleanup_mode=None)
    assert _settings(url) == {"wal_level": "replica", "max_wal_senders": "10"}
    assert configure_embedded_server(url, pgdata, restart=False) is False
    assert embedded_server_url(pgdata) == url  # already running: not restarted
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT setting, pending_restart FROM pg_settings "
                            "WHERE name = 'wal_level'").fetchone() == ("replica", True)
    stop_embedded_server(pgdata)
    assert _settings(embedded_server_url(pgdata)) == EMBEDDED_SERVER_SETTINGS


def _panel(path: Path, symbols: int, days: list[date]) -> int:
    with path.open("w") as handle:
        handle.write("symbol,date,open,high,low,close,volume,adj_close\n")
        for n in range(symbols):
            for k, day in enumerate(days):
                close = 100 + (n + k) % 7
                handle.write(f"S{n:04d},{day},{close},{close + 1},{close - 1},{close},1000,\n")
    return symbols * len(days)


def _wal_position(conn: psycopg.Connection) -> int:
    return int(conn.execute("SELECT pg_current_wal_lsn() - '0/0'").fetchone()[0])


def test_a_first_bulk_load_writes_its_rows_without_wal(pgdata, tmp_path):
    url = embedded_server_url(pgdata)
    migrate(url)
    settings = make_settings(tmp_path, url)
    days = sessions(date(2019, 1, 2), date(2020, 12, 31))
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    rows = _panel(first, 1000, days[:250])  # 250,000 rows: the bulk publish
    _panel(second, 1000, days[250:500])  # the next days: another bulk append
    with psycopg.connect(url, autocommit=True) as conn:
        start = _wal_position(conn)
        assert ingest_csv(settings, first)["published"] == rows
        after_first = _wal_position(conn)
        heap = conn.execute("SELECT pg_relation_size('market_data')").fetchone()[0]
        assert ingest_csv(settings, second)["published"] == rows
        after_second = _wal_position(conn)
        assert conn.execute("SELECT count(*) FROM market_data").fetchone()[0] == 2 * rows
    # Into the empty table: a new file, synced at commit; the second load's rows are logged.
    # What the first load logs (~11 % of the heap here) is the per-date check rows, the
    # catalog, and files under wal_skip_threshold (2 MB), logged whole instead of synced.
    assert after_first - start < 0.25 * heap
    assert after_second - after_first > 0.8 * heap


def test_two_processes_starting_the_server_at_once_restart_it_once(pgdata):
    script = ("import sys; from pathlib import Path; "
              "from macroquant.db.connection import embedded_server_url; "
              "print(embedded_server_url(Path(sys.argv[1])))")
    starts = [subprocess.Popen([sys.executable, "-c", script, str(pgdata)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
              for _ in range(2)]
    urls = {start.communicate(timeout=120)[0].strip() for start in starts}
    assert [start.returncode for start in starts] == [0, 0] and len(urls) == 1
    assert _settings(urls.pop()) == EMBEDDED_SERVER_SETTINGS
    # Started once by initdb's first start, restarted once for the settings.
    log = (pgdata / "log").read_text()
    assert log.count("database system is ready to accept connections") == 2
