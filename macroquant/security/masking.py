"""Masking of secrets in log output and in rows written to ``system_logs``.

Two layers:

- *known values*: every secret value registered with :func:`register_secret` (which
  :func:`macroquant.security.secrets.get_secret` does for each value it decrypts) or passed
  explicitly is replaced by ``***`` wherever it appears;
- *patterns*: passwords in database URLs / DSNs (:func:`mask_password`), ``api_key=...``,
  ``token: ...``, ``"password": "..."`` and ``Authorization: Bearer ...`` headers are masked
  even when the value was never registered.

Known values shorter than :data:`MIN_MASKED_LENGTH` characters are not masked by value
(masking every ``1`` in a log would destroy the log and tell an attacker the secret anyway).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

from macroquant.db.connection import mask_password

MASK = "***"
MIN_MASKED_LENGTH = 4

_KEYWORDS = r"(?:api[_-]?key|apikey|access[_-]?key|secret(?:[_-]?key)?|token|access[_-]?token|" \
    r"client[_-]?secret|passw(?:or)?d|pwd|passphrase|private[_-]?key)"
# key=value, key: value, "key": "value", 'key'='value' (value up to a delimiter)
_KEY_VALUE = re.compile(
    rf"""(?P<prefix>(?P<q1>["']?)\b{_KEYWORDS}(?P=q1)\s*[:=]\s*(?P<q2>["'])?)"""
    rf"""(?P<value>(?(q2)[^"'\r\n]+|[^\s,;&"'}}\])]+))""",
    re.IGNORECASE,
)
_AUTH_HEADER = re.compile(
    r"(?P<prefix>\bAuthorization\s*[:=]\s*[\"']?(?:Bearer|Basic|Token|Bot)\s+)(?P<value>[^\s\"',;]+)",
    re.IGNORECASE,
)
_BARE_BEARER = re.compile(r"(?P<prefix>\bBearer\s+)(?P<value>[A-Za-z0-9\-._~+/]{8,}=*)")

_registry: set[str] = set()
_registry_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember ``value`` so every later :func:`mask_text` call and log record masks it."""
    if value and len(value) >= MIN_MASKED_LENGTH:
        with _registry_lock:
            _registry.add(value)


def registered_secrets() -> frozenset[str]:
    """The values registered so far in this process."""
    with _registry_lock:
        return frozenset(_registry)


def clear_registered_secrets() -> None:
    """Forget every registered value (tests)."""
    with _registry_lock:
        _registry.clear()


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with known secret values and secret-looking patterns replaced by ``***``.

    ``secrets`` are masked in addition to the values registered with :func:`register_secret`.
    Use it on every message before it is written to ``system_logs`` or to a file.
    """
    if not text:
        return text
    values = {v for v in secrets if v and len(v) >= MIN_MASKED_LENGTH} | registered_secrets()
    # longest first, so a secret containing another secret is masked whole
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    text = mask_password(text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['prefix']}{MASK}", text)
    text = _BARE_BEARER.sub(lambda m: f"{m['prefix']}{MASK}", text)
    return _KEY_VALUE.sub(lambda m: f"{m['prefix']}{MASK}", text)


def mask_object(value: object, secrets: Iterable[str] = ()) -> object:
    """:func:`mask_text` applied to every string inside a JSON-like value (a log ``context``)."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, dict):
        return {k: mask_object(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_object(v, secrets) for v in value]
    return value


class SecretMaskingFilter(logging.Filter):
    """A filter that masks secrets in a record's message, arguments, exception and stack text.

    The record is rewritten in place (``msg`` becomes the masked, fully formatted message and
    ``args`` is emptied), so every handler that sees the record afterwards sees masked text.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Mask these values too."""
        self._secrets.update(v for v in secrets if v and len(v) >= MIN_MASKED_LENGTH)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: mask the pieces instead of failing the log
            message = f"{record.msg} {record.args!r}"
        record.msg = mask_text(message, self._secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text, self._secrets)
            # the formatter uses exc_text when set; drop the live exception so that no
            # handler re-renders it unmasked
            record.exc_info = None
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info, self._secrets)
        return True


_installed: SecretMaskingFilter | None = None


def install_secret_masking(values: Iterable[str] = ()) -> SecretMaskingFilter:
    """Attach one :class:`SecretMaskingFilter` to the root logger and each of its handlers.

    Idempotent: a second call adds ``values`` to the installed filter and attaches it to
    handlers added since. Handlers added to the root logger later need another call (the CLI
    calls this after configuring logging). Returns the filter.
    """
    global _installed
    if _installed is None:
        _installed = SecretMaskingFilter()
    _installed.add(values)
    root = logging.getLogger()
    for target in (root, *root.handlers):
        if _installed not in target.filters:
            target.addFilter(_installed)
    return _installed


def uninstall_secret_masking() -> None:
    """Detach the installed filter from the root logger and its handlers (tests)."""
    global _installed
    if _installed is None:
        return
    root = logging.getLogger()
    for target in (root, *root.handlers):
        target.removeFilter(_installed)
    _installed = None
