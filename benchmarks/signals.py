"""Benchmark: the daily signal stage's compute for 50 strategies over a large universe.

Sizes (defaults): 50 strategies × 10,000 instruments × 5,040 sessions (20 years) of
synthetic random-walk closes; the window is the last session (a daily run). Measured:
compute only — ``macroquant.strategies.engine.run_window`` (the features the jobs need,
each over only the history it needs; every strategy's ``generate`` and filters; the long
signal rows of the window). Not included: reading market data from PostgreSQL and writing
the rows.

The instruments are processed in shards of columns (every built-in is column-independent),
which bounds memory, spread over ``--workers`` processes (fork; each builds its own shard's
synthetic closes, whose time is reported separately). The peer, in the same run, is the
previous full-history path (``compute_features`` over all history + ``run_jobs``) on the
first ``--peer-shards`` shards, one process, next to the new path on the same shards; the
two paths' rows must match and their largest strength difference is printed.

    .venv/bin/python benchmarks/signals.py [--instruments 10000] [--days 5040] \
        [--strategies 50] [--shard 1000] [--workers 2] [--peer-shards 1] [--mix all]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time

import numpy as np
import pandas as pd

from macroquant.features.catalog import compute_features
from macroquant.strategies.base import Strategy
from macroquant.strategies.builtin import (
    EwmaCrossover,
    EwmaCrossoverParameters,
    ZScoreParameters,
    ZScoreReversion,
)
from macroquant.strategies.engine import (
    RunResult,
    StrategyJob,
    holds_position,
    run_jobs,
    run_window,
    strategy_history,
)
from macroquant.strategies.loader import FilterConfig
from macroquant.strategies.mean_reversion import (
    BollingerParameters,
    BollingerReversion,
    RsiParameters,
    RsiReversion,
)
from macroquant.strategies.trend import (
    DonchianBreakout,
    DonchianParameters,
    MomentumParameters,
    TimeSeriesMomentum,
)

FILTERS = FilterConfig(min_strength=0.05, half_life=20)


def fifty_strategies(count: int, mix: str = "all") -> list[Strategy]:
    """A realistic mix: parameter variations of six rule families (``mix='pointwise'``:
    only the three stateless families)."""
    makers = [
        lambda k: EwmaCrossover(EwmaCrossoverParameters(fast_span=(8, 16, 32)[k % 3],
                                                        slow_span=(32, 64, 128)[k % 3] * 2
                                                        if k % 2 else (32, 64, 128)[k % 3])),
        lambda k: ZScoreReversion(ZScoreParameters(window=(10, 20, 40)[k % 3])),
        lambda k: TimeSeriesMomentum(MomentumParameters(lookback=(63, 126, 252)[k % 3])),
        lambda k: DonchianBreakout(DonchianParameters(entry_window=(20, 55, 100)[k % 3],
                                                      exit_window=(10, 20, 20)[k % 3])),
        lambda k: BollingerReversion(BollingerParameters(window=(20, 40)[k % 2],
                                                         entry_band=2.0 + 0.5 * (k % 3))),
        lambda k: RsiReversion(RsiParameters(period=(7, 14, 21)[k % 3])),
    ]
    if mix == "pointwise":
        makers = makers[:3]
    return [makers[i % len(makers)](i // len(makers)) for i in range(count)]


def synthetic_closes(days: int, instruments: int, seed: int, first: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0002, 0.012, (days, instruments))
    index = pd.bdate_range("2005-01-03", periods=days)
    return pd.DataFrame(100.0 * np.exp(np.cumsum(steps, axis=0)), index=index,
                        columns=range(first, first + instruments))


def _jobs(strategies: list[Strategy], columns: list) -> list[StrategyJob]:
    return [StrategyJob(f"s{i}", s, columns, FILTERS) for i, s in enumerate(strategies)]


def window_shard(task: tuple[list[Strategy], int, int, int]) -> tuple[int, float, float, int]:
    """New path on one shard: (signal rows, data seconds, compute seconds, peak RSS kB)."""
    strategies, days, first, width = task
    t0 = time.perf_counter()
    closes = synthetic_closes(days, width, seed=first, first=first)
    t1 = time.perf_counter()
    result = run_window(_jobs(strategies, list(closes.columns)), closes, closes,
                        closes.index[-1:])
    t2 = time.perf_counter()
    assert not result.errors, result.errors
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return sum(len(r) for r in result.signals.values()), t1 - t0, t2 - t1, rss


def full_history_shard(strategies: list[Strategy], closes: pd.DataFrame) -> tuple[RunResult,
                                                                                   float]:
    """The previous path: features over all history, every rule over all history."""
    t0 = time.perf_counter()
    needed = set().union(*(s.required_features() for s in strategies))
    features = compute_features(needed, closes, closes)
    result = run_jobs(_jobs(strategies, list(closes.columns)), features,
                      window=closes.index[-1:])
    assert not result.errors, result.errors
    return result, time.perf_counter() - t0


def largest_difference(one: RunResult, other: RunResult) -> float:
    """Largest |strength| difference between two runs' rows (which must be the same)."""
    worst = 0.0
    for name, rows in one.signals.items():
        theirs = other.signals[name]
        assert rows[["as_of", "instrument", "direction"]].equals(
            theirs[["as_of", "instrument", "direction"]]), name
        gap = np.abs(rows["strength"].to_numpy() - theirs["strength"].to_numpy())
        worst = max(worst, float(gap.max(initial=0.0)))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instruments", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=5_040)
    parser.add_argument("--strategies", type=int, default=50)
    parser.add_argument("--shard", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--peer-shards", type=int, default=1)
    parser.add_argument("--mix", choices=("all", "pointwise"), default="all")
    args = parser.parse_args()
    strategies = fifty_strategies(args.strategies, args.mix)
    stateful = sum(strategy_history(s) is None for s in strategies)
    holding = sum(strategy_history(s) is None and holds_position(s) for s in strategies)
    needed = set().union(*(s.required_features() for s in strategies))
    print(f"{args.strategies} strategies ({stateful} stateful, {holding} of them holding rules "
          f"proved on trailing slices), {len(needed)} "
          f"distinct features, {args.instruments} instruments x {args.days} sessions, "
          f"shards of {args.shard}, {args.workers} processes")
    window_shard((strategies, 300, 0, 4))  # compile / load the Numba kernels
    tasks = [(strategies, args.days, first, min(args.shard, args.instruments - first))
             for first in range(0, args.instruments, args.shard)]
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        outcomes = pool.map(window_shard, tasks, chunksize=1)
    wall = time.perf_counter() - start
    rows = sum(o[0] for o in outcomes)
    data_s, compute_s = sum(o[1] for o in outcomes), sum(o[2] for o in outcomes)
    peak_mb = max(o[3] for o in outcomes) / 1024
    print("| path | instruments | wall s | compute s (sum over processes) | rows |")
    print("|---|---|---|---|---|")
    print(f"| run_window, {args.workers} processes | {args.instruments} | {wall:.1f} | "
          f"{compute_s:.1f} (+ {data_s:.1f} synthetic data) | {rows} |")
    for number in range(min(args.peer_shards, len(tasks))):
        _, days, first, width = tasks[number]
        closes = synthetic_closes(days, width, seed=first, first=first)
        full, full_s = full_history_shard(strategies, closes)
        t0 = time.perf_counter()
        new = run_window(_jobs(strategies, list(closes.columns)), closes, closes,
                         closes.index[-1:])
        new_s = time.perf_counter() - t0
        full_rows = sum(len(r) for r in full.signals.values())
        print(f"| full history (previous), 1 process, shard {number} | {width} | "
              f"{full_s:.1f} | {full_s:.1f} | {full_rows} |")
        print(f"| run_window, 1 process, shard {number} | {width} | {new_s:.1f} | "
              f"{new_s:.1f} | {sum(len(r) for r in new.signals.values())} |")
        print(f"shard {number}: largest |strength| difference run_window vs full history: "
              f"{largest_difference(new, full):.1e}")
    print(f"peak memory per process: {peak_mb:.0f} MB; target: wall < 60 s")


if __name__ == "__main__":
    main()
