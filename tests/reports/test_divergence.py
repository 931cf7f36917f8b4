"""The divergence monitor: zero for the paper account, every cause measured by hand for a
broker whose fills were worse than the model."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from macroquant.cli import main
from macroquant.db.bulk import read_frame
from macroquant.db.connection import transaction
from macroquant.execution.costs import CostModel
from macroquant.pipeline.runner import run_pipeline
from macroquant.reports.divergence import FillModel, divergence, divergence_summary

D0, D1, D2, D3 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)
MODEL = FillModel(CostModel(commission_bps=1.0, slippage_bps=2.0))


def _bars():
    rows = [  # trade_date, instrument, open, close
        (D1, 1, 50.0, 50.5), (D2, 1, 50.8, 51.0), (D3, 1, 51.2, 51.0),
        (D0, 2, np.nan, 19.5), (D1, 2, 20.0, 20.2), (D2, 2, 20.4, 20.6), (D3, 2, 21.0, 21.1)]
    return pd.DataFrame(rows, columns=["trade_date", "instrument_id", "open", "close"])


def test_a_broker_that_filled_worse_than_the_model_by_hand():
    orders = pd.DataFrame({
        "client_order_id": ["A", "B", "C", "R"], "as_of": [D0, D0, D1, D1],
        "instrument_id": [1, 2, 1, 1], "side": ["buy", "sell", "buy", "buy"],
        "quantity": [100.0, 10.0, 5.0, 7.0],
        "status": ["partially_filled", "filled", "rejected", "rejected"],
        "reference_price": [np.nan, 19.0, np.nan, np.nan]})
    fills = pd.DataFrame({
        "client_order_id": ["A", "B"], "trade_date": [D1, D2], "quantity": [60.0, 10.0],
        "price": [50.10, 20.30], "commission": [1.0, 0.05]})
    table = divergence(orders, fills, _bars(), [D0, D1, D2, D3], MODEL, "alpaca")
    got = divergence_summary(table)
    a_model = 50.0 * (1 + 2e-4)                         # A: model buys at D1's open + 2 bp
    b_model_d1, b_on_d2 = 20.0 * (1 - 2e-4), 20.4 * (1 - 2e-4)   # B: a sell, filled a day late
    assert got["fill_price"] == pytest.approx(60 * (50.10 - a_model) - 10 * (20.30 - b_on_d2))
    assert got["costs"] == pytest.approx(1.0 - 60 * a_model * 1e-4
                                         + 0.05 - 10 * b_on_d2 * 1e-4)
    assert got["timing"] == pytest.approx(-10 * (b_on_d2 - b_model_d1))
    assert got["missed"] == pytest.approx(40 * (51.0 - a_model))   # valued at D3's close
    assert got["data_revised"] == pytest.approx(-10 * (19.0 - 19.5))   # B sized on 19.0
    assert table.loc[table["cause"] == "missed", "as_of"].tolist() == [D1]
    assert set(table["broker"]) == {"alpaca"}
    # the two rejected orders are not the broker's doing: the model would not send them
    assert table["orders"].max() <= 2


def test_an_order_without_a_bar_on_its_next_session_is_not_missed():
    orders = pd.DataFrame({"client_order_id": ["X"], "as_of": [D2], "instrument_id": [3],
                           "side": ["buy"], "quantity": [1.0], "status": ["expired"],
                           "reference_price": [np.nan]})
    table = divergence(orders, orders.iloc[0:0].assign(trade_date=[], price=[],
                                                       commission=[]),
                       _bars(), [D0, D1, D2, D3], MODEL, "paper")
    assert table.empty


def test_the_paper_account_does_not_diverge(loaded_settings, tmp_path, monkeypatch, capsys):
    start, end = date(2012, 10, 1), date(2012, 10, 31)
    results = run_pipeline(start, end, "div", loaded_settings)
    assert results["reports"]["divergence"] > 0
    with transaction(loaded_settings.database_url) as conn:
        table = read_frame(conn, "SELECT * FROM divergence")
        alerts = conn.execute("""SELECT count(*) FROM system_logs
                                 WHERE logger = 'macroquant.divergence'""").fetchone()[0]
    assert set(table["broker"]) == {"paper"}
    assert table["orders"].sum() > 50
    assert table["amount"].abs().max() < 1e-9
    assert alerts == 0
    report = (loaded_settings.reports_dir / "daily" / f"{end}.html").read_text()
    assert "volatility target 12.0%: ex-ante" in report        # the period's budget
    section = report[report.index("Account vs the engine's fill model"):]
    assert "<td>paper</td>" in section and "fill_price" in section
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", loaded_settings.database_url)
    assert main(["divergence", "--start", str(start), "--end", str(end)]) == 0
    out = capsys.readouterr().out
    assert "paper    fill_price 0.00  costs 0.00  timing 0.00  missed 0.00" in out
