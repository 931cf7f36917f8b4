"""Typed exceptions a user can meet. Each message says what went wrong and where."""

from __future__ import annotations


class MacroQuantError(Exception):
    """Base class for every error MacroQuant raises on purpose."""


class ConfigError(MacroQuantError):
    """A configuration or strategy file is invalid."""

    def __init__(self, path: str, field: str, message: str) -> None:
        self.path = path
        self.field = field
        super().__init__(f"{path}: field '{field}': {message}")


class DatabaseUnavailableError(MacroQuantError):
    """The database cannot be reached (the URL in the message has its password masked)."""


class MigrationError(MacroQuantError):
    """A migration file is malformed, or an applied migration was edited afterwards."""


class DataQualityError(MacroQuantError):
    """The validate stage quarantined rows: the run stops before signals."""


class RiskGateError(MacroQuantError):
    """An order would be created for a date the risk stage has not decided on."""


class PathDependencyError(MacroQuantError):
    """A window cannot be rerun because later, path-dependent state already exists."""


class MissingInputError(MacroQuantError):
    """A stage found that its upstream stage has not produced its input yet."""


class SourceError(MacroQuantError):
    """A data vendor call failed. ``transient`` errors (HTTP 429/5xx, timeouts, connection
    resets) may be retried; the others (bad request, unknown symbol) may not."""

    def __init__(self, source_id: str, message: str, *, transient: bool,
                 status: int | None = None) -> None:
        self.source_id = source_id
        self.transient = transient
        self.status = status
        super().__init__(f"source '{source_id}': {message}")


class MissingCredentialError(MacroQuantError):
    """A source or broker needs a secret that is not set; the message names it."""


class BrokerError(MacroQuantError):
    """A broker call failed or the broker rejected an order (``transient`` as for sources)."""

    def __init__(self, broker: str, message: str, *, transient: bool) -> None:
        self.broker = broker
        self.transient = transient
        super().__init__(f"broker '{broker}': {message}")


class KillSwitchError(MacroQuantError):
    """Trading is halted by the kill switch; only a person can resume it."""


class AuthorizationError(MacroQuantError):
    """A user's role does not allow the action (the attempt is audited)."""


class UsageError(MacroQuantError):
    """A command was given options that do not go together (the message says which)."""
