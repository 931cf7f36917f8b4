"""Server-side loading of a bars file into the landing tables ``csv_landing_1`` and
``csv_landing_2`` (``sql/0011``): COPY, on two connections at once, and, only when
PostgreSQL refuses a line, a line-by-line scan that separates malformed rows.

Fast path: the file is split at the line break nearest its middle; its bytes are streamed
unchanged into ``COPY csv_landing_1`` (first part, with the header) and ``COPY
csv_landing_2`` (second part), each on a connection of its own that commits, in parallel
(PostgreSQL parses the numbers and dates; Python never touches a value; each part is one
backend, so the two use both cores). Committed, the landing rows can be read by other
connections while the loader's transaction publishes them. Rows are numbered in file
order: ``line`` is the row's line in the file (header = line 1), the second part's
numbering starting after the lines of the first (a quoted line break inside a field would
shift it, which a bars file does not have). A file under :data:`SPLIT_MIN_BYTES` is one part.

Slow path (a COPY failed: a wrong field count, a bad date or number): the file is read
with :mod:`csv`, each record is checked the way COPY would check it, the good records are
COPied into ``csv_landing_1`` with their line numbers, and each bad record is returned as a
:class:`MalformedRow` with its line, column and reason, to be quarantined.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
from psycopg import sql

from macroquant.db.connection import connect
from macroquant.sources.csv_files.client import non_utf8_error
from macroquant.sources.csv_files.config import NUMERIC_COLUMNS

log = logging.getLogger(__name__)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LANDING_TABLES: tuple[str, str] = ("csv_landing_1", "csv_landing_2")
# Below this size one COPY is as fast as two (the second connection costs ~20 ms).
SPLIT_MIN_BYTES = 4 << 20
_CHUNK = 1 << 20


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


class NonIsoDate(Exception):
    """A date field that is not ``YYYY-MM-DD``: COPY would read ``yesterday``, ``now``,
    ``epoch``, ``01/02/2012`` (month first) or ``20120102`` as a date, so such a file
    takes the checked path, where the line is quarantined as malformed."""


class DateFieldCheck:
    """Raises :class:`NonIsoDate` on a line whose ``date`` field (column ``index``) is
    neither empty nor ``YYYY-MM-DD`` (optionally quoted). Fed whole lines, block by block;
    ``skip_header`` ignores the first line. A false alarm (a quoted comma in an earlier
    field) only sends the file to the checked path, which reads it exactly."""

    def __init__(self, index: int, skip_header: bool) -> None:
        self._pattern = re.compile(
            rb"(?:^|\n)(?:[^,\n]*,){%d}"
            rb"(?![ \t]*\"?(?:\d{4}-\d\d-\d\d)?\"?[ \t]*(?:,|\r?\n|\r?$))(?=[^\r\n])"
            % index)
        self._skip = skip_header

    def __call__(self, block: bytes) -> None:
        if self._skip:
            block = block[block.find(b"\n") + 1:] if b"\n" in block else b""
            self._skip = False
        if self._pattern.search(block):
            raise NonIsoDate("a date field is not YYYY-MM-DD")


_COPY_ERRORS = (psycopg.errors.DataError, psycopg.errors.BadCopyFileFormat, NonIsoDate)


def stream_range(copy: psycopg.Copy, path: Path, start: int, stop: int,
                 check: DateFieldCheck | None = None) -> None:
    """Write bytes ``start..stop`` of ``path`` into ``copy`` in 1 MB chunks; ``check``, if
    given, sees the same bytes as whole lines."""
    pending = b""
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = stop - start
        while remaining > 0 and (chunk := handle.read(min(_CHUNK, remaining))):
            if check is not None:
                block = pending + chunk
                cut = block.rfind(b"\n") + 1
                check(block[:cut])
                pending = block[cut:]
            copy.write(chunk)
            remaining -= len(chunk)
    if check is not None and pending:
        check(pending)


def _copy_part(url: str, path: Path, names: list[str], tables: tuple[str, ...],
               span: tuple[int, int], first_line: int,
               outcome: dict[str, BaseException | None]) -> None:
    """COPY bytes ``span`` of ``path`` into ``tables[0]`` (all of ``tables`` are emptied
    first) on its own connection, its rows numbered from ``first_line``, and commit (so the
    caller's transaction, and any other connection, reads them). Any error is handed back
    in ``outcome``."""
    table = tables[0]
    start, stop = span
    options = "FORMAT csv, HEADER true" if start == 0 else "FORMAT csv"
    try:
        with connect(url) as conn:
            conn.execute(sql.SQL("TRUNCATE {}").format(
                sql.SQL(", ").join(map(sql.Identifier, tables))))
            conn.execute("SELECT setval(pg_get_serial_sequence(%s, 'line'), %s, false)",
                         (table, first_line))
            statement = sql.SQL("COPY {} ({}) FROM STDIN WITH ({})").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names)),
                sql.SQL(options))
            check = DateFieldCheck(names.index("date"), skip_header=start == 0)
            with conn.cursor() as cur, cur.copy(statement) as copy:
                stream_range(copy, path, start, stop, check)
            conn.commit()
        outcome["error"] = None
    except BaseException as exc:  # handed to the caller, which re-raises or falls back
        outcome["error"] = exc


def copy_file(conn: psycopg.Connection, url: str, path: Path,
              names: list[str]) -> list[MalformedRow] | None:
    """Load ``path`` into the landing tables. Returns None on the fast path: each part was
    COPied and committed on a connection of its own (other connections can read them;
    the caller empties them, or :func:`empty_landing_tables` after a failure). Otherwise
    returns the malformed rows: a COPY refused a line, so the tables were emptied and the
    readable rows written by the slow path inside the caller's transaction. The caller
    must hold the CSV-load lock."""
    offset, second_line = split_offset(path)
    size = path.stat().st_size
    # A one-part file empties the second table on its COPY connection too: emptied in the
    # caller's transaction it would stay locked against other readers until the commit.
    parts = [(LANDING_TABLES[:1] if offset < size else LANDING_TABLES, (0, offset), 2)]
    if offset < size:
        parts.append((LANDING_TABLES[1:], (offset, size), second_line))
    outcomes: list[dict[str, BaseException | None]] = [{"error": None} for _ in parts]
    workers = [threading.Thread(target=_copy_part, name=f"csv-copy-part-{n + 1}",
                                args=(url, path, names, table, span, line, outcomes[n]))
               for n, (table, span, line) in enumerate(parts)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    errors = [o["error"] for o in outcomes if o["error"] is not None]
    for error in errors:
        if not isinstance(error, _COPY_ERRORS):
            raise error
    if not errors:
        return None
    truncate_landing_tables(conn)
    return _copy_checked(conn, path, names)


def truncate_landing_tables(conn: psycopg.Connection) -> None:
    """Empty both landing tables (and restart their line numbering)."""
    conn.execute(sql.SQL("TRUNCATE {}, {} RESTART IDENTITY").format(
        *map(sql.Identifier, LANDING_TABLES)))


def empty_landing_tables(url: str, lock: str) -> None:
    """After a failed load: empty both landing tables, which the COPY connections had
    committed, unless another load has already taken ``lock`` (it empties them itself).
    Best effort: the next load empties them anyway."""
    try:
        with connect(url) as conn:
            conn.autocommit = True
            if conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (lock,)).fetchone()[0]:
                truncate_landing_tables(conn)
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (lock,))
    except psycopg.Error as exc:
        log.warning("could not empty the landing tables after a failed load: %s", exc)


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
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        try:
            next(reader, None)
            for record in reader:
                line = reader.line_num
                reason, trade_date = _check_record(record, names)
                if reason is None:
                    writer.writerow([line, *record])
                else:
                    bad.append(MalformedRow(line, f"line {line}: {reason}", ",".join(record),
                                            trade_date))
        except UnicodeDecodeError:
            # a symbol read with replacement characters would become a new instrument
            raise non_utf8_error(path) from None
    columns = sql.SQL(", ").join(map(sql.Identifier, ["line", *names]))
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(LANDING_TABLES[0]), columns)
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(good.getvalue())
    return bad


__all__ = ["LANDING_TABLES", "MalformedRow", "copy_file", "empty_landing_tables",
           "landing_rows", "split_offset", "stream_range", "truncate_landing_tables"]
