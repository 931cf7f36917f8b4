"""Bad input, table-driven: every case runs the ``macroquant`` command in-process against a
database holding the bundled history and asserts

- the exit code;
- exactly one line saying ``error:``, which names what is wrong and where;
- no Python traceback anywhere in the output;
- no secret (the database password) in stdout, stderr, ``system_logs``,
  ``pipeline_runs.message`` or the JSON-lines log file;
- every MacroQuant table unchanged (row count and a digest of its content).

The database URL carries a password (the embedded test server trusts local connections,
so it is accepted and ignored): it must never be shown.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from macroquant.cli import main
from macroquant.config.settings import INCLUDE_DIR
from macroquant.db.catalog import qualified, table_key, user_tables

SECRET = "S3cretPw"


@dataclass
class World:
    """Where a case runs: its files and the database (URL with the password)."""

    root: Path
    url: str
    strategies: Path
    config: Path
    home: Path


@dataclass(frozen=True)
class Case:
    """One bad input: the command line (``{root}`` is the case's directory), extra
    environment, files to write first, the exit code and a piece of the error line."""

    name: str
    argv: tuple[str, ...]
    code: int
    expect: str
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    setup: Callable[[World], None] | None = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


GOOD_STRATEGY = (INCLUDE_DIR / "strategies" / "ewma_trend.yaml").read_text()
BARS_HEADER = b"symbol,date,open,high,low,close,volume\n"


def _strategy(**changes: str) -> bytes:
    """The shipped ewma_trend.yaml with top-level lines replaced (key -> new line)."""
    lines = []
    for line in GOOD_STRATEGY.splitlines():
        key = line.split(":", 1)[0]
        lines.append(changes.pop(key) if key in changes else line)
    return ("\n".join([*lines, *changes.values()]) + "\n").encode()


def _break_strategy(content: bytes) -> Callable[[World], None]:
    def setup(world: World) -> None:
        (world.strategies / "ewma_trend.yaml").write_bytes(content)
    return setup


def _config_with(extra: str) -> Callable[[World], None]:
    def setup(world: World) -> None:
        world.config.write_text(world.config.read_text() + extra)
    return setup


RUN = ("run", "daily", "--as-of", "2012-10-01")
PORT = _free_port()

CASES: tuple[Case, ...] = (
    # ---- dates and windows
    Case("future as-of", ("run", "daily", "--as-of", "2027-06-01"), 1,
         "--as-of 2027-06-01 is after today"),
    Case("far future as-of", ("run", "daily", "--as-of", "2099-01-01"), 1,
         "--as-of 2099-01-01 is after today"),
    Case("as-of before any data", ("run", "daily", "--as-of", "1990-01-03"), 1,
         "no market data on or before 1990-01-03 for"),
    Case("not a date", ("run", "daily", "--as-of", "2012-13-01"), 2,
         "'2012-13-01' is not a date (use YYYY-MM-DD)"),
    Case("reversed window", ("run", "backfill", "--start", "2012-10-05", "--end", "2012-10-01"),
         1, "window end 2012-10-01 is before its start 2012-10-05"),
    Case("weekend window", ("run", "backfill", "--start", "2012-10-06", "--end", "2012-10-07"),
         1, "window 2012-10-06..2012-10-07 holds no XNYS trading session"),
    Case("future backfill end", ("run", "backfill", "--start", "2012-10-01",
                                 "--end", "2030-01-01"), 1, "window end 2030-01-01 is after today"),
    Case("stale instruments", ("run", "daily", "--as-of", "2019-06-03"), 1,
         "stale market data: AAPL (last bar 2012-09-28)"),
    Case("daily run a year after the stored history", ("run", "daily", "--as-of", "2013-10-01"),
         1, "(the bundled history ends: AAPL 2013-03-01, GOOG 2013-03-01, IBM 2013-03-01, "
            "MSFT 2013-03-01); load the history up to the window first (`macroquant ingest "
            "sample --end 2013-09-30`"),
    Case("airflow-run future window", ("airflow-run", "macroquant_daily", "--start",
                                       "2027-06-01", "--end", "2027-06-02"), 1,
         "window end 2027-06-02 is after today"),
    Case("report of a date without results", ("report", "daily", "--as-of", "1995-01-03"), 1,
         "no daily report for 1995-01-03: no paper-account result"),
    Case("demo start not a date", ("demo", "--start", "2012-13-01", "--end", "2013-02-28"), 2,
         "DEMO_START='2012-13-01' is not a date"),
    Case("demo reversed", ("demo", "--start", "2013-03-01", "--end", "2012-03-01"), 2,
         "window end 2012-03-01 is before its start 2013-03-01"),
    # ---- strategy and trading configuration files (checked before anything is written)
    Case("unknown strategy type", RUN, 1, "ewma_trend.yaml: field 'type'",
         setup=_break_strategy(_strategy(type="type: trend_folowing"))),
    Case("unknown YAML key", RUN, 1, "ewma_trend.yaml: field 'wieght': unknown key",
         setup=_break_strategy(_strategy(weight="wieght: 0.6"))),
    Case("wrong type", RUN, 1, "ewma_trend.yaml: field 'weight'",
         setup=_break_strategy(_strategy(weight="weight: lots"))),
    Case("empty strategy file", RUN, 1, "ewma_trend.yaml: field '<root>': must be a mapping",
         setup=_break_strategy(b"")),
    Case("not YAML", RUN, 1, "ewma_trend.yaml: field '<yaml>': not valid YAML",
         setup=_break_strategy(b"name: [unclosed\n")),
    Case("non-UTF-8 strategy file", RUN, 1, "ewma_trend.yaml: field '<file>': not UTF-8",
         setup=_break_strategy(_strategy(description="description: café").decode()
                               .encode("latin-1"))),
    Case("unknown symbol in a universe", RUN, 1,
         "ewma_trend.yaml: field 'universe': unknown instruments ['NOPE']",
         setup=_break_strategy(_strategy(universe="universe: [SPX, NOPE]"))),
    Case("strategies directory is a file", RUN, 1, "holds no strategy *.yaml files",
         env={"MACROQUANT_STRATEGIES_DIR": "{root}/bars.csv"},
         files={"bars.csv": BARS_HEADER}),
    Case("missing trading config", RUN, 1, "missing.yaml: field '<file>': cannot read",
         env={"MACROQUANT_CONFIG": "{root}/missing.yaml"}),
    Case("unknown key in trading config", RUN, 1, "field 'colour': unknown key",
         setup=_config_with("\ncolour: blue\n")),
    # ---- CSV files
    Case("missing CSV file", ("ingest", "csv", "{root}/nowhere.csv"), 2,
         "nowhere.csv: cannot read the file"),
    Case("empty CSV file", ("ingest", "csv", "{root}/empty.csv"), 2,
         "empty.csv: line 1: the file is empty", files={"empty.csv": b""}),
    Case("CSV missing a column", ("ingest", "csv", "{root}/bars.csv"), 2,
         "bars.csv: line 1 (header): missing column(s) volume",
         files={"bars.csv": b"symbol,date,open,high,low,close\nSPX,2012-10-01,1,1,1,1\n"}),
    Case("non-UTF-8 CSV", ("ingest", "csv", "{root}/bars.csv"), 2, "bars.csv: line 2: not UTF-8",
         files={"bars.csv": BARS_HEADER + "CAF\xc9,2012-10-01,1,1,1,1,1\n".encode("latin-1")}),
    Case("CSV with no readable row", ("ingest", "csv", "{root}/bars.csv"), 2,
         "bars.csv: no row with a readable date",
         files={"bars.csv": BARS_HEADER + b"SPX,yesterday,1,1,1,1,1\n"}),
    Case("econ CSV missing", ("ingest", "econ-csv", "{root}/nowhere.csv"), 1, "nowhere.csv"),
    # ---- quarantine commands
    Case("quarantine show unknown id", ("quarantine", "show", "999"), 1,
         "no quarantined row has id 999"),
    Case("quarantine accept unknown id", ("quarantine", "accept", "999", "--by", "alice"), 1,
         "no quarantined row has id 999"),
    Case("quarantine id not a number", ("quarantine", "drop", "abc", "--by", "alice"), 2,
         "argument ID: invalid int value: 'abc'"),
    # ---- the database URL (environment)
    Case("URL without scheme", ("db", "migrate"), 1,
         "MACROQUANT_DATABASE_URL is not a valid PostgreSQL URL (postgres//trader:***@host)",
         env={"MACROQUANT_DATABASE_URL": f"postgres//trader:{SECRET}@host"}),
    Case("URL scheme typo", ("status",), 1, "unknown scheme 'postgresq://'",
         env={"MACROQUANT_DATABASE_URL": f"postgresq://trader:{SECRET}@127.0.0.1/db"}),
    Case("password with @", ("status",), 1, "must be percent-encoded",
         env={"MACROQUANT_DATABASE_URL": f"postgresql://trader:{SECRET}@x@127.0.0.1/db"}),
    Case("password with /", ("db", "migrate"), 1, "must be percent-encoded",
         env={"MACROQUANT_DATABASE_URL": f"postgresql://trader:{SECRET}/x@127.0.0.1/db"}),
    Case("port not a number", ("db", "url"), 1, "its host or port cannot be read",
         env={"MACROQUANT_DATABASE_URL": f"postgresql://trader:{SECRET}@127.0.0.1:pg/db"}),
    Case("server that does not answer", ("db", "migrate"), 1,
         f"cannot connect to PostgreSQL at postgresql://trader:***@127.0.0.1:{PORT}/db",
         env={"MACROQUANT_DATABASE_URL": f"postgresql://trader:{SECRET}@127.0.0.1:{PORT}/db"}),
    Case("percent-encoded password, no server", ("status",), 1, "trader:***@127.0.0.1",
         env={"MACROQUANT_DATABASE_URL":
              f"postgresql://trader:{SECRET}%40%2F%3A@127.0.0.1:{PORT}/db"}),
    Case("home is a file", ("run", "daily", "--as-of", "2012-10-01"), 1, "bars.csv",
         env={"MACROQUANT_HOME": "{root}/bars.csv"}, files={"bars.csv": BARS_HEADER}),
)


def table_digests(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an md5 of the sorted rows of every MacroQuant table."""
    with psycopg.connect(url) as conn:
        return {table_key(schema, name): tuple(conn.execute(sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
            "FROM {} t").format(qualified(schema, name))).fetchone())
            for schema, name in user_tables(conn)}


def stored_messages(url: str) -> str:
    with psycopg.connect(url) as conn:
        logs = conn.execute("SELECT coalesce(string_agg(message || context::text, '\n'), '') "
                            "FROM system_logs").fetchone()[0]
        runs = conn.execute("SELECT coalesce(string_agg(message, '\n'), '') "
                            "FROM pipeline_runs").fetchone()[0]
    return logs + runs


@pytest.fixture
def world(tmp_path: Path, loaded_db_url: str, monkeypatch: pytest.MonkeyPatch) -> World:
    strategies = tmp_path / "strategies"
    shutil.copytree(INCLUDE_DIR / "strategies", strategies)
    config = tmp_path / "macroquant.yaml"
    shutil.copy(INCLUDE_DIR / "macroquant.yaml", config)
    url = f"{loaded_db_url} password={SECRET}"
    home = tmp_path / "home"
    for name, value in {"MACROQUANT_HOME": str(home), "MACROQUANT_DATABASE_URL": url,
                        "MACROQUANT_STRATEGIES_DIR": str(strategies),
                        "MACROQUANT_CONFIG": str(config),
                        "MACROQUANT_REPORTS_DIR": str(tmp_path / "reports"),
                        "COLUMNS": "250"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MACROQUANT_DEBUG", raising=False)
    return World(tmp_path, url, strategies, config, home)


def _prepare(world: World, case: Case, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    for name, content in case.files.items():
        (world.root / name).write_bytes(content)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value.format(root=world.root))
    if case.setup is not None:
        case.setup(world)
    return [part.format(root=world.root) for part in case.argv]


def test_there_are_at_least_thirty_distinct_bad_inputs():
    assert len({case.name for case in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_gives_one_line_and_changes_nothing(case: Case, world: World,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]):
    argv = _prepare(world, case, monkeypatch)
    before = table_digests(world.url)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == case.code, (out, err)
    assert len(errors) == 1, err
    assert case.expect in errors[0], errors[0]
    logs = "".join(p.read_text() for p in world.home.glob("logs/*.jsonl*")) \
        if world.home.is_dir() else ""
    for text in (out, err, logs, stored_messages(world.url)):
        assert "Traceback" not in text
        assert SECRET not in text
    assert table_digests(world.url) == before
    assert not list((world.root / "reports").rglob("*.*")) if (world.root / "reports").exists() \
        else True


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_debug_shows_the_traceback_still_masked(how: str, world: World,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("MACROQUANT_DATABASE_URL",
                       f"postgresql://trader:{SECRET}@127.0.0.1:{_free_port()}/db")
    argv = ["status"]
    if how == "flag":
        argv.insert(0, "--debug")
    else:
        monkeypatch.setenv("MACROQUANT_DEBUG", "1")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "DatabaseUnavailableError" in err
    assert SECRET not in err and "trader:***@127.0.0.1" in err
    assert err.strip().splitlines()[-1].startswith("error: cannot connect to PostgreSQL")


def test_debug_is_taken_after_the_subcommand_too(world: World, monkeypatch, capsys):
    assert main(["run", "daily", "--as-of", "2027-06-01", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "PreflightError" in err
    assert err.strip().splitlines()[-1].startswith("error: --as-of 2027-06-01 is after today")
