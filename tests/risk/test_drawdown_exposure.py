"""Drawdown control, daily loss limit and the exposure report: hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from macroquant.config.settings import DrawdownConfig
from macroquant.risk.drawdown import drawdown_decision, drawdown_scale, drawdown_scales
from macroquant.risk.exposure import exposure_report
from macroquant.risk.kill_switch import KillSwitchState

CONFIG = DrawdownConfig(reduce_at=0.10, halt_at=0.20, min_scale=0.25)


def test_drawdown_scale_by_hand():
    # 1 above -10%, linear to 0.25 at -20% (slope 7.5 per unit), 0 at and beyond -20%
    assert drawdown_scale(np.array([0.0, -0.05, -0.10, -0.14, -0.19, -0.20, -0.3]),
                          CONFIG).tolist() == pytest.approx([1, 1, 1, 0.7, 0.325, 0, 0])


def test_decisions_halt_reduce_or_scale():
    halt = drawdown_decision(79.0, 80.0, 100.0, config=CONFIG, daily_loss_limit=0.05)
    assert halt.escalate_to is KillSwitchState.HALTED and halt.drawdown == pytest.approx(-0.21)
    assert halt.reason == "drawdown 21.0% reached the halt threshold 20.0%"
    loss = drawdown_decision(94.0, 100.0, 100.0, config=CONFIG, daily_loss_limit=0.05)
    assert loss.escalate_to is KillSwitchState.REDUCING
    assert loss.reason == "daily loss 6.0% exceeded the limit 5.0%"
    scaled = drawdown_decision(86.0, 87.0, 100.0, config=CONFIG, daily_loss_limit=0.05)
    assert scaled.escalate_to is None and scaled.scale == pytest.approx(0.7)
    assert drawdown_scales(pd.Series([100.0, 120.0, 102.0]), CONFIG)["scale"].tolist() == \
        pytest.approx([1.0, 1.0, 0.625])  # -15%: 1 - 0.05 * 7.5


def test_drawdown_config_refuses_halt_above_reduce():
    with pytest.raises(ValueError, match="halt_at must be deeper"):
        DrawdownConfig(reduce_at=0.2, halt_at=0.1)


def test_exposure_report_by_hand():
    book = pd.DataFrame({"symbol": ["A", "B", "C"],
                         "asset_class": ["single_stock", "single_stock", "fx"],
                         "notional": [200_000.0, -100_000.0, 300_000.0]})
    # vols 20%, 20%, 10%; rho(A, B) = 0.5, C uncorrelated
    cov = pd.DataFrame([[0.04, 0.02, 0.0], [0.02, 0.04, 0.0], [0.0, 0.0, 0.01]],
                       index=list("ABC"), columns=list("ABC"))
    strategies = pd.DataFrame({"strategy": ["t", "t", "m"], "symbol": ["A", "C", "B"],
                               "notional": [200_000.0, 300_000.0, -100_000.0]})
    report = exposure_report(book, cov, 1_000_000.0, strategies)
    # Σn = (0.04*2e5 - 0.02*1e5, 0.02*2e5 - 0.04*1e5, 0.01*3e5) = (6000, 0, 3000)
    # n'Σn = 2e5*6000 + 3e5*3000 = 2.1e9, sigma = 45,825.76
    sigma = np.sqrt(2.1e9)
    assert report["total"].loc["portfolio"].tolist() == pytest.approx([0.6, 0.4, sigma / 1e6])
    contribution = report["instrument"]["volatility_contribution"]
    assert contribution.tolist() == pytest.approx([1.2e9 / sigma / 1e6, 0.0, 9e8 / sigma / 1e6])
    assert report["asset_class"].loc["single_stock", "gross"] == pytest.approx(0.3)
    assert report["asset_class"].loc["single_stock", "net"] == pytest.approx(0.1)
    assert report["strategy"].loc["t", "volatility_contribution"] == pytest.approx(sigma / 1e6)
    assert report["strategy"]["volatility_contribution"].sum() == pytest.approx(sigma / 1e6)
