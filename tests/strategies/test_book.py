"""The folder is the book (pure parts): reconciliation and the files' git state."""

from __future__ import annotations

import subprocess
from datetime import date
from pathlib import Path

from macroquant.strategies.book import (
    BookFile,
    StoredStrategy,
    config_diff,
    reconcile,
    report_lines,
)
from macroquant.strategies.git_state import NOT_IN_GIT, git_states

TREND = {"name": "trend", "type": "trend_following", "rule": "ewma_crossover",
         "universe": ["SPX", "IBM"], "weight": 0.5,
         "parameters": {"fast_span": 16, "slow_span": 64}}


def _file(config: dict, source: str, enabled: bool = True) -> BookFile:
    return BookFile(config["name"], source, config, str(hash(str(config))), enabled)


def _row(config: dict, source: str, retired_on: date | None = None) -> StoredStrategy:
    return StoredStrategy(config["name"], source, config, str(hash(str(config))),
                          "c0ffee" * 6 + "abcd", retired_on)


def test_added_changed_with_diff_and_retired_for_a_deleted_or_disabled_file():
    changed = {**TREND, "parameters": {"fast_span": 20, "slow_span": 64}, "weight": 0.4}
    carry = {**TREND, "name": "carry", "universe": ["EURUSD"]}
    gone = {**TREND, "name": "gone"}
    off = {**TREND, "name": "off"}
    files = [_file(changed, "s/trend.yaml"), _file(carry, "s/carry.yaml"),
             _file(off, "s/off.yaml", enabled=False)]
    stored = [_row(TREND, "s/trend.yaml"), _row(gone, "s/gone.yaml"), _row(off, "s/off.yaml")]
    changes = reconcile(files, stored, "wind_down")
    assert [(c.change, c.name) for c in changes] == [
        ("added", "carry"), ("changed", "trend"), ("retired", "gone"), ("retired", "off")]
    assert changes[1].details["diff"] == {"parameters.fast_span": [16, 20],
                                          "weight": [0.5, 0.4]}
    assert changes[1].summary == "parameters.fast_span: 16 -> 20; weight: 0.5 -> 0.4"
    assert changes[2].summary.startswith("its file s/gone.yaml is gone; positions wound down")
    assert changes[3].summary.startswith("disabled in its file s/off.yaml (enabled: false)")
    assert changes[2].git_commit == "c0ffee" * 6 + "abcd"
    assert changes[2].details == {"reason": "file_gone", "positions": "wind_down"}
    # nothing changed: nothing to report
    assert reconcile([_file(TREND, "s/trend.yaml")], [_row(TREND, "s/trend.yaml")],
                     "hold") == []


def test_a_rename_is_a_retirement_plus_a_new_strategy_and_says_so():
    renamed = {**TREND, "name": "trend_fast"}
    changes = reconcile([_file(renamed, "s/trend_fast.yaml")], [_row(TREND, "s/trend.yaml")],
                        "hold")
    assert [(c.change, c.name) for c in changes] == [("added", "trend_fast"),
                                                     ("retired", "trend")]
    added, retired = changes
    assert added.details["renamed_from"] == "trend"
    assert "renamed from trend (trend.yaml, same parameters)" in added.summary
    assert retired.details["renamed_to"] == "trend_fast"
    assert retired.summary.startswith("its file s/trend.yaml is gone; positions held")
    assert "both hold the same positions" in retired.summary  # hold doubles the exposure
    # a new name with other parameters is not called a rename
    other = {**renamed, "parameters": {"fast_span": 8, "slow_span": 64}}
    plain = reconcile([_file(other, "s/x.yaml")], [_row(TREND, "s/trend.yaml")], "hold")
    assert all("renamed" not in c.summary for c in plain)


def test_same_name_in_a_new_file_is_a_change_of_source_file_only():
    changes = reconcile([_file(TREND, "s/slow_trend.yaml")], [_row(TREND, "s/trend.yaml")],
                        "wind_down")
    assert len(changes) == 1 and changes[0].change == "changed"
    assert changes[0].summary == ("source file s/trend.yaml -> s/slow_trend.yaml "
                                  "(same name, same parameters)")
    assert changes[0].previous_source_file == "s/trend.yaml"
    assert changes[0].details == {"diff": {}}


def test_a_held_strategy_winds_down_when_the_policy_changes_and_comes_back_as_added():
    held = [_row(TREND, "s/trend.yaml", retired_on=date(2012, 10, 2))]
    assert reconcile([], held, "hold") == []  # still held: nothing new
    (change,) = reconcile([], held, "wind_down")
    assert change.change == "retired" and change.details["reason"] == "policy"
    assert change.summary.startswith("retired on 2012-10-02, held until now; positions wound")
    (back,) = reconcile([_file(TREND, "s/trend.yaml")], held, "hold")
    assert back.change == "added" and "back in the book; retired on 2012-10-02" in back.summary


def test_config_diff_flattens_nested_keys_and_report_lines_count():
    old = {"a": 1, "p": {"x": 1, "y": [1, 2]}, "gone": True}
    new = {"a": 1, "p": {"x": 2, "y": [1, 3]}, "new": "v"}
    assert config_diff(old, new) == {"gone": [True, None], "new": [None, "v"],
                                     "p.x": [1, 2], "p.y": [[1, 2], [1, 3]]}
    changes = reconcile([_file({**TREND, "name": "zz"}, "s/zz.yaml")],
                        [_row(TREND, "s/trend.yaml")], "wind_down")
    lines = report_lines(changes, date(2012, 10, 1), date(2012, 10, 5))
    assert lines[0] == "strategy book 2012-10-01..2012-10-05: 1 added, 0 changed, 1 retired"
    assert lines[1].startswith("  added    zz     s/zz.yaml")
    assert lines[2].startswith("  retired  trend  its file s/trend.yaml is gone")


# ------------------------------------------------------------------------------ git state
def _git(directory: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(directory), "-c", "user.name=t",
                           "-c", "user.email=t@example.invalid", *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_git_state_per_file_committed_modified_untracked(tmp_path):
    repo = tmp_path / "repo"
    folder = repo / "strategies"
    folder.mkdir(parents=True)
    _git(repo, "init", "-q")
    (folder / "a.yaml").write_text("a: 1\n")
    (folder / "b.yaml").write_text("b: 1\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "one")
    first = _git(repo, "rev-parse", "HEAD")
    (folder / "b.yaml").write_text("b: 2\n")
    _git(repo, "commit", "-qam", "two")
    second = _git(repo, "rev-parse", "HEAD")
    (folder / "a.yaml").write_text("a: 3\n")          # modified, not committed
    (folder / "c.yaml").write_text("c: 1\n")          # untracked
    files = [folder / n for n in ("a.yaml", "b.yaml", "c.yaml")]
    states = git_states(folder, files)
    assert (states[files[0]].commit, states[files[0]].dirty) == (first, True)
    assert (states[files[1]].commit, states[files[1]].dirty) == (second, False)
    assert (states[files[2]].commit, states[files[2]].dirty) == (None, True)
    assert states[files[0]].short == first[:7] + "+modified"
    assert not (repo / ".git" / "index.lock").exists()


def test_git_state_without_a_repository_or_without_git(tmp_path, monkeypatch):
    (tmp_path / "a.yaml").write_text("a: 1\n")
    files = [tmp_path / "a.yaml"]
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_states(tmp_path, files) == {files[0]: NOT_IN_GIT}
    monkeypatch.setenv("PATH", "")  # no git at all
    assert git_states(tmp_path, files) == {files[0]: NOT_IN_GIT}
