"""Benchmark: the daily signal stage's compute for 50 strategies over a large universe.

Sizes (defaults): 50 strategies × 10,000 instruments × 5,040 sessions (20 years) of
synthetic random-walk closes. Measured: compute only — the shared features for the union
of what the 50 strategies ask for (computed once), every strategy's ``generate`` and
filters, and the long signal rows of the last session (a daily run). Not included:
reading market data from PostgreSQL and writing the rows (see the stage's own code).

The instruments are processed in shards of columns (every built-in is column-independent),
which bounds memory (one shard's features) and is also the unit a scheduler would spread
over workers. Within a shard the strategies run on a thread pool; the peer measurement in
the same run is the same work on one thread.

    .venv/bin/python benchmarks/signals.py [--instruments 10000] [--days 5040] \
        [--strategies 50] [--shard 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
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
from macroquant.strategies.engine import StrategyJob, run_jobs
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


def fifty_strategies(count: int) -> list[Strategy]:
    """A realistic mix: parameter variations of six rule families."""
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
    return [makers[i % len(makers)](i // len(makers)) for i in range(count)]


def synthetic_closes(days: int, instruments: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0002, 0.012, (days, instruments)).astype(float)
    index = pd.bdate_range("2005-01-03", periods=days)
    return pd.DataFrame(100.0 * np.exp(np.cumsum(steps, axis=0)), index=index,
                        columns=range(instruments))


def run_shard(strategies: list[Strategy], closes: pd.DataFrame, workers: int,
              filters: FilterConfig) -> tuple[int, float, float]:
    """Returns (signal rows, feature seconds, strategy seconds) for one shard."""
    needed = set().union(*(s.required_features() for s in strategies))
    t0 = time.perf_counter()
    features = compute_features(needed, closes, closes)
    t1 = time.perf_counter()
    jobs = [StrategyJob(f"s{i}", s, list(closes.columns), filters)
            for i, s in enumerate(strategies)]
    result = run_jobs(jobs, features, window=closes.index[-1:], workers=workers)
    t2 = time.perf_counter()
    assert not result.errors, result.errors
    return sum(len(r) for r in result.signals.values()), t1 - t0, t2 - t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instruments", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=5_040)
    parser.add_argument("--strategies", type=int, default=50)
    parser.add_argument("--shard", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--peer-shards", type=int, default=1,
                        help="shards also timed on one thread (the peer)")
    args = parser.parse_args()
    strategies = fifty_strategies(args.strategies)
    filters = FilterConfig(min_strength=0.05, half_life=20)
    needed = set().union(*(s.required_features() for s in strategies))
    print(f"{args.strategies} strategies, {len(needed)} distinct features, "
          f"{args.instruments} instruments x {args.days} sessions, shards of {args.shard}")
    # warm-up: compile the Numba kernel outside the timing
    run_shard(strategies, synthetic_closes(300, 4, 0), 1, filters)
    rows = 0
    feature_s = strategy_s = 0.0
    peer = []
    start = time.perf_counter()
    for number, first in enumerate(range(0, args.instruments, args.shard)):
        closes = synthetic_closes(args.days, min(args.shard, args.instruments - first),
                                  seed=first)
        closes.columns = range(first, first + closes.shape[1])
        n, f, s = run_shard(strategies, closes, args.workers, filters)
        rows, feature_s, strategy_s = rows + n, feature_s + f, strategy_s + s
        if number < args.peer_shards:
            peer.append((f + s, sum(run_shard(strategies, closes, 1, filters)[1:])))
    total = time.perf_counter() - start - sum(p[1] for p in peer)
    print(f"signal rows for the last session: {rows}")
    print(f"features (once per shard): {feature_s:7.1f} s")
    print(f"strategies + filters:      {strategy_s:7.1f} s   ({args.workers} threads)")
    print(f"total compute:             {feature_s + strategy_s:7.1f} s   "
          f"(wall incl. synthetic data: {total:.1f} s; target < 60 s)")
    for i, (threaded, single) in enumerate(peer):
        print(f"peer, shard {i}: {args.workers} threads {threaded:.2f} s vs 1 thread "
              f"{single:.2f} s (speed-up {single / threaded:.2f}x)")


if __name__ == "__main__":
    main()
