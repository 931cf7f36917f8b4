"""A Parquet cache of the wide price panels, keyed by the version of ``market_data``.

Reading every bar back from PostgreSQL row by row is slow (tuples → Python objects). The
store keeps each panel (trading date × instrument_id, float64) as one Parquet file under
``$MACROQUANT_HOME/feature_store/``; a read is a columnar file read.

The key is a watermark of ``market_data``: its row count and ``max(loaded_at)`` (the
publish sets ``loaded_at`` on every inserted or changed row), so any publish that adds or
changes a bar, and any delete, gives a new key and the next read rebuilds the file. A miss
reads the table with one ``COPY (SELECT …) TO STDOUT`` parsed by Arrow, not a cursor.
Files of older versions are removed when a new one is written.
"""

from __future__ import annotations

import io
import os
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# panel name → SQL expression over market_data
PANELS: dict[str, str] = {
    "close": "close",
    "adjusted": "COALESCE(adj_close, close)",
}


def data_version(conn: psycopg.Connection) -> str:
    """The watermark of ``market_data``: ``<rows>-<max loaded_at in microseconds>``."""
    rows, stamp = conn.execute(
        """SELECT count(*), coalesce(floor(extract(epoch FROM max(loaded_at)) * 1e6), 0)::bigint
           FROM market_data""").fetchone()
    return f"{int(rows)}-{int(stamp)}"


def store_dir(home: Path) -> Path:
    """Where the panels are kept."""
    return Path(home) / "feature_store"


def _read_long(conn: psycopg.Connection) -> pa.Table:
    """Every bar as (instrument_id, trade_date, close, adjusted), through COPY and Arrow."""
    columns = ", ".join(f"{expr} AS {name}" for name, expr in PANELS.items())
    buffer = io.BytesIO()
    query = ("COPY (SELECT instrument_id, trade_date, " + columns +  # noqa: S608 - constants
             " FROM market_data) TO STDOUT WITH (FORMAT csv, HEADER true)")
    with conn.cursor() as cur, cur.copy(query) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    types = {"instrument_id": pa.int32(), "trade_date": pa.date32(),
             **{name: pa.float64() for name in PANELS}}
    return pacsv.read_csv(buffer, convert_options=pacsv.ConvertOptions(column_types=types))


def _wide(long: pd.DataFrame, value: str) -> pd.DataFrame:
    panel = long.pivot(index="trade_date", columns="instrument_id", values=value)
    panel.index = pd.DatetimeIndex(panel.index, name="trade_date")
    panel.columns = panel.columns.astype(str)
    return panel.sort_index(axis=0).sort_index(axis=1, key=lambda c: c.astype(int))


def _write(path: Path, panel: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    pq.write_table(pa.Table.from_pandas(panel), partial)
    os.replace(partial, path)  # readers never see a half-written file


def read_panels(conn: psycopg.Connection, home: Path, end: date | None = None
                ) -> dict[str, pd.DataFrame]:
    """The wide panels (``close``, ``adjusted``: trading date × instrument_id as int),
    from the cache when its version matches ``market_data``, else rebuilt and cached.
    ``end`` keeps dates up to it."""
    version = data_version(conn)
    directory = store_dir(home)
    paths = {name: directory / f"market_data.{name}.{version}.parquet" for name in PANELS}
    if all(p.exists() for p in paths.values()):
        panels = {name: pq.read_table(p).to_pandas() for name, p in paths.items()}
    else:
        long = _read_long(conn).to_pandas()
        panels = {name: _wide(long, name) for name in PANELS}
        for name, panel in panels.items():
            for old in directory.glob(f"market_data.{name}.*.parquet"):
                old.unlink(missing_ok=True)
            _write(paths[name], panel)
    out = {}
    for name, panel in panels.items():
        panel = panel.copy()
        panel.columns = panel.columns.astype(int)
        panel.columns.name = "instrument_id"
        panel.index = pd.DatetimeIndex(panel.index, name="trade_date").as_unit("ns")
        out[name] = panel.loc[: pd.Timestamp(end)] if end is not None else panel
    return out
