"""The folder is the book, on PostgreSQL: a strategy folder kept in git, edited between runs."""

from __future__ import annotations

import logging
import subprocess
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import yaml

from macroquant.config.settings import INCLUDE_DIR
from macroquant.db.bulk import read_frame
from macroquant.errors import ConfigError
from macroquant.pipeline.runner import run_stage
from macroquant.status import book_lines, table_counts
from tests.conftest import make_settings

W1, W2, W3 = (date(2012, 10, 1), date(2012, 10, 2)), (date(2012, 10, 3), date(2012, 10, 4)), \
    (date(2012, 10, 5), date(2012, 10, 5))
THROUGH_SIGNALS = ("ingest", "validate", "features", "signals")
THROUGH_ORDERS = (*THROUGH_SIGNALS, "portfolio", "risk", "orders")


def git(directory: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(directory), "-c", "user.name=t",
                           "-c", "user.email=t@example.invalid", *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def shipped(name: str) -> dict:
    return yaml.safe_load((INCLUDE_DIR / "strategies" / f"{name}.yaml").read_text())


def write(folder: Path, file: str, config: dict) -> None:
    (folder / file).write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git work tree whose strategies/ folder holds the two shipped strategies."""
    root = tmp_path / "repo"
    (root / "strategies").mkdir(parents=True)
    git(root, "init", "-q")
    for name in ("ewma_trend", "zscore_reversion"):
        write(root / "strategies", f"{name}.yaml", shipped(name))
    git(root, "add", ".")
    git(root, "commit", "-qm", "two strategies")
    return root


def run(settings, window: tuple[date, date], run_id: str, stages=THROUGH_SIGNALS) -> dict:
    return {stage: run_stage(stage, *window, run_id, settings) for stage in stages}


def config_with(tmp_path: Path, **sections: dict) -> Path:
    data = yaml.safe_load((INCLUDE_DIR / "macroquant.yaml").read_text())
    for key, value in sections.items():
        data[key] = value
    path = tmp_path / f"trading-{len(list(tmp_path.glob('trading-*')))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def query(url: str, sql: str, params=()) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        return read_frame(conn, sql, params)


def test_folder_edited_in_git_between_runs_reports_added_changed_retired(
        loaded_settings, repo, tmp_path, caplog):
    url, folder = loaded_settings.database_url, repo / "strategies"
    settings = make_settings(tmp_path, url, strategies_dir=folder)
    first_commit = git(repo, "rev-parse", "HEAD")
    with caplog.at_level(logging.WARNING, logger="macroquant.book"):
        result = run(settings, W1, "r1")
    assert result["signals"]["strategies_added"] == 2
    # the user's edits, committed: a parameter changed, one file renamed with its name
    # (a new strategy), one renamed keeping its name (a new source file only)
    trend = shipped("ewma_trend")
    trend["parameters"]["fast_span"] = 20
    write(folder, "ewma_trend.yaml", trend)
    git(repo, "mv", "strategies/zscore_reversion.yaml", "strategies/zscore_fast.yaml")
    write(folder, "zscore_fast.yaml", {**shipped("zscore_reversion"), "name": "zscore_fast"})
    git(repo, "commit", "-qam", "edit the book")
    second_commit = git(repo, "rev-parse", "HEAD")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="macroquant.book"):
        result = run(settings, W2, "r2")
    assert {k: v for k, v in result["signals"].items() if k.startswith("strategies_")} == {
        "strategies_added": 1, "strategies_changed": 1, "strategies_retired": 1}
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "strategy book 2012-10-03..2012-10-04: 1 added, 1 changed, 1 retired",
        f"  added    zscore_fast       {folder}/zscore_fast.yaml @ {second_commit[:7]}; "
        "renamed from zscore_reversion (zscore_reversion.yaml, same parameters): a new "
        "strategy with its own history",
        f"  changed  ewma_trend        parameters.fast_span: 16 -> 20 @ {second_commit[:7]}",
        f"  retired  zscore_reversion  its file {folder}/zscore_reversion.yaml is gone; "
        "positions wound down: it has no target any more, so the orders stage closes what "
        "it held through the risk stage and the order gate; renamed to zscore_fast (same "
        "parameters): a rename is a retirement plus a new strategy"]
    for line in lines:
        print(line)  # the example of docs/strategies.md
    rows = query(url, """SELECT name, enabled, retired_on, git_commit, git_dirty
                         FROM strategies ORDER BY name""").set_index("name")
    assert rows.loc["zscore_reversion", ["enabled", "retired_on"]].tolist() == [False, W2[0]]
    assert rows.loc["ewma_trend", "git_commit"] == second_commit
    assert rows.loc["zscore_fast", "git_commit"] == second_commit
    assert not rows["git_dirty"].any()
    # which version traded which day: W1 at the first commit, W2 at the second
    versions = query(url, """SELECT v.as_of, s.name, v.git_commit, v.state
                             FROM strategy_versions v JOIN strategies s USING (strategy_id)
                             ORDER BY 1, 2""")
    assert versions.values.tolist() == [
        [W1[0], "ewma_trend", first_commit, "active"],
        [W1[0], "zscore_reversion", first_commit, "active"],
        [W1[1], "ewma_trend", first_commit, "active"],
        [W1[1], "zscore_reversion", first_commit, "active"],
        [W2[0], "ewma_trend", second_commit, "active"],
        [W2[0], "zscore_fast", second_commit, "active"],
        [W2[1], "ewma_trend", second_commit, "active"],
        [W2[1], "zscore_fast", second_commit, "active"]]
    recorded = query(url, """SELECT change, strategy_name, details FROM strategy_book_changes
                             WHERE run_id = 'r2' ORDER BY change_id""")
    assert recorded["details"][1] == {"diff": {"parameters.fast_span": [16, 20]}}
    # a file moved keeping its name field: a change of source file only
    git(repo, "mv", "strategies/ewma_trend.yaml", "strategies/trend.yaml")
    git(repo, "commit", "-qm", "move")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="macroquant.book"):
        run(settings, W3, "r3")
    assert [r.getMessage() for r in caplog.records][1] == (
        f"  changed  ewma_trend  source file {folder}/ewma_trend.yaml -> {folder}/trend.yaml "
        f"(same name, same parameters) @ {git(repo, 'rev-parse', 'HEAD')[:7]}")
    # rerunning a window with an unchanged folder records nothing new
    before = len(query(url, "SELECT * FROM strategy_book_changes"))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="macroquant.book"):
        run(settings, W3, "r3")
    assert caplog.records == [] and len(query(url, "SELECT * FROM strategy_book_changes")) \
        == before == 6


def _targets(url: str, name: str, day: date) -> pd.Series:
    frame = query(url, """SELECT i.symbol, t.target_quantity FROM targets t
                          JOIN strategies s USING (strategy_id)
                          JOIN instruments i USING (instrument_id)
                          WHERE s.name = %s AND t.as_of = %s ORDER BY 1""", (name, day))
    return frame.set_index("symbol")["target_quantity"].astype(float)


def test_a_file_deleted_while_its_strategy_holds_positions_winds_them_down(
        loaded_settings, repo, tmp_path):
    url, folder = loaded_settings.database_url, repo / "strategies"
    settings = make_settings(tmp_path, url, strategies_dir=folder)
    run(settings, W1, "r1", THROUGH_ORDERS)
    held = _targets(url, "zscore_reversion", W1[1])
    assert (held != 0).sum() >= 1  # it holds positions at the end of W1
    git(repo, "rm", "-q", "strategies/zscore_reversion.yaml")
    git(repo, "commit", "-qm", "drop zscore")
    run(settings, W2, "r2", THROUGH_ORDERS)
    # no target of its own any more; the net book is ewma_trend's alone
    assert _targets(url, "zscore_reversion", W2[0]).empty
    book = query(url, """SELECT i.symbol, sum(t.target_quantity) AS q FROM targets t
                         JOIN instruments i USING (instrument_id)
                         WHERE t.as_of = %s GROUP BY 1 ORDER BY 1""", (W2[1],))
    trend = _targets(url, "ewma_trend", W2[1])
    pd.testing.assert_series_equal(book.set_index("symbol")["q"].astype(float), trend,
                                   check_names=False)
    # the orders stage trades the net book toward it: orders on W2, each through the gate
    orders = query(url, """SELECT o.client_order_id FROM orders o WHERE o.as_of = %s""",
                   (W2[0],))
    gated = query(url, """SELECT DISTINCT subject FROM risk_events
                          WHERE as_of = %s AND subject LIKE 'order:%%'""", (W2[0],))
    assert len(orders) > 0
    assert {f"order:{ref}" for ref in orders["client_order_id"]} <= set(gated["subject"])
    logged = query(url, """SELECT level, message FROM system_logs
                           WHERE logger = 'macroquant.book' AND level = 'WARNING'""")
    assert logged["message"].tolist() == [
        f"retired zscore_reversion: its file {folder}/zscore_reversion.yaml is gone; "
        "positions wound down: it has no target any more, so the orders stage closes what "
        "it held through the risk stage and the order gate"]


def test_hold_keeps_a_retired_strategys_targets_and_reports_it_until_wind_down(
        loaded_settings, repo, tmp_path):
    url, folder = loaded_settings.database_url, repo / "strategies"
    hold = config_with(tmp_path, strategy_book={"retired_positions": "hold"})
    settings = make_settings(tmp_path, url, strategies_dir=folder, config_path=hold)
    run(settings, W1, "r1", (*THROUGH_SIGNALS, "portfolio"))
    last = _targets(url, "zscore_reversion", W1[1])
    (folder / "zscore_reversion.yaml").unlink()
    run(settings, W2, "r2", (*THROUGH_SIGNALS, "portfolio"))
    for day in W2:  # the same quantities, carried like a paused strategy's
        pd.testing.assert_series_equal(_targets(url, "zscore_reversion", day), last)
    states = query(url, """SELECT v.as_of, s.name, v.state FROM strategy_versions v
                           JOIN strategies s USING (strategy_id) WHERE v.as_of = %s
                           ORDER BY 2""", (W2[0],))
    assert states["state"].tolist() == ["active", "retired_held"]
    with psycopg.connect(url) as conn:
        lines = book_lines(conn)
    assert lines[0] == ("retired strategies holding positions: 1 "
                        "(strategy_book.retired_positions: hold)")
    assert lines[1].startswith(f"  zscore_reversion retired on {W2[0]}: its file ")
    # the policy changes to wind_down: retired again, and its targets are gone
    wind = config_with(tmp_path, strategy_book={"retired_positions": "wind_down"})
    settings = make_settings(tmp_path, url, strategies_dir=folder, config_path=wind)
    result = run(settings, W3, "r3", (*THROUGH_SIGNALS, "portfolio"))
    assert result["signals"]["strategies_retired"] == 1
    assert _targets(url, "zscore_reversion", W3[0]).empty
    with psycopg.connect(url) as conn:
        assert not any(line.startswith("retired strategies holding") for line in book_lines(conn))


def test_two_files_with_one_strategy_name_stop_the_run_naming_both(loaded_settings, repo,
                                                                   tmp_path):
    url, folder = loaded_settings.database_url, repo / "strategies"
    write(folder, "copy.yaml", {**shipped("ewma_trend"), "weight": 0.0001})
    (folder / "zscore_reversion.yaml").write_text(
        (folder / "zscore_reversion.yaml").read_text().replace("0.4", "0.3"))
    settings = make_settings(tmp_path, url, strategies_dir=folder)
    before = table_counts(url)
    with pytest.raises(ConfigError) as error:
        run_stage("ingest", *W1, "dup", settings)
    assert str(error.value) == (f"{folder}: field 'name': strategy 'ewma_trend' is named by "
                                "more than one file: copy.yaml and ewma_trend.yaml (each "
                                "strategy has one file; rename one)")
    # nothing written but the stage's failure (pipeline_runs, system_logs)
    after = table_counts(url)
    assert {t: n - before.get(t, 0) for t, n in after.items() if n != before.get(t, 0)} == {
        "pipeline_runs": 1, "system_logs": 1}
