"""The signals stage honours the API's pause flag (``strategy_controls``)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import psycopg

from macroquant.auth.strategy_controls import set_paused
from macroquant.db.bulk import read_frame
from macroquant.db.connection import transaction
from macroquant.pipeline.runner import run_stage

DAY1, DAY2 = date(2012, 10, 1), date(2012, 10, 2)
AT = datetime(2012, 10, 1, 20, 0, tzinfo=UTC)


def _rows_per_strategy(url: str, day: date) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        frame = read_frame(conn, """SELECT st.name, count(*) AS n FROM signals s
                                    JOIN strategies st USING (strategy_id)
                                    WHERE s.as_of = %s GROUP BY st.name""", (day,))
    return dict(zip(frame["name"], frame["n"].astype(int), strict=True))


def _pause(url: str, paused: bool) -> None:
    with transaction(url) as conn:
        set_paused(conn, "zscore_reversion", paused, actor="trader", role="trader", at=AT,
                   reason="test")


def test_paused_strategy_gets_no_signal_and_keeps_its_old_rows(loaded_settings):
    url = loaded_settings.database_url
    for day in (DAY1, DAY2):
        run_stage("ingest", day, day, "p", loaded_settings)
        run_stage("validate", day, day, "p", loaded_settings)
    run_stage("signals", DAY1, DAY1, "p", loaded_settings)
    before = _rows_per_strategy(url, DAY1)
    # ewma_trend: 10 instruments, zscore_reversion: 7, every one with history on 2012-10-01
    assert before == {"ewma_trend": 10, "zscore_reversion": 7}

    _pause(url, True)
    written = run_stage("signals", DAY2, DAY2, "p", loaded_settings)
    assert written["paused_strategies"] == 1 and written["signals"] == 10
    assert _rows_per_strategy(url, DAY2) == {"ewma_trend": 10}
    # rerunning the earlier session while paused keeps the rows written before the pause
    run_stage("signals", DAY1, DAY1, "p", loaded_settings)
    assert _rows_per_strategy(url, DAY1) == before
    with psycopg.connect(url) as conn:
        logs = read_frame(conn, """SELECT level, message FROM system_logs
                                   WHERE logger = 'macroquant.signals'""")
    assert (logs["level"] == "INFO").all() and len(logs) == 2
    assert logs["message"].str.endswith("zscore_reversion").all()

    _pause(url, False)
    written = run_stage("signals", DAY2, DAY2, "p", loaded_settings)
    assert written["paused_strategies"] == 0 and written["signals"] == 17
    assert _rows_per_strategy(url, DAY2) == {"ewma_trend": 10, "zscore_reversion": 7}


def test_pausing_does_not_change_the_other_strategy_rows(loaded_settings):
    url = loaded_settings.database_url
    run_stage("ingest", DAY1, DAY1, "q", loaded_settings)
    run_stage("validate", DAY1, DAY1, "q", loaded_settings)
    query = """SELECT s.instrument_id, s.strength FROM signals s
               JOIN strategies st USING (strategy_id)
               WHERE st.name = 'ewma_trend' ORDER BY s.instrument_id"""
    run_stage("signals", DAY1, DAY1, "q", loaded_settings)
    with psycopg.connect(url) as conn:
        normal = read_frame(conn, query)
    _pause(url, True)
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM signals")
    run_stage("signals", DAY1, DAY1, "q", loaded_settings)
    with psycopg.connect(url) as conn:
        paused = read_frame(conn, query)
    pd.testing.assert_frame_equal(normal, paused)
    assert _rows_per_strategy(url, DAY1) == {"ewma_trend": 10}
