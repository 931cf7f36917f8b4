"""Portfolio drawdown control and the daily loss limit (pure).

After each session's close the account's equity is known; :func:`drawdown_decision`
turns it into

- a **position scale** for the next targets: 1 while the drawdown from the high-water mark
  is shallower than ``reduce_at``, then falling linearly to ``min_scale`` at ``halt_at``;
- a **kill-switch escalation**: HALTED when the drawdown reaches ``halt_at``; REDUCING when
  the session lost more than ``daily_loss_limit`` of the previous equity. Escalations are
  applied with :func:`macroquant.risk.kill_switch.halt` / ``reduce`` (actor
  ``system:drawdown_control`` / ``system:daily_loss_limit``) and only a person resumes.

:func:`drawdown_scales` is the same rule vectorised over an equity curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from macroquant.config.settings import DrawdownConfig
from macroquant.risk.kill_switch_state import KillSwitchState

DRAWDOWN_ACTOR = "system:drawdown_control"
DAILY_LOSS_ACTOR = "system:daily_loss_limit"


@dataclass(frozen=True)
class DrawdownDecision:
    """What the controls decided at one close."""

    drawdown: float        # equity / high-water - 1 (<= 0)
    daily_return: float
    scale: float           # multiply the next targets by this
    escalate_to: KillSwitchState | None
    actor: str | None
    reason: str


def drawdown_scale(drawdown: np.ndarray | float, config: DrawdownConfig) -> np.ndarray:
    """Position scale for a drawdown (negative fraction): 1 above ``-reduce_at``, linear to
    ``min_scale`` at ``-halt_at``, 0 beyond (trading is halted there)."""
    depth = -np.asarray(drawdown, dtype=float)
    slope = (1.0 - config.min_scale) / (config.halt_at - config.reduce_at)
    scale = np.clip(1.0 - (depth - config.reduce_at) * slope, config.min_scale, 1.0)
    return np.where(depth >= config.halt_at, 0.0, scale)


def drawdown_decision(equity: float, previous_equity: float, high_water: float, *,
                      config: DrawdownConfig, daily_loss_limit: float) -> DrawdownDecision:
    """The controls' decision at one close (see the module docstring)."""
    if not (np.isfinite(equity) and previous_equity > 0 and high_water > 0):
        raise ValueError(f"drawdown control needs finite equity and positive previous equity "
                         f"and high-water mark, got {equity}, {previous_equity}, {high_water}")
    high_water = max(high_water, equity)
    drawdown = equity / high_water - 1.0
    daily = equity / previous_equity - 1.0
    scale = float(drawdown_scale(drawdown, config))
    if -drawdown >= config.halt_at:
        return DrawdownDecision(drawdown, daily, scale, KillSwitchState.HALTED, DRAWDOWN_ACTOR,
                                f"drawdown {-drawdown:.1%} reached the halt threshold "
                                f"{config.halt_at:.1%}")
    if -daily > daily_loss_limit:
        return DrawdownDecision(drawdown, daily, scale, KillSwitchState.REDUCING,
                                DAILY_LOSS_ACTOR, f"daily loss {-daily:.1%} exceeded the limit "
                                                  f"{daily_loss_limit:.1%}")
    reason = (f"drawdown {-drawdown:.1%} beyond {config.reduce_at:.1%}: positions scaled to "
              f"{scale:.0%}" if scale < 1.0 else "within limits")
    return DrawdownDecision(drawdown, daily, scale, None, None, reason)


def drawdown_scales(equity: pd.Series, config: DrawdownConfig) -> pd.DataFrame:
    """Drawdown and position scale along an equity curve (``drawdown``, ``scale``)."""
    drawdown = equity / equity.cummax() - 1.0
    return pd.DataFrame({"drawdown": drawdown,
                         "scale": drawdown_scale(drawdown.to_numpy(), config)},
                        index=equity.index)
