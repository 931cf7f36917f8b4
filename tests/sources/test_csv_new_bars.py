"""The warning checks of a CSV load read the new bars while the publish runs
(``csv_files.new_bars``): their flags and ``data_checks`` rows must be exactly those of the
checks reading ``market_data`` after the publish."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

from macroquant.calendars import sessions
from macroquant.db.bulk import read_frame
from macroquant.sources import csv_files
from macroquant.sources.csv_files import ingest_csv
from macroquant.validation import history_checks
from macroquant.validation.config import load_quality_config

HEADER = "symbol,date,open,high,low,close,volume,adj_close\n"


def _bars(symbol: str, days: list[date], seed: int) -> list[list[object]]:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, len(days))))
    return [[symbol, d.isoformat(), c, c * 1.01, c * 0.99, c, 1000, ""]
            for d, c in zip(days, close.round(4), strict=True)]


def _write(path: Path, rows: list[list[object]]) -> Path:
    path.write_text(HEADER + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def _warnings(url: str) -> dict[str, pd.DataFrame]:
    with psycopg.connect(url) as conn:
        return {
            "flags": read_frame(conn, """SELECT as_of, check_name, symbol, trade_date,
                                               observed, threshold, reason
                                        FROM data_quality_flags ORDER BY 2, 3, 4"""),
            "checks": read_frame(conn, """SELECT as_of, check_name, rows_checked, rows_failed
                                         FROM data_checks WHERE severity = 'warning'
                                         ORDER BY 1, 2"""),
        }


def test_warnings_read_during_the_publish_equal_those_read_after_it(
        settings, tmp_path, monkeypatch):
    history = sessions(date(2023, 1, 3), date(2023, 3, 31))
    window = sessions(date(2023, 4, 3), date(2023, 6, 30))
    # XXX has stored history before the file; YYY and ZZZ are new. Planted: a spike on
    # XXX's first new bar (vs the stored moves), a spike and a 7-session gap in YYY, and a
    # quarantined 10x bar on ZZZ (high below close) that must not count as a move.
    ingest_csv(settings, _write(tmp_path / "history.csv", _bars("XXX", history, 1)))
    xxx, yyy = _bars("XXX", window, 2), _bars("YYY", window[:30] + window[37:], 3)
    xxx[0][5] = xxx[0][2] = xxx[0][3] = xxx[0][4] = 80.0
    yyy[20][5] = yyy[20][3] = float(yyy[20][5]) * 1.3
    zzz = _bars("ZZZ", window, 4)
    zzz[40][5] = float(zzz[40][5]) * 10
    calls: list[bool] = []
    run = history_checks.run
    monkeypatch.setattr(history_checks, "run", lambda *a, **k: calls.append(
        (a[5] if len(a) > 5 else k.get("scored")) is not None) or run(*a, **k))
    result = ingest_csv(settings, _write(tmp_path / "new.csv", xxx + yyy + zzz))
    assert calls == [True]  # the read-ahead was used
    assert result["quarantined_by_check"] == {"ohlc_consistency": 1}
    during = _warnings(settings.database_url)
    flagged = during["flags"][["check_name", "symbol"]].value_counts().to_dict()
    # a one-bar jump is two spikes: up, and back down on the next bar
    assert flagged == {("spike", "XXX"): 2, ("spike", "YYY"): 2, ("gap", "YYY"): 1}

    # The same checks reading market_data after the publish (the default path).
    with psycopg.connect(settings.database_url) as conn:
        start, end = result["start"], result["end"]
        history_checks.run(conn, start, end, sessions(start, end), load_quality_config())
    after = _warnings(settings.database_url)
    for key in ("flags", "checks"):
        pd.testing.assert_frame_equal(during[key], after[key])


def test_without_the_read_ahead_the_warnings_are_read_from_market_data(
        settings, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_files, "MAX_FAILED_LINES_READ_AHEAD", -1)
    calls: list[bool] = []
    run = history_checks.run
    monkeypatch.setattr(history_checks, "run", lambda *a, **k: calls.append(
        (a[5] if len(a) > 5 else k.get("scored")) is not None) or run(*a, **k))
    window = sessions(date(2023, 4, 3), date(2023, 6, 30))
    ingest_csv(settings, _write(tmp_path / "new.csv", _bars("AAA", window, 5)))
    assert calls == [False]
