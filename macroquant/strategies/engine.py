"""Run many strategies over shared panels: the pure compute of the signals stage.

Features are computed once for the union of what the strategies ask for and handed to each
strategy restricted to its universe's columns. A strategy that raises is recorded as failed
and yields no rows; the others are unaffected.

**Daily runs read only the history they need** (:func:`run_window`):

- A rule whose output on a date is a function of that date's features
  (:func:`strategy_history` is 0) runs on the window's sessions only, with features
  computed for those sessions (rolling features from a trailing slice, recursive filters
  walked over all history by Numba kernels: see
  :func:`macroquant.features.catalog.compute_features`).
- A rule whose only state is a position held until an exit (``HOLDING_RULES``: Donchian,
  RSI, Bollinger; see :mod:`macroquant.strategies.positions`) runs on a trailing slice
  three times, starting long, flat and short. The run over all history reached the slice's
  first date in one of these positions and then saw the same inputs, so where the three
  agree they equal it (proved per instrument, not assumed); instruments where they differ
  are rerun with twice the history, up to all of it.
- The decay filter's age of an unchanged signal is unbounded, but an age of
  :func:`decay_history` sessions already makes the result independent of older history:
  with a minimum strength ``m``, ``|s| * 0.5 ** (age / h) < m`` once ``age > h *
  log2(1 / m)``, so the signal is exactly 0 either way; without one, a signal older than
  ``DECAY_HALF_LIVES`` half-lives is scaled by less than ``2**-40`` (< 1e-12).
- Other rules with state (walk-forward models, macro regimes, custom classes) run over
  all history.

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
from macroquant.strategies.base import SignalFrame, Strategy, StrategyInputs, strategy_class
from macroquant.strategies.filters import apply_filters
from macroquant.strategies.loader import FilterConfig
from macroquant.strategies.positions import POSITIONS, starting_position

SIGNAL_COLUMNS = ["as_of", "instrument", "strength", "direction", "confidence"]

# Built-ins whose output on a date reads only that date's features (no state, no rolling
# of their own). A strategy may instead declare ``history_sessions() -> int | None``.
POINTWISE_RULES = frozenset({
    ("trend_following", "ewma_crossover"), ("trend_following", "ewma_multi_speed"),
    ("trend_following", "time_series_momentum"), ("trend_following", "sma_crossover"),
    ("mean_reversion", "zscore"),
})
# Built-ins whose only state is one ``hold_until_exit`` over conditions on that date's
# features (see the module docstring).
HOLDING_RULES = frozenset({
    ("trend_following", "donchian_breakout"), ("mean_reversion", "rsi"),
    ("mean_reversion", "bollinger"),
})
# Sessions of history a holding rule is first run on (doubled where not proven).
HOLD_PROBE_SESSIONS = 126
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


def holds_position(strategy: Strategy) -> bool:
    """True for the exact built-in classes of ``HOLDING_RULES`` (not subclasses, not a
    strategy declaring ``history_sessions``)."""
    if callable(getattr(strategy, "history_sessions", None)):
        return False
    key = (strategy.strategy_type, strategy.rule)
    return key in HOLDING_RULES and type(strategy) is strategy_class(*key)


def decay_history(filters: FilterConfig) -> int:
    """Sessions of signal history before a date that the decay filter needs there (see the
    module docstring): exact with a minimum strength, within 1e-12 without one."""
    if filters.half_life is None:
        return 0
    within = math.ceil(DECAY_HALF_LIVES * filters.half_life)
    if filters.min_strength <= 0:
        return within
    # one session past h * log2(1 / m): 0.5 ** (age / h) <= m * 0.5 ** (1 / h) < m
    exact = math.ceil(filters.half_life * math.log2(1.0 / filters.min_strength)) + 1
    return min(exact, within)


def job_history(job: StrategyJob) -> int | None:
    """Sessions before the window the job needs to reproduce its full-history rows (see the
    module docstring for the decay filter's bound); ``None``: all history (a holding rule
    then proves a shorter slice exact instance by instance, see :func:`run_window`)."""
    history = strategy_history(job.strategy)
    return None if history is None else history + decay_history(job.filters)


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


def _window_rows(index: pd.Index, window: pd.DatetimeIndex | None) -> int | None:
    """Rows of ``index`` (sorted) from the window's first date on; ``None``: all of them."""
    if window is None or not index.is_monotonic_increasing:
        return None
    if not len(window):
        return 0
    return len(index) - int(index.searchsorted(window.min(), side="left"))


def _generate(job: StrategyJob, features: Mapping[str, pd.DataFrame], macro: pd.DataFrame,
              asset_classes: pd.Series, columns: Sequence[Hashable]) -> SignalFrame:
    """The rule's raw output for ``columns`` (clipping and filters come after)."""
    inputs = StrategyInputs(
        features={n: features[n].reindex(columns=columns)
                  for n in job.strategy.required_features()},
        macro=macro, asset_classes=asset_classes)
    return job.strategy.generate_signals(inputs)


def _filtered_rows(job: StrategyJob, out: SignalFrame, flagged: pd.DataFrame | None,
                   window: pd.DatetimeIndex | None) -> pd.DataFrame:
    """Clip, filter and keep the window's rows of a rule's output. The filters produce
    only the window's rows (the decay's ages still read all of ``out``)."""
    values = np.asfortranarray(out.strength.to_numpy(dtype=np.float64))
    values = np.clip(values, 0.0 if job.long_only else -1.0, 1.0)
    strength = pd.DataFrame(values, index=out.strength.index, columns=out.strength.columns,
                            copy=False)
    keep = _window_rows(strength.index, window)
    strength = apply_filters(strength, job.filters, flagged, keep) + 0.0  # -0.0 → 0.0
    return signal_rows(strength, out.confidence, window)


def run_job(job: StrategyJob, features: Mapping[str, pd.DataFrame], macro: pd.DataFrame,
            asset_classes: pd.Series, flagged: pd.DataFrame | None,
            window: pd.DatetimeIndex | None) -> pd.DataFrame:
    """One strategy's filtered signal rows over all the rows of ``features``."""
    out = _generate(job, features, macro, asset_classes, list(job.columns))
    return _filtered_rows(job, out, flagged, window)


def _agreeing_columns(runs: Sequence[SignalFrame], rows: int) -> np.ndarray:
    """Per column, whether every run has the same strength and confidence (NaN equal to
    NaN) on the last ``rows`` rows."""
    same = np.ones(runs[0].strength.shape[1], dtype=bool)
    for part in ("strength", "confidence"):
        first = getattr(runs[0], part).to_numpy(dtype=np.float64)[-rows:]
        for run in runs[1:]:
            other = getattr(run, part).to_numpy(dtype=np.float64)[-rows:]
            equal = (first == other) | (np.isnan(first) & np.isnan(other))
            same &= equal.all(axis=0)
    return same


def _held_signals(job: StrategyJob, features: Mapping[str, pd.DataFrame], total: int,
                  needed_rows: int, recompute: Callable[[int, list], Mapping[str, pd.DataFrame]],
                  asset_classes: pd.Series) -> SignalFrame:
    """The last ``needed_rows`` rows of a holding rule's output over all ``total`` sessions
    of history, from trailing slices proved long enough instrument by instrument (see the
    module docstring): first ``features``, then ``recompute(rows, columns)`` with twice the
    rows for the instruments not yet proved, until the slice is all history (run flat, as
    the full-history reference does)."""
    pending = list(job.columns)
    strengths: list[pd.DataFrame] = []
    confidences: list[pd.DataFrame] = []
    while pending:
        rows = len(next(iter(features.values())).index)
        if rows >= total:
            out = _generate(job, features, pd.DataFrame(), asset_classes, pending)
            strengths.append(out.strength.iloc[-needed_rows:])
            confidences.append(out.confidence.iloc[-needed_rows:])
            break
        runs = []
        for position in POSITIONS:
            with starting_position(position):
                runs.append(_generate(job, features, pd.DataFrame(), asset_classes, pending))
        proved = _agreeing_columns(runs, needed_rows)
        flat = runs[POSITIONS.index(0.0)]
        strengths.append(flat.strength.iloc[-needed_rows:, proved])
        confidences.append(flat.confidence.iloc[-needed_rows:, proved])
        pending = [c for c, ok in zip(pending, proved, strict=True) if not ok]
        if pending:
            features = recompute(min(2 * rows, total), pending)
    columns = list(job.columns)
    return SignalFrame(strength=pd.concat(strengths, axis=1).reindex(columns=columns),
                       confidence=pd.concat(confidences, axis=1).reindex(columns=columns))


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
    total = len(index)
    window_rows = int((index >= window.min()).sum()) if len(window) else 0
    histories = {job.name: job_history(job) for job in jobs}
    held = {job.name for job in jobs
            if histories[job.name] is None and holds_position(job.strategy)}
    # rows of history first tried: a holding rule's probe, or what a pointwise rule reads
    tried = {job.name: (HOLD_PROBE_SESSIONS + decay_history(job.filters)
                        if job.name in held else histories[job.name]) for job in jobs}
    bounded = [h for h in tried.values() if h is not None]
    tail_rows = window_rows + max(bounded, default=0)
    needed_tail = {n for job in jobs if tried[job.name] is not None
                   for n in job.strategy.required_features()}
    needed_full = {n for job in jobs if tried[job.name] is None
                   for n in job.strategy.required_features()}
    full = compute_features(needed_full, raw_close, adjusted_close, bars)
    tail = compute_features(needed_tail - needed_full, raw_close, adjusted_close, bars,
                            rows=tail_rows)
    tail.update({n: full[n].iloc[-tail_rows:] for n in needed_tail & needed_full})
    macro = pd.DataFrame() if macro is None else macro
    asset_classes = pd.Series(dtype=object) if asset_classes is None else asset_classes

    def recompute_for(job: StrategyJob) -> Callable[[int, list], Mapping[str, pd.DataFrame]]:
        def recompute(rows: int, columns: list) -> Mapping[str, pd.DataFrame]:
            part = None if bars is None else {k: v[columns] for k, v in bars.items()}
            return compute_features(job.strategy.required_features(), raw_close[columns],
                                    adjusted_close[columns], part, rows=rows)
        return recompute

    signals: dict[str, pd.DataFrame] = {}
    errors: dict[str, str] = {}
    for job in jobs:
        history = tried[job.name]
        rows = total if history is None else min(total, window_rows + history)
        features = full if history is None else {
            n: tail[n].iloc[-rows:] for n in job.strategy.required_features()}
        try:
            if job.name in held:
                needed = max(1, min(total, window_rows + decay_history(job.filters)))
                out = _held_signals(job, features, total, needed, recompute_for(job),
                                    asset_classes)
                signals[job.name] = _filtered_rows(job, out, flagged, window)
            else:
                job_macro = macro.iloc[-rows:] if len(macro) and history is not None else macro
                signals[job.name] = run_job(job, features, job_macro, asset_classes, flagged,
                                            window)
        except Exception as exc:  # one strategy's bug must not stop the others
            errors[job.name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return RunResult(signals=signals, errors=errors)
