"""ALFRED vintages → ``economic_indicators`` rows; release metadata → release rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from macroquant.economics.vendors import OBSERVATION_COLUMNS
from macroquant.errors import SourceError
from macroquant.sources.fred.client import FredRelease
from macroquant.sources.fred.config import SOURCE_ID

FRED_OPEN_END = pd.Timestamp("9999-12-31")


def observations_from_vintages(series_id: str, vendor_id: str,
                               vintages: pd.DataFrame) -> pd.DataFrame:
    """One row per (observation, vintage) with ALFRED's ``realtime_start`` kept as is.

    A vintage whose value is FRED's missing marker ``.`` (NaN) has no row: the table holds
    numbers only, so such an observation reads as its previous vintage (documented in
    docs/economic-sources.md). A vintage published before its observation date is a vendor
    error and fails loudly rather than being stored as look-ahead.
    """
    rows = vintages.loc[vintages["value"].notna()]
    early = rows["realtime_start"] < rows["date"]
    if early.any():
        first = rows.loc[early].iloc[0]
        raise SourceError(SOURCE_ID, f"series {vendor_id}: {int(early.sum())} vintages are "
                          f"dated before their observation (first: observation "
                          f"{first['date']:%Y-%m-%d}, realtime_start "
                          f"{first['realtime_start']:%Y-%m-%d})", transient=False)
    out = pd.DataFrame({
        "series_id": series_id,
        "observation_date": rows["date"].to_numpy(dtype="datetime64[ns]"),
        "realtime_start": rows["realtime_start"].to_numpy(dtype="datetime64[ns]"),
        "value": rows["value"].to_numpy(dtype=float),
        "vintage_kind": "vintage",
        "source_id": SOURCE_ID,
    })
    return out[OBSERVATION_COLUMNS].sort_values(["observation_date", "realtime_start"],
                                                ignore_index=True)


def with_realtime_end(observations: pd.DataFrame) -> pd.DataFrame:
    """Add ``realtime_end``: the day before the observation's next vintage, or 9999-12-31
    (ALFRED's open end) for its current one. Same rule as the ``economic_vintages`` view."""
    out = observations.sort_values(["series_id", "observation_date", "realtime_start"],
                                   ignore_index=True)
    following = out.groupby(["series_id", "observation_date"])["realtime_start"].shift(-1)
    # seconds resolution: 9999-12-31 does not fit in nanoseconds
    ended = (following - pd.Timedelta(days=1)).astype("datetime64[s]")
    out["realtime_end"] = ended.fillna(FRED_OPEN_END.as_unit("s"))
    return out


def release_rows(release: FredRelease, dates: list[date]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``economic_releases`` (one row) and ``economic_release_dates`` rows."""
    releases = pd.DataFrame([{"source_id": SOURCE_ID, "release_id": release.id,
                              "name": release.name, "link": release.link}])
    dated = pd.DataFrame({"source_id": SOURCE_ID, "release_id": release.id,
                          "release_date": pd.to_datetime(np.array(sorted(set(dates)),
                                                                  dtype="datetime64[D]"))})
    return releases, dated
