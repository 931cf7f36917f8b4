"""Point-in-time reads on real PostgreSQL: hand-built vintages and the sample source's lag."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import psycopg
import pytest

from macroquant.economics import (
    econ_show,
    mom_change,
    read_as_of,
    read_panel_as_of,
    read_vintages,
    release_surprise,
    transform_panel,
    yoy_change,
)
from tests.economics import create_series, insert_vintages

# CPI Jan first published 100.0 on Feb-15, revised to 100.5 on Mar-15; and so on.
CPI_VINTAGES = [
    (date(2024, 1, 1), date(2024, 2, 15), 100.0),
    (date(2024, 1, 1), date(2024, 3, 15), 100.5),
    (date(2024, 2, 1), date(2024, 3, 15), 101.0),
    (date(2024, 2, 1), date(2024, 4, 12), 101.2),
    (date(2024, 3, 1), date(2024, 4, 12), 101.5),
]
GDP_VINTAGES = [
    (date(2023, 10, 1), date(2024, 1, 30), 50.0),
    (date(2023, 10, 1), date(2024, 2, 28), 49.0),
]


@pytest.fixture
def conn(db_url: str):
    with psycopg.connect(db_url) as connection:
        create_series(connection, "CPI_T")
        create_series(connection, "GDP_T", "quarterly")
        insert_vintages(connection, "CPI_T", CPI_VINTAGES)
        insert_vintages(connection, "GDP_T", GDP_VINTAGES)
        connection.commit()
        yield connection


def _as_dict(series: pd.Series) -> dict[str, float]:
    return {ts.strftime("%Y-%m-%d"): value for ts, value in series.items()}


@pytest.mark.parametrize(("as_of", "expected"), [
    (date(2024, 2, 14), {}),
    (date(2024, 2, 15), {"2024-01-01": 100.0}),
    (date(2024, 3, 14), {"2024-01-01": 100.0}),
    (date(2024, 3, 15), {"2024-01-01": 100.5, "2024-02-01": 101.0}),
    (date(2024, 4, 11), {"2024-01-01": 100.5, "2024-02-01": 101.0}),
    (date(2024, 4, 12), {"2024-01-01": 100.5, "2024-02-01": 101.2, "2024-03-01": 101.5}),
    (date(2030, 1, 1), {"2024-01-01": 100.5, "2024-02-01": 101.2, "2024-03-01": 101.5}),
])
def test_read_as_of_takes_latest_vintage_public_by_then(conn, as_of, expected):
    series = read_as_of(conn, "CPI_T", as_of)
    assert _as_dict(series) == expected
    assert series.name == "CPI_T" and series.index.name == "observation_date"


def test_panel_gives_latest_known_value_per_day(conn):
    days = [date(2024, 1, 29), date(2024, 1, 30), date(2024, 2, 14), date(2024, 2, 15),
            date(2024, 2, 28), date(2024, 3, 14), date(2024, 3, 15), date(2024, 4, 11),
            date(2024, 4, 12)]
    wide = read_panel_as_of(conn, ["CPI_T", "GDP_T", "NOPE"], days)
    assert list(wide.columns) == ["CPI_T", "GDP_T", "NOPE"]
    np.testing.assert_array_equal(
        wide["CPI_T"].to_numpy(),
        [np.nan, np.nan, np.nan, 100.0, 100.0, 100.0, 101.0, 101.0, 101.5])
    np.testing.assert_array_equal(
        wide["GDP_T"].to_numpy(), [np.nan, 50.0, 50.0, 50.0, 49.0, 49.0, 49.0, 49.0, 49.0])
    assert wide["NOPE"].isna().all()

    long = read_panel_as_of(conn, ["CPI_T"], days, long=True)
    observed = dict(zip(long["as_of"].dt.strftime("%m-%d"),
                        long["observation_date"].dt.strftime("%Y-%m"), strict=True))
    assert observed == {"02-15": "2024-01", "02-28": "2024-01", "03-14": "2024-01",
                        "03-15": "2024-02", "04-11": "2024-02", "04-12": "2024-03"}


def test_panel_matches_single_series_reads(conn):
    days = pd.date_range("2024-01-25", "2024-04-20", freq="D")
    wide = read_panel_as_of(conn, ["CPI_T", "GDP_T"], days)
    for day in days:
        for series_id in ("CPI_T", "GDP_T"):
            single = read_as_of(conn, series_id, day.date())
            expected = single.iloc[-1] if len(single) else np.nan
            assert wide.at[day, series_id] == pytest.approx(expected, nan_ok=True)


def test_revision_to_older_observation_keeps_headline(conn):
    # a late revision of Jan (after Mar is out) must not replace the Mar headline
    insert_vintages(conn, "CPI_T", [(date(2024, 1, 1), date(2024, 4, 20), 99.0)])
    wide = read_panel_as_of(conn, ["CPI_T"], [date(2024, 4, 20)])
    assert wide.iloc[0, 0] == 101.5
    assert read_as_of(conn, "CPI_T", date(2024, 4, 20)).iloc[0] == 99.0


def test_surprise_vs_previous_release(conn):
    vintages = read_vintages(conn, ["CPI_T"], date(2024, 4, 12))
    table = release_surprise(vintages, date(2024, 4, 12))
    assert list(table["kind"]) == ["revision", "revision", "first_release"]
    assert table["baseline"].tolist() == [100.0, 101.0, 101.0]
    assert table["surprise"].to_numpy() == pytest.approx([0.5, 0.2, 0.5])
    # as of Mar-15 the Feb print is new: compared with Jan as known on Mar-14 (100.0)
    earlier = release_surprise(vintages, date(2024, 3, 15))
    assert earlier.loc["2024-02-01", "kind"] == "first_release"
    assert earlier.loc["2024-02-01", "surprise"] == pytest.approx(1.0)
    assert earlier.loc["2024-01-01", "surprise"] == pytest.approx(0.5)


def test_transform_panel_uses_vintages_of_each_day(conn):
    days = [date(2024, 2, 20), date(2024, 3, 20), date(2024, 4, 20)]
    wide = transform_panel(conn, ["CPI_T"], days, lambda s: mom_change(s, "monthly"))
    # Feb-20: only Jan known (no MoM); Mar-20: 101.0/100.5; Apr-20: 101.5/101.2
    assert np.isnan(wide.iloc[0, 0])
    assert wide.iloc[1, 0] == pytest.approx(101.0 / 100.5 - 1)
    assert wide.iloc[2, 0] == pytest.approx(101.5 / 101.2 - 1)


def test_sample_cpi_publication_lag(loaded_db_url):
    with psycopg.connect(loaded_db_url) as conn:
        before = read_as_of(conn, "CPILFESL", date(2012, 2, 14))
        after = read_as_of(conn, "CPILFESL", date(2012, 2, 15))
        kinds = conn.execute("SELECT DISTINCT vintage_kind FROM economic_indicators "
                             "WHERE series_id = 'CPILFESL'").fetchall()
    assert kinds == [("publication_lag",)]
    assert before.index[-1] == pd.Timestamp("2011-12-01")
    assert pd.Timestamp("2012-01-01") not in before.index
    assert after.index[-1] == pd.Timestamp("2012-01-01")
    assert after.iloc[-1] == pytest.approx(227.877)
    assert yoy_change(after, "monthly").iloc[-1] == pytest.approx(227.877 / 222.803 - 1)


def test_econ_show_json_and_text(conn):
    code, text = econ_show(conn, "CPI_T", date(2024, 3, 15), as_json=True)
    assert code == 0
    assert json.loads(text) == [{"date": "2024-01-01", "value": 100.5},
                                {"date": "2024-02-01", "value": 101.0}]
    code, text = econ_show(conn, "CPI_T", date(2024, 2, 1), as_json=True)
    assert (code, json.loads(text)) == (0, [])
    code, text = econ_show(conn, "CPI_T", date(2024, 3, 15))
    assert code == 0 and "2 observations" in text and "2024-02-01  101" in text


def test_econ_show_unknown_series_lists_known(conn):
    code, text = econ_show(conn, "CPI_X", date(2024, 3, 15), as_json=True)
    assert code == 1
    assert "unknown economic series 'CPI_X'" in text and "CPI_T, GDP_T" in text
