"""The backtest's fill loop with every order through the pre-trade risk gate.

The gate (:func:`macroquant.risk.order_gate.check_orders`) is path-dependent — positions,
equity and the orders of the day — so this loop walks the sessions in Python: for each
row the Numba kernel :func:`~macroquant.backtest.simulate.propose_fills` sizes the row's
orders, the gate decides them against the state at the previous close (positions, last
closes, equity; kill switch ACTIVE; no earlier orders that day), and
:func:`~macroquant.backtest.simulate.execute_fills` trades the approved quantities. A
reduced or rejected order leaves its target pending: it is proposed again on the next row,
as the paper account re-proposes ``target - position`` every session.

The limits are :meth:`RiskLimits.from_config` of the trading configuration — the same
absolute limits the paper and live accounts obey. A row whose orders provably pass every
limit in full (a conservative vectorised bound, :func:`_within_limits`) skips the gate's
per-order bookkeeping; every other row goes through ``check_orders`` itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from macroquant.backtest.simulate import (
    TRADE_FIELDS,
    SimulationResult,
    execute_fills,
    new_state,
    propose_fills,
)
from macroquant.risk.kill_switch import KillSwitchState
from macroquant.risk.order_gate import OUTCOME_COLUMNS, RiskLimits, RiskState, check_orders

# Backtests trade fractional shares: the gate's whole-lot rounding uses this lot.
FRACTIONAL_LOT = 1e-12
BACKTEST_STRATEGY = "backtest"


def gate_instruments(symbols: pd.Index, asset_classes: pd.Series | None = None) -> pd.DataFrame:
    """The gate's instrument table for a backtest panel: every column is a known
    instrument, with its asset class (``other`` when not given) and fractional lots."""
    classes = (pd.Series("other", index=symbols) if asset_classes is None
               else asset_classes.reindex(symbols).fillna("other"))
    return pd.DataFrame({"asset_class": classes.astype(str).to_numpy(),
                         "lot_size": FRACTIONAL_LOT}, index=pd.Index(symbols, name="symbol"))


def _within_limits(order: np.ndarray, held: np.ndarray, price: np.ndarray, classes: np.ndarray,
                   equity: float, limits: RiskLimits) -> bool:
    """True when every order of the row passes every gate limit in full, whatever the
    sequence (bounds on every intermediate book: each position between held and after)."""
    active = order != 0
    if not active.any():
        return True
    if np.count_nonzero(active) > limits.max_orders_per_day:
        return False
    if (np.abs(order[active]) * price[active]).max() > limits.max_order_notional:
        return False
    after = held + order
    extreme = np.maximum(np.abs(held), np.abs(after)) * np.nan_to_num(price)
    position_limit = min(limits.max_position_notional, limits.max_strategy_position_notional)
    if (extreme[active]).max() > position_limit:
        return False
    if extreme.sum() > limits.max_gross_leverage * equity:
        return False
    low = np.minimum(held, after) * np.nan_to_num(price)
    high = np.maximum(held, after) * np.nan_to_num(price)
    if max(abs(low.sum()), abs(high.sum())) > limits.max_net_leverage * equity:
        return False
    for asset_class, cap in limits.asset_class_max_gross.items():
        if extreme[classes == asset_class].sum() > cap * equity:
            return False
    return True


def simulate_gated(weights: np.ndarray, exec_price: np.ndarray, close: np.ndarray, *,
                   capital: float, symbols: pd.Index, dates: pd.DatetimeIndex,
                   instruments: pd.DataFrame, limits: RiskLimits, buy_factor: float = 1.0,
                   sell_factor: float = 1.0, commission_rate: float = 0.0,
                   commission_per_share: float = 0.0, fill_cap: np.ndarray | None = None
                   ) -> tuple[SimulationResult, pd.DataFrame]:
    """One portfolio (one cash account, no leverage beyond cash) through the gate.

    Arguments as :func:`macroquant.backtest.simulate.simulate`; ``instruments`` from
    :func:`gate_instruments`. Returns the simulation and the gate's check outcomes of
    every order it decided (:data:`OUTCOME_COLUMNS` plus ``signal_date``, ``trade_date``,
    ``status``), empty when no order needed deciding.
    """
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    if np.isnan(weights).any():
        raise ValueError("weights must not hold NaN (use 0 for flat)")
    exec_price = np.ascontiguousarray(exec_price, dtype=np.float64)
    close = np.ascontiguousarray(close, dtype=np.float64)
    n_rows, n_cols = weights.shape
    group = np.zeros(n_cols, dtype=np.int64)
    has_cap = fill_cap is not None
    cap = np.ascontiguousarray(fill_cap, dtype=np.float64) if has_cap else np.zeros((1, 1))
    costs = (float(buy_factor), float(sell_factor), float(commission_rate),
             float(commission_per_share))
    (shares, mark, target, decided, pending, cash, order, want, kind, capped,
     equity_out, cash_out, positions_out, trades) = new_state(weights.shape, 1,
                                                              float(capital), True)
    classes = instruments["asset_class"].reindex(symbols).to_numpy()
    symbol_array = np.asarray(symbols.astype(str))
    n_trades, events = 0, []
    for t in range(n_rows):
        propose_fills(t, weights, exec_price, cap, has_cap, group, 1, costs, False, shares,
                      mark, target, decided, pending, cash, order, want, kind, capped)
        allowed = order
        equity = float(equity_out[t - 1, 0]) if t > 0 else float(capital)
        price = np.where(np.isnan(mark), exec_price[t], mark)  # last close, else this bar
        if not _within_limits(order, shares, price, classes, equity, limits):
            allowed, outcomes = _decide(order, shares, price, symbol_array, classes,
                                        instruments, equity, limits)
            events.append(outcomes.assign(signal_date=dates[max(t - 1, 0)],
                                          trade_date=dates[t]))
        trades, n_trades = execute_fills(
            t, order, allowed, exec_price, close, cap, has_cap, group, 1, costs, False,
            shares, mark, pending, cash, want, kind, capped, trades, n_trades, equity_out,
            cash_out, positions_out, True)
    records = {name: trades[:n_trades, k].copy() for k, name in enumerate(TRADE_FIELDS)}
    records["row"] = records["row"].astype(np.int64)
    records["column"] = records["column"].astype(np.int64)
    result = SimulationResult(equity=equity_out, cash=cash_out, positions=positions_out,
                              trades=records)
    columns = ["signal_date", "trade_date", *OUTCOME_COLUMNS, "status"]
    outcomes = (pd.concat(events, ignore_index=True)[columns] if events
                else pd.DataFrame(columns=columns))
    return result, outcomes


def _decide(order: np.ndarray, held: np.ndarray, price: np.ndarray, symbols: np.ndarray,
            classes: np.ndarray, instruments: pd.DataFrame, equity: float,
            limits: RiskLimits) -> tuple[np.ndarray, pd.DataFrame]:
    """The gate on one row's orders (sells first, as they fill): the allowed signed
    quantity per column and the check outcomes with each order's status."""
    columns = np.flatnonzero(order)
    columns = columns[np.argsort(order[columns] > 0, kind="stable")]
    proposed = pd.DataFrame({"strategy": BACKTEST_STRATEGY, "symbol": symbols[columns],
                             "quantity": order[columns], "price": price[columns],
                             "asset_class": classes[columns]})
    holding = held != 0
    state = RiskState(
        kill_switch=KillSwitchState.ACTIVE, equity=equity, instruments=instruments,
        positions=pd.Series(held[holding], index=symbols[holding]),
        strategy_positions=pd.Series(held[holding], index=pd.MultiIndex.from_arrays(
            [[BACKTEST_STRATEGY] * int(holding.sum()), symbols[holding]])),
        last_prices=pd.Series(price, index=symbols).dropna())
    result = check_orders(proposed, state, limits)
    decided = result.decisions
    allowed = np.zeros_like(order)
    # In full: the proposal itself (the gate's whole-lot rounding may move it by a lot).
    allowed[columns] = np.where(decided["status"].to_numpy() == "approved", order[columns],
                                decided["approved_quantity"].to_numpy(float))
    status = result.decisions.set_index("order_ref")["status"]
    outcomes = result.outcomes.assign(status=status.reindex(result.outcomes["order_ref"])
                                      .to_numpy())
    return allowed, outcomes
