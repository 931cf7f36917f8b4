"""``macroquant backtest`` and ``macroquant research walk-forward``."""

from __future__ import annotations

import json

import psycopg
import pytest

from macroquant.cli import main
from tests.backtest.conftest import EXAMPLE


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", "postgresql://u@127.0.0.1:1/none")
    return tmp_path


def test_backtest_from_csv_writes_the_json(isolated, msft_csv, capsys):
    out = isolated / "out.json"
    assert main(["backtest", str(EXAMPLE), "--prices", str(msft_csv), "--capital", "100000",
                 "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["final_equity"] == pytest.approx(55447.393312, rel=1e-9)
    assert payload["equity"][0] == ["2000-03-01", 100000.0]
    assert payload["equity"][-1] == ["2013-03-01", payload["final_equity"]]
    assert len(payload["trades"]) == 43
    first = payload["trades"][0]
    assert (first["signal_date"], first["trade_date"], first["side"], first["price_field"]) == (
        "2000-11-20", "2000-11-21", "buy", "close")
    assert payload["metrics"]["total_return"] == pytest.approx(payload["final_equity"] / 1e5 - 1)
    assert payload["metrics"]["beta"] is None        # NaN is written as null
    assert "backtest_id" not in payload              # CSV prices: not stored by default
    assert "43 trades" in capsys.readouterr().out


def test_start_and_end_window(isolated, msft_csv):
    out = isolated / "out.json"
    assert main(["backtest", str(EXAMPLE), "--prices", str(msft_csv), "--start", "2005-01-03",
                 "--end", "2006-12-29", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["equity"][0] == ["2005-01-03", 1_000_000.0]   # trading_capital default
    assert payload["equity"][-1][0] == "2006-12-29"
    assert all("2005-01-04" <= t["trade_date"] <= "2006-12-29" for t in payload["trades"])


def test_grid_reports_trials_and_deflated_sharpe(isolated, msft_csv):
    out = isolated / "grid.json"
    assert main(["backtest", str(EXAMPLE), "--prices", str(msft_csv), "--capital", "100000",
                 "--json", str(out), "--grid", "fast=10,20,50", "slow=100,200"]) == 0
    grid = json.loads(out.read_text())["grid"]
    assert grid["n_trials"] == 6 and len(grid["trials"]) == 6
    assert grid["best_parameters"] == {"fast": 10, "slow": 100}
    assert 0 <= grid["deflated_sharpe"] <= 1


def test_walk_forward_command(isolated, msft_csv, capsys):
    out = isolated / "wf.json"
    assert main(["research", "walk-forward", str(EXAMPLE), "--prices", str(msft_csv),
                 "--capital", "100000", "--grid", "fast=10,20,50", "slow=100,200",
                 "--train", "756", "--test", "504", "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["n_trials"] == 30 and len(payload["folds"]) == 5
    assert payload["folds"][0]["in_sample"] == ["2000-03-01", "2003-03-06"]
    assert payload["folds"][0]["out_of_sample"][0] == "2003-03-07"
    assert payload["out_of_sample"]["equity"][0] == ["2003-03-07", 100000.0]
    assert "5 folds, 30 trials" in capsys.readouterr().out


def test_bad_csv_and_unknown_symbol_are_clear_errors(isolated, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,date,open,high,low,close,volume\nMSFT,2020-01-02,1,1,1,x,5\n")
    assert main(["backtest", str(EXAMPLE), "--prices", str(bad), "--json",
                 str(tmp_path / "o.json")]) == 1
    assert "line 2, column 'close'" in capsys.readouterr().err
    other = tmp_path / "other.csv"
    other.write_text("symbol,date,open,high,low,close,volume\nIBM,2020-01-02,1,1,1,1,5\n")
    assert main(["backtest", str(EXAMPLE), "--prices", str(other), "--json",
                 str(tmp_path / "o.json")]) == 1
    assert "no price history for MSFT" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_backtest_from_the_database_is_stored(loaded_db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", loaded_db_url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    out = tmp_path / "db.json"
    assert main(["backtest", str(EXAMPLE), "--capital", "100000", "--end", "2012-09-28",
                 "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    backtest_id = payload["backtest_id"]
    assert payload["price_source"] == "market_data"
    with psycopg.connect(loaded_db_url) as conn:
        run = conn.execute("""SELECT final_equity, start_date::text, end_date::text,
                                     execution_price, n_trials, metrics->>'days'
                              FROM backtest_runs WHERE backtest_id = %s""",
                           (backtest_id,)).fetchone()
        counts = conn.execute("""SELECT (SELECT count(*) FROM backtest_equity
                                         WHERE backtest_id = %s),
                                        (SELECT count(*) FROM backtest_trades
                                         WHERE backtest_id = %s),
                                        (SELECT sum(commission) FROM backtest_trades
                                         WHERE backtest_id = %s)""",
                              (backtest_id,) * 3).fetchone()
    assert run[0] == pytest.approx(payload["final_equity"], rel=1e-12)
    assert run[1:5] == ("2000-03-01", "2012-09-28", "next_close", 1)
    assert counts[0] == len(payload["equity"]) == int(float(run[5])) + 1
    assert counts[1] == len(payload["trades"])
    assert counts[2] == pytest.approx(sum(t["commission"] for t in payload["trades"]))
