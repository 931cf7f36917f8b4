"""The pre-trade order gate: one pure function every order passes before it is sent, in
backtest, paper and live alike.

:func:`check_orders` takes the proposed orders (``strategy, symbol, quantity`` signed,
``price`` the reference price, ``asset_class``; optionally ``order_ref``, e.g. the client
order id), the :class:`RiskState` (kill switch, positions, last prices, equity, orders
already sent today) and the :class:`RiskLimits`, and decides each order in turn: approved,
reduced (sent smaller) or rejected, with the outcome of every check. Orders are decided in
the given sequence and each approved quantity counts against the limits of the next ones.

Checks, in order (a rejection stops the checks of that order):

===========================  ======================================================  ======
check                        rule                                                    action
===========================  ======================================================  ======
``kill_switch``              HALTED: nothing passes; REDUCING: only the part that    reject /
                             moves ``|position|`` toward zero                        reduce
``unknown_instrument``       the symbol is in the instrument table                   reject
``price_collar``             ``|price / last - 1| <= collar`` (a last price exists)  reject
``max_order_notional``       ``|quantity * price| <= limit``                         reject
``order_rate``               orders sent today + approved here ``< limit``           reject
``max_position``             ``|position after| * price <= limit``                   reduce
``max_strategy_position``    same, for the strategy's own position                   reduce
``max_gross_leverage``       ``sum |notional| / equity <= limit``                    reduce
``max_net_leverage``         ``|sum notional| / equity <= limit``                    reduce
``asset_class_cap``          gross of the order's asset class / equity <= cap        reduce
``lot_size``                 the approved quantity is at least one whole lot         reject
===========================  ======================================================  ======

A limit already breached never blocks an order that reduces the breach. Quantities are
reduced toward zero to whole lots, never enlarged or flipped.

The only way to obtain an :class:`ApprovedOrder` is this gate; the order management system
accepts nothing else, so risk cannot be skipped. :func:`macroquant.risk.gate_store.record_outcomes` writes every check
outcome to ``risk_events`` (subject ``order:<order_ref>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from macroquant.config.settings import TradingConfig
from macroquant.errors import RiskGateError
from macroquant.portfolio.sizing import truncate_to_lot
from macroquant.risk.kill_switch_state import KillSwitchState

PROPOSED_COLUMNS = ("strategy", "symbol", "quantity", "price", "asset_class")
OUTCOME_COLUMNS = ["order_ref", "strategy", "symbol", "check_name", "passed", "action",
                   "value", "limit", "reason"]
_SEAL = object()  # held only by this module: ApprovedOrder refuses any other caller
_EPS = 1e-9


class RiskLimits(BaseModel):
    """Absolute pre-trade limits (build them from the trading config with
    :meth:`from_config`). Notional limits are in base currency; leverage and asset-class
    caps are fractions of the current equity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_order_notional: float
    max_position_notional: float
    max_strategy_position_notional: float
    max_gross_leverage: float
    max_net_leverage: float
    asset_class_max_gross: dict[str, float] = {}
    price_collar: float
    max_orders_per_day: int

    @classmethod
    def from_config(cls, config: TradingConfig) -> RiskLimits:
        """The limits of the trading configuration's ``risk`` section."""
        risk, capital = config.risk, config.trading_capital
        return cls(
            max_order_notional=risk.max_order_fraction * capital,
            max_position_notional=risk.max_position_fraction * capital,
            max_strategy_position_notional=risk.max_strategy_position_fraction * capital,
            max_gross_leverage=risk.max_gross_leverage, max_net_leverage=risk.max_net_leverage,
            asset_class_max_gross=dict(risk.asset_class_max_gross),
            price_collar=risk.price_collar, max_orders_per_day=risk.max_orders_per_day)


@dataclass(frozen=True)
class RiskState:
    """What the gate needs to know about the account right before the orders go out.

    ``instruments``: indexed by symbol, columns ``asset_class`` and ``lot_size`` (an order
    for a symbol not in it is rejected). ``positions``: symbol → signed quantity held.
    ``strategy_positions``: (strategy, symbol) → the strategy's own signed quantity.
    ``last_prices``: symbol → last traded/closing price. ``orders_today``: orders already
    sent today (the order-rate limit counts them).
    """

    kill_switch: KillSwitchState
    equity: float
    instruments: pd.DataFrame
    positions: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    strategy_positions: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    last_prices: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    orders_today: int = 0


@dataclass(frozen=True)
class CheckOutcome:
    """One check of one order."""

    check_name: str
    passed: bool
    action: str            # 'pass', 'reduce' or 'reject'
    value: float | None    # what was measured (for the order as requested)
    limit: float | None
    reason: str


class ApprovedOrder:
    """An order the gate approved (possibly reduced). Only :func:`check_orders` creates
    them; the order management system sends nothing else."""

    __slots__ = ("order_ref", "strategy", "symbol", "quantity", "price", "asset_class",
                 "status", "requested_quantity")

    def __init__(self, *, seal: object, order_ref: str, strategy: str, symbol: str,
                 quantity: float, price: float, asset_class: str, status: str,
                 requested_quantity: float) -> None:
        if seal is not _SEAL:
            raise RiskGateError("an ApprovedOrder is created only by the risk gate "
                                "(macroquant.risk.order_gate.check_orders)")
        values = dict(order_ref=order_ref, strategy=strategy, symbol=symbol,
                      quantity=float(quantity), price=float(price), asset_class=asset_class,
                      status=status, requested_quantity=float(requested_quantity))
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("ApprovedOrder is immutable")

    def __reduce__(self):  # no copy/pickle path around the seal
        raise TypeError("ApprovedOrder cannot be copied or pickled")

    def __repr__(self) -> str:
        return (f"ApprovedOrder({self.order_ref!r}, {self.symbol} {self.quantity:+g} @ "
                f"{self.price:g}, {self.status})")


@dataclass(frozen=True)
class GateResult:
    """``decisions``: the proposed orders plus ``order_ref, approved_quantity, status,
    reason, checks`` (a list of :class:`CheckOutcome`); ``outcomes``: one row per order and
    check (:data:`OUTCOME_COLUMNS`); ``approved``: the orders to send."""

    decisions: pd.DataFrame
    outcomes: pd.DataFrame
    approved: tuple[ApprovedOrder, ...]


def max_fraction(current: float, quantity: float, bound: float) -> float:
    """Largest ``a`` in [0, 1] with ``|current + a * quantity| <= max(bound, |current|)``.

    ``current`` is the measured quantity before the order (in the order's units), ``bound``
    the limit in the same units; an existing breach is never made worse but may be reduced.
    """
    if quantity == 0:
        return 1.0
    bound = max(bound, abs(current))
    upper = (bound - np.sign(quantity) * current) / abs(quantity)
    return float(min(1.0, max(0.0, upper)))


class _Book:
    """Running positions while a batch of orders is decided in sequence."""

    def __init__(self, state: RiskState) -> None:
        self.positions: dict[str, float] = state.positions.astype(float).to_dict()
        self.strategy: dict[tuple[str, str], float] = \
            state.strategy_positions.astype(float).to_dict()
        self.prices: dict[str, float] = state.last_prices.astype(float).to_dict()

    def other_notionals(self, symbol: str) -> dict[str, float]:
        """Signed notional at the last price of every other held instrument."""
        return {s: q * self.prices[s] for s, q in self.positions.items() if q and s != symbol}


def _validate_state(state: RiskState) -> None:
    if not np.isfinite(state.equity) or state.equity <= 0:
        raise RiskGateError(f"order gate: equity must be positive to measure leverage, got "
                            f"{state.equity!r}; no order can be checked")
    missing = {"asset_class", "lot_size"} - set(state.instruments.columns)
    if missing:
        raise RiskGateError(f"order gate: RiskState.instruments lacks column(s) {sorted(missing)}")
    held = state.positions[state.positions.astype(float) != 0].index
    unpriced = [s for s in held if not np.isfinite(state.last_prices.get(s, np.nan))]
    if unpriced:
        raise RiskGateError(f"order gate: held instrument(s) {unpriced} have no last price; "
                            "exposure cannot be measured, so no order can be checked")


def _order_refs(proposed: pd.DataFrame) -> list[str]:
    if "order_ref" in proposed.columns:
        refs = proposed["order_ref"].astype(str).tolist()
        if len(set(refs)) != len(refs):
            raise RiskGateError("order gate: order_ref values must be unique within a batch")
        return refs
    refs, seen = [], {}
    for strategy, symbol in zip(proposed["strategy"], proposed["symbol"], strict=True):
        key = f"{strategy}:{symbol}"
        seen[key] = seen.get(key, 0) + 1
        refs.append(f"{key}:{seen[key]}")
    return refs


def check_orders(proposed: pd.DataFrame, state: RiskState, limits: RiskLimits) -> GateResult:
    """Decide every proposed order (see the module docstring for the checks)."""
    missing = [c for c in PROPOSED_COLUMNS if c not in proposed.columns]
    if missing:
        raise RiskGateError(f"order gate: proposed orders lack column(s) {missing}")
    _validate_state(state)
    proposed = proposed.reset_index(drop=True)
    refs = _order_refs(proposed)
    book = _Book(state)
    approved_count = 0
    decisions, outcomes, approved = [], [], []
    for i, order in proposed.iterrows():
        checks, quantity = _decide(order, state, limits, book, approved_count)
        requested = float(order["quantity"])
        if any(c.action == "reject" for c in checks):
            status, quantity = "rejected", 0.0
        elif abs(quantity) < abs(requested) - _EPS:
            status = "reduced"
        else:
            status = "approved"
        reason = "; ".join(c.reason for c in checks if c.action != "pass") or "all checks passed"
        decisions.append({"order_ref": refs[i], "approved_quantity": quantity, "status": status,
                          "reason": reason, "checks": checks})
        for c in checks:
            outcomes.append({"order_ref": refs[i], "strategy": order["strategy"],
                             "symbol": order["symbol"], "check_name": c.check_name,
                             "passed": c.passed, "action": c.action, "value": c.value,
                             "limit": c.limit, "reason": c.reason})
        if status != "rejected":
            approved_count += 1
            symbol, strategy = order["symbol"], order["strategy"]
            book.positions[symbol] = book.positions.get(symbol, 0.0) + quantity
            key = (strategy, symbol)
            book.strategy[key] = book.strategy.get(key, 0.0) + quantity
            approved.append(ApprovedOrder(
                seal=_SEAL, order_ref=refs[i], strategy=str(strategy), symbol=str(symbol),
                quantity=quantity, price=float(order["price"]),
                asset_class=str(order["asset_class"]), status=status,
                requested_quantity=requested))
    decided = pd.concat([proposed, pd.DataFrame(decisions, index=proposed.index)], axis=1)
    return GateResult(decided, pd.DataFrame(outcomes, columns=OUTCOME_COLUMNS), tuple(approved))


def _decide(order: pd.Series, state: RiskState, limits: RiskLimits, book: _Book,
            approved_count: int) -> tuple[list[CheckOutcome], float]:
    """Run the checks of one order; return the outcomes and the approved quantity."""
    symbol, strategy = str(order["symbol"]), str(order["strategy"])
    quantity, price = float(order["quantity"]), float(order["price"])
    checks: list[CheckOutcome] = []

    def passed(name: str, value: float | None, limit: float | None, reason: str = "") -> None:
        checks.append(CheckOutcome(name, True, "pass", value, limit, reason or "within limit"))

    def rejected(name: str, value: float | None, limit: float | None,
                 reason: str) -> tuple[list[CheckOutcome], float]:
        checks.append(CheckOutcome(name, False, "reject", value, limit, reason))
        return checks, 0.0

    if not (np.isfinite(quantity) and quantity != 0 and np.isfinite(price) and price > 0):
        return rejected("order_fields", quantity, None,
                        f"{symbol}: quantity must be a non-zero number and price positive "
                        f"(got quantity {quantity!r}, price {price!r})")

    # 1. kill switch
    held = book.positions.get(symbol, 0.0)
    fraction = 1.0
    if state.kill_switch is KillSwitchState.HALTED:
        return rejected("kill_switch", None, None,
                        "kill switch is HALTED: no new orders until a person resumes trading")
    if state.kill_switch is KillSwitchState.REDUCING:
        if held == 0 or np.sign(quantity) == np.sign(held):
            return rejected("kill_switch", quantity, None,
                            f"kill switch is REDUCING: only orders that reduce |position| pass "
                            f"({symbol} position {held:+g}, order {quantity:+g})")
        fraction = min(1.0, abs(held) / abs(quantity))
        if fraction < 1.0:
            checks.append(CheckOutcome("kill_switch", False, "reduce", quantity, -held,
                                       f"kill switch is REDUCING: order cut to close the "
                                       f"{symbol} position ({-held:+g}) without reversing it"))
        else:
            passed("kill_switch", quantity, -held, "REDUCING: the order reduces |position|")
    else:
        passed("kill_switch", None, None, "ACTIVE")

    # 2. instrument known
    if symbol not in state.instruments.index:
        return rejected("unknown_instrument", None, None,
                        f"unknown instrument '{symbol}': not in the instruments table")
    lot = float(state.instruments.at[symbol, "lot_size"])
    asset_class = str(state.instruments.at[symbol, "asset_class"])
    passed("unknown_instrument", None, None, f"{symbol} is a known {asset_class} instrument")

    # 3. price collar against the last price
    last = book.prices.get(symbol, np.nan)
    if not np.isfinite(last) or last <= 0:
        return rejected("price_collar", price, limits.price_collar,
                        f"no last price for {symbol}: the price collar cannot be checked")
    deviation = abs(price / last - 1.0)
    if deviation > limits.price_collar + _EPS:
        return rejected("price_collar", deviation, limits.price_collar,
                        f"{symbol} reference price {price:g} is {deviation:.1%} from the last "
                        f"price {last:g} (collar {limits.price_collar:.1%})")
    passed("price_collar", deviation, limits.price_collar)

    # 4. order size
    notional = abs(quantity) * price
    if notional > limits.max_order_notional + _EPS:
        return rejected("max_order_notional", notional, limits.max_order_notional,
                        f"order notional {notional:,.0f} exceeds the per-order limit "
                        f"{limits.max_order_notional:,.0f} ({symbol} {quantity:+g} @ {price:g})")
    passed("max_order_notional", notional, limits.max_order_notional)

    # 5. order rate
    count = state.orders_today + approved_count + 1
    if count > limits.max_orders_per_day:
        return rejected("order_rate", count, limits.max_orders_per_day,
                        f"order {count} today exceeds the limit of "
                        f"{limits.max_orders_per_day} orders per day")
    passed("order_rate", count, limits.max_orders_per_day)

    # 6-10. exposure limits: each allows a fraction of the order
    others = book.other_notionals(symbol)
    equity = state.equity
    after = held + quantity
    gross_rest = sum(abs(v) for v in others.values())
    net_rest = sum(others.values())
    strategy_held = book.strategy.get((strategy, symbol), 0.0)
    exposure = [
        ("max_position", abs(after) * price, limits.max_position_notional,
         max_fraction(held, quantity, limits.max_position_notional / price)),
        ("max_strategy_position", abs(strategy_held + quantity) * price,
         limits.max_strategy_position_notional,
         max_fraction(strategy_held, quantity, limits.max_strategy_position_notional / price)),
        ("max_gross_leverage", (gross_rest + abs(after) * price) / equity,
         limits.max_gross_leverage,
         max_fraction(held, quantity, (limits.max_gross_leverage * equity - gross_rest) / price)),
        ("max_net_leverage", abs(net_rest + after * price) / equity, limits.max_net_leverage,
         max_fraction(held + net_rest / price, quantity, limits.max_net_leverage * equity / price)),
    ]
    cap = limits.asset_class_max_gross.get(asset_class)
    if cap is not None:
        class_rest = sum(abs(v) for s, v in others.items()
                         if s in state.instruments.index
                         and state.instruments.at[s, "asset_class"] == asset_class)
        exposure.append(("asset_class_cap", (class_rest + abs(after) * price) / equity, cap,
                         max_fraction(held, quantity, (cap * equity - class_rest) / price)))
    for name, value, limit, allowed in exposure:
        if allowed < 1.0 - _EPS:
            shown = ",.0f" if limit > 100 else ".3f"
            checks.append(CheckOutcome(name, False, "reduce", value, limit,
                                       f"{name}: {value:{shown}} would exceed {limit:{shown}}; "
                                       f"order cut to {allowed:.1%} of its size"))
        else:
            passed(name, value, limit)
        fraction = min(fraction, allowed)

    # 11. whole lots, toward zero
    approved = float(truncate_to_lot(fraction * quantity, lot))
    if approved == 0:
        return rejected("lot_size", abs(fraction * quantity), lot,
                        f"the allowed {symbol} quantity {fraction * quantity:+g} is less than "
                        f"one lot of {lot:g}")
    if abs(approved) < abs(fraction * quantity) - _EPS:
        checks.append(CheckOutcome("lot_size", False, "reduce", abs(fraction * quantity), lot,
                                   f"rounded toward zero to whole lots of {lot:g}"))
    else:
        passed("lot_size", abs(approved), lot)
    return checks, approved
