"""``macroquant metrics``: performance metrics of a return series read from a CSV file.

The file has a header with the columns ``date`` and ``return`` (other columns are ignored),
one row per period, dates in ISO format (``2018-06-29``) and strictly increasing, returns as
simple decimal returns (``0.0123`` for +1.23%). An empty or ``NaN`` return is a missing
value (dropped, see :mod:`macroquant.reports.metrics`). Any other problem is an error that
names the file, the line and the column.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime
from pathlib import Path

import pandas as pd

from macroquant.reports.metrics import compute_metrics

REQUIRED_COLUMNS = ("date", "return")

#: (key, label, format) for the text table; format is "pct", "ratio" or "int".
_ROWS: tuple[tuple[str, str, str], ...] = (
    ("total_return", "Total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("annual_volatility", "Annual volatility", "pct"),
    ("sharpe", "Sharpe ratio", "ratio"),
    ("sortino", "Sortino ratio", "ratio"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("max_drawdown_duration", "Max drawdown duration (periods)", "int"),
    ("calmar", "Calmar ratio", "ratio"),
    ("hit_rate", "Hit rate", "pct"),
    ("profit_factor", "Profit factor", "ratio"),
    ("beta", "Beta", "ratio"),
    ("alpha", "Alpha (annual)", "pct"),
    ("days", "Days", "int"),
    ("turnover", "Turnover (per period)", "ratio"),
    ("exposure", "Exposure (gross)", "pct"),
    ("time_in_market", "Time in market", "pct"),
)
_INT_KEYS = {"days", "max_drawdown_duration"}


class ReturnsFileError(ValueError):
    """A returns CSV that cannot be used; the message names the file, line and column."""


def _fail(path: Path, line: int | None, column: str | None, problem: str) -> ReturnsFileError:
    where = str(path)
    if line is not None:
        where += f", line {line}"
    if column is not None:
        where += f", column '{column}'"
    return ReturnsFileError(f"{where}: {problem}")


def _parse_return(path: Path, line: int, text: str) -> float:
    text = text.strip()
    if text == "" or text.lower() == "nan":
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise _fail(path, line, "return", f"{text!r} is not a number") from None
    if math.isinf(value):
        raise _fail(path, line, "return", f"{text!r} is not a finite number")
    return value


def _parse_date(path: Path, line: int, text: str) -> datetime:
    text = text.strip()
    if not text:
        raise _fail(path, line, "date", "missing date")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise _fail(path, line, "date", f"{text!r} is not an ISO date (YYYY-MM-DD)") from None


def read_returns_csv(path: Path) -> pd.Series:
    """The ``return`` column of ``path`` as a float Series indexed by ``date``.

    Raises :class:`ReturnsFileError` for an unreadable file, a missing column, a missing or
    malformed value, or dates that are not strictly increasing.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise _fail(path, 1, None, "the file is empty (expected a header 'date,return')")
            names = [name.strip().lower() for name in header]
            for column in REQUIRED_COLUMNS:
                if column not in names:
                    found = ",".join(header)
                    raise _fail(path, 1, column, f"missing column (header is {found!r})")
            i_date, i_ret = names.index("date"), names.index("return")
            dates: list[datetime] = []
            values: list[float] = []
            seen: dict[datetime, int] = {}
            previous: tuple[datetime, int] | None = None
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) <= max(i_date, i_ret):
                    missing = "date" if len(row) <= i_date else "return"
                    raise _fail(path, line, missing, f"missing value ({len(row)} fields in row)")
                when = _parse_date(path, line, row[i_date])
                if when in seen:
                    first = seen[when]
                    raise _fail(path, line, "date",
                                f"duplicate date {row[i_date].strip()} (first on line {first})")
                if previous is not None and when < previous[0]:
                    raise _fail(path, line, "date",
                                f"{row[i_date].strip()} is earlier than the date on line "
                                f"{previous[1]} (dates must be in increasing order)")
                values.append(_parse_return(path, line, row[i_ret]))
                dates.append(when)
                seen[when] = line
                previous = (when, line)
    except ReturnsFileError:
        raise
    except FileNotFoundError:
        raise _fail(path, None, None, "no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _fail(path, None, None, f"cannot read the file ({exc})") from None
    if not dates:
        raise _fail(path, None, None, "no data rows (only a header)")
    return pd.Series(values, index=pd.DatetimeIndex(dates, name="date"), name="return")


def _json_value(key: str, value: float) -> float | int | None:
    if not math.isfinite(value):
        return None
    return int(value) if key in _INT_KEYS else value


def _text_value(kind: str, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if kind == "pct":
        return f"{value * 100:.2f}%"
    if kind == "int":
        return f"{int(value)}"
    return f"{value:.4f}"


def format_table(metrics: dict[str, float], title: str) -> str:
    """The metrics as an aligned two-column text table under ``title``."""
    rows = [(label, _text_value(kind, metrics[key])) for key, label, kind in _ROWS
            if key in metrics]
    label_width = max(len(label) for label, _ in rows)
    value_width = max(len(value) for _, value in rows)
    lines = [title, "-" * (label_width + 2 + value_width)]
    lines += [f"{label:<{label_width}}  {value:>{value_width}}" for label, value in rows]
    return "\n".join(lines)


def metrics_command(
    returns_path: Path,
    as_json: bool,
    benchmark_path: Path | None = None,
    risk_free_rate: float = 0.0,
) -> tuple[int, str]:
    """Run ``macroquant metrics``: (exit code, text to print).

    Exit code 0 with the metrics as JSON (NaN and infinities as ``null``) or as a table; exit
    code 1 with a one-line ``error: ...`` message for a bad returns or benchmark file.
    ``risk_free_rate`` is annual (see :mod:`macroquant.reports.metrics`).
    """
    returns_path = Path(returns_path)
    try:
        returns = read_returns_csv(returns_path)
        benchmark = read_returns_csv(Path(benchmark_path)) if benchmark_path else None
    except ReturnsFileError as exc:
        return 1, f"error: {exc}"
    result = compute_metrics(returns, benchmark=benchmark, risk_free_rate=risk_free_rate)
    if as_json:
        payload = {key: _json_value(key, value) for key, value in result.items()}
        return 0, json.dumps(payload, indent=2, allow_nan=False)
    span = f"{returns.index[0]:%Y-%m-%d} to {returns.index[-1]:%Y-%m-%d}"
    title = (f"Metrics of {returns_path.name} ({span}, 252 periods a year, "
             f"risk-free {risk_free_rate:g})")
    return 0, format_table(result, title)
