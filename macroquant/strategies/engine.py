"""Run many strategies over shared panels: the pure compute of the signals stage.

Features are computed once for the union of what the strategies ask for and handed to each
strategy restricted to its universe's columns. A strategy that raises is recorded as failed
and yields no rows; the others are unaffected.

**Daily runs read only the history they need** (:func:`run_window`). A rule whose output
on a date is a function of that date's features (:func:`strategy_history` is 0) runs on the
window's sessions only, with features computed for those sessions (rolling features from a
trailing slice, recursive filters walked over all history by Numba kernels: see
:func:`macroquant.features.catalog.compute_features`). The decay filter's age of an
unchanged signal is unbounded, but a signal older than ``DECAY_HALF_LIVES`` half-lives is
scaled by less than ``2**-40`` (< 1e-12), so such a job runs ``DECAY_HALF_LIVES × half_life``
more sessions and differs from the full-history result by less than 1e-12. Rules with
state (hysteresis, walk-forward models, macro regimes, custom classes) run over all history.
Threads were measured slower than one thread (pandas holds the GIL between kernels), so
jobs run one after another; ``benchmarks/signals.py`` spreads instrument shards over
processes.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from macroquant.features.catalog import compute_features
from macroquant.strategies.base import Strategy, StrategyInputs, strategy_class
from macroquant.strategies.filters import apply_filters
from macroquant.strategies.loader import FilterConfig

SIGNAL_COLUMNS = ["as_of", "instrument", "strength", "direction", "confidence"]

# Built-ins whose output on a date reads only that date's features (no state, no rolling
# of their own). A strategy may instead declare ``history_sessions() -> int | None``.
POINTWISE_RULES = frozenset({
    ("trend_following", "ewma_crossover"), ("trend_following", "ewma_multi_speed"),
    ("trend_following", "time_series_momentum"), ("trend_following", "sma_crossover"),
    ("mean_reversion", "zscore"),
})
# Half-lives after which a decayed signal is below 2**-40 of its strength.
DECAY_HALF_LIVES = 40


@dataclass(frozen=True)
class StrategyJob:
    """One strategy of a run: its rule, universe (column labels) and post-processing."""

    name: str
    strategy: Strategy
    columns: Sequence[Hashable]
    filters: FilterConfig = field(default_factory=FilterConfig)
    long_only: bool = False


@dataclass(frozen=True)
class RunResult:
    """Long signal rows per strategy that ran, and the error text of each that raised."""

    signals: dict[str, pd.DataFrame]
    errors: dict[str, str]


def strategy_history(strategy: Strategy) -> int | None:
    """Sessions before a date whose features the strategy's output on that date reads;
    ``None`` when it depends on all history (state). A ``history_sessions()`` method on
    the strategy wins; otherwise the exact built-in classes of ``POINTWISE_RULES`` are 0
    and everything else (subclasses included) is ``None``."""
    declared = getattr(strategy, "history_sessions", None)
    if callable(declared):
        return declared()
    key = (strategy.strategy_type, strategy.rule)
    try:
        builtin = strategy_class(*key)
    except KeyError:
        return None
    return 0 if key in POINTWISE_RULES and type(strategy) is builtin else None


def job_history(job: StrategyJob) -> int | None:
    """Sessions before the window the job needs to reproduce its full-history rows (see the
    module docstring for the decay filter's bound); ``None``: all history."""
    history = strategy_history(job.strategy)
    if history is None or job.filters.half_life is None:
        return history
    return history + math.ceil(DECAY_HALF_LIVES * job.filters.half_life)


def signal_rows(strength: pd.DataFrame, confidence: pd.DataFrame,
                window: pd.DatetimeIndex | None) -> pd.DataFrame:
    """Long rows ``as_of, instrument, strength, direction, confidence`` for known strengths
    (inside ``window`` when given)."""
    if window is not None:
        strength, confidence = strength.reindex(window), confidence.reindex(window)
    values = strength.to_numpy(dtype=float)
    rows, cols = np.nonzero(np.isfinite(values))
    level = values[rows, cols]
    conf = confidence.reindex_like(strength).to_numpy(dtype=float)[rows, cols]
    return pd.DataFrame({
        "as_of": strength.index[rows], "instrument": strength.columns[cols],
        "strength": level, "direction": np.sign(level).astype(int),
        "confidence": np.clip(np.nan_to_num(conf, nan=1.0), 0.0, 1.0),
    })


def run_job(job: StrategyJob, features: Mapping[str, pd.DataFrame], macro: pd.DataFrame,
            asset_classes: pd.Series, flagged: pd.DataFrame | None,
            window: pd.DatetimeIndex | None) -> pd.DataFrame:
    """One strategy's filtered signal rows."""
    columns = list(job.columns)
    inputs = StrategyInputs(
        features={n: features[n].reindex(columns=columns)
                  for n in job.strategy.required_features()},
        macro=macro, asset_classes=asset_classes)
    out = job.strategy.generate_signals(inputs)
    strength = out.strength.clip(-1.0, 1.0)
    if job.long_only:
        strength = strength.clip(lower=0.0)
    strength = apply_filters(strength, job.filters, flagged) + 0.0  # -0.0 → 0.0
    return signal_rows(strength, out.confidence, window)


def run_jobs(
    jobs: Sequence[StrategyJob],
    features: Mapping[str, pd.DataFrame],
    *,
    macro: pd.DataFrame | None = None,
    asset_classes: pd.Series | None = None,
    flagged: pd.DataFrame | None = None,
    window: pd.DatetimeIndex | None = None,
    workers: int = 1,
) -> RunResult:
    """Run every job; a job that raises is reported in ``errors`` and yields nothing."""
    macro = pd.DataFrame() if macro is None else macro
    asset_classes = pd.Series(dtype=object) if asset_classes is None else asset_classes

    def one(job: StrategyJob) -> tuple[str, pd.DataFrame | None, str | None]:
        try:
            return job.name, run_job(job, features, macro, asset_classes, flagged, window), None
        except Exception as exc:  # one strategy's bug must not stop the others
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            return job.name, None, detail

    mapper: Callable = map
    if workers > 1 and len(jobs) > 1:
        pool = ThreadPoolExecutor(max_workers=workers)
        mapper = pool.map
    try:
        outcomes = list(mapper(one, jobs))
    finally:
        if workers > 1 and len(jobs) > 1:
            pool.shutdown()
    signals = {name: rows for name, rows, _ in outcomes if rows is not None}
    errors = {name: error for name, _, error in outcomes if error is not None}
    return RunResult(signals=signals, errors=errors)


def run_window(
    jobs: Sequence[StrategyJob],
    raw_close: pd.DataFrame,
    adjusted_close: pd.DataFrame,
    window: pd.DatetimeIndex,
    *,
    bars: Mapping[str, pd.DataFrame] | None = None,
    macro: pd.DataFrame | None = None,
    asset_classes: pd.Series | None = None,
    flagged: pd.DataFrame | None = None,
) -> RunResult:
    """Signal rows of ``window`` (the last sessions of the panels) for every job, reading
    only the history each job needs (see the module docstring): equal to computing the
    features and signals over all history and keeping the window's rows."""
    index = adjusted_close.index
    window_rows = int((index >= window.min()).sum()) if len(window) else 0
    histories = {job.name: job_history(job) for job in jobs}
    bounded = [h for h in histories.values() if h is not None]
    tail_rows = window_rows + max(bounded, default=0)
    needed_tail = {n for job in jobs if histories[job.name] is not None
                   for n in job.strategy.required_features()}
    needed_full = {n for job in jobs if histories[job.name] is None
                   for n in job.strategy.required_features()}
    full = compute_features(needed_full, raw_close, adjusted_close, bars)
    tail = compute_features(needed_tail - needed_full, raw_close, adjusted_close, bars,
                            rows=tail_rows)
    tail.update({n: full[n].iloc[-tail_rows:] for n in needed_tail & needed_full})
    macro = pd.DataFrame() if macro is None else macro
    asset_classes = pd.Series(dtype=object) if asset_classes is None else asset_classes
    signals: dict[str, pd.DataFrame] = {}
    errors: dict[str, str] = {}
    for job in jobs:
        history = histories[job.name]
        if history is None:
            features, job_macro = full, macro
        else:
            rows = min(len(index), window_rows + history)
            features = {n: tail[n].iloc[-rows:] for n in job.strategy.required_features()}
            job_macro = macro.iloc[-rows:] if len(macro) else macro
        try:
            signals[job.name] = run_job(job, features, job_macro, asset_classes, flagged,
                                        window)
        except Exception as exc:  # one strategy's bug must not stop the others
            errors[job.name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return RunResult(signals=signals, errors=errors)
