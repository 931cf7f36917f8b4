"""SMA-crossover backtest: MacroQuant's engine next to vectorbt, same panel, same run.

Workload: a synthetic close panel of N instruments × T business days (geometric random
walks, seeded; :func:`macroquant.backtest.data.synthetic_panels`). For every instrument,
an independent long-only, all-equity portfolio (capital 100,000, 10 bps commission,
fractional shares) trades the SMA 20/100 crossover; a cross seen at day t's close fills at
day t+1's close.

- vectorbt 1.2: ``vbt.MA.run`` (fast, slow), ``ma_crossed_above``/``ma_crossed_below``,
  shifted one bar, ``Portfolio.from_signals(fees=0.001)``, ``final_value()``.
- MacroQuant: ``SmaCrossover.generate`` on the SMA features, long-only full-equity
  weights, and the Numba fill/cash loop with one cash account per instrument
  (``run_independent`` below), final equity per instrument.

Both are timed from the close panel to the final value of every portfolio. Numba
compilation is excluded for both: each engine runs once on a 10 × 300 panel before the
clock starts. The two rules differ in one corner: vectorbt enters only on a cross it has
seen, MacroQuant also when the fast SMA is already above the slow one when both first
exist; final values are compared on the instruments where the two coincide.

    .venv/bin/python benchmarks/backtest.py                       # 1000x5000 and 10000x5000
    .venv/bin/python benchmarks/backtest.py --sizes 100x5000 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np
import pandas as pd

from macroquant.backtest.data import synthetic_panels
from macroquant.backtest.features import compute_backtest_features
from macroquant.backtest.simulate import simulate
from macroquant.backtest.targets import direction_weights, signal_strength
from macroquant.strategies.moving_average import SmaCrossover

CAPITAL = 100_000.0
FEES = 0.001


def run_independent(close: pd.DataFrame, fast: int = 20, slow: int = 100) -> np.ndarray:
    """MacroQuant: final equity of one all-equity portfolio per instrument."""
    strategy = SmaCrossover(SmaCrossover.parameters_model(fast=fast, slow=slow))
    features = compute_backtest_features(strategy.required_features(), close, close)
    strength = signal_strength(strategy.generate(features), long_only=True)
    weights = direction_weights(strength, "equal_weight") * close.shape[1]  # ±1 per column
    values = close.to_numpy()
    result = simulate(weights.to_numpy(), values, values, capital=CAPITAL,
                      commission_rate=FEES, group=np.arange(close.shape[1]),
                      record_positions=False)
    return result.equity[-1]


def run_vectorbt(close: pd.DataFrame, fast: int = 20, slow: int = 100) -> np.ndarray:
    """vectorbt: the same strategy, one portfolio per column (its default)."""
    import vectorbt as vbt

    fast_ma, slow_ma = vbt.MA.run(close, fast), vbt.MA.run(close, slow)
    entries = fast_ma.ma_crossed_above(slow_ma).vbt.fshift(1, fill_value=False)
    exits = fast_ma.ma_crossed_below(slow_ma).vbt.fshift(1, fill_value=False)
    portfolio = vbt.Portfolio.from_signals(close, entries, exits, fees=FEES, init_cash=CAPITAL,
                                           freq="1D")
    return np.asarray(portfolio.final_value())


def comparable_columns(close: pd.DataFrame, fast: int = 20, slow: int = 100) -> np.ndarray:
    """Instruments whose fast SMA is not above the slow one on the first day both exist."""
    fast_ma = close.rolling(fast).mean().iloc[slow - 1]
    slow_ma = close.rolling(slow).mean().iloc[slow - 1]
    return (fast_ma <= slow_ma).to_numpy()


def timed(function, close: pd.DataFrame, repeat: int) -> tuple[float, np.ndarray]:
    best, out = np.inf, None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        out = function(close)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1000x5000", "10000x5000"],
                        help="INSTRUMENTSxDAYS")
    parser.add_argument("--repeat", type=int, default=1, help="best of this many runs")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()

    warm = synthetic_panels(10, 300, args.seed).close
    run_independent(warm)
    run_vectorbt(warm)

    print(f"{'instruments x days':>20} {'macroquant s':>13} {'vectorbt s':>11} "
          f"{'ratio':>6} {'agree':>12} {'max rel diff':>13}")
    for size in args.sizes:
        n, t = (int(x) for x in size.lower().split("x"))
        close = synthetic_panels(n, t, args.seed).close
        ours_s, ours = timed(run_independent, close, args.repeat)
        theirs_s, theirs = timed(run_vectorbt, close, args.repeat)
        same = comparable_columns(close)
        relative = np.abs(ours[same] / theirs[same] - 1.0)
        agree = f"{int((relative <= 1e-6).sum())}/{int(same.sum())}"
        print(f"{n:>9} x {t:<8} {ours_s:>13.3f} {theirs_s:>11.3f} {ours_s / theirs_s:>6.2f} "
              f"{agree:>12} {relative.max():>13.1e}", flush=True)
        del close, ours, theirs
        gc.collect()


if __name__ == "__main__":
    main()
