"""Benchmark: ``macroquant ingest csv FILE`` vs a raw COPY, and the feature-store read.

Workload: a seeded synthetic panel of N instruments × T consecutive XNYS sessions from
2000-01-03 (``symbol,date,open,high,low,close,volume,adj_close``; random walks with
consistent OHLC: every row passes the gate checks), written to one CSV file. Default
1,000 × 5,000 = 5 M rows (a tenth of the issue's 10,000 × 5,000, to stay within a few
minutes on 2 shared cores).

A private embedded PostgreSQL is started in ``MACROQUANT_HOME`` (a temporary directory),
migrated, and, in the same run:

1. **peer**: ``COPY … FROM STDIN (FORMAT csv, HEADER)`` of the same file into a bare table
   with the primary key (symbol, date) and nothing else — the issue's yardstick — and, for
   honesty about where the speed comes from, the same COPY with the file split over two
   connections exactly as the ingest splits it, and the COPY into a table created in its
   own transaction (which, like the ingest's first load, skips the WAL under the embedded
   server's ``wal_level = minimal``);
2. **ingest**: ``ingest_csv`` end to end into an empty ``market_data`` (two COPYs into the
   landing tables → gate checks → publish, here the bulk append → warning checks → run
   record), timed per part;
3. **read**: the full close + adjusted panels: a plain ``SELECT`` through a cursor and a
   pivot, vs the Parquet store (first read = build, second read = cached).

A checkpoint runs before each timed load, so neither pays for the other's dirty pages.

Run: ``.venv/bin/python benchmarks/ingest.py [--symbols 1000 --days 5000]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg


def write_panel_csv(path: Path, symbols: int, days: int, seed: int) -> int:
    """Write N × T random-walk bars (seeded) to ``path``; return the row count."""
    from macroquant.calendars import sessions

    rng = np.random.default_rng(seed)
    dates = sessions(date(2000, 1, 3), date(2025, 12, 31))[:days]
    if len(dates) < days:
        raise SystemExit(f"at most {len(dates)} days are available")
    date_text = np.array([d.isoformat() for d in dates])
    with path.open("w") as handle:
        handle.write("symbol,date,open,high,low,close,volume,adj_close\n")
        for first in range(0, symbols, 100):
            count = min(100, symbols - first)
            close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (count, days)), axis=1))
            open_ = close * np.exp(rng.normal(0.0, 0.003, close.shape))
            high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, close.shape))
            low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, close.shape))
            pd.DataFrame({
                "symbol": np.repeat([f"S{first + i:05d}" for i in range(count)], days),
                "date": np.tile(date_text, count),
                "open": open_.ravel().round(4), "high": high.ravel().round(4),
                "low": low.ravel().round(4), "close": close.ravel().round(4),
                "volume": rng.integers(1_000, 1_000_000, count * days),
                "adj_close": (close.ravel() * 0.98).round(4),
            }).to_csv(handle, header=False, index=False)
    return symbols * days


# The peer's table: the file's columns and the primary key, nothing else.
_BARE_TABLE = """CREATE TABLE bench_bare (symbol text, date date, open float8, high float8,
                 low float8, close float8, volume float8, adj_close float8,
                 PRIMARY KEY (symbol, date))"""


def _create_bare(conn: psycopg.Connection) -> None:
    conn.execute(_BARE_TABLE)
    conn.commit()
    conn.execute("CHECKPOINT")


def _copy_range(url: str, path: Path, start: int, stop: int, header: bool) -> None:
    from macroquant.sources.csv_files.load import stream_range

    options = "FORMAT csv, HEADER" if header else "FORMAT csv"
    with psycopg.connect(url) as conn, conn.cursor() as cur, cur.copy(
            f"COPY bench_bare FROM STDIN WITH ({options})") as copy:
        stream_range(copy, path, start, stop)


def raw_copy_new_table(url: str, path: Path) -> float:
    """Seconds to create the bare table and COPY the file into it in one transaction (under
    ``wal_level = minimal`` its rows are written without WAL, as the ingest's first load)."""
    from macroquant.sources.csv_files.load import stream_range

    with psycopg.connect(url) as conn:
        conn.execute("CHECKPOINT")
        tick = time.perf_counter()
        conn.execute(_BARE_TABLE)
        with conn.cursor() as cur, cur.copy(
                "COPY bench_bare FROM STDIN WITH (FORMAT csv, HEADER)") as copy:
            stream_range(copy, path, 0, path.stat().st_size)
        conn.commit()
        seconds = time.perf_counter() - tick
        conn.execute("DROP TABLE bench_bare")
        conn.commit()
    return seconds


def raw_copy(url: str, path: Path, parts: int) -> float:
    """Seconds to COPY the file into a bare table keyed (symbol, date), on ``parts`` (1 or
    2) connections split as the ingest splits the file."""
    from macroquant.sources.csv_files.load import split_offset

    size = path.stat().st_size
    offset = split_offset(path)[0] if parts == 2 else size
    with psycopg.connect(url, autocommit=True) as conn:
        _create_bare(conn)
        tick = time.perf_counter()
        workers = [threading.Thread(target=_copy_range, args=(url, path, 0, offset, True))]
        if offset < size:
            workers.append(threading.Thread(target=_copy_range,
                                            args=(url, path, offset, size, False)))
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        seconds = time.perf_counter() - tick
        rows = conn.execute("SELECT count(*) FROM bench_bare").fetchone()[0]
        conn.execute("DROP TABLE bench_bare")
    if not rows:
        raise SystemExit("raw COPY loaded no rows")
    return seconds


def plain_select(url: str) -> float:
    """Seconds to SELECT every bar through a cursor and pivot close/adjusted to wide."""
    from macroquant.db.bulk import read_frame

    tick = time.perf_counter()
    with psycopg.connect(url) as conn:
        bars = read_frame(conn, """SELECT instrument_id, trade_date, close,
                                          COALESCE(adj_close, close) AS adjusted
                                   FROM market_data""")
    for value in ("close", "adjusted"):
        bars.pivot(index="trade_date", columns="instrument_id", values=value).astype(float)
    return time.perf_counter() - tick


def store_read(url: str, home: Path) -> tuple[float, tuple[int, int]]:
    from macroquant.features.store import read_panels

    tick = time.perf_counter()
    with psycopg.connect(url) as conn:
        panels = read_panels(conn, home)
    return time.perf_counter() - tick, panels["close"].shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--days", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="mq_bench_"))
    os.environ["MACROQUANT_HOME"] = str(home)
    os.environ.pop("MACROQUANT_DATABASE_URL", None)
    from macroquant.config.settings import load_settings
    from macroquant.db.connection import database_url, stop_embedded_server
    from macroquant.db.migrate import migrate
    from macroquant.sources.csv_files import ingest_csv

    settings = load_settings()
    path = home / "panel.csv"
    try:
        rows = write_panel_csv(path, args.symbols, args.days, args.seed)
        size = path.stat().st_size / 1e6
        url = database_url(settings)
        migrate(url)
        with psycopg.connect(url) as conn:
            wal_level = conn.execute("SHOW wal_level").fetchone()[0]
        # Each line is printed as soon as it is measured (a long run keeps what it measured).
        print(f"\npanel {args.symbols:,} instruments x {args.days:,} days = {rows:,} rows, "
              f"CSV {size:,.0f} MB\n", flush=True)
        print("| step | seconds | rows/s | vs raw COPY (PK) |\n|---|---:|---:|---:|", flush=True)
        peer = raw_copy(url, path, parts=1)
        print(f"| raw COPY into bare table, PK (symbol, date) | {peer:.2f} | "
              f"{rows / peer:,.0f} | 100 % |", flush=True)
        peer_split = raw_copy(url, path, parts=2)
        print(f"| raw COPY, file split over 2 connections (as ingest) | {peer_split:.2f} | "
              f"{rows / peer_split:,.0f} | {peer / peer_split:.0%} |", flush=True)
        peer_new = raw_copy_new_table(url, path)
        print(f"| raw COPY into a table created in its transaction (wal_level {wal_level}) | "
              f"{peer_new:.2f} | {rows / peer_new:,.0f} | {peer / peer_new:.0%} |", flush=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        tick = time.perf_counter()
        result = ingest_csv(settings, path)
        total = time.perf_counter() - tick
        assert result["published"] == rows and result["quarantined"] == 0, result
        for part, seconds in result["seconds"].items():
            print(f"| ingest csv: {part} | {seconds:.2f} | {rows / seconds:,.0f} | |")
        print(f"| **ingest csv: end to end** | **{total:.2f}** | **{rows / total:,.0f}** | "
              f"**{peer / total:.0%}** |", flush=True)
        # The store first: the plain SELECT holds every row as Python objects (the most
        # memory-hungry step at 50 M rows).
        build_s, shape = store_read(url, home)
        cached_s, _ = store_read(url, home)
        print(f"\n| full panel read ({shape[0]:,} dates x {shape[1]:,} instruments, close + "
              f"adjusted) | seconds |\n|---|---:|")
        print(f"| feature store, first read (COPY → Arrow → Parquet) | {build_s:.2f} |")
        print(f"| feature store, cached (Parquet) | {cached_s:.2f} |", flush=True)
        select_s = plain_select(url)
        print(f"| plain SELECT (cursor) + pivot | {select_s:.2f} |", flush=True)
    finally:
        stop_embedded_server(settings.pgdata_dir)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
