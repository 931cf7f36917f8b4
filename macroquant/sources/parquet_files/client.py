"""Read and check Parquet files (``pyarrow``); errors name the file, the column and, for
a bad value, the row (0-based, as in the file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from macroquant.errors import MacroQuantError
from macroquant.sources.parquet_files.config import (
    BAR_OPTIONAL,
    BAR_REQUIRED,
    ECON_REQUIRED,
)


class ParquetFormatError(MacroQuantError):
    """A Parquet file's structure or a value in it is wrong; nothing from it is used."""


def _read(path: Path, required: tuple[str, ...], optional: tuple[str, ...]) -> pd.DataFrame:
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ParquetFormatError(f"{path}: cannot read as Parquet: {exc}") from None
    names = list(schema.names)
    missing = [c for c in required if c not in names]
    if missing:
        raise ParquetFormatError(f"{path}: missing column(s) {', '.join(missing)} (has "
                                 f"{', '.join(names)}); expected {', '.join(required)}")
    columns = [c for c in (*required, *optional) if c in names]
    return pq.read_table(path, columns=columns).to_pandas()


def _numbers(path: Path, frame: pd.DataFrame, column: str, *, finite: bool) -> np.ndarray:
    try:
        values = pd.to_numeric(frame[column], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError):
        parsed = pd.to_numeric(frame[column], errors="coerce")
        row = int(np.flatnonzero(parsed.isna() & frame[column].notna())[0])
        raise ParquetFormatError(f"{path}: row {row}, column '{column}': "
                                 f"{frame[column].iloc[row]!r} is not a number") from None
    if finite and not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ParquetFormatError(f"{path}: row {row}, column '{column}': "
                                 f"{values[row]!r} is not a finite number")
    return values


def _dates(path: Path, frame: pd.DataFrame, column: str) -> pd.Series:
    parsed = pd.to_datetime(frame[column], errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ParquetFormatError(f"{path}: row {row}, column '{column}': "
                                 f"{frame[column].iloc[row]!r} is not a date")
    return parsed.dt.tz_localize(None).dt.normalize().astype("datetime64[ns]") \
        if parsed.dt.tz is not None else parsed.dt.normalize().astype("datetime64[ns]")


def _texts(path: Path, frame: pd.DataFrame, column: str) -> pd.Series:
    values = frame[column].astype("string").str.strip()
    empty = (values.isna() | values.eq("")).to_numpy()
    if empty.any():
        raise ParquetFormatError(f"{path}: row {int(np.flatnonzero(empty)[0])}, column "
                                 f"'{column}': empty")
    return values.astype(str)


def read_bars(path: Path) -> pd.DataFrame:
    """Bars: ``symbol`` (str), ``date`` (datetime64), float OHLCV and ``adj_close`` (NaN
    when absent). Prices may be missing (NaN) — the validate stage judges them."""
    frame = _read(path, BAR_REQUIRED, BAR_OPTIONAL)
    out = pd.DataFrame({"symbol": _texts(path, frame, "symbol"),
                        "date": _dates(path, frame, "date")})
    for column in ("open", "high", "low", "close", "adj_close", "volume"):
        out[column] = (_numbers(path, frame, column, finite=False) if column in frame
                       else np.nan)
    return out


def read_vintages(path: Path) -> pd.DataFrame:
    """Economic vintages: ``series_id``, ``date``, ``realtime_start`` (datetime64) and a
    finite ``value``; a realtime_start before its date is an error (look-ahead)."""
    frame = _read(path, ECON_REQUIRED, ())
    out = pd.DataFrame({"series_id": _texts(path, frame, "series_id"),
                        "date": _dates(path, frame, "date"),
                        "realtime_start": _dates(path, frame, "realtime_start"),
                        "value": _numbers(path, frame, "value", finite=True)})
    early = (out["realtime_start"] < out["date"]).to_numpy()
    if early.any():
        row = int(np.flatnonzero(early)[0])
        raise ParquetFormatError(f"{path}: row {row}, column 'realtime_start': "
                                 f"{out['realtime_start'].iloc[row]:%Y-%m-%d} is before the "
                                 f"observation date {out['date'].iloc[row]:%Y-%m-%d}")
    key = ["series_id", "date", "realtime_start"]
    clash = out.duplicated(key, keep=False) & ~out.duplicated([*key, "value"], keep=False)
    if clash.any():
        row = int(np.flatnonzero(clash.to_numpy())[0])
        raise ParquetFormatError(f"{path}: row {row}, column 'value': two different values "
                                 "for the same series_id, date and realtime_start")
    return out.drop_duplicates(key, ignore_index=True)
