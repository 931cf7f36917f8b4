"""Normalising economic series for signals: pure functions, no database, no clock.

Apply them to a series *as it was known on a date* (``read_as_of`` or ``snapshot``), never
to today's revised history: each output value then only uses vintages public on that date.
Every transform is trailing (an observation is compared with earlier observations only).

- :func:`yoy_change`: value vs the observation one year earlier (monthly: 12 periods back,
  quarterly: 4, annual: 1, weekly: 52 weeks, daily: 365 calendar days).
- :func:`pop_change` (alias :func:`mom_change`): value vs the previous period (monthly:
  1 month, quarterly: 1 quarter, ...).
- :func:`rolling_zscore`: distance from the trailing mean in trailing standard deviations.
- :func:`release_surprise`: what each observation's latest vintage changed relative to what
  was public the day before that vintage (see its docstring).

Matching is by *date*, not by position: a missing observation gives NaN rather than a
comparison with the wrong period.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

Frequency = Literal["daily", "weekly", "monthly", "quarterly", "annual"]
ChangeKind = Literal["pct", "diff", "log"]

# (one year back, one period back, how far back a lookup may land before the target date)
_LAGS: dict[str, tuple[pd.DateOffset, pd.DateOffset, pd.Timedelta]] = {
    "monthly": (pd.DateOffset(months=12), pd.DateOffset(months=1), pd.Timedelta(0)),
    "quarterly": (pd.DateOffset(months=12), pd.DateOffset(months=3), pd.Timedelta(0)),
    "annual": (pd.DateOffset(years=1), pd.DateOffset(years=1), pd.Timedelta(0)),
    # irregular calendars (holidays): accept the last observation up to 6 days earlier
    "weekly": (pd.DateOffset(weeks=52), pd.DateOffset(weeks=1), pd.Timedelta(days=6)),
    "daily": (pd.DateOffset(days=365), pd.DateOffset(days=1), pd.Timedelta(days=6)),
}


def _lag(frequency: str, which: int) -> tuple[pd.DateOffset, pd.Timedelta]:
    if frequency not in _LAGS:
        raise ValueError(f"unknown frequency '{frequency}'; known: {', '.join(_LAGS)}")
    lags = _LAGS[frequency]
    return lags[which], lags[2]


def _value_at(series: pd.Series, targets: pd.DatetimeIndex, tolerance: pd.Timedelta) -> np.ndarray:
    """The value of ``series`` at each target date: the observation on that date or, within
    ``tolerance``, the last one before it; NaN otherwise."""
    if series.empty:
        return np.full(len(targets), np.nan)
    left = pd.DataFrame({"target": targets.astype("datetime64[ns]")})
    right = pd.DataFrame({"obs": series.index.astype("datetime64[ns]"),
                          "value": series.to_numpy(dtype=float)})
    order = np.argsort(left["target"].to_numpy(), kind="mergesort")
    merged = pd.merge_asof(left.iloc[order], right, left_on="target", right_on="obs",
                           direction="backward", tolerance=tolerance)
    out = np.empty(len(targets))
    out[order] = merged["value"].to_numpy(dtype=float)
    return out


def _change(series: pd.Series, offset: pd.DateOffset, tolerance: pd.Timedelta,
            kind: ChangeKind) -> pd.Series:
    series = series.sort_index()
    index = pd.DatetimeIndex(series.index)
    base = _value_at(series, index - offset, tolerance)
    now = series.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "pct":
            values = np.where(base != 0, now / base - 1.0, np.nan)
        elif kind == "log":
            values = np.where((base > 0) & (now > 0), np.log(now / base), np.nan)
        elif kind == "diff":
            values = now - base
        else:
            raise ValueError(f"unknown change kind '{kind}'; use pct, diff or log")
    return pd.Series(values, index=series.index, name=series.name, dtype=float)


def yoy_change(series: pd.Series, frequency: Frequency, kind: ChangeKind = "pct") -> pd.Series:
    """Year-over-year change of each observation: ``pct`` (x / x_{t-1y} - 1, the default),
    ``diff`` (x - x_{t-1y}, for rates in percent) or ``log``. NaN where the observation a
    year earlier is missing (or zero, for ``pct``)."""
    offset, tolerance = _lag(frequency, 0)
    return _change(series, offset, tolerance, kind)


def pop_change(series: pd.Series, frequency: Frequency, kind: ChangeKind = "pct") -> pd.Series:
    """Period-over-period change: month over month for a monthly series, quarter over
    quarter for a quarterly one. Same ``kind`` choices as :func:`yoy_change`."""
    offset, tolerance = _lag(frequency, 1)
    return _change(series, offset, tolerance, kind)


mom_change = pop_change


def rolling_zscore(series: pd.Series, window: int, min_periods: int | None = None) -> pd.Series:
    """(x - trailing mean) / trailing standard deviation (ddof=1) over the last ``window``
    observations including the current one; NaN until ``min_periods`` (default
    ``window``) observations exist and where the trailing deviation is zero."""
    if window < 2:
        raise ValueError("a z-score needs a window of at least 2 observations")
    series = series.sort_index().astype(float)
    rolling = series.rolling(window, min_periods=min_periods or window)
    std = rolling.std(ddof=1)
    return ((series - rolling.mean()) / std.where(std > 0)).rename(series.name)


def release_surprise(vintages: pd.DataFrame, as_of: date | pd.Timestamp) -> pd.DataFrame:
    """The surprise of each observation's current vintage, as known on ``as_of``.

    ``vintages`` holds the rows of one series (``observation_date``, ``realtime_start``,
    ``value``). For each observation public by ``as_of``, take its latest vintage (value
    ``value``, published on ``released``). The *baseline* is what was public the day
    before ``released``:

    - ``kind == "revision"``: the observation had an earlier vintage; baseline = that
      observation's value as of ``released - 1 day`` (the previous release's number).
    - ``kind == "first_release"``: it is the observation's first print; baseline = the
      value, as of ``released - 1 day``, of the newest earlier observation (a random-walk
      expectation). NaN baseline when there was none.

    ``surprise = value - baseline``. Returns a frame indexed by ``observation_date`` with
    columns ``value, released, baseline, surprise, kind``. Only vintages public by
    ``as_of`` are used, so the result never changes when later vintages arrive.
    """
    columns = ["value", "released", "baseline", "surprise", "kind"]
    rows = vintages.loc[pd.to_datetime(vintages["realtime_start"]) <= pd.Timestamp(as_of),
                        ["observation_date", "realtime_start", "value"]].copy()
    if rows.empty:
        return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], name="observation_date"))
    rows["observation_date"] = pd.to_datetime(rows["observation_date"]).astype("datetime64[ns]")
    rows["realtime_start"] = pd.to_datetime(rows["realtime_start"]).astype("datetime64[ns]")
    rows = rows.sort_values(["observation_date", "realtime_start"], kind="mergesort")
    current = rows.drop_duplicates("observation_date", keep="last").set_index("observation_date")
    counts = rows.groupby("observation_date").size()
    previous = rows.groupby("observation_date").nth(-2).set_index("observation_date")["value"]

    baseline = previous.reindex(current.index)
    revised = counts.reindex(current.index) > 1
    # first prints: newest earlier observation as known the day before the print
    first = current.index[~revised.to_numpy()]
    for obs in first:
        released = current.at[obs, "realtime_start"]
        before = rows.loc[(rows["realtime_start"] < released) & (rows["observation_date"] < obs)]
        if not before.empty:
            newest = before.sort_values(["observation_date", "realtime_start"]).iloc[-1]
            baseline.at[obs] = newest["value"]
    out = pd.DataFrame({
        "value": current["value"].astype(float),
        "released": current["realtime_start"],
        "baseline": baseline.astype(float),
    })
    out["surprise"] = out["value"] - out["baseline"]
    out["kind"] = np.where(revised.to_numpy(), "revision", "first_release")
    out.index.name = "observation_date"
    return out[columns]
