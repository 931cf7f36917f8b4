"""Server-side loading of a bars file into the landing tables ``csv_landing_1`` and
``csv_landing_2`` (``sql/0011``): COPY, on two connections at once, and, only when
PostgreSQL refuses a line, a line-by-line scan that separates malformed rows.

Fast path: the file is split at the line break nearest its middle; its bytes are streamed
unchanged into ``COPY csv_landing_1`` (first part, with the header) on the caller's
connection and ``COPY csv_landing_2`` (second part) on a second connection, in parallel
(PostgreSQL parses the numbers and dates; Python never touches a value; each part is one
backend, so the two use both cores). Rows are numbered in file order: ``line`` is the
row's line in the file (header = line 1), the second part's numbering starting after the
lines of the first (a quoted line break inside a field would shift it, which a bars file
does not have). A file under :data:`SPLIT_MIN_BYTES` is one part.

Slow path (a COPY failed: a wrong field count, a bad date or number): the file is read
with :mod:`csv`, each record is checked the way COPY would check it, the good records are
COPied into ``csv_landing_1`` with their line numbers, and each bad record is returned as a
:class:`MalformedRow` with its line, column and reason, to be quarantined.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
from psycopg import sql

from macroquant.db.connection import connect
from macroquant.sources.csv_files.config import NUMERIC_COLUMNS

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LANDING_TABLES: tuple[str, str] = ("csv_landing_1", "csv_landing_2")
# Below this size one COPY is as fast as two (the second connection costs ~20 ms).
SPLIT_MIN_BYTES = 4 << 20
_CHUNK = 1 << 20
_COPY_ERRORS = (psycopg.errors.DataError, psycopg.errors.BadCopyFileFormat)


@dataclass(frozen=True)
class MalformedRow:
    """One record of the file that cannot be read: its line, what is wrong, its text."""

    line: int
    reason: str
    text: str
    trade_date: date | None


def landing_rows() -> sql.Composable:
    """Both landing tables as one relation (``line, symbol, date, open, …``)."""
    return sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT * FROM {}").format(sql.Identifier(t)) for t in LANDING_TABLES)


def split_offset(path: Path) -> tuple[int, int]:
    """(byte offset where the second part starts, line number of its first line); the
    offset is the file size when the file is one part."""
    size = path.stat().st_size
    if size < SPLIT_MIN_BYTES:
        return size, 0
    with path.open("rb") as handle:
        handle.seek(size // 2)
        handle.readline()
        offset = handle.tell()
        if offset >= size:
            return size, 0
        handle.seek(0)
        lines, remaining = 0, offset
        while remaining:
            block = handle.read(min(_CHUNK * 8, remaining))
            lines += block.count(b"\n")
            remaining -= len(block)
    return offset, lines + 1


def stream_range(copy: psycopg.Copy, path: Path, start: int, stop: int) -> None:
    """Write bytes ``start..stop`` of ``path`` into ``copy`` in 1 MB chunks."""
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = stop - start
        while remaining > 0 and (chunk := handle.read(min(_CHUNK, remaining))):
            copy.write(chunk)
            remaining -= len(chunk)


def _copy_second_part(url: str, path: Path, names: list[str], offset: int, first_line: int,
                      outcome: dict[str, BaseException | None]) -> None:
    """COPY ``path[offset:]`` into ``csv_landing_2`` on its own connection and commit (the
    caller's transaction then reads it). Any error is handed back in ``outcome``."""
    table = LANDING_TABLES[1]
    try:
        with connect(url) as conn:
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))
            conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'line'), %s, false)",
                         (table, first_line))
            statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names)))
            with conn.cursor() as cur, cur.copy(statement) as copy:
                stream_range(copy, path, offset, path.stat().st_size)
            conn.commit()
        outcome["error"] = None
    except BaseException as exc:  # handed to the caller, which re-raises or falls back
        outcome["error"] = exc


def copy_file(conn: psycopg.Connection, url: str, path: Path,
              names: list[str]) -> list[MalformedRow]:
    """Load ``path`` into the landing tables; return the malformed rows (empty on the fast
    path). Runs inside the caller's transaction, which must hold the CSV-load lock; a
    failed fast COPY is rolled back to a savepoint before the slow path runs."""
    first, second = LANDING_TABLES
    conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(sql.Identifier(first)))
    offset, second_line = split_offset(path)
    outcome: dict[str, BaseException | None] = {"error": None}
    worker = None
    if offset < path.stat().st_size:
        worker = threading.Thread(target=_copy_second_part,
                                  args=(url, path, names, offset, second_line, outcome),
                                  name="csv-copy-part-2")
        worker.start()
    else:
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(second)))
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true)").format(
        sql.Identifier(first), sql.SQL(", ").join(map(sql.Identifier, names)))
    first_error: BaseException | None = None
    try:
        with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
            stream_range(copy, path, 0, offset)
    except _COPY_ERRORS as exc:
        first_error = exc
    finally:
        if worker is not None:
            worker.join()
    second_error = outcome["error"]
    if second_error is not None and not isinstance(second_error, _COPY_ERRORS):
        raise second_error
    if first_error is None and second_error is None:
        return []
    conn.execute(sql.SQL("TRUNCATE {}, {}").format(sql.Identifier(first),
                                                   sql.Identifier(second)))
    return _copy_checked(conn, path, names)


def _check_record(record: list[str], names: list[str]) -> tuple[str | None, date | None]:
    """The reason ``record`` is malformed (None if it is fine) and its date if readable."""
    if len(record) != len(names):
        what = "a blank line" if record == [] or record == [""] else f"{len(record)} fields"
        return f"expected {len(names)} fields, found {what}", None
    values = dict(zip(names, record, strict=True))
    text = values["date"].strip()
    trade_date = None
    if text:
        try:
            trade_date = date.fromisoformat(text) if _DATE.match(text) else None
        except ValueError:
            trade_date = None
        if trade_date is None:
            return f"column 'date': {text!r} is not a date (expected YYYY-MM-DD)", None
    for column in (c for c in NUMERIC_COLUMNS if c in values):
        value = values[column].strip()
        if not value:
            continue
        try:
            float(value)
        except ValueError:
            return f"column '{column}': {value!r} is not a number", trade_date
        # An infinity reads (as COPY reads it) and is quarantined by the gate check.
    return None, trade_date


def _copy_checked(conn: psycopg.Connection, path: Path, names: list[str]) -> list[MalformedRow]:
    good = io.StringIO()
    writer = csv.writer(good, lineterminator="\n")
    bad: list[MalformedRow] = []
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for record in reader:
            line = reader.line_num
            reason, trade_date = _check_record(record, names)
            if reason is None:
                writer.writerow([line, *record])
            else:
                bad.append(MalformedRow(line, f"line {line}: {reason}", ",".join(record),
                                        trade_date))
    columns = sql.SQL(", ").join(map(sql.Identifier, ["line", *names]))
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(LANDING_TABLES[0]), columns)
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(good.getvalue())
    return bad


__all__ = ["LANDING_TABLES", "MalformedRow", "copy_file", "landing_rows", "split_offset",
           "stream_range"]
