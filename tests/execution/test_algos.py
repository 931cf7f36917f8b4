"""Execution algorithms: schedules by hand, the participation cap against a loop, and
run_due_slices end to end on the paper broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from macroquant.brokers.paper import PaperAccountBroker, PaperConfig
from macroquant.execution.algos import (
    cap_participation,
    limit_action,
    limit_price,
    run_due_slices,
    submit_algo,
    twap_schedule,
    vwap_schedule,
)
from tests.brokers.support import AS_OF
from tests.conftest import make_settings

START = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)
END = START + timedelta(hours=2)


def test_twap_splits_lots_evenly_remainder_first():
    plan = twap_schedule(1003, START, END, 4)
    assert plan["quantity"].tolist() == [251, 251, 251, 250]
    assert plan["due_at"].tolist() == [START + timedelta(minutes=30 * k) for k in range(4)]
    assert twap_schedule(-250, START, END, 2, lot_size=100)["quantity"].tolist() == [-100, -100]


def test_vwap_follows_the_volume_profile():
    plan = vwap_schedule(1000, START, END, [0.4, 0.1, 0.1, 0.4])
    assert plan["quantity"].tolist() == [400, 100, 100, 400]
    assert vwap_schedule(10, START, END, [1, 1, 1])["quantity"].tolist() == [4, 3, 3]


def test_participation_cap_by_hand():
    executed, rest = cap_participation(np.array([100, 100, 100]), np.array([500, 2000, 300]),
                                       0.1)
    # caps 50, 200, 30: 50 | 100 + 50 carried = 150 | 30 ; 70 never trades
    assert executed.tolist() == [50, 150, 30] and rest == 70


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 20000)), min_size=1,
                max_size=20), st.floats(0.01, 1.0))
def test_participation_cap_matches_a_sequential_loop(rows, rate):
    planned, volumes = np.array(rows, float).T
    executed, rest = cap_participation(planned, volumes, rate)
    carry, expected = 0.0, []
    for p, v in zip(planned, volumes, strict=True):
        want = p + carry
        take = min(want, np.floor(rate * v + 1e-9))
        expected.append(take)
        carry = want - take
    assert executed == pytest.approx(expected) and rest == pytest.approx(carry)
    assert (executed <= np.floor(rate * volumes + 1e-9) + 1e-9).all()


def test_limit_price_and_timeout():
    assert limit_price(100.0, "buy", 10) == pytest.approx(99.9)
    assert limit_price(100.0, "sell", 10) == pytest.approx(100.1)
    assert limit_action(29.0, 30.0) == "wait" and limit_action(30.0, 30.0) == "cancel_replace"


def test_run_due_slices_sends_due_twap_slices_once(universe_url, tmp_path):
    cfg = make_settings(tmp_path, universe_url)
    broker = PaperAccountBroker(PaperConfig(commission_bps=1, slippage_bps=0),
                                lambda: START)
    with psycopg.connect(universe_url) as conn:
        submit_algo(conn, algo_id="MQA-20240102-AAPL-twap-1", as_of=AS_OF, symbol="AAPL",
                    quantity=1000, algo="twap", broker="paper", start_at=START, end_at=END,
                    slices=4)
    counts = run_due_slices(cfg, START + timedelta(minutes=45), broker_factory=lambda n: broker)
    assert counts == {"parents": 1, "sent": 2, "replaced": 0, "completed": 0}
    again = run_due_slices(cfg, START + timedelta(minutes=45), broker_factory=lambda n: broker)
    assert again["sent"] == 0
    final = run_due_slices(cfg, END, broker_factory=lambda n: broker)
    assert final == {"parents": 1, "sent": 2, "replaced": 0, "completed": 1}
    assert broker.state["book"] == {"AAPL": 1000.0}
    with psycopg.connect(universe_url) as conn:
        rows = conn.execute("""SELECT client_order_id, quantity, status FROM orders
                               ORDER BY client_order_id""").fetchall()
        assert rows == [(f"MQA-20240102-AAPL-twap-1-S{k}", 250.0, "filled") for k in range(1, 5)]
        fees = conn.execute("SELECT sum(commission) FROM trades").fetchone()[0]
    assert fees == pytest.approx(1000 * 100.0 * 1e-4)      # 1 bp of 100,000


def test_limit_child_is_cancelled_and_replaced_after_its_timeout(universe_url, tmp_path):
    cfg = make_settings(tmp_path, universe_url)
    broker = PaperAccountBroker(PaperConfig(commission_bps=0, slippage_bps=0), lambda: START)
    with psycopg.connect(universe_url) as conn:
        submit_algo(conn, algo_id="MQA-20240102-MSFT-limit-1", as_of=AS_OF, symbol="MSFT",
                    quantity=10, algo="limit", broker="paper", start_at=START, end_at=START,
                    limit_offset_bps=50, limit_timeout_s=60)
    factory = lambda n: broker  # noqa: E731
    run_due_slices(cfg, START, broker_factory=factory)     # rests at 199.0 (price 200)
    assert broker.open_orders()[0].client_order_id == "MQA-20240102-MSFT-limit-1-S1"
    assert run_due_slices(cfg, START + timedelta(seconds=30), broker_factory=factory)[
        "replaced"] == 0
    counts = run_due_slices(cfg, START + timedelta(seconds=61), broker_factory=factory)
    assert counts["replaced"] == 1
    assert [o.client_order_id for o in broker.open_orders()] == [
        "MQA-20240102-MSFT-limit-1-S1-R1"]
    broker.mark("MSFT", 198.5)                              # crosses the 199 limit
    done = run_due_slices(cfg, START + timedelta(seconds=62), broker_factory=factory)
    assert done["completed"] == 1
    with psycopg.connect(universe_url) as conn:
        assert conn.execute("""SELECT client_order_id, status FROM orders ORDER BY 1""").fetchall() \
            == [("MQA-20240102-MSFT-limit-1-S1", "cancelled"),
                ("MQA-20240102-MSFT-limit-1-S1-R1", "filled")]
        assert conn.execute("SELECT price FROM trades").fetchall() == [(198.5,)]
