"""Argument types and the wall clock shared by the ``macroquant`` command's modules.

The command line is one of the edges where real time enters (the time of a person's
action, for audit rows and the kill switch); logic below it takes the time as an argument.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime


def iso_date(text: str) -> date:
    """An argparse type: a ``YYYY-MM-DD`` date, else a usage error naming the text."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (use YYYY-MM-DD)") from None


def wall_clock() -> datetime:
    """Now, timezone-aware (UTC)."""
    return datetime.now(UTC)
