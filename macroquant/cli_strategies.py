"""``macroquant strategies list|validate``: the configured strategies and their files.

- ``macroquant strategies list``: every file of the strategies directory (name, type/rule,
  universe size, weight, enabled) with the pause flag an operator set through the API.
- ``macroquant strategies validate [PATH] [--as-set]``: run the loader on a file or on
  every ``*.yaml``/``*.yml`` of a directory; ``OK`` per valid file, the loader's error
  (file and field) per invalid one, exit 1 if any is invalid. Without ``PATH`` the
  configured directory is checked as the set the pipeline loads (names unique, enabled
  weights ≤ 1); ``--as-set`` applies those checks to ``PATH`` too, and checks the set
  against the trading configuration (``MACROQUANT_CONFIG``): a ``stops`` key that names no
  strategy file is an error (``FAIL``), a count or amount limit that would bind on most
  orders of this book a ``WARN`` line (exit 0).
- ``macroquant strategies changes [--limit N]``: the strategy book's recorded changes
  (added, changed with the parameter diff, retired), newest first.

Pausing and unpausing is the API's job (``/strategies/{name}/pause``); see
docs/strategies.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from macroquant.config.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``strategies list|validate`` to the top-level parser."""
    strategies = sub.add_parser("strategies", help="list and validate strategy files")
    strategies_sub = strategies.add_subparsers(dest="strategies_command", required=True)
    strategies_sub.add_parser("list", help="configured strategies with their pause state")
    validate = strategies_sub.add_parser("validate", help="check strategy files with the "
                                         "loader (errors name the file and the field)")
    validate.add_argument("path", nargs="?", type=Path,
                          help="a strategy file or a directory of them (default: the "
                               "configured strategies directory, checked as a set)")
    validate.add_argument("--as-set", action="store_true",
                          help="also check a directory as one configuration (unique names, "
                               "enabled weights add up to at most 1)")
    changes = strategies_sub.add_parser("changes", help="what runs added, changed and "
                                        "retired in the strategy book, newest first")
    changes.add_argument("--limit", type=int, default=50, help="rows (default 50)")
    strategies.set_defaults(handler=cmd_strategies)


def cmd_strategies(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch ``macroquant strategies ...``."""
    if args.strategies_command == "list":
        return _list(settings)
    if args.strategies_command == "changes":
        return _changes(settings, args.limit)
    path = settings.strategies_dir if args.path is None else args.path
    return _validate(path, as_set=args.as_set or args.path is None,
                     config_path=settings.config_path)


def strategy_files(path: Path) -> list[Path]:
    """``path`` itself, or the strategy files of a directory (sorted)."""
    if path.is_dir():
        return sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    return [path]


def _validate(path: Path, *, as_set: bool, config_path: Path) -> int:
    from macroquant.errors import MacroQuantError
    from macroquant.strategies.loader import load_strategy_file

    files = strategy_files(path)
    if not files:
        print(f"FAIL {path}: holds no strategy *.yaml files")
        return 1
    failed = 0
    for file in files:
        try:
            loaded = load_strategy_file(file)
        except MacroQuantError as exc:
            failed += 1
            print(f"FAIL {exc}")
            continue
        config = loaded.config
        print(f"OK   {file} ({config.name}: {config.type}/{config.rule}, "
              f"{len(config.universe)} instrument{'s' if len(config.universe) != 1 else ''})")
    if as_set and not failed and path.is_dir():
        return _validate_set(path, len(files), config_path)
    return 1 if failed else 0


def _validate_set(path: Path, files: int, config_path: Path) -> int:
    """The set checks: the loader's (names, weights), then against the trading config."""
    from macroquant.config.settings import load_trading_config
    from macroquant.errors import MacroQuantError
    from macroquant.strategies.book_checks import book_instruments, check_stops, limit_warnings
    from macroquant.strategies.loader import load_book

    try:
        book = load_book(path)
        trading = load_trading_config(config_path)
        check_stops(trading, book, config_path, path)
    except MacroQuantError as exc:
        print(f"FAIL {exc}")
        return 1
    enabled = [item for item in book if item.config.enabled]
    weights = sum(item.config.weight for item in enabled)
    print(f"OK   {path} as a set: {len(enabled)} enabled of {files}, weights add up to "
          f"{weights:.3f}, {len(book_instruments(book))} instruments; stops of "
          f"{config_path} name only its strategies")
    for line in limit_warnings(trading, book, config_path):
        print(f"WARN {line}")
    return 0


def _changes(settings: Settings, limit: int) -> int:
    from macroquant.db.connection import connect, database_url
    from macroquant.pipeline.book import recent_changes

    with connect(database_url(settings)) as conn:
        changes = recent_changes(conn, limit)
    if changes.empty:
        print("no strategy book change recorded yet (the signals stage records them)")
        return 0
    for row in changes.itertuples():
        print(f"{row.window_start}..{row.window_end} {row.run_id}  {row.change:<8} "
              f"{row.strategy_name}  {row.summary}")
    return 0


def _list(settings: Settings) -> int:
    from macroquant.auth.strategy_controls import controls
    from macroquant.db.connection import connect, database_url
    from macroquant.strategies.loader import load_strategy_file

    loaded = sorted((load_strategy_file(f) for f in strategy_files(settings.strategies_dir)),
                    key=lambda item: item.config.name)
    with connect(database_url(settings)) as conn:
        flags = controls(conn)
    rows = [("name", "type/rule", "universe", "weight", "enabled", "paused")]
    notes = []
    for item in loaded:
        config = item.config
        flag = flags.get(config.name)
        paused = flag is not None and flag.paused
        rows.append((config.name, f"{config.type}/{config.rule}", str(len(config.universe)),
                     f"{config.weight:g}", "yes" if config.enabled else "no",
                     "yes" if paused else "no"))
        if paused:
            notes.append(f"{config.name} paused by {flag.changed_by} at "
                         f"{flag.changed_at:%Y-%m-%d %H:%M:%S %Z}"
                         + (f": {flag.reason}" if flag.reason else ""))
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())
    for note in notes:
        print(note)
    return 0
