"""Warnings and errors of the pipeline, written to ``system_logs``."""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from macroquant.security.masking import mask_object, mask_text


def write_system_log(
    conn: psycopg.Connection,
    level: str,
    logger: str,
    message: str,
    run_id: str | None = None,
    context: dict[str, object] | None = None,
) -> None:
    """Append one row to ``system_logs``."""
    conn.execute(
        """INSERT INTO system_logs (level, logger, message, run_id, context)
           VALUES (%s, %s, %s, %s, %s)""",
        (level, logger, mask_text(message), run_id, Jsonb(mask_object(context or {}))),
    )
