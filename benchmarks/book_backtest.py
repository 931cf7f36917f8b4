"""Benchmark: the book backtest of the demo book over the demo year, next to the daily
pipeline's backfill of the same window (the peer: the same core, driven through
PostgreSQL).

Workload: the shipped strategies (`include/strategies/`, 2 strategies, 11 instruments) and
trading configuration; the bundled real history loaded up to 2012-02-29; the window
2012-03-01..2013-02-28 (250 sessions). A private embedded PostgreSQL is started in a
temporary ``MACROQUANT_HOME``, exactly as ``macroquant`` starts one for a user.

Timed, in this order, each with wall time and process CPU time:

1. ``run backfill`` of the window (all eight stages, writing PostgreSQL);
2. ``run_book_backtest`` of the same window (reads PostgreSQL once, core in memory), run
   twice (the first pays Numba's and pandas' first-call costs);
3. the per-step split of the second backtest (read, signals, portfolio, risk, replay).

Run: ``.venv/bin/python benchmarks/book_backtest.py``.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

START, END = date(2012, 3, 1), date(2013, 2, 28)
STEPS = {
    "read + signals": "generate_signals",
    "portfolio (size_book)": "size_book",
    "risk (decide_limits)": "decide_limits",
    "replay (replay_sessions)": "replay_sessions",
}


def timed(label: str, function, *args, **kwargs):
    """Run ``function``; print its wall and CPU seconds; return its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    print(f"{label:<34} wall {time.perf_counter() - wall:7.2f} s   "
          f"cpu {time.process_time() - cpu:7.2f} s", flush=True)
    return result


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="mq-bench-book-"))
    os.environ["MACROQUANT_HOME"] = str(home)
    from macroquant.backtest.book import run_book_backtest
    from macroquant.config.settings import load_settings
    from macroquant.db.connection import database_url, stop_embedded_server
    from macroquant.db.migrate import migrate
    from macroquant.pipeline.ingest import load_sample_history
    from macroquant.pipeline.runner import run_pipeline

    settings = load_settings()
    try:
        migrate(database_url(settings))
        load_sample_history(settings, end=date(2012, 2, 29))
        print(f"demo book, {START}..{END} (250 sessions), 2 strategies, 11 instruments")
        timed("run backfill (8 stages, PostgreSQL)", run_pipeline, START, END, "bench",
              settings)
        timed("book backtest, first call", run_book_backtest, settings, START, END)
        profile = cProfile.Profile()
        profile.enable()
        timed("book backtest", run_book_backtest, settings, START, END)
        profile.disable()
        stats = pstats.Stats(profile).stats
        for label, name in STEPS.items():
            total = sum(v[3] for k, v in stats.items() if k[2] == name)
            print(f"  {label:<32} {total:7.2f} s (under the profiler)")
    finally:
        stop_embedded_server(settings.pgdata_dir)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
