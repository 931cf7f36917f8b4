"""The ``macroquant`` command."""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from datetime import date
from importlib import import_module
from pathlib import Path

import psycopg

from macroquant.cli_args import iso_date
from macroquant.config.settings import Settings, load_settings
from macroquant.errors import MacroQuantError


def _console():
    from rich.console import Console

    # soft_wrap: a line longer than the terminal (or than 80 columns when the output is a
    # pipe or a file) is not broken, so a URL or a path can be copied whole.
    return Console(highlight=False, soft_wrap=True)


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from macroquant.db.connection import database_url, mask_password, stop_embedded_server
    from macroquant.db.migrate import migrate

    if args.db_command in ("backup", "restore"):
        from macroquant.db.backup import backup_command, restore_command

        if args.db_command == "backup":
            code, text = backup_command(settings, args.file)
        elif args.file is None:
            print("error: db restore needs FILE", file=sys.stderr)
            return 2
        else:
            code, text = restore_command(settings, args.file, args.force)
        print(text, file=sys.stderr if code else sys.stdout)
        return code
    console = _console()
    if args.db_command == "stop":
        stopped = stop_embedded_server(settings.pgdata_dir)
        console.print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL is not running")
        return 0
    url = database_url(settings)
    if args.db_command == "url":
        console.print(mask_password(url))
        return 0
    applied = migrate(url)
    where = mask_password(url)
    console.print(f"migrations applied: {', '.join(applied)} ({where})" if applied
                  else f"schema up to date ({where})")
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    if args.source == "econ-csv":
        return _ingest_econ_csv(args, settings)
    if args.source == "csv":
        if args.file is None:
            print("error: ingest csv needs a FILE (symbol,date,open,high,low,close,volume"
                  "[,adj_close])", file=sys.stderr)
            return 2
        return _ingest_csv(args, settings)
    from macroquant.pipeline.ingest import HISTORY_START, load_sample_history

    console = _console()
    end = args.end or date.today()  # noqa: DTZ011  (the CLI's default end, not stage logic)
    started = time.perf_counter()
    with console.status(f"loading bundled history {HISTORY_START}..{end}"):
        result = load_sample_history(settings, end=end)
    validate = result["validate"]
    console.print(f"sample history to {end}: {validate['rows_in']} bars staged, "
                  f"{validate['published']} published ({validate['market_data_changed']} new or "
                  f"changed), {validate['quarantined']} quarantined, "
                  f"{result['ingest']['economic_indicators']} economic rows new or changed "
                  f"[{time.perf_counter() - started:.1f}s]")
    return 0


def _ingest_csv(args: argparse.Namespace, settings: Settings) -> int:
    """``ingest csv FILE`` with a spinner naming the part under way and a line per part."""
    from macroquant.sources.csv_files import STEPS, ingest_csv_command

    console = _console()
    labels = {"stage": "COPY into the landing tables", "audit": "gate checks",
              "publish": "publish into market_data", "warnings": "warning checks"}
    with console.status(f"{args.file}: {labels[STEPS[0]]}") as status:
        def on_step(part: str, seconds: float) -> None:
            console.print(f"  {labels[part]}: {seconds:.1f} s", highlight=False)
            following = STEPS.index(part) + 1
            if following < len(STEPS):
                status.update(f"{args.file}: {labels[STEPS[following]]}")

        code, message = ingest_csv_command(settings, args.file, args.asset_class,
                                           args.currency, on_step=on_step)
    print(message, file=sys.stderr if code == 2 else sys.stdout)
    return code


def _ingest_econ_csv(args: argparse.Namespace, settings: Settings) -> int:
    from macroquant.db.connection import database_url, transaction
    from macroquant.economics import EconCsvError, load_econ_csv

    if args.file is None:
        print("error: ingest econ-csv needs a FILE (columns series_id,date,value,realtime_start)",
              file=sys.stderr)
        return 2
    try:
        with transaction(database_url(settings)) as conn:
            r = load_econ_csv(conn, args.file)
    except EconCsvError as exc:
        # the first problem on the error line; the others (up to a limit) below it
        lines = [f"{exc.path}: line {line}, column '{column}': {message}"
                 for line, column, message in exc.problems]
        print(f"error: {lines[0]} (economic CSV rejected, nothing loaded)", file=sys.stderr)
        for line in lines[1:10]:
            print(f"  also {line}", file=sys.stderr)
        if len(lines) > 10:
            print(f"  ... and {len(lines) - 10} more problems", file=sys.stderr)
        return 1
    print(f"{r['file']}: {r['rows_read']} rows, {r['inserted']} new vintages, "
          f"{r['unchanged']} already stored, series created: "
          f"{', '.join(r['series_created']) or 'none'}")
    return 0


def cmd_econ(args: argparse.Namespace, settings: Settings) -> int:
    from macroquant.db.connection import connect, database_url
    from macroquant.economics import econ_show

    with connect(database_url(settings)) as conn:
        code, text = econ_show(conn, args.series, args.as_of, args.as_json)
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from macroquant.cli_args import wall_clock
    from macroquant.pipeline.preflight import daily_session, preflight
    from macroquant.pipeline.runner import (
        EXIT_DEGRADED,
        STAGES,
        default_run_id,
        degraded_reasons,
        run_stage,
    )

    today = wall_clock().date()
    if args.run_command == "daily":
        start = end = daily_session(args.as_of, today)
    else:
        start, end = args.start, args.end
    console = _console()
    for warning in preflight(settings, start, end, today=today).warnings:
        console.print(f"warning: {warning}")
    run_id = args.run_id or default_run_id(start, end)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
               "{task.total} stages"), TimeElapsedColumn())
    results: dict[str, dict[str, int]] = {}
    degraded: dict[str, list[str]] = {}
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"{start}..{end}", total=len(STAGES))
        for stage in STAGES:
            progress.update(task, description=f"{start}..{end} {stage:>9}")
            rows = results[stage] = run_stage(stage, start, end, run_id, settings)
            progress.console.print(f"  {stage:<9} {rows}")
            if degraded_reasons(rows):
                degraded[stage] = degraded_reasons(rows)
            progress.advance(task)
    if degraded:
        console.print(f"run {run_id}: DEGRADED — {len(degraded)} of {len(STAGES)} stages "
                      "left work undone:")
        for stage, reasons in degraded.items():
            for reason in reasons:
                console.print(f"  {stage}: {reason}")
        _say_quarantined(console, results)
        return EXIT_DEGRADED
    console.print(f"run {run_id}: all {len(STAGES)} stages succeeded")
    _say_quarantined(console, results)
    return 0


def _say_quarantined(console, results: dict[str, dict[str, int]]) -> None:
    """A warning line when bars were quarantined: which command lists them."""
    quarantined = results.get("validate", {}).get("quarantined", 0)
    stopped = results.get("signals", {}).get("quarantined_instruments", 0)
    if quarantined or stopped:
        console.print(f"warning: {quarantined} staged row(s) quarantined; {stopped} "
                      "instrument(s) got no signal for the sessions concerned (the rest of "
                      "the book traded): see `macroquant quarantine list`")


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from macroquant.status import print_status

    print_status(settings, _console())
    return 0


def cmd_summary(args: argparse.Namespace, settings: Settings) -> int:
    from macroquant.status import print_summary

    print_summary(settings, _console(), args.start, args.end)
    return 0


def cmd_metrics(args: argparse.Namespace, settings: Settings) -> int:
    from macroquant.reports.metrics_cli import metrics_command

    code, text = metrics_command(args.returns, args.json, args.benchmark, args.risk_free)
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


def cmd_secrets(args: argparse.Namespace, settings: Settings) -> int:
    from macroquant.security.secrets import secrets_command

    code, text = secrets_command(settings, args.action, args.name, args.stdin)
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


def cmd_calendar(args: argparse.Namespace, settings: Settings) -> int:
    from macroquant.calendars import previous_session

    print(previous_session(args.day).isoformat())
    return 0


def cmd_airflow_run(args: argparse.Namespace, settings: Settings) -> int:
    from macroquant.airflow_runner import run_dag_window
    from macroquant.cli_args import wall_clock
    from macroquant.pipeline.preflight import preflight

    if args.dag_id == "macroquant_daily":
        preflight(settings, args.start, args.end, today=wall_clock().date())
    return run_dag_window(args.dag_id, args.start, args.end, verbose=args.verbose)


# Each area adds its own commands through ``register(subparsers)``; handlers take
# ``(args, settings)`` and return an exit code, like the ones above.
CLI_EXTENSIONS = (
    "macroquant.cli_data",        # market data vendors, fetch control
    "macroquant.cli_macro_data",  # economic and alternative data vendors
    "macroquant.cli_quality",     # validation, corporate actions, feature store
    "macroquant.cli_quarantine",  # quarantined bars: list, show, accept, drop
    "macroquant.cli_backtest",    # backtest and research tools
    "macroquant.cli_strategies",  # strategy library and monitoring
    "macroquant.cli_risk",        # risk state, kill switch, exposure
    "macroquant.cli_orders",      # order management, brokers, reconciliation
    "macroquant.cli_api",         # API server and users
    "macroquant.cli_reports",     # reports and attribution
    "macroquant.cli_divergence",  # the divergence monitor (account vs the fill model)
    "macroquant.cli_demo",        # make demo
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="macroquant", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log stage details")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error (or MACROQUANT_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database: migrate, url, stop, backup, restore")
    db.add_argument("db_command", choices=["migrate", "url", "stop", "backup", "restore"])
    db.add_argument("file", nargs="?", type=Path, help="backup/restore: the dump file")
    db.add_argument("--force", action="store_true",
                    help="restore: replace a database that already holds data")
    db.set_defaults(handler=cmd_db)

    ingest = sub.add_parser("ingest", help="load data")
    ingest.add_argument("source", choices=["sample", "csv", "econ-csv"],
                        help="sample: the bundled real history; csv: daily bars from FILE "
                             "(symbol,date,open,high,low,close,volume[,adj_close]); econ-csv: "
                             "economic vintages from FILE (series_id,date,value,realtime_start)")
    ingest.add_argument("--asset-class", default="single_stock", help="csv: for new instruments")
    ingest.add_argument("--currency", default="USD", help="csv: for new instruments")
    ingest.add_argument("file", nargs="?", type=Path, help="the CSV file (econ-csv)")
    ingest.add_argument("--end", type=iso_date, help="sample: last date to load (default: today)")
    ingest.set_defaults(handler=cmd_ingest)

    run = sub.add_parser("run", help="run the daily pipeline")
    run_sub = run.add_subparsers(dest="run_command", required=True)
    daily = run_sub.add_parser("daily", help="one session")
    daily.add_argument("--as-of", type=iso_date, required=True)
    daily.add_argument("--run-id")
    backfill = run_sub.add_parser("backfill", help="a window of sessions in one run")
    backfill.add_argument("--start", type=iso_date, required=True)
    backfill.add_argument("--end", type=iso_date, required=True)
    backfill.add_argument("--run-id")
    run.set_defaults(handler=cmd_run)

    status = sub.add_parser("status", help="database, data freshness, last runs")
    status.set_defaults(handler=cmd_status)

    summary = sub.add_parser("summary", help="what a run produced: orders, equity, metrics")
    summary.add_argument("--start", type=iso_date, required=True)
    summary.add_argument("--end", type=iso_date, required=True)
    summary.set_defaults(handler=cmd_summary)

    secrets = sub.add_parser("secrets", help="encrypted API keys and broker credentials")
    secrets.add_argument("action", choices=["set", "list", "delete", "rotate-key"])
    secrets.add_argument("name", nargs="?")
    secrets.add_argument("--stdin", action="store_true", default=None,
                         help="set: read the value from standard input (never from argv)")
    secrets.set_defaults(handler=cmd_secrets)

    econ = sub.add_parser("econ", help="point-in-time economic data")
    econ_sub = econ.add_subparsers(dest="econ_command", required=True)
    show = econ_sub.add_parser("show", help="a series as it was known on a date")
    show.add_argument("series")
    show.add_argument("--as-of", type=iso_date, required=True)
    show.add_argument("--json", action="store_true", dest="as_json")
    econ.set_defaults(handler=cmd_econ)

    metrics = sub.add_parser("metrics", help="performance metrics of a returns CSV (date,return)")
    metrics.add_argument("--returns", type=Path, required=True, help="CSV with columns date,return")
    metrics.add_argument("--benchmark", type=Path, help="benchmark CSV (date,return) for beta/alpha")
    metrics.add_argument("--risk-free", type=float, default=0.0, help="annual risk-free rate")
    metrics.add_argument("--json", action="store_true", help="print JSON")
    metrics.set_defaults(handler=cmd_metrics)

    calendar = sub.add_parser("calendar", help="trading calendar helpers")
    calendar_sub = calendar.add_subparsers(dest="calendar_command", required=True)
    previous = calendar_sub.add_parser("previous-session", help="the session before DAY")
    previous.add_argument("day", type=iso_date)
    calendar.set_defaults(handler=cmd_calendar)

    airflow = sub.add_parser("airflow-run", help="run a DAG over a window through Airflow "
                             "(in-process, no scheduler)")
    airflow.add_argument("dag_id")
    airflow.add_argument("--start", type=iso_date, required=True)
    airflow.add_argument("--end", type=iso_date, required=True)
    airflow.set_defaults(handler=cmd_airflow_run)
    for module_name in CLI_EXTENSIONS:
        import_module(module_name).register(sub)
    return parser


def debug_requested(argv: Sequence[str], environ: dict[str, str] | None = None) -> bool:
    """Whether tracebacks are wanted: ``--debug`` on the command line or
    ``MACROQUANT_DEBUG=1`` in the environment."""
    import os

    env = os.environ if environ is None else environ
    return "--debug" in argv or env.get("MACROQUANT_DEBUG", "").strip().lower() in (
        "1", "true", "yes", "on")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: errors a user can meet are printed as one masked line, with exit code
    1 (2 for a usage error); ``--debug`` / ``MACROQUANT_DEBUG=1`` adds the traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    # --debug is taken anywhere on the line (`macroquant run daily --as-of D --debug`)
    argv = [part for part in argv if part != "--debug"]
    try:
        return _main(argv, debug)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: no traceback reaches a user
        from macroquant.cli_errors import report_error

        return report_error(exc, debug)


def _main(argv: list[str], debug: bool) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", module="platformdirs")
    from macroquant.security.masking import install_secret_masking

    install_secret_masking()
    from macroquant.logging_setup import configure_file_logging

    settings = load_settings()
    configure_file_logging(settings)
    try:
        return args.handler(args, settings)
    except MacroQuantError as exc:
        if debug:
            raise  # main() prints it with its traceback
        from macroquant.security.masking import mask_text

        print(f"error: {mask_text(str(exc))}", file=sys.stderr)
        return 1
    except psycopg.errors.UndefinedTable as exc:
        first = str(exc).splitlines()[0]
        print(f"error: the database schema is not up to date ({first}); run "
              "`macroquant db migrate`", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
