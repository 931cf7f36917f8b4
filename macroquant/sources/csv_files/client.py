"""Read a bars CSV file into a typed frame (vectorised; no per-row Python).

The file is read in one pass by pandas' C parser with explicit dtypes. Only when that
pass fails is the file read again as text to find the first offending line and column,
so the error can name them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from macroquant.errors import MacroQuantError
from macroquant.sources.csv_files.config import (
    DATE_FORMAT,
    NUMERIC_COLUMNS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
)

# Empty fields and NaN are missing values (PostgreSQL's COPY reads both the same way).
NA_VALUES = ["", "NaN", "nan"]


class CsvFormatError(MacroQuantError):
    """The file's structure is wrong (header, field count, a date or a number): nothing
    is written. The message names the file and, where it applies, the line and column."""


def non_utf8_error(path: Path) -> CsvFormatError:
    """The error for a file that is not UTF-8 text, naming the line of the first bad byte
    (the whole file is read: this is the failure path only)."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return CsvFormatError(f"{path}: line {line}: not UTF-8 text (byte "
                              f"{data[exc.start]:#04x}); save the file as UTF-8")
    return CsvFormatError(f"{path}: not UTF-8 text; save the file as UTF-8")


def read_header(path: Path) -> list[str]:
    """The header's column names; an error if a required column is missing or an unknown
    column is present."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), None)
    except OSError as exc:
        raise CsvFormatError(f"{path}: cannot read the file: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise non_utf8_error(path) from None
    if not header:
        raise CsvFormatError(f"{path}: line 1: the file is empty; a header is required "
                             f"({','.join(REQUIRED_COLUMNS)}[,adj_close])")
    names = [name.strip() for name in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    extra = [c for c in names if c not in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)]
    duplicated = sorted({c for c in names if names.count(c) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unknown column(s) {', '.join(extra)}")
    if duplicated:
        problems.append(f"repeated column(s) {', '.join(duplicated)}")
    if problems:
        raise CsvFormatError(f"{path}: line 1 (header): {'; '.join(problems)}; expected "
                             f"{','.join(REQUIRED_COLUMNS)} and optionally adj_close")
    return names


def _first_bad(values: pd.Series, parsed: pd.Series) -> int | None:
    """Position of the first non-empty value that failed to parse, if any."""
    bad = parsed.isna() & values.notna() & values.str.strip().ne("")
    positions = np.flatnonzero(bad.to_numpy())
    return int(positions[0]) if len(positions) else None


def _diagnose(path: Path, names: list[str]) -> CsvFormatError:
    """Re-read the file as text and name the first unparseable number."""
    text = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    text.columns = names
    for column in (c for c in NUMERIC_COLUMNS if c in names):
        values = text[column].str.strip()
        lowered = values.str.lower()
        parsed = pd.to_numeric(values.where(~lowered.isin(["nan"]), ""),
                               errors="coerce")
        position = _first_bad(values, parsed)
        if position is not None:
            return CsvFormatError(f"{path}: line {position + 2}, column '{column}': "
                                  f"{text[column].iloc[position]!r} is not a number")
    return CsvFormatError(f"{path}: the file could not be parsed")


def read_bars_file(path: Path) -> pd.DataFrame:
    """Check and read ``path`` into a frame: ``symbol`` (str), ``date`` (datetime64), the numeric
    columns (float64, NaN where empty) and ``line`` (the 1-based line in the file)."""
    path = Path(path)
    names = read_header(path)
    dtypes: dict[str, object] = {c: "float64" for c in NUMERIC_COLUMNS if c in names}
    dtypes.update(symbol=str, date=str)
    try:
        frame = pd.read_csv(path, header=0, names=names, dtype=dtypes, engine="c",
                            skip_blank_lines=False, na_values=NA_VALUES,
                            keep_default_na=False)
    except pd.errors.ParserError as exc:
        detail = str(exc).replace("Error tokenizing data. C error: ", "").strip()
        raise CsvFormatError(f"{path}: {detail}") from exc
    except ValueError as exc:
        raise _diagnose(path, names) from exc
    if "adj_close" not in frame.columns:
        frame["adj_close"] = np.nan
    frame["line"] = np.arange(2, len(frame) + 2, dtype=np.int64)

    symbols = frame["symbol"]
    empty = symbols.isna() | symbols.str.strip().eq("")
    if empty.any():
        line = int(frame["line"].to_numpy()[np.flatnonzero(empty.to_numpy())[0]])
        raise CsvFormatError(f"{path}: line {line}, column 'symbol': empty symbol "
                             "(a blank line also reads as one)")
    frame["symbol"] = symbols.str.strip()

    raw_dates = frame["date"]
    dates = pd.to_datetime(raw_dates, format=DATE_FORMAT, errors="coerce")
    bad = dates.isna().to_numpy()
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise CsvFormatError(f"{path}: line {position + 2}, column 'date': "
                             f"{raw_dates.iloc[position]!r} is not a date (expected YYYY-MM-DD)")
    frame["date"] = dates
    return frame
