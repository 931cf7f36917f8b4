"""Point-in-time reads of ``economic_indicators``: each series as it was known on a date.

Every stored row is one *vintage* of one observation: ``observation_date`` is the period
the value describes, ``realtime_start`` the first day the value was public. A read as of
day D keeps, for each observation, the row with the greatest ``realtime_start <= D``;
observations with no such row were not public yet and are absent. Nothing stored with a
later ``realtime_start`` can influence a read as of D: that is the no-look-ahead rule
(DESIGN §4), and the only rule every function here follows.

The pure functions (:func:`snapshot`, :func:`latest_known`) work on a frame of vintages
with columns ``series_id`` (for panels), ``observation_date``, ``realtime_start``, ``value``
and are what the SQL reads are tested against.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import date

import numpy as np
import pandas as pd
import psycopg

from macroquant.db.bulk import read_frame

VINTAGE_COLUMNS = ["series_id", "observation_date", "realtime_start", "value"]

_AS_OF_SQL = """
SELECT DISTINCT ON (observation_date) observation_date, value
  FROM economic_indicators
 WHERE series_id = %s AND realtime_start <= %s
 ORDER BY observation_date, realtime_start DESC
"""

_VINTAGES_SQL = """
SELECT series_id, observation_date, realtime_start, value
  FROM economic_indicators
 WHERE series_id = ANY(%s) AND realtime_start <= %s
 ORDER BY series_id, realtime_start, observation_date
"""


def _to_timestamps(values: Iterable[object]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(values))).as_unit("ns")


def _as_vintage_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in ("observation_date", "realtime_start"):
        out[column] = pd.to_datetime(out[column]).astype("datetime64[ns]")
    out["value"] = out["value"].astype(float)
    return out


def read_as_of(conn: psycopg.Connection, series_id: str, as_of: date) -> pd.Series:
    """``series_id`` as known at the end of ``as_of``: for each observation already
    public, the value of its latest vintage with ``realtime_start <= as_of``.

    Returns a float Series indexed by ``observation_date`` (datetime64, ascending), named
    ``series_id``; empty when nothing was public yet or the series is unknown.
    """
    rows = read_frame(conn, _AS_OF_SQL, (series_id, as_of))
    index = pd.DatetimeIndex(_to_timestamps(rows.get("observation_date", [])),
                             name="observation_date")
    values = rows["value"].to_numpy(dtype=float) if len(rows) else np.array([], dtype=float)
    return pd.Series(values, index=index, name=series_id, dtype=float)


def read_vintages(
    conn: psycopg.Connection, series_ids: Sequence[str], as_of: date
) -> pd.DataFrame:
    """Every vintage of ``series_ids`` public by ``as_of`` (columns :data:`VINTAGE_COLUMNS`,
    dates as datetime64), ordered by series, realtime_start, observation_date."""
    rows = read_frame(conn, _VINTAGES_SQL, (list(series_ids), as_of))
    if rows.empty:
        rows = pd.DataFrame(columns=VINTAGE_COLUMNS)
    return _as_vintage_frame(rows)


def snapshot(vintages: pd.DataFrame, as_of: date | pd.Timestamp) -> pd.Series:
    """Pure counterpart of :func:`read_as_of` for the vintages of one series."""
    known = vintages.loc[vintages["realtime_start"] <= pd.Timestamp(as_of)]
    latest = (known.sort_values(["observation_date", "realtime_start"])
              .drop_duplicates("observation_date", keep="last"))
    index = pd.DatetimeIndex(latest["observation_date"], name="observation_date")
    return pd.Series(latest["value"].to_numpy(dtype=float), index=index, dtype=float)


def _release_states(vintages: pd.DataFrame) -> pd.DataFrame:
    """Per series and release day, the newest observation known after that release and its
    value (latest vintage): one row per (series_id, realtime_start).

    Rows are processed in release order; the running maximum of ``observation_date`` is the
    newest observation known. A row for that observation sets the value; a row revising an
    older observation leaves the headline unchanged (forward fill within the series).
    """
    rows = vintages.sort_values(["series_id", "realtime_start", "observation_date"],
                                kind="mergesort").reset_index(drop=True)
    newest = rows.groupby("series_id")["observation_date"].cummax()
    headline = rows["value"].where(rows["observation_date"] == newest)
    states = pd.DataFrame({
        "series_id": rows["series_id"],
        "realtime_start": rows["realtime_start"],
        "observation_date": newest,
        "value": headline.groupby(rows["series_id"]).ffill(),
    })
    return states.drop_duplicates(["series_id", "realtime_start"], keep="last")


def latest_known(
    vintages: pd.DataFrame, as_of_dates: Iterable[date | pd.Timestamp]
) -> pd.DataFrame:
    """Pure panel read: for every as-of date and series, the newest observation public by
    then and its value as known then (long frame: ``as_of, series_id, observation_date,
    value``; no row where nothing of the series was public yet).

    One ``merge_asof`` of the as-of dates onto the release states: no loop over dates.
    """
    dates = pd.DataFrame({"as_of": _to_timestamps(as_of_dates)}).sort_values("as_of")
    columns = ["as_of", "series_id", "observation_date", "value"]
    vintages = _as_vintage_frame(vintages)
    if vintages.empty or dates.empty:
        return pd.DataFrame(columns=columns)
    states = _release_states(vintages).sort_values("realtime_start", kind="mergesort")
    series = pd.DataFrame({"series_id": pd.unique(states["series_id"])})
    grid = dates.merge(series, how="cross").sort_values("as_of", kind="mergesort")
    merged = pd.merge_asof(grid, states, left_on="as_of", right_on="realtime_start",
                           by="series_id", direction="backward", allow_exact_matches=True)
    merged = merged.dropna(subset=["observation_date"])
    return merged.loc[:, columns].sort_values(["as_of", "series_id"]).reset_index(drop=True)


def read_panel_as_of(
    conn: psycopg.Connection,
    series_ids: Sequence[str],
    as_of_dates: Iterable[date | pd.Timestamp],
    *,
    long: bool = False,
) -> pd.DataFrame:
    """What a daily strategy would see: for each as-of date, the latest known value of each
    series (its newest public observation, at its latest vintage by that date).

    One SQL query (every vintage public by the last as-of date) and one ``merge_asof``.
    Returns a wide frame (index ``as_of``, one column per series, NaN before a series'
    first release) or, with ``long=True``, the long frame of :func:`latest_known`, which
    also says which observation each value belongs to.
    """
    dates = _to_timestamps(as_of_dates)
    if len(dates) == 0:
        return pd.DataFrame(columns=list(series_ids))
    vintages = read_vintages(conn, series_ids, dates.max().date())
    panel = latest_known(vintages, dates)
    if long:
        return panel
    wide = panel.pivot(index="as_of", columns="series_id", values="value")
    wide = wide.reindex(index=dates.unique().sort_values(), columns=list(series_ids))
    wide.index.name = "as_of"
    wide.columns.name = None
    return wide.astype(float)


def transform_panel(
    conn: psycopg.Connection,
    series_ids: Sequence[str],
    as_of_dates: Iterable[date | pd.Timestamp],
    transform: Callable[[pd.Series], pd.Series],
) -> pd.DataFrame:
    """A transformed signal as known on each as-of date (index ``as_of``, one column per
    series): ``transform`` is applied to the series' snapshot after each release and the
    value at its newest observation is carried to the as-of dates by ``merge_asof``.

    The loop runs over release days (a dozen a year for a monthly series), never over
    as-of dates, and each snapshot holds only vintages public on that release day.
    """
    dates = _to_timestamps(as_of_dates)
    if len(dates) == 0:
        return pd.DataFrame(columns=list(series_ids))
    vintages = read_vintages(conn, series_ids, dates.max().date())
    states = []
    for series_id, rows in vintages.groupby("series_id", sort=True):
        for release in pd.unique(rows["realtime_start"]):
            result = transform(snapshot(rows, release))
            # the signal at the newest observation (NaN where the transform is undefined)
            states.append((series_id, release, float(result.iloc[-1])))
    frame = pd.DataFrame(states, columns=["series_id", "realtime_start", "value"])
    frame["value"] = frame["value"].astype(float)
    frame["realtime_start"] = frame["realtime_start"].astype("datetime64[ns]")
    grid = pd.DataFrame({"as_of": dates.unique().sort_values()}).merge(
        pd.DataFrame({"series_id": list(series_ids)}), how="cross")
    merged = pd.merge_asof(grid.sort_values("as_of", kind="mergesort"),
                           frame.sort_values("realtime_start", kind="mergesort"),
                           left_on="as_of", right_on="realtime_start", by="series_id",
                           direction="backward")
    wide = merged.pivot(index="as_of", columns="series_id", values="value")
    wide = wide.reindex(columns=list(series_ids)).astype(float)
    wide.columns.name = None
    return wide


def econ_show(
    conn: psycopg.Connection, series_id: str, as_of: date, as_json: bool = False
) -> tuple[int, str]:
    """``macroquant econ show SERIES --as-of DATE [--json]``: the series as known on
    ``as_of``. Returns (exit code, text). JSON is a list of ``{"date": "YYYY-MM-DD",
    "value": float}``; an unknown series is exit code 1 with the known series listed."""
    info = read_frame(conn, """SELECT s.name, s.frequency, s.units, s.publication_lag_days,
                                      (SELECT string_agg(DISTINCT vintage_kind, ', ')
                                         FROM economic_indicators i
                                        WHERE i.series_id = s.series_id) AS kinds
                                 FROM economic_series s WHERE s.series_id = %s""", (series_id,))
    if info.empty:
        known = read_frame(conn, "SELECT series_id FROM economic_series ORDER BY series_id")
        names = ", ".join(known["series_id"]) or "none (load some with `macroquant ingest`)"
        return 1, f"unknown economic series '{series_id}'; known series: {names}"
    series = read_as_of(conn, series_id, as_of)
    if as_json:
        payload = [{"date": ts.strftime("%Y-%m-%d"), "value": float(v)}
                   for ts, v in series.items()]
        return 0, json.dumps(payload)
    meta = info.iloc[0]
    lag = (f"; publication lag {int(meta.publication_lag_days)} days stands in for vintages"
           if "publication_lag" in str(meta.kinds or "") else "")
    lines = [f"{series_id} ({meta['name']}, {meta.frequency}, {meta.units}) as known on "
             f"{as_of.isoformat()}: {len(series)} observations "
             f"[rows: {meta.kinds or 'none'}{lag}]"]
    lines += [f"{ts.strftime('%Y-%m-%d')}  {v:.6g}" for ts, v in series.items()]
    return 0, "\n".join(lines)
