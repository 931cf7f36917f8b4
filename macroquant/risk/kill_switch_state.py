"""The kill switch's states (pure): what the order gate, the drawdown control and the
paper replay reason about. Reading and moving the switch is :mod:`macroquant.risk.kill_switch`."""

from __future__ import annotations

from enum import StrEnum


class KillSwitchState(StrEnum):
    """How much trading the kill switch allows (ordered from most to least)."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @property
    def severity(self) -> int:
        """0 for ACTIVE, 1 for REDUCING, 2 for HALTED."""
        return _SEVERITY[self]


_SEVERITY = {KillSwitchState.ACTIVE: 0, KillSwitchState.REDUCING: 1, KillSwitchState.HALTED: 2}
