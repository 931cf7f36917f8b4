"""Benchmark: EWMA crossover + 20-day rolling z-score over a wide price panel.

Workload, per instrument column of a synthetic random-walk close panel (N instruments x T
days, seeded NumPy):

- ``crossover = EWMA(close, span=16) - EWMA(close, span=64)``, recursive EWMA seeded with
  the first value, NaN until ``span`` values were seen (``ewm(adjust=False,
  min_periods=span)``, as ``macroquant.features.indicators.ewma``)
- ``zscore = (close - SMA(close, 20)) / STD(close, 20)`` with the sample standard deviation
  (ddof=1, as ``macroquant.features.indicators.rolling_zscore``)

Approaches timed (best of ``--repeat`` runs each, wall clock):

(a) ``pandas wide``: ``DataFrame.ewm(...).mean()`` and ``DataFrame.rolling(20)`` on the
    date x instrument frame: the layout and the calls MacroQuant's feature functions use
    (checked: (a) equals ``macroquant.features.indicators`` exactly);
(b) ``pandas long groupby``: the same statistics with ``groupby('instrument').ewm()`` /
    ``groupby('instrument').rolling()`` on a long (date, instrument, close) table sorted by
    instrument and date. Only the computation is timed: the long table is built beforehand,
    and the result is not pivoted back to wide inside the timing;
(c) ``TA-Lib per column``: ``talib.EMA``, ``talib.SMA`` and ``talib.STDDEV`` in a Python loop
    over columns (the conversion to a column-major array is timed). ``STDDEV`` is the
    population std; it is scaled by ``sqrt(n / (n - 1))`` to the sample std.

Before anything is timed the results are compared (max abs difference where both sides
are defined, printed as a table; the script fails if a bound is exceeded):

- (b) must equal (a) within 1e-9 on every feature (same pandas kernels, other layout).
- TA-Lib's EMA is seeded with the SMA of the first ``span`` values; MacroQuant's (pandas
  ``adjust=False``) with the first value. Both are NaN for the first ``span - 1`` rows and
  then follow the same recursion, so the gap decays by ``(1 - alpha)`` a row: the
  crossover is asserted only from row ``--ewma-warmup`` (default 1000); the difference
  over all defined rows is printed for information.
- SMA, STD and z-score are also checked against a window-by-window two-pass NumPy
  computation. TA-Lib is within 1e-9 of it; pandas' rolling std is not (see
  ``PANDAS_STD_TOLERANCE``), so pandas' std and z-score are held to 1e-7.

Run: ``.venv/bin/python benchmarks/bench_features.py`` (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import talib
from numpy.lib.stride_tricks import sliding_window_view

from macroquant.features import indicators

FAST_SPAN = 16
SLOW_SPAN = 64
Z_WINDOW = 20
TOLERANCE = 1e-9
# pandas' rolling std updates a running variance as the window slides (add one value, drop
# one). On prices around 100 with a 20-day std often below 1 it drifts up to ~1e-8 (relative)
# from a two-pass computation, so pandas' std and z-score get a looser, stated bound.
PANDAS_STD_TOLERANCE = 1e-7

Features = dict[str, np.ndarray]  # name -> T x N float array (date x instrument)


def random_walk_panel(n_instruments: int, n_days: int, seed: int) -> pd.DataFrame:
    """Closes of ``n_instruments`` geometric random walks (1 % daily vol) from 100."""
    rng = np.random.default_rng(seed)
    log_returns = rng.normal(0.0, 0.01, size=(n_days, n_instruments))
    closes = 100.0 * np.exp(np.cumsum(log_returns, axis=0))
    dates = pd.bdate_range("2000-01-03", periods=n_days, name="date")
    columns = pd.Index([f"I{i:04d}" for i in range(n_instruments)], name="instrument")
    return pd.DataFrame(closes, index=dates, columns=columns)


def to_long(wide: pd.DataFrame) -> pd.DataFrame:
    """The long (date, instrument, close) table a row-per-bar store returns."""
    long = wide.stack().rename("close").reset_index()
    return long.sort_values(["instrument", "date"], ignore_index=True)


# ----------------------------------------------------------------------------- approaches
def pandas_wide(wide: pd.DataFrame) -> Features:
    fast = wide.ewm(span=FAST_SPAN, adjust=False, min_periods=FAST_SPAN).mean()
    slow = wide.ewm(span=SLOW_SPAN, adjust=False, min_periods=SLOW_SPAN).mean()
    rolling = wide.rolling(Z_WINDOW, min_periods=Z_WINDOW)
    mean = rolling.mean()
    std = rolling.std(ddof=1)
    return {
        "crossover": (fast - slow).to_numpy(),
        "sma": mean.to_numpy(),
        "std": std.to_numpy(),
        "zscore": ((wide - mean) / std).to_numpy(),
    }


def pandas_long_groupby(long: pd.DataFrame) -> pd.DataFrame:
    grouped = long.groupby("instrument", sort=False)["close"]
    fast = grouped.ewm(span=FAST_SPAN, adjust=False, min_periods=FAST_SPAN).mean().to_numpy()
    slow = grouped.ewm(span=SLOW_SPAN, adjust=False, min_periods=SLOW_SPAN).mean().to_numpy()
    rolling = grouped.rolling(Z_WINDOW, min_periods=Z_WINDOW)
    mean = rolling.mean().to_numpy()
    std = rolling.std(ddof=1).to_numpy()
    close = long["close"].to_numpy()
    # Row order of groupby results is group by group in first-seen order, which is the
    # long table's own order because it is sorted by instrument, then date.
    return pd.DataFrame(
        {
            "date": long["date"].to_numpy(),
            "instrument": long["instrument"].to_numpy(),
            "crossover": fast - slow,
            "sma": mean,
            "std": std,
            "zscore": (close - mean) / std,
        }
    )


def long_result_to_wide(result: pd.DataFrame, like: pd.DataFrame) -> Features:
    """Pivot (b)'s long output to arrays aligned with the wide panel (untimed)."""
    out = {}
    for name in ("crossover", "sma", "std", "zscore"):
        wide = result.pivot(index="date", columns="instrument", values=name)
        out[name] = wide.reindex(index=like.index, columns=like.columns).to_numpy()
    return out


def talib_per_column(wide: pd.DataFrame) -> Features:
    closes = np.asfortranarray(wide.to_numpy(dtype=np.float64))
    shape = closes.shape
    crossover = np.empty(shape, order="F")
    sma = np.empty(shape, order="F")
    std = np.empty(shape, order="F")
    to_sample_std = np.sqrt(Z_WINDOW / (Z_WINDOW - 1))
    for j in range(shape[1]):
        column = closes[:, j]
        crossover[:, j] = talib.EMA(column, timeperiod=FAST_SPAN) - talib.EMA(
            column, timeperiod=SLOW_SPAN
        )
        sma[:, j] = talib.SMA(column, timeperiod=Z_WINDOW)
        std[:, j] = talib.STDDEV(column, timeperiod=Z_WINDOW, nbdev=1.0) * to_sample_std
    return {"crossover": crossover, "sma": sma, "std": std, "zscore": (closes - sma) / std}


# ----------------------------------------------------------------------------- checks
def two_pass_rolling(wide: pd.DataFrame, chunk: int = 100) -> Features:
    """SMA, sample STD and z-score computed window by window (two-pass): the accuracy
    reference for the rolling statistics. Untimed."""
    closes = wide.to_numpy(dtype=np.float64)
    sma = np.full(closes.shape, np.nan)
    std = np.full(closes.shape, np.nan)
    for j in range(0, closes.shape[1], chunk):
        windows = sliding_window_view(closes[:, j:j + chunk], Z_WINDOW, axis=0)
        sma[Z_WINDOW - 1:, j:j + chunk] = windows.mean(axis=-1)
        std[Z_WINDOW - 1:, j:j + chunk] = windows.std(axis=-1, ddof=1)
    return {"sma": sma, "std": std, "zscore": (closes - sma) / std}


def macroquant_features(wide: pd.DataFrame) -> Features:
    """The project's own feature functions, to show that (a) times what MacroQuant runs."""
    crossover = indicators.ewma(wide, FAST_SPAN) - indicators.ewma(wide, SLOW_SPAN)
    zscore = indicators.rolling_zscore(wide, Z_WINDOW)
    return {"crossover": crossover.to_numpy(), "zscore": zscore.to_numpy()}


def max_abs_diff(a: np.ndarray, b: np.ndarray, first_row: int = 0) -> tuple[float, int]:
    """Max |a - b| over rows >= first_row where both are finite; and the cell count."""
    a, b = a[first_row:], b[first_row:]
    both = np.isfinite(a) & np.isfinite(b)
    if not both.any():
        return float("nan"), 0
    return float(np.max(np.abs(a[both] - b[both]))), int(both.sum())


# (what, reference, feature, first row compared, asserted tolerance or None)
Comparison = tuple[str, str, str, int, float | None]


def comparisons(ewma_warmup: int) -> list[Comparison]:
    checks: list[Comparison] = [
        ("(a) pandas wide", "macroquant", "crossover", 0, TOLERANCE),
        ("(a) pandas wide", "macroquant", "zscore", 0, TOLERANCE),
    ]
    for name in ("crossover", "sma", "std", "zscore"):
        checks.append(("(b) long groupby", "(a) pandas wide", name, 0, TOLERANCE))
    checks += [
        ("(c) TA-Lib", "(a) pandas wide", "crossover", SLOW_SPAN - 1, None),
        ("(c) TA-Lib", "(a) pandas wide", "crossover", ewma_warmup, TOLERANCE),
        ("(c) TA-Lib", "(a) pandas wide", "sma", 0, TOLERANCE),
        ("(c) TA-Lib", "(a) pandas wide", "std", 0, PANDAS_STD_TOLERANCE),
        ("(c) TA-Lib", "(a) pandas wide", "zscore", 0, PANDAS_STD_TOLERANCE),
    ]
    for approach, tolerance in (("(a) pandas wide", PANDAS_STD_TOLERANCE),
                                ("(c) TA-Lib", TOLERANCE)):
        checks.append((approach, "two-pass", "sma", 0, TOLERANCE))
        checks.append((approach, "two-pass", "std", 0, tolerance))
        checks.append((approach, "two-pass", "zscore", 0, tolerance))
    return checks


def check_agreement(results: dict[str, Features], ewma_warmup: int) -> list[str]:
    """Run every comparison; raise AssertionError where a tolerance is exceeded."""
    lines = [f"  {'approach':<18} {'vs':<16} {'feature':<10} {'rows':>7} {'cells':>10} "
             f"{'max|diff|':>10} {'asserted <':>11}"]
    for approach, reference, name, first_row, tolerance in comparisons(ewma_warmup):
        diff, cells = max_abs_diff(results[approach][name], results[reference][name],
                                   first_row)
        limit = f"{tolerance:.0e}" if tolerance is not None else "info only"
        lines.append(f"  {approach:<18} {reference:<16} {name:<10} {f'>={first_row}':>7} "
                     f"{cells:>10,} {diff:>10.2e} {limit:>11}")
        assert cells > 0, f"{approach} vs {reference} {name}: nothing comparable"
        if tolerance is not None:
            assert diff < tolerance, (
                f"{approach} vs {reference} {name}: max abs diff {diff:.3e} >= {tolerance:.0e}"
            )
    return lines


def best_of(function: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


# ----------------------------------------------------------------------------- main
def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        n, _, t = item.strip().lower().partition("x")
        sizes.append((int(n), int(t)))
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100x5000,500x5000",
                        help="comma-separated INSTRUMENTSxDAYS (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per approach")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--ewma-warmup", type=int, default=1000,
                        help="rows skipped before comparing TA-Lib's EMA crossover")
    args = parser.parse_args(argv)

    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"pandas {pd.__version__}, TA-Lib {talib.__version__}, "
          f"{os.cpu_count()} CPUs ({platform.machine()})")
    print(f"workload: EWMA({FAST_SPAN}) - EWMA({SLOW_SPAN}) crossover; "
          f"{Z_WINDOW}-day rolling z-score (sample std); best of {args.repeat}\n")

    rows = []
    for n_instruments, n_days in parse_sizes(args.sizes):
        wide = random_walk_panel(n_instruments, n_days, args.seed)
        long = to_long(wide)
        label = f"{n_instruments} x {n_days}"
        print(f"panel {label} ({n_instruments * n_days:,} cells), seed {args.seed}")

        results = {
            "(a) pandas wide": pandas_wide(wide),
            "(b) long groupby": long_result_to_wide(pandas_long_groupby(long), wide),
            "(c) TA-Lib": talib_per_column(wide),
            "two-pass": two_pass_rolling(wide),
            "macroquant": macroquant_features(wide),
        }
        for line in check_agreement(results, args.ewma_warmup):
            print(line)
        del results

        timings = {
            "(a) pandas wide": best_of(lambda w=wide: pandas_wide(w), args.repeat),
            "(b) pandas long groupby": best_of(lambda lg=long: pandas_long_groupby(lg),
                                               args.repeat),
            "(c) TA-Lib per column": best_of(lambda w=wide: talib_per_column(w), args.repeat),
        }
        baseline = timings["(a) pandas wide"]
        for approach, seconds in timings.items():
            rows.append((label, approach, seconds, seconds / baseline,
                         n_instruments * n_days / seconds / 1e6))
        print()

    print(f"{'panel':<12} {'approach':<26} {'seconds':>9} {'vs (a)':>8} {'M cells/s':>10}")
    for label, approach, seconds, ratio, rate in rows:
        print(f"{label:<12} {approach:<26} {seconds:>9.3f} {ratio:>7.2f}x {rate:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
