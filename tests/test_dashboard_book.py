"""The dashboard's strategy-book section and its view of interrupted stages."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
from psycopg.types.json import Jsonb

from tests.test_dashboard import _run_app, _table_with, seeded_url  # noqa: F401  (fixture)


def test_strategies_page_lists_book_changes_and_runs_show_dead_stages(monkeypatch, tmp_path,
                                                                     seeded_url):  # noqa: F811
    at = datetime(2024, 1, 6, 22, tzinfo=UTC)  # after the seeded runs
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        conn.execute("""UPDATE strategies SET retired_on = %s, retired_reason = %s
                        WHERE name = 'carry'""", (date(2024, 1, 5), "its file is gone"))
        conn.cursor().executemany(
            """INSERT INTO strategy_book_changes (run_id, window_start, window_end,
                   strategy_name, change, summary, details, recorded_at)
               VALUES ('r3', %s, %s, %s, %s, %s, %s, %s)""",
            [(date(2024, 1, 5), date(2024, 1, 5), "trend", "changed",
              "parameters.fast_span: 16 -> 20", Jsonb({}), at),
             (date(2024, 1, 5), date(2024, 1, 5), "carry", "retired",
              "its file is gone; positions held", Jsonb({}), at)])
        conn.execute("""INSERT INTO pipeline_runs (run_id, stage, window_start, window_end,
                            status, started_at, liveness_key)
                        VALUES ('r3', 'signals', %s, %s, 'running', %s, 4242)""",
                     (date(2024, 1, 5), date(2024, 1, 5), at))
    app = _run_app(monkeypatch, tmp_path, seeded_url, "strategies")
    changes = _table_with(app, "summary")
    assert changes[["change", "strategy_name", "summary"]].values.tolist() == [
        ["retired", "carry", "its file is gone; positions held"],
        ["changed", "trend", "parameters.fast_span: 16 -> 20"]]
    assert any("**carry** was retired on 2024-01-05 and its positions are held" in w.value
               for w in app.warning)
    # nobody holds key 4242: the stage's process is gone, so it is shown interrupted
    app = _run_app(monkeypatch, tmp_path, seeded_url, "runs")
    stages = _table_with(app, "stage").set_index(["run_id", "stage"])
    assert stages.loc[("r3", "signals"), "status"] == "interrupted"
    per_run = _table_with(app, "stages").set_index("run_id")
    assert per_run.loc["r3", "status"] == "interrupted"
    app = _run_app(monkeypatch, tmp_path, seeded_url)
    assert any("interrupted at stage **signals**" in e.value for e in app.error)
    with psycopg.connect(seeded_url) as conn:  # the dashboard only reads
        assert conn.execute("""SELECT status FROM pipeline_runs WHERE run_id = 'r3'""") \
            .fetchone()[0] == "running"
