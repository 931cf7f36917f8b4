"""Signal transforms: pure functions on a series as known on a date."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from macroquant.economics import (
    latest_known,
    mom_change,
    pop_change,
    release_surprise,
    rolling_zscore,
    yoy_change,
)


def _monthly(values: list[float], start: str = "2023-01-01") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="MS"))


def test_yoy_monthly_compares_twelve_months_back():
    series = _monthly([100 + i for i in range(14)])  # Jan 2023 .. Feb 2024
    yoy = yoy_change(series, "monthly")
    assert yoy.iloc[:12].isna().all()
    assert yoy["2024-01-01"] == pytest.approx(112 / 100 - 1)
    assert yoy["2024-02-01"] == pytest.approx(113 / 101 - 1)
    assert yoy_change(series, "monthly", "diff")["2024-02-01"] == pytest.approx(12.0)
    assert yoy_change(series, "monthly", "log")["2024-01-01"] == pytest.approx(math.log(1.12))


def test_yoy_and_qoq_quarterly():
    series = pd.Series([200.0, 202.0, 204.0, 206.0, 210.0],
                       index=pd.date_range("2022-01-01", periods=5, freq="QS"))
    assert yoy_change(series, "quarterly")["2023-01-01"] == pytest.approx(210 / 200 - 1)
    qoq = pop_change(series, "quarterly")
    assert np.isnan(qoq.iloc[0])
    assert qoq["2022-04-01"] == pytest.approx(0.01)
    assert qoq["2023-01-01"] == pytest.approx(210 / 206 - 1)


def test_missing_period_gives_nan_not_wrong_comparison():
    series = pd.Series([100.0, 110.0], index=pd.to_datetime(["2024-01-01", "2024-03-01"]))
    assert mom_change(series, "monthly").isna().all()  # Feb is missing


def test_unknown_frequency_and_kind_raise():
    with pytest.raises(ValueError, match="unknown frequency 'hourly'"):
        yoy_change(_monthly([1.0, 2.0]), "hourly")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown change kind"):
        mom_change(_monthly([1.0, 2.0]), "monthly", "ratio")  # type: ignore[arg-type]


def test_rolling_zscore_is_trailing():
    series = _monthly([1.0, 2.0, 3.0, 10.0, 10.0, 10.0])
    z = rolling_zscore(series, 3)
    assert z.iloc[:2].isna().all()
    assert z.iloc[2] == pytest.approx(1.0)  # (3 - 2) / 1
    # window 2,3,10: mean 5, sd sqrt(19)
    assert z.iloc[3] == pytest.approx((10 - 5) / math.sqrt(19))
    assert np.isnan(z.iloc[5])  # zero deviation
    # appending a later observation changes nothing earlier
    longer = rolling_zscore(_monthly([1.0, 2.0, 3.0, 10.0, 10.0, 10.0, -50.0]), 3)
    pd.testing.assert_series_equal(longer.iloc[:6], z)


def _vintages(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["observation_date", "realtime_start", "value"])
    frame["series_id"] = "S"
    for column in ("observation_date", "realtime_start"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


def test_surprise_first_release_uses_previous_release_of_prior_observation():
    # Feb's first print (Mar-15) comes with a Jan revision on the same day: the baseline is
    # Jan as known the day before (100.0), not the revised 100.5.
    vintages = _vintages([("2024-01-01", "2024-02-15", 100.0),
                          ("2024-01-01", "2024-03-15", 100.5),
                          ("2024-02-01", "2024-03-15", 101.0)])
    table = release_surprise(vintages, "2024-03-20")
    assert table.loc["2024-02-01", "baseline"] == 100.0
    assert table.loc["2024-02-01", "surprise"] == pytest.approx(1.0)
    assert table.loc["2024-01-01", "kind"] == "revision"
    assert table.loc["2024-01-01", "surprise"] == pytest.approx(0.5)
    first_only = release_surprise(vintages, "2024-02-20")
    assert first_only.loc["2024-01-01", "kind"] == "first_release"
    assert np.isnan(first_only.loc["2024-01-01", "surprise"])
    assert release_surprise(vintages, "2024-01-31").empty


def test_latest_known_ignores_revisions_of_older_observations():
    vintages = _vintages([("2024-01-01", "2024-02-15", 1.0),
                          ("2024-02-01", "2024-03-15", 2.0),
                          ("2024-01-01", "2024-03-20", 1.5),
                          ("2024-02-01", "2024-03-25", 2.5)])
    panel = latest_known(vintages, pd.to_datetime(["2024-02-14", "2024-02-15", "2024-03-16",
                                                   "2024-03-21", "2024-03-25"]))
    assert panel["value"].tolist() == [1.0, 2.0, 2.0, 2.5]
    assert panel["as_of"].dt.strftime("%m-%d").tolist() == ["02-15", "03-16", "03-21", "03-25"]
