"""Benchmark: ``macroquant ingest csv FILE`` end to end on a synthetic bars file.

Workload: a seeded synthetic CSV of N symbols × T consecutive XNYS sessions
(``symbol,date,open,high,low,close,volume,adj_close``; default 1,000 × 2,520 = 2.52 M
rows; every row valid, so all are published). The script starts a throwaway embedded
PostgreSQL (pgserver) in a temporary directory, migrates it, and times:

1. ``ingest_csv`` end to end, and its parts as it reports them: parse (read + as_of),
   stage (register, create instruments, COPY into ``market_data_staging``), validate
   (the validate stage: checks, quarantine, upsert into ``market_data``);
2. optionally (``--reload``) the same file loaded again (idempotent: nothing changes);
3. peer (a): a raw ``COPY … FROM STDIN (FORMAT csv, HEADER)`` of the same file into a bare
   table with no keys or indexes;
4. peer (b): a naive ``cursor.executemany`` INSERT of the first ``--insert-rows`` rows
   (default 100,000) into a table keyed (symbol, date), extrapolated to the full file.

Prints a table of seconds and rows/s, and the process's peak RSS. The data directory and
the file are deleted at the end.

Run: ``.venv/bin/python benchmarks/bench_ingest_csv.py [--symbols 1000 --days 2520]``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from macroquant.calendars import sessions
from macroquant.config.settings import INCLUDE_DIR, Settings
from macroquant.db.migrate import migrate
from macroquant.sources.csv_files import ingest_csv


def write_synthetic_csv(path: Path, symbols: int, days: int, seed: int) -> int:
    """Write N × T random-walk bars (seeded) to ``path``; return the row count."""
    rng = np.random.default_rng(seed)
    dates = sessions(date(2000, 1, 3), date(2024, 12, 31))[:days]
    if len(dates) < days:
        raise SystemExit(f"at most {len(dates)} days are available")
    date_text = np.array([d.isoformat() for d in dates])
    with path.open("w") as handle:
        handle.write("symbol,date,open,high,low,close,volume,adj_close\n")
        for first in range(0, symbols, 100):  # 100 symbols per chunk keeps memory small
            count = min(100, symbols - first)
            steps = rng.normal(0.0, 0.01, size=(count, days))
            close = 100.0 * np.exp(np.cumsum(steps, axis=1))
            open_ = close * np.exp(rng.normal(0.0, 0.003, size=close.shape))
            high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, size=close.shape))
            low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, size=close.shape))
            frame = pd.DataFrame({
                "symbol": np.repeat([f"S{first + i:05d}" for i in range(count)], days),
                "date": np.tile(date_text, count),
                "open": open_.ravel().round(4), "high": high.ravel().round(4),
                "low": low.ravel().round(4), "close": close.ravel().round(4),
                "volume": rng.integers(1_000, 1_000_000, size=count * days),
                "adj_close": (close.ravel() * 0.98).round(4),
            })
            frame.to_csv(handle, header=False, index=False)
    return symbols * days


def raw_copy(url: str, path: Path) -> float:
    """Seconds to COPY the file into a bare table (no keys, no indexes)."""
    with psycopg.connect(url) as conn:
        conn.execute("""CREATE TABLE bench_bare (symbol text, date date, open float8,
                        high float8, low float8, close float8, volume float8,
                        adj_close float8)""")
        tick = time.perf_counter()
        with conn.cursor() as cur, cur.copy(
                "COPY bench_bare FROM STDIN WITH (FORMAT csv, HEADER)") as copy, \
                path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        return time.perf_counter() - tick


def naive_insert(url: str, path: Path, rows: int) -> float:
    """Seconds to executemany-INSERT the first ``rows`` rows into a keyed table."""
    sample = pd.read_csv(path, nrows=rows)
    records = list(sample.itertuples(index=False, name=None))
    with psycopg.connect(url) as conn:
        conn.execute("""CREATE TABLE bench_naive (symbol text, date date, open float8,
                        high float8, low float8, close float8, volume float8,
                        adj_close float8, PRIMARY KEY (symbol, date))""")
        tick = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bench_naive VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                            records)
        conn.commit()
        return time.perf_counter() - tick


def main() -> None:
    """Run the benchmark and print the results table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=1000)
    parser.add_argument("--days", type=int, default=2520)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--insert-rows", type=int, default=100_000)
    parser.add_argument("--reload", action="store_true", help="also time a second load")
    args = parser.parse_args()

    import pgserver

    workdir = Path(tempfile.mkdtemp(prefix="mq-bench-ingest-"))
    server = None
    try:
        csv_path = workdir / "bars.csv"
        tick = time.perf_counter()
        rows = write_synthetic_csv(csv_path, args.symbols, args.days, args.seed)
        print(f"file: {args.symbols} symbols x {args.days} days = {rows:,} rows, "
              f"{csv_path.stat().st_size / 1e6:.0f} MB, written in "
              f"{time.perf_counter() - tick:.1f} s")
        server = pgserver.get_server(workdir / "pgdata", cleanup_mode="delete")
        url = server.get_uri()
        migrate(url)
        settings = Settings(home=workdir, database_url=url,
                            config_path=INCLUDE_DIR / "macroquant.yaml",
                            strategies_dir=INCLUDE_DIR / "strategies",
                            reports_dir=workdir / "reports")

        results: list[tuple[str, int, float]] = []
        tick = time.perf_counter()
        result = ingest_csv(settings, csv_path)
        total = time.perf_counter() - tick
        assert result["published"] == rows and result["quarantined"] == 0, result
        for part, seconds in result["seconds"].items():
            results.append((f"ingest_csv: {part}", rows, seconds))
        results.append(("ingest_csv: end to end", rows, total))
        if args.reload:
            tick = time.perf_counter()
            again = ingest_csv(settings, csv_path)
            results.append(("ingest_csv: reload (unchanged)", rows, time.perf_counter() - tick))
            assert again["published"] == rows
        results.append(("peer: raw COPY into bare table", rows, raw_copy(url, csv_path)))
        subset = min(args.insert_rows, rows)
        seconds = naive_insert(url, csv_path, subset)
        results.append((f"peer: executemany INSERT ({subset:,} rows, measured)", subset,
                        seconds))
        results.append(("peer: executemany INSERT (extrapolated)", rows,
                        seconds * rows / subset))

        print("\n| step | rows | seconds | rows/s |\n|---|---:|---:|---:|")
        for name, count, seconds in results:
            print(f"| {name} | {count:,} | {seconds:.2f} | {count / seconds:,.0f} |")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(f"\npeak RSS of this process: {peak:.2f} GB")
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
