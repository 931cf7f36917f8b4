"""The path-dependent part of a backtest: fills, cash and positions, in one Numba loop.

Everything before it (features, signals, sizing into target weights, risk limits) is
vectorised over the date × instrument panel; this loop is the only place that walks the
dates, because cash and position sizes depend on every earlier fill.

Conventions (docs/backtesting.md):

- ``weights[t, i]`` is the target fraction of its group's equity in instrument *i*,
  decided at the close of row *t*. It becomes an order when it differs from the previous
  decision, and that order fills on row *t + 1* (the next open or the next close), or on
  the first later row with a price.
- At a fill, the group's equity is marked at the fill row's reference prices. A position
  whose target is 0 is closed out exactly. A sell brings the position to
  ``target * equity / price`` shares; a buy spends ``target * equity - position value`` on
  shares *and* commission, so a fully invested target leaves no negative cash.
- Sells fill before buys. Without leverage a group's buys are scaled down to its cash.
- A fill is at most the bar's participation cap; the rest stays pending and is re-sized
  on the next row with a price.
- Equity is marked at each row's close (the last close seen where a row has none).

Groups share one cash account: one group is one portfolio; one group per column runs
independent single-instrument portfolios (what a parameter sweep or vectorbt's default
does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

TRADE_FIELDS = ("row", "column", "quantity", "reference_price", "price", "commission")


@dataclass(frozen=True)
class SimulationResult:
    """Arrays out of :func:`simulate`. ``trades`` has the fields of :data:`TRADE_FIELDS`
    (``quantity`` signed: + bought, - sold) in fill order."""

    equity: np.ndarray          # rows × groups, at the close
    cash: np.ndarray            # rows × groups, at the close
    positions: np.ndarray       # rows × columns (shares at the close), or empty
    trades: dict[str, np.ndarray]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _grow(buffer: np.ndarray, size: int) -> np.ndarray:  # pragma: no cover - jit
    if size < buffer.shape[0]:
        return buffer
    bigger = np.empty((buffer.shape[0] * 2, buffer.shape[1]), dtype=buffer.dtype)
    bigger[: buffer.shape[0]] = buffer
    return bigger


# What :func:`propose_fills` decided for a cell (``kind``):
NOTHING, SELL, BUY, BUY_NONE = 0, 1, 2, 3


@numba.njit(cache=True, nogil=True, error_model="numpy")
def propose_fills(t, weights, exec_price, fill_cap, has_cap, group, n_groups, costs,
                  allow_leverage, shares, mark, target, decided, pending, cash, order, want,
                  kind, capped):  # pragma: no cover - jit
    """Row ``t``'s fills before they happen: ``order[i]`` the signed quantity each cell
    would trade (sells at the fill row's prices, buys scaled to the cash after the sells,
    both within the participation cap), ``want``/``kind``/``capped`` what
    :func:`execute_fills` needs to trade them. Changes only ``target``/``decided``/
    ``pending`` (the new decisions of row ``t - 1``)."""
    buy_factor, sell_factor, commission_rate, per_share = costs
    n_cols = weights.shape[1]
    if t > 0:
        for i in range(n_cols):
            w = weights[t - 1, i]
            if w != decided[i]:
                decided[i] = w
                target[i] = w
                pending[i] = True
    value = np.zeros(n_groups)
    for i in range(n_cols):
        if shares[i] != 0.0:
            p = exec_price[t, i]
            value[group[i]] += shares[i] * (mark[i] if np.isnan(p) else p)
    group_equity = cash + value
    projected = cash.copy()
    buy_cost = np.zeros(n_groups)
    for i in range(n_cols):
        order[i] = 0.0
        want[i] = 0.0
        kind[i] = NOTHING
        capped[i] = False
        p = exec_price[t, i]
        if not pending[i] or np.isnan(p):
            continue
        g = group[i]
        target_value = target[i] * group_equity[g]
        if target[i] == 0.0:
            delta = -shares[i]
        elif target_value < shares[i] * p:
            delta = target_value / p - shares[i]
        else:
            fill = p * buy_factor
            want[i] = (target_value - shares[i] * p) / (fill * (1.0 + commission_rate)
                                                         + per_share)
            buy_cost[g] += want[i] * (fill * (1.0 + commission_rate) + per_share)
            kind[i] = BUY if want[i] > 0.0 else BUY_NONE
            continue
        kind[i] = SELL
        quantity = -delta
        if has_cap and quantity > fill_cap[t, i]:
            quantity = fill_cap[t, i]
            capped[i] = True
        if quantity > 0.0:
            fill = p * sell_factor
            projected[g] += quantity * fill - (quantity * fill * commission_rate
                                               + quantity * per_share)
            order[i] = -quantity
    for i in range(n_cols):
        if kind[i] != BUY:
            continue
        g = group[i]
        scale = 1.0
        if not allow_leverage and buy_cost[g] > projected[g]:
            scale = max(projected[g], 0.0) / buy_cost[g]
        quantity = want[i] * scale
        if has_cap and quantity > fill_cap[t, i]:
            quantity = fill_cap[t, i]
            capped[i] = True
        order[i] = max(quantity, 0.0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def execute_fills(t, order, allowed, exec_price, close, fill_cap, has_cap, group, n_groups,
                  costs, allow_leverage, shares, mark, pending, cash, want, kind, capped, trades,
                  n_trades, equity_out, cash_out, positions_out,
                  record_positions):  # pragma: no cover - jit
    """Trade row ``t``: ``order`` is :func:`propose_fills`' proposal, ``allowed[i]`` the
    most each cell may trade (the proposal, or less when the risk gate cut it toward zero;
    a cut cell stays pending and is re-proposed on the next row with a price). Sells fill before buys; the
    buys are re-scaled to the cash after the sells; then equity is marked to the close.
    Returns the (possibly grown) trade buffer and the trade count."""
    buy_factor, sell_factor, commission_rate, per_share = costs
    n_cols = shares.shape[0]
    for i in range(n_cols):
        if kind[i] != SELL:
            continue
        quantity = max(-allowed[i], 0.0)
        pending[i] = capped[i] or allowed[i] > order[i]
        if quantity <= 0.0:
            continue
        p = exec_price[t, i]
        g = group[i]
        fill = p * sell_factor
        commission = quantity * fill * commission_rate + quantity * per_share
        cash[g] += quantity * fill - commission
        shares[i] -= quantity
        mark[i] = p if np.isnan(mark[i]) else mark[i]
        trades = _grow(trades, n_trades)
        trades[n_trades, 0] = t
        trades[n_trades, 1] = i
        trades[n_trades, 2] = -quantity
        trades[n_trades, 3] = p
        trades[n_trades, 4] = fill
        trades[n_trades, 5] = commission
        n_trades += 1
    buy_cost = np.zeros(n_groups)
    for i in range(n_cols):
        if kind[i] == BUY:
            fill = exec_price[t, i] * buy_factor
            buy_cost[group[i]] += want[i] * (fill * (1.0 + commission_rate) + per_share)
    for i in range(n_cols):
        if kind[i] != BUY:
            continue
        p = exec_price[t, i]
        g = group[i]
        scale = 1.0
        if not allow_leverage and buy_cost[g] > cash[g]:
            scale = max(cash[g], 0.0) / buy_cost[g]
        quantity = want[i] * scale
        if has_cap and quantity > fill_cap[t, i]:
            quantity = fill_cap[t, i]
        pending[i] = capped[i] or allowed[i] < order[i]
        quantity = min(quantity, max(allowed[i], 0.0))
        if quantity <= 0.0:
            continue
        fill = p * buy_factor
        commission = quantity * fill * commission_rate + quantity * per_share
        cash[g] -= quantity * fill + commission
        shares[i] += quantity
        mark[i] = p if np.isnan(mark[i]) else mark[i]
        trades = _grow(trades, n_trades)
        trades[n_trades, 0] = t
        trades[n_trades, 1] = i
        trades[n_trades, 2] = quantity
        trades[n_trades, 3] = p
        trades[n_trades, 4] = fill
        trades[n_trades, 5] = commission
        n_trades += 1
    value = np.zeros(n_groups)
    for i in range(n_cols):
        c = close[t, i]
        if not np.isnan(c):
            mark[i] = c
        if shares[i] != 0.0:
            value[group[i]] += shares[i] * mark[i]
        if record_positions:
            positions_out[t, i] = shares[i]
    for g in range(n_groups):
        equity_out[t, g] = cash[g] + value[g]
        cash_out[t, g] = cash[g]
    return trades, n_trades


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _simulate(weights, exec_price, close, fill_cap, has_cap, group, n_groups, capital, costs,
              allow_leverage, record_positions):  # pragma: no cover - jit
    state = new_state(weights.shape, n_groups, capital, record_positions)
    (shares, mark, target, decided, pending, cash, order, want, kind, capped,
     equity_out, cash_out, positions_out, trades) = state
    n_trades = 0
    for t in range(weights.shape[0]):
        propose_fills(t, weights, exec_price, fill_cap, has_cap, group, n_groups, costs,
                      allow_leverage, shares, mark, target, decided, pending, cash, order,
                      want, kind, capped)
        trades, n_trades = execute_fills(
            t, order, order, exec_price, close, fill_cap, has_cap, group, n_groups, costs,
            allow_leverage, shares, mark, pending, cash, want, kind, capped, trades,
            n_trades, equity_out, cash_out, positions_out, record_positions)
    return equity_out, cash_out, positions_out, trades[:n_trades].copy()


@numba.njit(cache=True, nogil=True, error_model="numpy")
def new_state(shape, n_groups, capital, record_positions):  # pragma: no cover - jit
    """The loop's working arrays, all flat at ``capital``: shares, mark, target, decided,
    pending, cash, order, want, kind, capped, equity_out, cash_out, positions_out, trades."""
    n_rows, n_cols = shape
    return (np.zeros(n_cols), np.full(n_cols, np.nan), np.zeros(n_cols), np.zeros(n_cols),
            np.zeros(n_cols, dtype=np.bool_), np.full(n_groups, capital), np.zeros(n_cols),
            np.zeros(n_cols), np.zeros(n_cols, dtype=np.int64),
            np.zeros(n_cols, dtype=np.bool_), np.empty((n_rows, n_groups)),
            np.empty((n_rows, n_groups)),
            np.zeros((n_rows if record_positions else 0, n_cols)), np.empty((1024, 6)))


def simulate(
    weights: np.ndarray,
    exec_price: np.ndarray,
    close: np.ndarray,
    *,
    capital: float,
    buy_factor: float = 1.0,
    sell_factor: float = 1.0,
    commission_rate: float = 0.0,
    commission_per_share: float = 0.0,
    fill_cap: np.ndarray | None = None,
    group: np.ndarray | None = None,
    allow_leverage: bool = False,
    record_positions: bool = True,
) -> SimulationResult:
    """Run the fill/cash loop over ``rows × columns`` arrays.

    ``weights`` (no NaN: 0 is flat) are decided at each row's close; ``exec_price`` is the
    reference price orders fill at on the next row (NaN: no bar), ``close`` marks equity.
    ``buy_factor``/``sell_factor`` turn a reference price into a fill price (slippage),
    ``commission_rate`` is per unit of notional, ``fill_cap`` the largest fill per cell.
    ``group`` maps each column to a cash account (default: all columns share one).
    """
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    if np.isnan(weights).any():
        raise ValueError("weights must not hold NaN (use 0 for flat)")
    shape = weights.shape
    same = close is exec_price
    exec_price = np.ascontiguousarray(exec_price, dtype=np.float64)
    close = exec_price if same else np.ascontiguousarray(close, dtype=np.float64)
    if exec_price.shape != shape or close.shape != shape:
        raise ValueError(f"price arrays must be shaped like weights {shape}")
    if group is None:
        group = np.zeros(shape[1], dtype=np.int64)
    group = np.ascontiguousarray(group, dtype=np.int64)
    has_cap = fill_cap is not None
    cap = (np.ascontiguousarray(fill_cap, dtype=np.float64) if has_cap
           else np.zeros((1, 1)))
    n_groups = int(group.max()) + 1 if len(group) else 1
    costs = (float(buy_factor), float(sell_factor), float(commission_rate),
             float(commission_per_share))
    equity, cash, positions, trades = _simulate(
        weights, exec_price, close, cap, has_cap, group, n_groups, float(capital), costs,
        bool(allow_leverage), bool(record_positions))
    records = {name: trades[:, k] for k, name in enumerate(TRADE_FIELDS)}
    records["row"] = records["row"].astype(np.int64)
    records["column"] = records["column"].astype(np.int64)
    return SimulationResult(equity=equity, cash=cash, positions=positions, trades=records)
