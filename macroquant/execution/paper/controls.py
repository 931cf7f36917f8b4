"""Drawdown control and the daily loss limit inside the paper replay (docs/risk.md).

The replay decides session by session. At each close it asks
:func:`macroquant.risk.drawdown.drawdown_decision` for the position scale and for a
kill-switch escalation; the kill switch it obeys on a session is the state **in effect at
that session's time** (open for fills, close for new orders), read from
``kill_switch_history`` — not the state "now". That is what keeps a rerun of a window
identical to its first run even when a day inside the window halted the switch, and a
backfill identical to the same sessions run one by one.

:class:`KillSwitchTimeline` and :func:`decide_at_close` are pure; the I/O around them
(reading the timeline, storing the events, moving the switch) is
:mod:`macroquant.execution.paper.control_store`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd

from macroquant.calendars import DEFAULT_CALENDAR, session_open_close
from macroquant.config.settings import RiskConfig
from macroquant.risk.drawdown import DAILY_LOSS_ACTOR, DRAWDOWN_ACTOR, drawdown_decision
from macroquant.risk.kill_switch_state import KillSwitchState

CONTROL_CHECKS = ("drawdown_control", "daily_loss_limit")
_CHECK_OF_ACTOR = {DRAWDOWN_ACTOR: "drawdown_control", DAILY_LOSS_ACTOR: "daily_loss_limit"}
_OUTCOME_OF_STATE = {KillSwitchState.HALTED: "halt", KillSwitchState.REDUCING: "reduce"}


@dataclass
class KillSwitchTimeline:
    """The kill switch's state over time: transitions ``(at, new state)`` in effect from
    ``at`` on (ACTIVE before the first). Pure; escalations decided by the replay are added
    with :meth:`escalate` so later sessions of the same run see them."""

    times: list[datetime] = field(default_factory=list)
    states: list[KillSwitchState] = field(default_factory=list)

    def state_at(self, moment: datetime) -> KillSwitchState:
        """The state in effect at ``moment`` (a transition at exactly ``moment`` counts)."""
        position = bisect.bisect_right(self.times, moment)
        return self.states[position - 1] if position else KillSwitchState.ACTIVE

    def escalate(self, moment: datetime, state: KillSwitchState) -> bool:
        """Record an escalation to ``state`` at ``moment`` unless the state in effect then is
        already at least as safe. Returns whether it was recorded."""
        if self.state_at(moment).severity >= state.severity:
            return False
        position = bisect.bisect_right(self.times, moment)
        self.times.insert(position, moment)
        self.states.insert(position, state)
        return True


def session_times(days: list[date], calendar: str = DEFAULT_CALENDAR) -> pd.DataFrame:
    """Open and close of each session in UTC (columns ``open``, ``close``, indexed by day):
    the moments at which the replay fills orders and decides new ones."""
    times = [session_open_close(day, calendar) for day in days]
    return pd.DataFrame({"open": [t[0] for t in times], "close": [t[1] for t in times]},
                        index=list(days))


@dataclass(frozen=True)
class ControlEvent:
    """One decision of the controls at one close, to store in ``risk_events`` and, for an
    escalation newly in effect, to apply to the kill switch."""

    as_of: date
    at: datetime
    check_name: str
    outcome: str           # 'scale', 'reduce' or 'halt'
    limit_value: float
    observed_value: float
    reason: str
    escalate_to: KillSwitchState | None = None
    actor: str | None = None
    details: dict = field(default_factory=dict)


def decide_at_close(day: date, close: datetime, equity: float, previous_equity: float,
                    high_water: float, risk: RiskConfig,
                    timeline: KillSwitchTimeline) -> tuple[float, list[ControlEvent]]:
    """The controls after ``day``'s marking: the position scale for the orders sent after
    this close, and the events to record. An escalation is added to ``timeline`` (and
    becomes an event with ``escalate_to``) only if the switch was not already at least as
    safe at this close, so a rerun never escalates twice."""
    decision = drawdown_decision(equity, previous_equity, high_water,
                                 config=risk.drawdown, daily_loss_limit=risk.daily_loss_limit)
    details = {"equity": equity, "previous_equity": previous_equity,
               "high_water": max(high_water, equity), "drawdown": decision.drawdown,
               "daily_return": decision.daily_return, "scale": decision.scale}
    events = []
    if decision.escalate_to is not None:
        check = _CHECK_OF_ACTOR[decision.actor]
        limit, observed = ((risk.drawdown.halt_at, -decision.drawdown)
                           if check == "drawdown_control"
                           else (risk.daily_loss_limit, -decision.daily_return))
        newly = timeline.escalate(close, decision.escalate_to)
        events.append(ControlEvent(
            day, close, check, _OUTCOME_OF_STATE[decision.escalate_to], limit, observed,
            decision.reason, decision.escalate_to if newly else None, decision.actor,
            {**details, "kill_switch": decision.escalate_to.value}))
    if 0.0 < decision.scale < 1.0 and not any(e.check_name == "drawdown_control"
                                              for e in events):
        events.append(ControlEvent(
            day, close, "drawdown_control", "scale", risk.drawdown.reduce_at,
            -decision.drawdown,
            f"drawdown {-decision.drawdown:.1%} beyond {risk.drawdown.reduce_at:.1%}: "
            f"positions scaled to {decision.scale:.0%}", details=details))
    return decision.scale, events
