"""World Bank records → ``economic_indicators`` rows dated by publication lag."""

from __future__ import annotations

import numpy as np
import pandas as pd

from macroquant.economics.vendors import empty_observations, observations_with_lag
from macroquant.errors import SourceError
from macroquant.sources.world_bank.client import WdiObservation
from macroquant.sources.world_bank.config import SOURCE_ID, WorldBankSeries


def observations(spec: WorldBankSeries, records: list[WdiObservation]) -> pd.DataFrame:
    """One row per year with a value: observation = 1 January, realtime_start = 31
    December + ``publication_lag_days``. Years without a value (``null``) have no row."""
    kept = [r for r in records if r.value is not None]
    if not kept:
        return empty_observations()
    try:
        periods = pd.PeriodIndex([pd.Period(int(r.date), freq="Y") for r in kept])
    except ValueError:
        bad = next(r.date for r in kept if not r.date.isdigit())
        raise SourceError(SOURCE_ID, f"{spec.indicator} {spec.economy}: date {bad!r} is not "
                          "a year (only annual indicators are supported)",
                          transient=False) from None
    values = np.array([float(r.value) for r in kept])
    return observations_with_lag(spec.series_id, periods, values, spec.publication_lag_days,
                                 SOURCE_ID)
