"""E-mail a report over SMTP (optional).

Configured from the environment, so no address or password sits in a YAML file in git:

- ``MACROQUANT_SMTP_HOST`` (required to send), ``MACROQUANT_SMTP_PORT`` (default 587),
- ``MACROQUANT_SMTP_FROM`` and ``MACROQUANT_SMTP_TO`` (comma-separated),
- ``MACROQUANT_SMTP_STARTTLS`` (``true``/``false``; default ``true``),
- ``MACROQUANT_SMTP_USER``; its password is the encrypted secret ``smtp_password``
  (``macroquant secrets set smtp_password --stdin``), read only when a user is set.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from macroquant.errors import MacroQuantError, MissingCredentialError

PASSWORD_SECRET = "smtp_password"


class EmailError(MacroQuantError):
    """The report could not be sent (the report itself is kept on disk)."""


class SmtpConfig(BaseModel):
    """Where and how to send."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int = Field(587, gt=0, lt=65536)
    sender: str
    recipients: tuple[str, ...] = Field(min_length=1)
    starttls: bool = True
    user: str | None = None
    timeout_seconds: float = 30.0


def smtp_config_from_env(environ: Mapping[str, str]) -> SmtpConfig:
    """Read :class:`SmtpConfig` from ``environ``; a missing setting is named in the error."""
    missing = [name for name in ("MACROQUANT_SMTP_HOST", "MACROQUANT_SMTP_FROM",
                                 "MACROQUANT_SMTP_TO") if not environ.get(name)]
    if missing:
        raise MissingCredentialError(
            f"e-mail needs {', '.join(missing)} in the environment (see docs/reports.md)")
    starttls = environ.get("MACROQUANT_SMTP_STARTTLS", "true").strip().lower()
    if starttls not in {"true", "false", "1", "0", "yes", "no"}:
        raise EmailError(f"MACROQUANT_SMTP_STARTTLS must be true or false, not '{starttls}'")
    return SmtpConfig(
        host=environ["MACROQUANT_SMTP_HOST"],
        port=int(environ.get("MACROQUANT_SMTP_PORT", "587")),
        sender=environ["MACROQUANT_SMTP_FROM"],
        recipients=tuple(a.strip() for a in environ["MACROQUANT_SMTP_TO"].split(",")
                         if a.strip()),
        starttls=starttls in {"true", "1", "yes"},
        user=environ.get("MACROQUANT_SMTP_USER") or None)


def build_message(config: SmtpConfig, subject: str, body: str,
                  attachments: list[Path]) -> EmailMessage:
    """The message: a plain-text body and the report files attached."""
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = ", ".join(config.recipients)
    message["Subject"] = subject
    message.set_content(body)
    for path in attachments:
        subtype = "pdf" if path.suffix == ".pdf" else "html"
        maintype = "application" if subtype == "pdf" else "text"
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype,
                               filename=path.name)
    return message


def send_message(config: SmtpConfig, message: EmailMessage,
                 password: Callable[[], str] | None = None) -> None:
    """Send over SMTP (STARTTLS when configured, login when a user is set)."""
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds) as smtp:
            if config.starttls:
                smtp.starttls()
            if config.user:
                if password is None:
                    raise MissingCredentialError(
                        f"MACROQUANT_SMTP_USER is set but the secret '{PASSWORD_SECRET}' is "
                        f"not available: macroquant secrets set {PASSWORD_SECRET} --stdin")
                smtp.login(config.user, password())
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise EmailError(f"sending to {config.host}:{config.port} failed: "
                         f"{type(exc).__name__}: {exc}") from exc
    if refused:
        raise EmailError(f"the server refused recipients: {sorted(refused)}")
