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


def test_as_set_checks_stops_and_flags_limits_against_the_trading_config(offline, capsys,
                                                                        monkeypatch):
    import yaml

    shipped = yaml.safe_load((INCLUDE / "macroquant.yaml").read_text())
    shipped["stops"] = {"ewma_trnd": {"stop_loss": {"kind": "fixed", "fraction": 0.1}}}
    config = offline / "trading.yaml"
    config.write_text(yaml.safe_dump(shipped))
    monkeypatch.setenv("MACROQUANT_CONFIG", str(config))
    assert main(["strategies", "validate"]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith(f"FAIL {config}: field 'stops.ewma_trnd': no strategy is named "
                           "'ewma_trnd' in ")
    # a 2,000-instrument book under the old fixed limits: both are flagged, exit 0
    del shipped["stops"]
    shipped["risk"].pop("max_orders_per_instrument")
    config.write_text(yaml.safe_dump(shipped))
    book = offline / "book"
    book.mkdir()
    universe = ", ".join(f"S{i:04d}" for i in range(2000))
    (book / "wide.yaml").write_text(
        f"name: wide\ntype: trend_following\nrule: ewma_crossover\nuniverse: [{universe}]\n"
        "weight: 1.0\n")
    assert main(["strategies", "validate", str(book), "--as-set"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"OK   {book} as a set: 1 enabled of 1, weights add up to "
                               "1.000, 2000 instruments")
    assert lines[2].startswith(f"WARN {config}: risk.max_orders_per_day 200 is below the "
                               "book's 2000 instruments")
    # 1e6 x 1.0 x 0.12 / (2000 x 0.16) = 375 at full strength, 188 typical
    assert lines[3].startswith(f"WARN {config}: portfolio.min_order_notional 2,000 is above "
                               "the typical position of this book's instruments (about 188")


def test_changes_lists_the_recorded_book_changes(monkeypatch, tmp_path, db_url, capsys):
    from datetime import date

    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    assert main(["strategies", "changes"]) == 0
    assert capsys.readouterr().out.startswith("no strategy book change recorded yet")
    with transaction(db_url) as conn:
        conn.execute("""INSERT INTO strategy_book_changes (run_id, window_start, window_end,
                            strategy_name, change, summary, recorded_at)
                        VALUES ('r9', %s, %s, 'trend', 'changed', 'weight: 0.5 -> 0.4', now())""",
                     (date(2012, 10, 1), date(2012, 10, 2)))
    assert main(["strategies", "changes"]) == 0
    assert capsys.readouterr().out == ("2012-10-01..2012-10-02 r9  changed  trend  "
                                       "weight: 0.5 -> 0.4\n")
