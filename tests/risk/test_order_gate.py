"""The pre-trade order gate: hand-computed decisions, the kill switch, invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from macroquant.errors import RiskGateError
from macroquant.risk.kill_switch import KillSwitchState
from macroquant.risk.order_gate import (
    ApprovedOrder,
    RiskLimits,
    RiskState,
    check_orders,
    max_fraction,
)

INSTRUMENTS = pd.DataFrame(
    {"asset_class": ["single_stock", "single_stock", "fx", "equity_index"],
     "lot_size": [1.0, 1.0, 1000.0, 1.0]},
    index=["AAPL", "IBM", "EURUSD", "SPX"])
PRICES = pd.Series({"AAPL": 100.0, "IBM": 200.0, "EURUSD": 1.25, "SPX": 1000.0})
LIMITS = RiskLimits(max_order_notional=300_000, max_position_notional=250_000,
                    max_strategy_position_notional=200_000, max_gross_leverage=2.0,
                    max_net_leverage=1.5, asset_class_max_gross={"single_stock": 0.4},
                    price_collar=0.05, max_orders_per_day=3)


def state(kill=KillSwitchState.ACTIVE, positions=None, strategy_positions=None,
          orders_today=0, equity=1_000_000.0):
    return RiskState(kill, equity, INSTRUMENTS,
                     positions=pd.Series(positions or {}, dtype=float),
                     strategy_positions=pd.Series(strategy_positions or {}, dtype=float),
                     last_prices=PRICES, orders_today=orders_today)


def orders(*rows):
    return pd.DataFrame(rows, columns=["strategy", "symbol", "quantity", "price", "asset_class"])


def test_oversized_order_is_rejected_with_its_reason():
    result = check_orders(orders(("trend", "SPX", 400.0, 1000.0, "equity_index")),
                          state(), LIMITS)
    decision = result.decisions.iloc[0]
    assert decision["status"] == "rejected" and decision["approved_quantity"] == 0.0
    assert decision["reason"] == ("order notional 400,000 exceeds the per-order limit 300,000 "
                                  "(SPX +400 @ 1000)")
    failed = result.outcomes[~result.outcomes["passed"]].iloc[0]
    assert (failed["check_name"], failed["value"], failed["limit"]) == \
        ("max_order_notional", 400_000.0, 300_000.0)
    assert result.approved == ()


def test_unknown_instrument_is_rejected_with_its_reason():
    result = check_orders(orders(("trend", "ZZZ", 10.0, 5.0, "single_stock")), state(), LIMITS)
    assert result.decisions.loc[0, "status"] == "rejected"
    assert result.decisions.loc[0, "reason"] == \
        "unknown instrument 'ZZZ': not in the instruments table"


def test_price_collar_rejects_a_stale_or_fat_finger_price():
    result = check_orders(orders(("t", "AAPL", 10.0, 106.0, "single_stock"),
                                 ("t", "AAPL", 10.0, 104.0, "single_stock")), state(), LIMITS)
    assert result.decisions["status"].tolist() == ["rejected", "approved"]
    assert "6.0% from the last price 100 (collar 5.0%)" in result.decisions.loc[0, "reason"]


def test_position_limits_reduce_by_hand():
    # AAPL held 500 (50k); strategy 'trend' holds 300 of it. Order +2000 @ 100:
    #   instrument: |500 + 2000| * 100 = 250k, exactly the limit -> passes
    #   strategy:   |300 + a*2000| * 100 <= 200k -> a = 0.85
    #   asset class single_stock cap 0.4 * 1M = 400k; IBM holds 1000*200 = 200k
    #     -> |500 + a*2000| * 100 <= 200k -> a = 0.75  (binding) -> +1500
    result = check_orders(orders(("trend", "AAPL", 2000.0, 100.0, "single_stock")),
                          state(positions={"AAPL": 500.0, "IBM": 1000.0},
                                strategy_positions={("trend", "AAPL"): 300.0}), LIMITS)
    assert result.decisions.loc[0, "status"] == "reduced"
    assert result.decisions.loc[0, "approved_quantity"] == 1500.0
    reduced = result.outcomes[result.outcomes["action"] == "reduce"].set_index("check_name")
    assert set(reduced.index) == {"max_strategy_position", "asset_class_cap"}
    assert reduced.loc["max_strategy_position", "value"] == 230_000.0
    assert reduced.loc["asset_class_cap", "value"] == pytest.approx(0.45)  # (200k+250k)/1M
    assert result.approved[0].quantity == 1500.0 and result.approved[0].status == "reduced"


def test_orders_in_a_batch_count_against_each_other_and_the_rate_limit():
    batch = orders(("a", "SPX", 150.0, 1000.0, "equity_index"),   # 150k
                   ("b", "SPX", 150.0, 1000.0, "equity_index"),   # instrument cap 250k -> +100
                   ("a", "IBM", 10.0, 200.0, "single_stock"),
                   ("a", "AAPL", 10.0, 100.0, "single_stock"))    # 4th order, limit 3/day
    result = check_orders(batch, state(), LIMITS)
    assert result.decisions["approved_quantity"].tolist() == [150.0, 100.0, 10.0, 0.0]
    assert result.decisions["status"].tolist() == ["approved", "reduced", "approved", "rejected"]
    assert result.decisions.loc[3, "reason"] == \
        "order 4 today exceeds the limit of 3 orders per day"


def test_gross_and_net_leverage_by_hand():
    limits = LIMITS.model_copy(update={"max_gross_leverage": 0.5, "max_net_leverage": 0.2,
                                       "max_position_notional": 1e9,
                                       "max_strategy_position_notional": 1e9})
    # held: SPX +200 (200k), IBM -500 (-100k): gross 300k, net 100k
    held = {"SPX": 200.0, "IBM": -500.0}
    # buy 150 SPX (150k): gross 450k ok; net 250k > 200k -> |300 + a*150| <= 200+100 ... in
    # SPX units: net_rest/P = -100; |200 - 100 + a*150| <= 200 -> a = 2/3 -> +100
    result = check_orders(orders(("a", "SPX", 150.0, 1000.0, "equity_index")),
                          state(positions=held), limits)
    assert result.decisions.loc[0, "approved_quantity"] == 100.0
    reduced = result.outcomes[result.outcomes["action"] == "reduce"]
    assert reduced["check_name"].tolist() == ["max_net_leverage"]
    # sell 1000 AAPL (100k short): net falls to 0 (fine); gross 400k ok
    # sell 3000 AAPL: gross 600k > 500k -> |0 + a*3000|*100 <= 200k -> a = 2/3 -> -2000
    result = check_orders(orders(("a", "AAPL", -3000.0, 100.0, "single_stock")),
                          state(positions=held), limits.model_copy(
                              update={"asset_class_max_gross": {}, "max_order_notional": 1e9}))
    assert result.decisions.loc[0, "approved_quantity"] == -2000.0


def test_a_breached_limit_never_blocks_an_order_that_reduces_it():
    # SPX held 400 (400k) is above the 250k instrument cap; selling 100 reduces the breach
    result = check_orders(orders(("a", "SPX", -100.0, 1000.0, "equity_index"),
                                 ("a", "SPX", 50.0, 1000.0, "equity_index")),
                          state(positions={"SPX": 400.0}), LIMITS)
    assert result.decisions["status"].tolist() == ["approved", "rejected"]
    assert result.decisions.loc[1, "reason"].startswith("max_position: 350,000 would exceed")


def test_halted_kill_switch_rejects_everything():
    result = check_orders(orders(("a", "SPX", -10.0, 1000.0, "equity_index")),
                          state(kill=KillSwitchState.HALTED, positions={"SPX": 100.0}), LIMITS)
    assert result.decisions.loc[0, "status"] == "rejected"
    assert result.decisions.loc[0, "reason"] == \
        "kill switch is HALTED: no new orders until a person resumes trading"


def test_reducing_kill_switch_passes_only_position_reductions():
    held = {"SPX": 100.0, "AAPL": -50.0}
    batch = orders(("a", "SPX", 20.0, 1000.0, "equity_index"),     # adds: rejected
                   ("a", "SPX", -30.0, 1000.0, "equity_index"),    # reduces: approved
                   ("a", "AAPL", 80.0, 100.0, "single_stock"),     # would flip: cut to +50
                   ("a", "IBM", 5.0, 200.0, "single_stock"))       # flat: nothing to reduce
    result = check_orders(batch, state(kill=KillSwitchState.REDUCING, positions=held), LIMITS)
    assert result.decisions["approved_quantity"].tolist() == [0.0, -30.0, 50.0, 0.0]
    assert result.decisions["status"].tolist() == ["rejected", "approved", "reduced", "rejected"]


def test_approved_orders_come_only_from_the_gate():
    with pytest.raises(RiskGateError, match="created only by the risk gate"):
        ApprovedOrder(seal=object(), order_ref="x", strategy="a", symbol="SPX",
                      quantity=1e9, price=1.0, asset_class="equity_index", status="approved",
                      requested_quantity=1e9)
    order = check_orders(orders(("a", "SPX", 1.0, 1000.0, "equity_index")), state(),
                         LIMITS).approved[0]
    with pytest.raises(AttributeError):
        order.quantity = 1e9
    import copy

    with pytest.raises(TypeError):
        copy.copy(order)


def test_unpriced_holdings_and_non_positive_equity_refuse_the_whole_batch():
    bad = RiskState(KillSwitchState.ACTIVE, 1e6, INSTRUMENTS, positions=pd.Series({"SPX": 1.0}),
                    last_prices=pd.Series({"AAPL": 100.0}))
    with pytest.raises(RiskGateError, match=r"\['SPX'\] have no last price"):
        check_orders(orders(("a", "AAPL", 1.0, 100.0, "single_stock")), bad, LIMITS)
    with pytest.raises(RiskGateError, match="equity must be positive"):
        check_orders(orders(("a", "AAPL", 1.0, 100.0, "single_stock")), state(equity=0.0),
                     LIMITS)


def test_max_fraction_by_hand():
    assert max_fraction(0.0, 10.0, 5.0) == 0.5
    assert max_fraction(4.0, 10.0, 5.0) == pytest.approx(0.1)
    assert max_fraction(4.0, -10.0, 5.0) == pytest.approx(0.9)   # down to -5
    assert max_fraction(8.0, 10.0, 5.0) == 0.0                  # breached: no increase
    assert max_fraction(8.0, -10.0, 5.0) == 1.0                 # to -2: reduces the breach


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(INSTRUMENTS.index)),
                          st.floats(-5000, 5000).filter(lambda q: abs(q) > 1e-6)),
                 min_size=1, max_size=8),
       st.dictionaries(st.sampled_from(list(INSTRUMENTS.index)), st.floats(-2000, 2000),
                       max_size=4),
       st.sampled_from(list(KillSwitchState)))
def test_gate_never_enlarges_flips_or_breaches(rows, held, kill):
    held = {s: float(np.trunc(q / INSTRUMENTS.at[s, "lot_size"]) * INSTRUMENTS.at[s, "lot_size"])
            for s, q in held.items()}
    batch = orders(*[("a", s, q, PRICES[s], INSTRUMENTS.at[s, "asset_class"])
                     for s, q in rows])
    limits = LIMITS.model_copy(update={"max_orders_per_day": 100})
    result = check_orders(batch, state(kill=kill, positions=held), limits)
    q0 = batch["quantity"].to_numpy()
    q1 = result.decisions["approved_quantity"].to_numpy(float)
    assert (np.abs(q1) <= np.abs(q0) + 1e-9).all() and (q1 * q0 >= 0).all()
    lots = INSTRUMENTS.loc[batch["symbol"], "lot_size"].to_numpy()
    assert np.allclose(q1 / lots, np.round(q1 / lots))
    if kill is KillSwitchState.HALTED:
        assert (q1 == 0).all()
    # every approved order leaves each limit no worse than before it
    book = pd.Series(held, dtype=float).reindex(INSTRUMENTS.index).fillna(0.0)
    for (_, order), q in zip(batch.iterrows(), q1, strict=True):
        if q == 0:
            continue
        before = book.copy()
        book[order["symbol"]] += q
        if kill is KillSwitchState.REDUCING:
            assert abs(book[order["symbol"]]) <= abs(before[order["symbol"]]) + 1e-9
        for measure, limit in ((lambda b: (b * PRICES).abs().sum() / 1e6, 2.0),
                               (lambda b: abs((b * PRICES).sum()) / 1e6, 1.5)):
            assert measure(book) <= max(limit, measure(before)) + 1e-6
