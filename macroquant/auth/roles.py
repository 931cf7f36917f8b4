"""Roles and what each may do.

Three roles, each including the one before it:

- ``viewer``: reads everything the API and dashboard show; changes nothing;
- ``trader``: also pauses and unpauses strategies, triggers pipeline runs and halts trading
  with the kill switch (stopping is always allowed to someone who can trade);
- ``admin``: also resumes trading after the kill switch, changes broker settings and
  credentials, manages users and reads the audit log.
"""

from __future__ import annotations

from enum import StrEnum

from macroquant.errors import AuthorizationError


class Role(StrEnum):
    """A user's role; the order viewer < trader < admin is the order of privilege."""

    VIEWER = "viewer"
    TRADER = "trader"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for viewer, 1 for trader, 2 for admin."""
        return _RANK[self]


_RANK = {Role.VIEWER: 0, Role.TRADER: 1, Role.ADMIN: 2}


class Action(StrEnum):
    """Everything a role is checked for; the value is what the audit log records."""

    READ = "read"
    STRATEGY_PAUSE = "strategy.pause"
    STRATEGY_UNPAUSE = "strategy.unpause"
    RUN_TRIGGER = "run.trigger"
    KILLSWITCH_HALT = "killswitch.halt"
    KILLSWITCH_RESUME = "killswitch.resume"
    BROKER_SETTINGS = "broker.settings"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"


# The least role allowed to perform each action.
REQUIRED_ROLE: dict[Action, Role] = {
    Action.READ: Role.VIEWER,
    Action.STRATEGY_PAUSE: Role.TRADER,
    Action.STRATEGY_UNPAUSE: Role.TRADER,
    Action.RUN_TRIGGER: Role.TRADER,
    Action.KILLSWITCH_HALT: Role.TRADER,
    Action.KILLSWITCH_RESUME: Role.ADMIN,
    Action.BROKER_SETTINGS: Role.ADMIN,
    Action.USERS_MANAGE: Role.ADMIN,
    Action.AUDIT_READ: Role.ADMIN,
}


def allows(role: Role | str, action: Action) -> bool:
    """Whether ``role`` may perform ``action``."""
    return Role(role).rank >= REQUIRED_ROLE[action].rank


def check_allowed(role: Role | str, action: Action, username: str) -> None:
    """Raise :class:`AuthorizationError` unless ``role`` may perform ``action``."""
    if not allows(role, action):
        raise AuthorizationError(
            f"user '{username}' (role {Role(role).value}) may not {action.value}: "
            f"it needs the {REQUIRED_ROLE[action].value} role"
        )
