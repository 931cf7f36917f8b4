"""``macroquant demo --start S --end E`` (what ``make demo`` runs): load the bundled history
before the window, run the daily DAG over it through Airflow, print the summary.

The demo keeps working after a user has traded past its window with the same paper
account (``run daily`` on later dates): positions are path-dependent, so that account cannot
replay the window. The demo then says so and runs on a database of its own,
``macroquant_demo`` on the same server, leaving the user's account untouched; its summary
says where to look. Dates are checked first, and an error names the make variable.
"""

from __future__ import annotations

import argparse
import os
from datetime import date

from macroquant.config.settings import Settings

DEMO_DATABASE = "macroquant_demo"


class DemoError(Exception):
    """A demo argument is wrong (the message names the make variable and its value)."""


def parse_demo_date(variable: str, text: str) -> date:
    """``text`` as a date, or a :class:`DemoError` naming ``variable`` and the value."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise DemoError(f"{variable}={text!r} is not a date (use YYYY-MM-DD, e.g. "
                        f"make demo DEMO_START=2012-03-01 DEMO_END=2013-02-28)") from None


def demo_database_url(url: str, name: str = DEMO_DATABASE) -> str:
    """``url`` with its database replaced by ``name`` (query and credentials kept)."""
    from urllib.parse import urlsplit, urlunsplit

    if "://" not in url:  # a libpq key=value string
        from psycopg.conninfo import make_conninfo

        return make_conninfo(url, dbname=name)
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _latest_state(url: str) -> date | None:
    import psycopg

    from macroquant.db.connection import connect

    with connect(url) as conn:
        try:
            return conn.execute("SELECT max(as_of) FROM performance "
                                "WHERE scope = 'portfolio'").fetchone()[0]
        except psycopg.errors.UndefinedTable:  # not migrated yet: no account state
            return None


def _fresh_demo_database(url: str) -> str:
    """Create (or re-create) the demo's own database on the server of ``url``."""
    import psycopg
    from psycopg import sql

    from macroquant.db.connection import connect

    with connect(url) as conn:
        conn.autocommit = True
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(DEMO_DATABASE)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DEMO_DATABASE)))
        except psycopg.Error as exc:
            from macroquant.errors import DatabaseUnavailableError

            raise DatabaseUnavailableError(
                f"could not create the demo database '{DEMO_DATABASE}': "
                f"{str(exc).strip().splitlines()[0]}") from None
    return demo_database_url(url)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Run the demo over ``--start``..``--end``; see the module docstring."""
    import sys

    from macroquant.airflow_runner import run_dag_window
    from macroquant.calendars import previous_session
    from macroquant.cli import _console
    from macroquant.cli_args import wall_clock
    from macroquant.db.connection import database_url, mask_password
    from macroquant.db.migrate import migrate
    from macroquant.pipeline.ingest import load_sample_history
    from macroquant.pipeline.preflight import PreflightError, check_window, preflight
    from macroquant.status import print_summary

    try:
        start = parse_demo_date("DEMO_START", args.start)
        end = parse_demo_date("DEMO_END", args.end)
        check_window(start, end, wall_clock().date())
    except (DemoError, PreflightError) as exc:
        print(f"error: make demo: {exc}", file=sys.stderr)
        return 2
    console = _console()
    url = database_url(settings)
    migrate(url)
    latest = _latest_state(url)
    environ = dict(os.environ)
    separate = latest is not None and latest > end
    if separate:
        demo_url = demo_database_url(url)
        demo_latest = None
        if _database_exists(url):
            demo_latest = _latest_state(demo_url)
        if demo_latest is None or demo_latest > end:
            demo_url = _fresh_demo_database(url)
        console.print(
            f"The paper account at {mask_password(url)} already has results up to {latest}, "
            f"after the demo window {start}..{end}; positions are path-dependent, so that "
            f"account cannot replay the window. The demo runs on its own database "
            f"'{DEMO_DATABASE}' instead; your account is untouched.")
        url = demo_url
        settings = settings.model_copy(update={"database_url": url})
        environ["MACROQUANT_DATABASE_URL"] = url
        migrate(url)
    history_end = previous_session(start)
    result = load_sample_history(settings, end=history_end)
    console.print(f"bundled history up to {history_end}: {result['validate']['published']} "
                  "bars published")
    for warning in preflight(settings, start, end, today=wall_clock().date(),
                             url=url).warnings:
        console.print(f"warning: {warning}")
    code = run_dag_window("macroquant_daily", start, end, verbose=args.verbose,
                          environ=environ)
    if code != 0:
        return code
    print_summary(settings, console, start, end)
    if separate:
        console.print(f"The demo's results are in '{DEMO_DATABASE}': to look at them, "
                      f"export MACROQUANT_DATABASE_URL='{mask_password(url)}' (with the "
                      "password, if any) before `make dashboard` or `macroquant status`.")
    return 0


def _database_exists(url: str) -> bool:
    from macroquant.db.connection import connect

    with connect(url) as conn:
        return conn.execute("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %s)",
                            (DEMO_DATABASE,)).fetchone()[0]


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``demo`` to the top-level parser."""
    demo = sub.add_parser("demo", help="what `make demo` runs: bundled history, then the "
                                       "daily DAG over a window, then the summary")
    # plain strings: a bad date is reported naming DEMO_START / DEMO_END, not --start
    demo.add_argument("--start", required=True, help="first day (make: DEMO_START)")
    demo.add_argument("--end", required=True, help="last day (make: DEMO_END)")
    demo.set_defaults(handler=cmd_demo)


__all__ = ["DEMO_DATABASE", "cmd_demo", "demo_database_url", "parse_demo_date", "register"]
