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


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _simulate(weights, exec_price, close, fill_cap, has_cap, group, n_groups, capital,
              buy_factor, sell_factor, commission_rate, per_share, allow_leverage,
              record_positions):  # pragma: no cover - jit
    n_rows, n_cols = weights.shape
    shares = np.zeros(n_cols)
    mark = np.full(n_cols, np.nan)
    target = np.zeros(n_cols)
    decided = np.zeros(n_cols)
    pending = np.zeros(n_cols, dtype=np.bool_)
    want = np.zeros(n_cols)
    cash = np.full(n_groups, capital)
    value = np.zeros(n_groups)
    group_equity = np.zeros(n_groups)
    buy_cost = np.zeros(n_groups)
    scale = np.ones(n_groups)
    equity_out = np.empty((n_rows, n_groups))
    cash_out = np.empty((n_rows, n_groups))
    positions_out = np.zeros((n_rows if record_positions else 0, n_cols))
    trades = np.empty((1024, 6))
    n_trades = 0
    for t in range(n_rows):
        if t > 0:
            for i in range(n_cols):
                w = weights[t - 1, i]
                if w != decided[i]:
                    decided[i] = w
                    target[i] = w
                    pending[i] = True
        # Group equity at this row's execution prices.
        value[:] = 0.0
        for i in range(n_cols):
            if shares[i] != 0.0:
                p = exec_price[t, i]
                value[group[i]] += shares[i] * (mark[i] if np.isnan(p) else p)
        for g in range(n_groups):
            group_equity[g] = cash[g] + value[g]
            buy_cost[g] = 0.0
        # Sells (and close-outs) first.
        for i in range(n_cols):
            want[i] = 0.0
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
                continue
            quantity = -delta
            if has_cap and quantity > fill_cap[t, i]:
                quantity = fill_cap[t, i]
            else:
                pending[i] = False
            if quantity <= 0.0:
                continue
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
        # Buys, within cash unless leverage is allowed.
        for g in range(n_groups):
            scale[g] = 1.0
            if not allow_leverage and buy_cost[g] > cash[g]:
                scale[g] = max(cash[g], 0.0) / buy_cost[g]
        for i in range(n_cols):
            if want[i] <= 0.0:
                continue
            p = exec_price[t, i]
            g = group[i]
            quantity = want[i] * scale[g]
            if has_cap and quantity > fill_cap[t, i]:
                quantity = fill_cap[t, i]
            else:
                pending[i] = False
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
        # Mark to the close.
        value[:] = 0.0
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
    return equity_out, cash_out, positions_out, trades[:n_trades].copy()


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
    equity, cash, positions, trades = _simulate(
        weights, exec_price, close, cap, has_cap, group, n_groups, float(capital),
        float(buy_factor), float(sell_factor), float(commission_rate),
        float(commission_per_share), bool(allow_leverage), bool(record_positions))
    records = {name: trades[:, k] for k, name in enumerate(TRADE_FIELDS)}
    records["row"] = records["row"].astype(np.int64)
    records["column"] = records["column"].astype(np.int64)
    return SimulationResult(equity=equity, cash=cash, positions=positions, trades=records)
