"""CLI commands of one area, added to `macroquant` by :func:`register`.

- ``macroquant backtest --start D --end D [--compare-account] [--store/--no-store]
  [--json OUT]``: the whole configured book (every enabled strategy file with the trading
  configuration) replayed through the daily pipeline's rules (:mod:`macroquant.backtest.book`)
- ``macroquant backtest STRATEGY.yaml [--prices FILE.csv] [--start D] [--end D]
  [--capital X] [--grid NAME=V1,V2 ...] [--store/--no-store] [--json OUT]``: one strategy
- ``macroquant research walk-forward STRATEGY.yaml --grid NAME=V1,V2 ... --train N
  --test M [--prices FILE.csv] [--start D] [--end D] [--capital X] --json OUT``

See docs/backtesting.md.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from macroquant.cli_args import iso_date
from macroquant.config.settings import Settings
from macroquant.errors import UsageError


def _common(parser: argparse.ArgumentParser, *, book: bool = False) -> None:
    if book:
        parser.add_argument("strategy", type=Path, nargs="?",
                            help="a strategy YAML file (its own engine); without it, the "
                                 "whole configured book through the daily pipeline's rules")
    else:
        parser.add_argument("strategy", type=Path, help="the strategy YAML file")
    parser.add_argument("--prices", type=Path, help="bars CSV (symbol,date,open,high,low,"
                        "close,volume[,adj_close]); default: the database's market_data")
    parser.add_argument("--start", type=iso_date, help="first session to trade")
    parser.add_argument("--end", type=iso_date, help="last session (no data after it is read)")
    parser.add_argument("--capital", type=float, help="initial capital (default: the trading "
                        "configuration's trading_capital)")
    parser.add_argument("--json", type=Path, required=not book, dest="json_out",
                        help="write the results to this JSON file")


def register(sub: argparse._SubParsersAction) -> None:
    """Add this area's subcommands to the top-level parser."""
    backtest = sub.add_parser("backtest", help="backtest the configured book (or one strategy "
                              "file) over history")
    _common(backtest, book=True)
    backtest.add_argument("--compare-account", action="store_true",
                          help="book backtest: compare with the paper account's orders, fills "
                               "and equity over the same window (exit 1 when they differ)")
    backtest.add_argument("--grid", nargs="+", metavar="NAME=V1,V2",
                          help="grid search over parameter values (reports every trial, the "
                               "number of trials and the deflated Sharpe ratio)")
    backtest.add_argument("--store", action=argparse.BooleanOptionalAction, default=None,
                          help="save the run under a backtest id (default: yes when prices "
                               "come from the database)")
    backtest.set_defaults(handler=cmd_backtest)

    research = sub.add_parser("research", help="research tools: walk-forward optimisation")
    research_sub = research.add_subparsers(dest="research_command", required=True)
    walk = research_sub.add_parser("walk-forward", help="rolling in-sample grid search, "
                                   "out-of-sample results reported separately")
    _common(walk)
    walk.add_argument("--grid", nargs="+", required=True, metavar="NAME=V1,V2")
    walk.add_argument("--train", type=int, default=756, help="in-sample sessions per fold")
    walk.add_argument("--test", type=int, default=252, help="out-of-sample sessions per fold")
    research.set_defaults(handler=cmd_research)


def _prepare(args: argparse.Namespace, settings: Settings
             ) -> tuple[Any, Any, Any, str, Any]:
    """The loaded strategy, its options, its price panels, where prices came from, and its
    point-in-time macro inputs (None for a prices CSV)."""
    from macroquant.backtest.data import read_market_data, read_prices_csv
    from macroquant.backtest.engine import options_for
    from macroquant.config.settings import load_trading_config
    from macroquant.strategies import moving_average  # noqa: F401  (registers sma_crossover)
    from macroquant.strategies.loader import load_strategy_file

    loaded = load_strategy_file(args.strategy)
    if args.start is not None and args.end is not None and args.end < args.start:
        from macroquant.errors import ConfigError

        raise ConfigError("--end", str(args.end), f"is before --start {args.start}")
    options = options_for(loaded.config, load_trading_config(settings.config_path),
                          capital=args.capital, start=args.start, end=args.end)
    symbols = list(loaded.config.universe)
    if args.prices is not None:
        return loaded, options, read_prices_csv(args.prices, symbols), str(args.prices), None
    from macroquant.backtest.store import read_backtest_inputs
    from macroquant.db.connection import database_url, transaction

    with transaction(database_url(settings)) as conn:
        panels = read_market_data(conn, symbols, args.end)
        inputs = read_backtest_inputs(conn, loaded.strategy, panels)
    return loaded, options, panels, "market_data", inputs


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def result_json(result: Any) -> dict[str, Any]:
    """``final_equity``, ``metrics``, ``equity`` ([date, value]) and ``trades`` (dicts)."""
    from macroquant.backtest.store import json_safe

    trades = result.trades.copy()
    for column in ("signal_date", "trade_date"):
        trades[column] = trades[column].dt.strftime("%Y-%m-%d")
    return {
        "final_equity": result.final_equity,
        "metrics": json_safe(result.metrics),
        "equity": [[d.strftime("%Y-%m-%d"), float(v)] for d, v in result.equity.items()],
        "trades": json_safe(trades.to_dict(orient="records")),
    }


def _write(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    """One backtest (or a grid of them) of a strategy file; JSON to ``--json``."""
    from macroquant.backtest.engine import run_backtest
    from macroquant.backtest.research import grid_search, parse_grid

    if args.strategy is None:
        from macroquant.cli_book import cmd_book_backtest

        return cmd_book_backtest(args, settings)
    if args.compare_account:
        raise UsageError("--compare-account compares the whole book with the paper account: "
                         "leave out the strategy file")
    loaded, options, panels, source, inputs = _prepare(args, settings)
    n_trials, grid_payload = 1, None
    if args.grid:
        search = grid_search(type(loaded.strategy), loaded.config.parameters,
                             parse_grid(args.grid), panels, options, inputs)
        result, n_trials = search.best.result, search.n_trials
        grid_payload = {
            "n_trials": n_trials, "best_parameters": search.best.parameters,
            "deflated_sharpe": _finite(search.deflated_sharpe()),
            "trials": [{"parameters": t.parameters, "error": t.error or None,
                        "final_equity": t.result.final_equity if t.result else None,
                        "sharpe": _finite(t.sharpe)} for t in search.trials],
        }
    else:
        result = run_backtest(loaded.strategy, panels, options, inputs)
    payload = {"strategy": loaded.config.name, "price_source": source, **result_json(result)}
    if grid_payload is not None:
        payload["grid"] = grid_payload
    store = args.store if args.store is not None else args.prices is None
    if store:
        from macroquant.backtest.store import new_backtest_id, save_backtest
        from macroquant.db.connection import database_url, transaction

        backtest_id = new_backtest_id(loaded.config.name)
        with transaction(database_url(settings)) as conn:
            save_backtest(conn, backtest_id, loaded, options, result, price_source=source,
                          n_trials=n_trials)
        payload["backtest_id"] = backtest_id
    if args.json_out is not None:
        _write(args.json_out, payload)
    print(f"{loaded.config.name}: final equity {result.final_equity:,.2f} from "
          f"{options.capital:,.2f}, {len(result.trades)} trades, sharpe "
          f"{result.metrics['sharpe']:.3f}"
          + (f", best of {n_trials} trials" if args.grid else "")
          + (f", stored as {payload['backtest_id']}" if store else "")
          + (f" -> {args.json_out}" if args.json_out is not None else ""), file=sys.stdout)
    return 0


def cmd_research(args: argparse.Namespace, settings: Settings) -> int:
    """Walk-forward optimisation; per-fold in-sample and out-of-sample results to JSON."""
    from macroquant.backtest.research import parse_grid, walk_forward

    loaded, options, panels, source, inputs = _prepare(args, settings)
    run = walk_forward(type(loaded.strategy), loaded.config.parameters, parse_grid(args.grid),
                       panels, options, train=args.train, test=args.test, inputs=inputs)
    folds = []
    for fold in run.folds:
        best = fold.search.best
        folds.append({
            "in_sample": [d.strftime("%Y-%m-%d") for d in fold.in_sample],
            "out_of_sample": [d.strftime("%Y-%m-%d") for d in fold.out_of_sample],
            "n_trials": fold.search.n_trials, "best_parameters": best.parameters,
            "in_sample_sharpe": _finite(best.sharpe),
            "in_sample_deflated_sharpe": _finite(fold.search.deflated_sharpe()),
            "out_of_sample_sharpe": _finite(fold.out_result.metrics["sharpe"]),
            "out_of_sample_return": fold.out_result.metrics["total_return"],
            "out_of_sample_trades": len(fold.out_result.trades),
        })
    oos = run.out_of_sample_metrics()
    from macroquant.backtest.store import json_safe

    _write(args.json_out, {
        "strategy": loaded.config.name, "price_source": source, "train": args.train,
        "test": args.test, "n_trials": run.n_trials, "folds": folds,
        "out_of_sample": {"final_equity": float(run.equity.iloc[-1]), "metrics": json_safe(oos),
                          "equity": [[d.strftime("%Y-%m-%d"), float(v)]
                                     for d, v in run.equity.items()]},
    })
    print(f"{loaded.config.name}: {len(folds)} folds, {run.n_trials} trials in all; "
          f"out-of-sample sharpe {oos['sharpe']:.3f}, return {oos['total_return']:.2%} "
          f"-> {args.json_out}")
    return 0
