"""BLS records → ``economic_indicators`` rows dated by the series' publication lag."""

from __future__ import annotations

import numpy as np
import pandas as pd

from macroquant.economics.vendors import empty_observations, observations_with_lag
from macroquant.errors import SourceError
from macroquant.sources.bls.client import BlsObservation
from macroquant.sources.bls.config import SOURCE_ID, BlsSeries

# Period codes: M01-M12 months, Q01-Q04 quarters, A01 the year. M13 (annual average) and
# Q05 (annual average of a quarterly series) repeat the year's data and are skipped.
_SKIPPED = {"M13", "Q05", "S03"}


def _period(year: str, code: str, frequency: str) -> pd.Period | None:
    if code in _SKIPPED:
        return None
    kind, number = code[0], int(code[1:])
    if kind == "M" and frequency == "monthly":
        return pd.Period(year=int(year), month=number, freq="M")
    if kind == "Q" and frequency == "quarterly":
        return pd.Period(year=int(year), quarter=number, freq="Q")
    if kind == "A" and frequency == "annual":
        return pd.Period(year=int(year), freq="Y")
    raise SourceError(SOURCE_ID, f"period code {code!r} of {year} does not fit a {frequency} "
                      "series", transient=False)


def observations(spec: BlsSeries, records: list[BlsObservation]) -> pd.DataFrame:
    """Rows of one series: observation = the period's first day, realtime_start = its last
    day + ``publication_lag_days``. A ``-`` value (not available) has no row."""
    periods, values = [], []
    for record in records:
        if record.series_id != spec.bls_id:
            continue
        period = _period(record.year, record.period, spec.frequency)
        if period is None or record.value.strip() in ("-", ""):
            continue
        try:
            values.append(float(record.value.replace(",", "")))
        except ValueError:
            raise SourceError(SOURCE_ID, f"{spec.bls_id} {record.year} {record.period}: "
                              f"value {record.value!r} is not a number",
                              transient=False) from None
        periods.append(period)
    if not periods:
        return empty_observations()
    frame = observations_with_lag(spec.series_id, pd.PeriodIndex(periods),
                                  np.array(values), spec.publication_lag_days, SOURCE_ID)
    return frame.drop_duplicates(["observation_date"], keep="first", ignore_index=True)
