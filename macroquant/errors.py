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
