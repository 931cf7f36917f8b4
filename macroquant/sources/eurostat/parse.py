"""Eurostat TSV rows → ``economic_indicators`` rows dated by publication lag."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from macroquant.economics.vendors import empty_observations, observations_with_lag
from macroquant.errors import SourceError
from macroquant.sources.eurostat.config import SOURCE_ID, EurostatSeries

_PERIOD = {"monthly": (re.compile(r"^\d{4}-\d{2}$"), "M"),
           "quarterly": (re.compile(r"^\d{4}-Q[1-4]$"), "Q"),
           "annual": (re.compile(r"^\d{4}$"), "Y")}


def observations(spec: EurostatSeries, frame: pd.DataFrame) -> pd.DataFrame:
    """The one row of ``frame`` matching ``spec.filters`` → one observation per period
    with a value (``:`` in the TSV, None here, has no row)."""
    if frame.empty:
        return empty_observations()
    pattern, freq = _PERIOD[spec.frequency]
    period_columns = [c for c in frame.columns if pattern.match(str(c).strip())]
    if not period_columns:
        raise SourceError(SOURCE_ID, f"{spec.dataset}: no {spec.frequency} period columns in "
                          f"{list(frame.columns)[:6]}", transient=False)
    dims = {str(c).split("\\")[0]: c for c in frame.columns if c not in period_columns}
    match = np.ones(len(frame), dtype=bool)
    for dim, value in spec.filters.items():
        if dim not in dims:
            raise SourceError(SOURCE_ID, f"{spec.dataset}: no dimension {dim!r} (has "
                              f"{', '.join(dims)})", transient=False)
        match &= frame[dims[dim]].astype(str).str.strip().eq(value).to_numpy()
    rows = frame.loc[match]
    if len(rows) != 1:
        raise SourceError(SOURCE_ID, f"{spec.dataset} {spec.filters}: expected one time "
                          f"series, got {len(rows)}", transient=False)
    values = pd.to_numeric(rows.iloc[0][period_columns], errors="coerce").to_numpy(float)
    periods = pd.PeriodIndex([pd.Period(str(c).strip(), freq=freq) for c in period_columns])
    return observations_with_lag(spec.series_id, periods, values, spec.publication_lag_days,
                                 SOURCE_ID)
