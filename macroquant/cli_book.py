"""``macroquant backtest`` without a strategy file: the whole configured book replayed
through the daily pipeline's rules (:mod:`macroquant.backtest.book`), with an optional
comparison against the paper account over the same window.

See docs/backtesting.md ("Book backtests").
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import pandas as pd

from macroquant.config.settings import Settings
from macroquant.errors import UsageError


def _check_options(args: argparse.Namespace) -> None:
    if args.start is None or args.end is None:
        raise UsageError("a book backtest needs --start and --end (the sessions to replay)")
    if args.end < args.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    for flag, value in (("--grid", args.grid), ("--prices", args.prices),
                        ("--capital", args.capital)):
        if value:
            raise UsageError(f"{flag} works with a strategy file; a book backtest uses the "
                             "database's bars and the trading configuration's "
                             "trading_capital")


def book_json(result: Any) -> dict[str, Any]:
    """The run as JSON: summary, metrics, daily equity, orders and fills."""
    from macroquant.backtest.store import json_safe

    def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
        out = frame.copy()
        for column in out.columns:
            if out[column].dtype == object:
                out[column] = out[column].map(lambda v: v.isoformat()
                                              if hasattr(v, "isoformat") else v)
        return json_safe(out.to_dict(orient="records"))

    performance = result.performance
    return {
        "kind": "book", "start": str(result.start), "end": str(result.end),
        "initial_capital": result.capital,
        "final_equity": float(performance["equity"].iloc[-1]),
        "metrics": json_safe(result.metrics()),
        "failed_strategies": result.errors,
        "equity": [[str(d), float(e)] for d, e in zip(performance["as_of"],
                                                       performance["equity"], strict=True)],
        "orders": records(result.orders), "fills": records(result.trades),
    }


def _print_parity(parity: Any) -> None:
    print(f"paper account vs backtest, {parity.sessions_compared} sessions:")
    print(f"  orders  {parity.orders_account} vs {parity.orders_backtest}; only in the "
          f"account {len(parity.orders_only_account)}, only in the backtest "
          f"{len(parity.orders_only_backtest)}, different {len(parity.order_mismatches)}")
    print(f"  fills   {parity.fills_account} vs {parity.fills_backtest}; different "
          f"{len(parity.fill_mismatches)}")
    print(f"  equity  worst relative difference {parity.worst_equity_difference:.3g} "
          f"(tolerance {parity.tolerance:g}); sessions on one side only "
          f"{parity.sessions_missing}")
    examples = (parity.orders_only_account + parity.orders_only_backtest
                + parity.order_mismatches + parity.fill_mismatches)[:5]
    if examples:
        print(f"  e.g. {', '.join(examples)}")
    print("  equal" if parity.equal else "  DIFFERENT")


def budget_of(result: Any, settings: Settings) -> Any:
    """The run's volatility budget (:mod:`macroquant.reports.risk_target`)."""
    from macroquant.config.settings import load_trading_config
    from macroquant.reports.risk_target import volatility_budget

    portfolio = load_trading_config(settings.config_path).portfolio
    return volatility_budget(
        target=portfolio.annual_volatility_target,
        max_portfolio_scale=portfolio.max_portfolio_scale, diagnostics=result.diagnostics,
        daily_returns=result.performance["daily_return"], risk_events=result.risk_events,
        strengths=result.signals["strength"])


def cmd_book_backtest(args: argparse.Namespace, settings: Settings) -> int:
    """Replay the book over ``--start``..``--end``; print a summary; optionally compare
    with the paper account, store the run and write JSON."""
    from macroquant.backtest.book import compare_with_account, read_account, run_book_backtest
    from macroquant.db.connection import database_url, transaction

    _check_options(args)
    url = database_url(settings)
    result = run_book_backtest(settings, args.start, args.end, url=url)
    metrics = result.metrics()
    final = float(result.performance["equity"].iloc[-1])
    fills = result.trades
    print(f"book backtest {args.start}..{args.end}: {len(result.performance)} sessions, "
          f"{result.signals['strategy'].nunique()} strategies, {len(result.orders)} orders, "
          f"{len(fills)} fills, commission {fills['commission'].sum():,.2f}")
    print(f"  equity {result.capital:,.2f} -> {final:,.2f}; sharpe {metrics['sharpe']:.3f}, "
          f"max drawdown {metrics['max_drawdown']:.2%}, annual volatility "
          f"{metrics['annual_volatility']:.2%}")
    for line in budget_of(result, settings).lines():
        print(f"  {line}")
    for name, error in sorted(result.errors.items()):
        print(f"  strategy {name} raised: {error}", file=sys.stderr)
    payload = book_json(result)
    from macroquant.backtest.store import json_safe

    payload["volatility_budget"] = json_safe(vars(budget_of(result, settings)))
    code = 1 if result.errors else 0
    if args.compare_account:
        with transaction(url) as conn:
            parity = compare_with_account(result, read_account(conn, args.start, args.end))
        _print_parity(parity)
        payload["parity"] = {"equal": parity.equal,
                             "worst_equity_difference": parity.worst_equity_difference,
                             "order_mismatches": parity.order_mismatches,
                             "orders_only_account": parity.orders_only_account,
                             "orders_only_backtest": parity.orders_only_backtest,
                             "fill_mismatches": parity.fill_mismatches}
        code = code or (0 if parity.equal else 1)
    if args.store is not False:
        from macroquant.backtest.book_store import new_book_backtest_id, save_book_backtest

        backtest_id = new_book_backtest_id()
        with transaction(url) as conn:
            save_book_backtest(conn, backtest_id, result, settings)
        payload["backtest_id"] = backtest_id
        print(f"  stored as {backtest_id}")
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n",
                                 encoding="utf-8")
        print(f"  -> {args.json_out}")
    return code
