"""Structured logs: one JSON object per line in ``$MACROQUANT_HOME/logs/macroquant.jsonl``.

Besides the console and the ``system_logs`` table, every record of the ``macroquant`` loggers
(and any other logger at WARNING or above) is written as a JSON line with ``ts`` (UTC ISO
8601), ``level``, ``logger``, ``message``, ``pid``, the ``run_id``/``audit`` extras when a
record carries them, and ``exc`` for a traceback. Messages pass through secret masking
before they are written (:mod:`macroquant.security.masking`). The file rotates at 10 MiB,
keeping 5 old files (``macroquant.jsonl.1`` ...). Ship it with any log collector that reads
JSON lines (Vector, Fluent Bit, Promtail, the Datadog/Elastic agents).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
from datetime import UTC, datetime
from pathlib import Path

from macroquant.config.settings import Settings
from macroquant.security.masking import SecretMaskingFilter, install_secret_masking, mask_object

LOG_FILE_NAME = "macroquant.jsonl"
MAX_BYTES = 10 * 1024 * 1024
BACKUP_COUNT = 5
_EXTRAS = ("run_id", "stage", "audit")


class JsonLinesFormatter(logging.Formatter):
    """Formats a record as one JSON object (no newlines inside)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for name in _EXTRAS:
            if hasattr(record, name):
                entry[name] = mask_object(getattr(record, name))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class _MacroQuantOrWarning(logging.Filter):
    """MacroQuant's own records at any level; other libraries' from WARNING up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("macroquant") or record.levelno >= logging.WARNING


def log_file_path(settings: Settings) -> Path:
    """``$MACROQUANT_HOME/logs/macroquant.jsonl``."""
    return settings.home / "logs" / LOG_FILE_NAME


def configure_file_logging(settings: Settings, level: int = logging.INFO) -> Path:
    """Add the JSON-lines file handler to the root logger (once per file) and secret
    masking to every handler; return the log file's path."""
    path = log_file_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.handlers.RotatingFileHandler) and \
                Path(handler.baseFilename) == path.resolve():
            return path
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8")
    os.chmod(path, 0o600)  # logs may name users and clients: not for other local users
    handler.setLevel(level)
    handler.setFormatter(JsonLinesFormatter())
    handler.addFilter(_MacroQuantOrWarning())
    handler.addFilter(SecretMaskingFilter())
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
        for other in root.handlers:  # keep the console as quiet as it was configured
            if other is not handler and other.level == logging.NOTSET:
                other.setLevel(logging.WARNING)
    install_secret_masking()
    return path


def remove_file_logging(settings: Settings) -> None:
    """Detach and close the handler :func:`configure_file_logging` added (tests)."""
    root = logging.getLogger()
    path = log_file_path(settings).resolve()
    for handler in list(root.handlers):
        if isinstance(handler, logging.handlers.RotatingFileHandler) and \
                Path(handler.baseFilename) == path:
            root.removeHandler(handler)
            handler.close()
