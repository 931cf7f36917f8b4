"""The book backtest: the daily pipeline's rules replayed in memory over a window.

This is the second driver of the one engine (DESIGN §1). It reads what the daily stages
read — bars, point-in-time macro series, the anomaly gate, instruments, the strategy files
and the trading configuration — without writing anything, and calls the same core
functions the stages call, in the same order:

==========  ==================================================================
features    :func:`macroquant.features.catalog.compute_features` (price, volatility)
signals     :func:`macroquant.pipeline.signals.generate_signals` → the core's
            :func:`~macroquant.strategies.engine.run_window` (filters included)
portfolio   :func:`macroquant.portfolio.book.size_book` (allocation, diversification
            multiplier, volatility scaling, paused-hold, stops, buffering, lots)
risk        :func:`macroquant.risk.limits.decide_limits`
orders      :func:`macroquant.execution.paper.replay.replay_sessions` (order proposal,
            pre-trade gate, fills and costs at raw prices, splits and dividends,
            drawdown control, daily loss limit, kill switch, accounting)
==========  ==================================================================

The account starts fresh: ``trading_capital`` in cash, no position, no earlier signal or
target (so the allocation and correlation estimates start from the window's first
session, as they do for a paper account whose first run is that window). The result is
therefore what ``macroquant run backfill`` over the same window gives on a fresh paper
account, order for order (:func:`compare_with_account` and tests/backtest/test_parity.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import psycopg

from macroquant.auth.strategy_controls import paused_strategies
from macroquant.config.settings import Settings
from macroquant.db.bulk import read_frame
from macroquant.db.connection import read_only_transaction
from macroquant.errors import MissingInputError
from macroquant.execution.paper.control_store import read_timeline
from macroquant.execution.paper.replay import AccountState, replay_sessions, settle_orders
from macroquant.features.catalog import compute_features, feature_name
from macroquant.pipeline.book import check_book_configuration
from macroquant.pipeline.context import StageContext
from macroquant.pipeline.orders import (
    read_corporate_actions,
    read_instruments,
    read_last_closes,
    read_session_bars,
)
from macroquant.pipeline.portfolio import lookback_start, read_adjusted_closes
from macroquant.pipeline.signals import check_data_gate, generate_signals, signal_panels
from macroquant.portfolio.book import BookInputs, size_book
from macroquant.reports.metrics import compute_metrics
from macroquant.risk.limits import decide_limits
from macroquant.strategies.loader import load_strategies

BACKTEST_RUN_ID = "book-backtest"


@dataclass(frozen=True)
class BookBacktest:
    """What a book backtest produced, in the daily tables' shapes: ``signals``,
    ``targets``, ``portfolio_targets`` (with ``approved_quantity``), ``diagnostics``,
    ``risk_events`` (limits and stops), ``orders``, ``trades``, ``positions``,
    ``performance`` (scope ``portfolio``), ``account_actions`` (splits and dividends on held
    positions), the order gate's ``gate_outcomes`` and the
    controls' events; ``errors``: the strategies that raised; ``symbols``: instrument_id →
    symbol."""

    start: date
    end: date
    capital: float
    signals: pd.DataFrame
    targets: pd.DataFrame
    portfolio_targets: pd.DataFrame
    diagnostics: pd.DataFrame
    risk_events: pd.DataFrame
    orders: pd.DataFrame
    trades: pd.DataFrame
    positions: pd.DataFrame
    performance: pd.DataFrame
    account_actions: pd.DataFrame
    gate_outcomes: list[tuple[date, pd.DataFrame]]
    control_events: list
    errors: dict[str, str]
    symbols: pd.Series

    def metrics(self) -> dict[str, float]:
        """Sharpe, drawdown, ... of the daily returns (:mod:`macroquant.reports.metrics`)."""
        returns = self.performance.set_index("as_of")["daily_return"].astype(float)
        returns.index = pd.to_datetime(returns.index)
        return compute_metrics(returns)


def _as_stored(panel: pd.DataFrame, window: pd.DatetimeIndex, symbols: pd.Series
               ) -> pd.DataFrame:
    """A feature panel (sessions × instrument_id) as the portfolio stage reads it back from
    the ``features`` table: the window's rows, symbols as columns, instruments with no value
    in the window left out."""
    out = panel.reindex(window).dropna(axis=1, how="all")
    out.columns = symbols.reindex(out.columns).to_numpy()
    return out.sort_index(axis=1)


def _dates(frame: pd.DataFrame, column: str = "as_of") -> pd.DataFrame:
    """``frame`` with ``column`` as ``datetime.date`` values (what the stages read back)."""
    return frame.assign(**{column: pd.to_datetime(frame[column]).dt.date})


def run_book_backtest(settings: Settings, start: date, end: date, *,
                      url: str | None = None) -> BookBacktest:
    """Replay the configured book — every enabled strategy file of
    ``settings.strategies_dir`` with the trading configuration — over the sessions
    ``start``..``end`` on a fresh account, in memory. Raises :class:`MissingInputError`
    when the window has no session or no bar, and the signals stage's own errors (data
    gate, configuration) when those would stop the daily run."""
    context = StageContext(settings, start, end, BACKTEST_RUN_ID, url or "")
    if not context.sessions:
        raise MissingInputError(f"backtest: {start}..{end} holds no trading session")
    trading = context.trading
    check_book_configuration(settings)
    strategies = load_strategies(settings.strategies_dir)
    window = pd.DatetimeIndex(pd.to_datetime(context.sessions))
    with read_only_transaction(context.url) as conn:
        bars = read_session_bars(conn, start, end)
        if bars.empty:
            raise MissingInputError(
                f"backtest: no bar in market_data for {start}..{end}; load the window's "
                "data first (`macroquant ingest ...`)")
        check_data_gate(conn, context)
        paused = paused_strategies(conn)
        running = [s for s in strategies if s.config.name not in paused]
        panels = signal_panels(conn, end, running)   # read once: signals and features
        result, _, _ = generate_signals(conn, context, running, panels)
        instruments = read_instruments(conn)
        raw, adjusted, _ = panels
        closes = read_adjusted_closes(conn, lookback_start(context), end)
        opening = AccountState.fresh(trading.trading_capital, read_last_closes(conn, start),
                                     read_timeline(conn))
        actions = read_corporate_actions(conn, start, end)
    return _replay_book(context, strategies, sorted(paused), result, instruments, raw,
                        adjusted, closes, (bars, actions), opening, window)


def _replay_book(context: StageContext, strategies: list, paused: list[str], result,
                 instruments: pd.DataFrame, raw: pd.DataFrame, adjusted: pd.DataFrame,
                 closes: pd.DataFrame, market: tuple[pd.DataFrame, pd.DataFrame],
                 opening: AccountState, window: pd.DatetimeIndex) -> BookBacktest:
    """Features → portfolio → risk → orders in memory, from what the signals produced;
    ``market``: the window's raw bars and corporate actions."""
    bars, actions = market
    trading = context.trading
    symbols = instruments["symbol"]
    volatility_name = feature_name("return_volatility", trading.portfolio.volatility_span)
    features = compute_features({"price", volatility_name}, raw, adjusted)

    # Strategies as the portfolio stage reads them: enabled, by name, with their files.
    ids = {item.config.name: k for k, item in enumerate(strategies, start=1)}
    registered = pd.DataFrame({
        "strategy_id": [ids[item.config.name] for item in strategies],
        "name": [item.config.name for item in strategies],
        "config": [item.config.model_dump(mode="json") for item in strategies]})
    signal_rows = [rows.assign(strategy=name) for name, rows in result.signals.items()]
    signals = (pd.concat(signal_rows, ignore_index=True) if signal_rows else
               pd.DataFrame(columns=["as_of", "instrument", "strength", "strategy"]))
    signals = signals.assign(symbol=symbols.reindex(signals["instrument"]).to_numpy())
    book_inputs = BookInputs(
        strategies=registered,
        instruments=instruments.reset_index()[["instrument_id", "symbol", "lot_size"]],
        signals=signals[["as_of", "strategy", "symbol", "strength"]],
        prices=_as_stored(features["price"], window, symbols),
        volatility=_as_stored(features[volatility_name], window, symbols),
        closes=closes, paused=[n for n in paused if n in ids])
    sized = size_book(book_inputs, trading, context.sessions)

    book = _dates(sized["portfolio_targets"])
    meta = instruments[["symbol", "lot_size", "asset_class"]]
    targets = (book.drop(columns="symbol").join(meta, on="instrument_id")
               .sort_values(["as_of", "instrument_id"]).reset_index(drop=True))
    approved, limit_events = decide_limits(targets, context.sessions, trading)
    replay = replay_sessions(context.sessions, trading, opening, instruments,
                             bars, approved[["as_of", "instrument_id", "approved_quantity"]],
                             actions)
    stop_events = sized["stop_events"].drop(columns=["run_id", "details"])
    events = pd.concat([e for e in (limit_events, stop_events) if not e.empty],
                       ignore_index=True) if len(limit_events) + len(stop_events) else \
        limit_events
    return BookBacktest(
        start=context.start, end=context.end, capital=trading.trading_capital,
        signals=signals, targets=_dates(sized["targets"]), portfolio_targets=approved,
        diagnostics=sized["diagnostics"], risk_events=events,
        orders=settle_orders(replay["orders"], replay["order_updates"])[0].reset_index(),
        trades=replay["trades"], positions=replay["positions"],
        performance=replay["performance"], account_actions=replay["account_actions"],
        gate_outcomes=replay["gate_outcomes"],
        control_events=replay["control_events"], errors=dict(result.errors), symbols=symbols)


def read_account(conn: psycopg.Connection, start: date, end: date) -> dict[str, pd.DataFrame]:
    """The paper account's orders, fills and daily equity for ``start``..``end``, in the
    shapes :func:`compare_with_account` compares."""
    orders = read_frame(conn, """SELECT client_order_id, as_of, instrument_id, side, quantity,
                                        status, filled_quantity, average_fill_price
                                 FROM orders WHERE broker = 'paper' AND as_of BETWEEN %s AND %s
                                 ORDER BY client_order_id""", (start, end))
    trades = read_frame(conn, """SELECT t.client_order_id, t.trade_date, t.instrument_id,
                                        t.side, t.quantity, t.price, t.commission
                                 FROM trades t JOIN orders o USING (client_order_id)
                                 WHERE o.broker = 'paper' AND t.trade_date BETWEEN %s AND %s
                                 ORDER BY t.client_order_id""", (start, end))
    performance = read_frame(conn, """SELECT as_of, equity, cash FROM performance
                                      WHERE scope = 'portfolio' AND as_of BETWEEN %s AND %s
                                      ORDER BY as_of""", (start, end))
    return {"orders": orders, "trades": trades, "performance": performance}


@dataclass(frozen=True)
class Parity:
    """How a book backtest and the paper account differ over one window.

    ``orders_only_backtest`` / ``orders_only_account``: client order ids on one side only;
    ``order_mismatches``: orders on both sides whose side, status or quantity differ (by
    more than ``tolerance`` relative); likewise for fills (price, quantity, commission);
    ``worst_equity_difference``: the largest ``|backtest / account - 1|`` of daily equity;
    ``sessions_compared``: days with equity on both sides.
    """

    orders_backtest: int
    orders_account: int
    orders_only_backtest: list[str]
    orders_only_account: list[str]
    order_mismatches: list[str]
    fills_backtest: int
    fills_account: int
    fill_mismatches: list[str]
    sessions_compared: int
    sessions_missing: int
    worst_equity_difference: float
    tolerance: float

    @property
    def equal(self) -> bool:
        """Same orders, same fills, equity within the tolerance every session."""
        return (not self.orders_only_backtest and not self.orders_only_account
                and not self.order_mismatches and not self.fill_mismatches
                and self.fills_backtest == self.fills_account and not self.sessions_missing
                and self.worst_equity_difference <= self.tolerance)


def _differs(a: pd.Series, b: pd.Series, tolerance: float) -> pd.Series:
    a, b = a.astype(float), b.astype(float)
    scale = b.abs().clip(lower=1.0)
    both_nan = a.isna() & b.isna()
    return ~both_nan & ~((a - b).abs() <= tolerance * scale)


def compare_with_account(result: BookBacktest, account: dict[str, pd.DataFrame],
                         tolerance: float = 1e-9) -> Parity:
    """Order by order, fill by fill and day by day, the backtest against the account
    (:func:`read_account`)."""
    ours = result.orders.set_index("client_order_id")
    theirs = account["orders"].set_index("client_order_id")
    common = ours.index.intersection(theirs.index)
    mismatched = set()
    for column in ("side", "status"):
        bad = ours.loc[common, column].astype(str) != theirs.loc[common, column].astype(str)
        mismatched |= set(common[bad.to_numpy()])
    for column in ("quantity", "filled_quantity", "average_fill_price"):
        bad = _differs(ours.loc[common, column], theirs.loc[common, column], tolerance)
        mismatched |= set(common[bad.to_numpy()])
    our_fills = result.trades.set_index("client_order_id")
    their_fills = account["trades"].set_index("client_order_id")
    filled = our_fills.index.intersection(their_fills.index)
    fill_bad = set(our_fills.index.symmetric_difference(their_fills.index))
    for column in ("quantity", "price", "commission"):
        bad = _differs(our_fills.loc[filled, column], their_fills.loc[filled, column],
                       tolerance)
        fill_bad |= set(filled[bad.to_numpy()])
    equity = result.performance.set_index("as_of")["equity"].astype(float)
    stored = account["performance"].set_index("as_of")["equity"].astype(float)
    days = equity.index.intersection(stored.index)
    worst = float(((equity.loc[days] / stored.loc[days]) - 1.0).abs().max()) if len(days) \
        else float("inf")
    return Parity(
        orders_backtest=len(ours), orders_account=len(theirs),
        orders_only_backtest=sorted(ours.index.difference(theirs.index)),
        orders_only_account=sorted(theirs.index.difference(ours.index)),
        order_mismatches=sorted(mismatched), fills_backtest=len(our_fills),
        fills_account=len(their_fills), fill_mismatches=sorted(fill_bad),
        sessions_compared=len(days),
        sessions_missing=len(equity.index.symmetric_difference(stored.index)),
        worst_equity_difference=worst, tolerance=tolerance)
