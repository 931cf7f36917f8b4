"""``metrics_command``: the metrics of a returns CSV, as JSON or a table, and bad files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from macroquant.reports import metrics
from macroquant.reports.metrics_cli import metrics_command, read_returns_csv


def _write(tmp_path: Path, text: str, name: str = "returns.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = "date,return\n2018-01-02,0.10\n2018-01-03,-0.20\n2018-01-04,\n2018-01-05,0.05\n"


def test_json_output_has_the_metrics_and_nulls_for_nan(tmp_path):
    code, text = metrics_command(_write(tmp_path, GOOD), as_json=True)
    assert code == 0
    out = json.loads(text)
    assert list(out) == list(metrics.METRIC_KEYS)
    assert out["total_return"] == pytest.approx(1.1 * 0.8 * 1.05 - 1, rel=1e-12)
    assert out["cagr"] == pytest.approx(0.924 ** 84 - 1, rel=1e-12)
    assert out["max_drawdown"] == pytest.approx(-0.2, rel=1e-12)
    assert out["calmar"] == pytest.approx((0.924 ** 84 - 1) / 0.2, rel=1e-12)
    assert out["hit_rate"] == pytest.approx(2 / 3)
    assert out["max_drawdown_duration"] == 2 and out["days"] == 3  # the blank is dropped
    assert out["beta"] is None and out["alpha"] is None  # no benchmark: NaN -> null


def test_json_with_a_benchmark_gives_beta(tmp_path):
    bench = _write(tmp_path, "date,return\n2018-01-02,0.05\n2018-01-03,-0.10\n"
                             "2018-01-05,0.025\n2018-01-08,0.3\n", "bench.csv")
    code, text = metrics_command(_write(tmp_path, GOOD), True, benchmark_path=bench)
    assert code == 0
    out = json.loads(text)
    assert out["beta"] == pytest.approx(2.0, rel=1e-12)  # returns = 2 x benchmark on 3 dates
    assert out["alpha"] == pytest.approx(0.0, abs=1e-12)


def test_profit_factor_without_losses_is_null_in_json(tmp_path):
    path = _write(tmp_path, "date,return\n2018-01-02,0.01\n2018-01-03,0.02\n")
    out = json.loads(metrics_command(path, True)[1])
    assert out["profit_factor"] is None and out["sortino"] is None and out["calmar"] is None
    assert out["max_drawdown"] == 0.0 and out["max_drawdown_duration"] == 0


def test_text_output_is_an_aligned_table(tmp_path):
    code, text = metrics_command(_write(tmp_path, GOOD), as_json=False)
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith("Metrics of returns.csv (2018-01-02 to 2018-01-05")
    table = lines[2:]
    assert len({len(line) for line in table}) == 1  # right-aligned values
    rows = {line.rsplit("  ", 1)[0].strip(): line.rsplit(" ", 1)[1] for line in table}
    assert rows["Total return"] == "-7.60%"
    assert rows["Max drawdown"] == "-20.00%"
    assert rows["Max drawdown duration (periods)"] == "2"
    assert rows["Beta"] == "n/a"
    assert rows["Days"] == "3"


def test_real_returns_round_trip_through_csv(tmp_path):
    from arch.data import sp500

    r = sp500.load()["Adj Close"].pct_change().dropna()
    path = tmp_path / "spx.csv"
    r.rename("return").rename_axis("date").to_csv(path)
    assert read_returns_csv(path).to_numpy().tolist() == r.to_numpy().tolist()
    out = json.loads(metrics_command(path, True)[1])
    assert out["sharpe"] == pytest.approx(0.2827392290446074, rel=1e-9)
    assert out["max_drawdown"] == pytest.approx(-0.5677538775030555, rel=1e-9)
    assert out["days"] == 5030


BAD = [
    ("date,ret\n2018-01-02,0.01\n", "line 1, column 'return': missing column"),
    ("day,return\n2018-01-02,0.01\n", "line 1, column 'date': missing column"),
    ("date,return\n2018-01-02,0.01\n2018-01-03,abc\n", "line 3, column 'return': 'abc' is not a"),
    ("date,return\n2018-01-02,0.01\n2018-01-03,inf\n", "line 3, column 'return': 'inf' is not a"),
    ("date,return\n2018-01-03,0.01\n2018-01-02,0.02\n",
     "line 3, column 'date': 2018-01-02 is earlier than the date on line 2"),
    ("date,return\n2018-01-02,0.01\n2018-01-03,0.0\n2018-01-02,0.02\n",
     "line 4, column 'date': duplicate date 2018-01-02 (first on line 2)"),
    ("date,return\n2018-01-02,0.01\n2018-13-45,0.02\n",
     "line 3, column 'date': '2018-13-45' is not an ISO date"),
    ("date,return\n2018-01-02,0.01\n2018-01-03\n", "line 3, column 'return': missing value"),
    ("date,return\n,0.01\n", "line 2, column 'date': missing date"),
    ("", "line 1: the file is empty"),
    ("date,return\n", "no data rows"),
]


@pytest.mark.parametrize("text,message", BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_csv_is_a_clear_error(tmp_path, text, message):
    path = _write(tmp_path, text)
    code, out = metrics_command(path, as_json=True)
    assert code == 1
    assert out.startswith(f"error: {path}")
    assert message in out
    assert "Traceback" not in out and "\n" not in out


def test_missing_and_binary_files_are_clear_errors(tmp_path):
    code, out = metrics_command(tmp_path / "nope.csv", False)
    assert (code, out) == (1, f"error: {tmp_path / 'nope.csv'}: no such file")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"date,return\n\xff\xfe\x00\n")
    code, out = metrics_command(binary, False)
    assert code == 1 and out.startswith(f"error: {binary}: cannot read the file")


def test_bad_benchmark_names_the_benchmark_file(tmp_path):
    bench = _write(tmp_path, "date,return\n2018-01-02,x\n", "bench.csv")
    code, out = metrics_command(_write(tmp_path, GOOD), False, benchmark_path=bench)
    assert code == 1
    assert out == f"error: {bench}, line 2, column 'return': 'x' is not a number"


def test_extra_columns_and_blank_lines_are_ignored(tmp_path):
    path = _write(tmp_path, "note,Return,date\nx,0.01,2018-01-02\n\ny,NaN,2018-01-03\n")
    r = read_returns_csv(path)
    assert list(r.index) == [pd.Timestamp("2018-01-02"), pd.Timestamp("2018-01-03")]
    assert r.iloc[0] == 0.01 and math.isnan(r.iloc[1])
