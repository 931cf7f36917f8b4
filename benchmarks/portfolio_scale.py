"""Whole-book sizing at scale: ``construct`` + ``buffer_targets``, dense (before) vs factor.

Builds its own synthetic book in memory (no database): ``--instruments`` x ``--sessions``
daily returns (5 common factors plus noise, 2 % of instruments listed late, 0.2 % of
returns missing), EWMA volatilities, and ``--strategies`` strategies of which ``--full``
trade every instrument and the rest ``--universe`` each, with signals over the last
``correlation_lookback`` + window sessions (what the portfolio stage reads). One
subprocess per case, so each peak RSS is its own; the sizing then runs once more, untimed,
under ``tracemalloc`` for the peak of its own allocations.

    .venv/bin/python benchmarks/portfolio_scale.py            # the standard suite
    .venv/bin/python benchmarks/portfolio_scale.py --case new --instruments 10000 --window 5

``old`` is the dense construction kept in tests/portfolio/dense_reference.py (its
(strategy x instrument)^2 matrix does not fit in memory at 10,000 instruments, so the suite
runs it at 1,000 and 500 with the universes scaled down alike); ``new`` is
``macroquant.portfolio.construction.construct``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from macroquant.config.settings import PortfolioConfig  # noqa: E402
from macroquant.portfolio.construction import (  # noqa: E402
    ConstructionInputs,
    buffer_targets,
    construct,
)

SEED = 20261208


def synthetic_book(instruments: int, sessions: int, strategies: int, full: int,
                   universe: int, lookback: int, window: int
                   ) -> tuple[ConstructionInputs, list[pd.Timestamp], pd.DataFrame]:
    """Inputs of ``construct``, the window's dates and the window's prices."""
    rng = np.random.default_rng(SEED)
    dates = pd.bdate_range("2020-01-01", periods=sessions)
    symbols = [f"X{i:05d}" for i in range(instruments)]
    factors = rng.normal(0.0, 0.008, (sessions, 5))
    exposure = rng.normal(0.6, 0.5, (5, instruments)) * np.array([[1.0], [0.5], [0.4], [0.3],
                                                                   [0.2]])
    noise = rng.normal(0.0, 1.0, (sessions, instruments)) * rng.uniform(0.005, 0.02,
                                                                         instruments)
    returns = factors @ exposure + noise
    late = rng.random(instruments) < 0.02
    returns[: sessions - lookback // 2, late] = np.nan
    returns[rng.random(returns.shape) < 0.002] = np.nan
    returns = pd.DataFrame(returns, index=dates, columns=symbols)
    volatility = returns.ewm(span=36, min_periods=20).std() * np.sqrt(252)
    prices = 100.0 * (1.0 + returns.fillna(0.0)).cumprod()
    signal_dates = dates[-(lookback + window):]
    universes, strengths = {}, {}
    for s in range(strategies):
        name = f"strategy_{s:02d}"
        members = symbols if s < full else sorted(rng.choice(symbols, universe, replace=False))
        universes[name] = list(members)
        strengths[name] = pd.DataFrame(
            np.clip(rng.normal(0.0, 0.5, (len(signal_dates), len(members))), -1.0, 1.0),
            index=signal_dates, columns=members)
    weights = pd.Series(1.0 / strategies, index=list(universes))
    inputs = ConstructionInputs(strengths=strengths, volatility=volatility, returns=returns,
                                universes=universes, weights=weights)
    window_dates = list(dates[-window:])
    return inputs, window_dates, prices.loc[window_dates]


def size_book(case: str, inputs: ConstructionInputs, dates: list, prices: pd.DataFrame,
              config: PortfolioConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``construct`` (dense or factor) then ``buffer_targets``: buffered quantities and the
    diagnostics."""
    if case == "old":
        from tests.portfolio.dense_reference import dense_construct as sizing
    else:
        sizing = construct
    notional, full, diagnostics = sizing(inputs, dates, capital=1e8, config=config)
    symbols = full.columns
    net = np.zeros((len(dates), len(symbols)))
    for frame in notional.values():   # the pipeline nets the strategies' long rows instead
        np.add.at(net, (slice(None), symbols.get_indexer(frame.columns)),
                  np.nan_to_num(frame.to_numpy(dtype=float)))
    quantity = pd.DataFrame(net, index=full.index, columns=symbols) / prices[symbols]
    lots = pd.Series(1.0, index=symbols)
    previous = pd.Series(0.0, index=symbols)
    book = buffer_targets(quantity, full / prices[symbols], lots, previous,
                          config.buffer_fraction)
    return book, diagnostics


def run_case(args: argparse.Namespace) -> dict:
    """One case in this process: build, time, report peak memory."""
    built = time.perf_counter()
    inputs, dates, prices = synthetic_book(args.instruments, args.sessions, args.strategies,
                                           args.full, args.universe, args.lookback,
                                           args.window)
    built = time.perf_counter() - built
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    config = PortfolioConfig(correlation_lookback=args.lookback,
                             allocation=args.allocation, risk_factors=args.factors)
    start = time.perf_counter()
    book, diagnostics = size_book(args.case, inputs, dates, prices, config)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()                        # again, untimed: the sizing's own allocations
    size_book(args.case, inputs, dates, prices, config)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    last = diagnostics.iloc[-1]
    return {"case": args.case, "instruments": args.instruments, "window": args.window,
            "subsystems": sum(len(u) for u in inputs.universes.values()),
            "build_s": round(built, 1), "sizing_s": round(seconds, 2),
            "peak_rss_gib": round(peak / 2**20, 2), "rss_before_gib": round(before / 2**20, 2),
            "traced_peak_mib": round(traced / 2**20, 1),
            "dm": [round(float(x), 6) for x in diagnostics["diversification_multiplier"]],
            "predicted": [round(float(x), 6) for x in diagnostics["predicted_volatility"]],
            "scale": round(float(last["volatility_scale"]), 6),
            "gross_quantity": float(np.abs(book.to_numpy()).sum())}


# (case, instruments, window, strategies trading everything; None: --full)
SUITE = [("new", 10_000, 1, None), ("new", 10_000, 5, None), ("new", 10_000, 1, 0),
         ("new", 1_000, 5, None), ("old", 1_000, 5, None), ("new", 500, 5, None),
         ("old", 500, 5, None)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["new", "old"], help="one case (default: suite)")
    parser.add_argument("--instruments", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=750)
    parser.add_argument("--strategies", type=int, default=50)
    parser.add_argument("--full", type=int, default=10, help="strategies trading everything")
    parser.add_argument("--universe", type=int, default=400,
                        help="instruments of each other strategy (at 10,000; scaled below)")
    parser.add_argument("--window", type=int, default=1, help="sessions sized")
    parser.add_argument("--lookback", type=int, default=250)
    parser.add_argument("--factors", type=int, default=20)
    parser.add_argument("--allocation", default="hrp")
    args = parser.parse_args()
    if args.case:
        args.universe = max(2, args.universe * args.instruments // 10_000)
        print(json.dumps(run_case(args)))
        return
    results = []
    for case, instruments, window, full in SUITE:
        full = args.full if full is None else full
        command = [sys.executable, __file__, "--case", case, "--instruments", str(instruments),
                   "--window", str(window), "--sessions", str(args.sessions),
                   "--strategies", str(args.strategies), "--full", str(full),
                   "--universe", str(args.universe), "--lookback", str(args.lookback),
                   "--factors", str(args.factors), "--allocation", args.allocation]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{r['case']:>3} {r['instruments']:>6} x {args.sessions} sessions, window "
              f"{r['window']}, {full:>2} full: {r['subsystems']:>7} subsystems, "
              f"sizing {r['sizing_s']:7.2f} s, "
              f"peak RSS {r['peak_rss_gib']:5.2f} GiB (inputs {r['rss_before_gib']:.2f}), "
              f"sizing's peak allocation {r['traced_peak_mib']:7.1f} MiB, "
              f"DM {r['dm'][-1]:.4f}, predicted vol {r['predicted'][-1]:.4f}", flush=True)
    for n in sorted({i for c, i, _, _ in SUITE if c == "old"}):
        old, new = (next(r for r in results if r["case"] == c and r["instruments"] == n
                         and r["window"] == 5) for c in ("old", "new"))
        dm = max(abs(a / b - 1) for a, b in zip(new["dm"], old["dm"], strict=True))
        vol = max(abs(a / b - 1) for a, b in zip(new["predicted"], old["predicted"],
                                                 strict=True))
        print(f"{n} instruments, new vs old over the window: DM within {dm:.2%}, "
              f"scaled ex-ante volatility within {vol:.2%}")


if __name__ == "__main__":
    main()
