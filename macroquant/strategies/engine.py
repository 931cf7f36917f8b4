"""Run many strategies over shared panels: the pure compute of the signals stage.

Features are computed once for the union of what the strategies ask for and handed to each
strategy restricted to its universe's columns. Strategies are independent, so they run on a
thread pool (NumPy and pandas release the GIL in their vectorised kernels). A strategy that
raises is recorded as failed and yields no rows; the others are unaffected.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from macroquant.strategies.base import Strategy, StrategyInputs
from macroquant.strategies.filters import apply_filters
from macroquant.strategies.loader import FilterConfig

SIGNAL_COLUMNS = ["as_of", "instrument", "strength", "direction", "confidence"]


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
