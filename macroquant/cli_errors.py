"""How the ``macroquant`` command reports an error it did not expect: one line that says
what went wrong (secrets masked), the traceback only on request (``--debug``)."""

from __future__ import annotations

import sys
import traceback

import psycopg

from macroquant.errors import MacroQuantError
from macroquant.security.masking import mask_text

DEBUG_HINT = "run again with --debug (or MACROQUANT_DEBUG=1) for the traceback"


def one_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, masked, prefixed by what kind of error it is."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, MacroQuantError):
        return mask_text(first)
    if isinstance(exc, psycopg.OperationalError):
        kind = "database error"
    elif isinstance(exc, psycopg.Error):
        kind = f"database error ({type(exc).__name__})"
    elif isinstance(exc, OSError) and exc.filename:
        return mask_text(f"{exc.strerror or type(exc).__name__}: {exc.filename}")
    else:
        kind = type(exc).__name__
    return mask_text(f"{kind}: {first}" if first else kind)


def report_error(exc: BaseException, debug: bool) -> int:
    """Print ``exc`` for a user (masked traceback first with ``debug``); return exit code 1."""
    if debug:
        print(mask_text("".join(traceback.format_exception(exc))), file=sys.stderr, end="")
        print(f"error: {one_line(exc)}", file=sys.stderr)
    else:
        print(f"error: {one_line(exc)} ({DEBUG_HINT})", file=sys.stderr)
    return 1
