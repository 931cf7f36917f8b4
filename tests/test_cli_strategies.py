"""``macroquant strategies list|validate``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from macroquant.auth.strategy_controls import set_paused
from macroquant.cli import main
from macroquant.db.connection import transaction

INCLUDE = Path(__file__).resolve().parents[1] / "include"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No database needed: validate never connects."""
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", "postgresql://u@127.0.0.1:1/none")
    return tmp_path


def test_validate_examples_all_ok(offline, capsys):
    assert main(["strategies", "validate", str(INCLUDE / "examples")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all(line.startswith("OK   ") for line in lines)
    assert any("macro_regime: macro/regime, 4 instruments" in line for line in lines)
    assert any("sma_cross_msft: trend_following/sma_crossover, 1 instrument)" in line
               for line in lines)


def test_validate_default_directory_checks_the_set(offline, capsys):
    assert main(["strategies", "validate"]) == 0
    out = capsys.readouterr().out
    assert "as a set: 2 enabled of 2, weights add up to 1.000" in out


def test_broken_file_exits_1_naming_file_and_field(offline, capsys):
    good = INCLUDE / "strategies" / "ewma_trend.yaml"
    broken = offline / "broken.yaml"
    broken.write_text(good.read_text().replace("fast_span: 16", "fast: 16"))
    assert main(["strategies", "validate", str(broken)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"FAIL {broken}: field 'parameters.fast': unknown key")
    # in a directory the valid files are still reported OK
    (offline / "ok.yaml").write_text(good.read_text())
    assert main(["strategies", "validate", str(offline)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line[:4] for line in lines] == ["FAIL", "OK  "]


def test_as_set_rejects_weights_above_one(offline, capsys):
    examples = INCLUDE / "examples"
    assert main(["strategies", "validate", str(examples), "--as-set"]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    # 0.2 + 0.2 + 0.2 + 1 (sma_cross_msft's default) + 0.2
    assert last == f"FAIL {examples}: field 'weight': enabled strategies' weights add up to " \
                   "1.800 > 1"


def test_list_shows_the_pause_flag(monkeypatch, tmp_path, db_url, capsys):
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    assert main(["strategies", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "type/rule", "universe", "weight", "enabled", "paused"]
    assert [line.split() for line in lines[1:]] == [
        ["ewma_trend", "trend_following/ewma_crossover", "10", "0.6", "yes", "no"],
        ["zscore_reversion", "mean_reversion/zscore", "7", "0.4", "yes", "no"]]
    with transaction(db_url) as conn:
        set_paused(conn, "zscore_reversion", True, actor="alice", role="trader",
                   at=datetime(2012, 10, 1, 20, 0, tzinfo=UTC), reason="earnings week")
    assert main(["strategies", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[-1] == "yes" and lines[1].split()[-1] == "no"
    assert lines[3] == "zscore_reversion paused by alice at 2012-10-01 20:00:00 UTC: " \
                       "earnings week"
