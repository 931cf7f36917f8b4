"""The history warning checks (spike, gap, stale): hand-computed cases with exact flags and
data_checks counts, and a cross-check against a straightforward pandas implementation."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest

from macroquant.calendars import sessions
from macroquant.validation import history_checks
from macroquant.validation.config import QualityConfig

# XNYS sessions 2012-01-03 .. 2012-03-01: S[21] = Thu 2 Feb, S[30] = Wed 15 Feb,
# S[36] = Fri 24 Feb, S[37] = Mon 27 Feb, S[40] = Thu 1 Mar.
S = sessions(date(2012, 1, 3), date(2012, 3, 1))
SATURDAY = date(2012, 2, 25)

Bar = tuple[str, date, float, float | None]  # symbol, trade_date, close, adj_close


def _seed(conn: psycopg.Connection, active: dict[str, bool], bars: Iterable[Bar]) -> None:
    conn.execute("""INSERT INTO data_sources (source_id, kind, adapter)
                    VALUES ('sample', 'market_data', 'sample')""")
    ids = dict(conn.execute(
        """INSERT INTO instruments (symbol, name, asset_class, currency, source_id,
                                    vendor_symbol, active)
           SELECT s, s, 'single_stock', 'USD', 'sample', s, a
           FROM unnest(%s::text[], %s::boolean[]) AS t(s, a)
           RETURNING symbol, instrument_id""",
        (list(active), list(active.values()))).fetchall())
    with conn.cursor() as cur, cur.copy(
            "COPY market_data (instrument_id, trade_date, close, adj_close, source_id) "
            "FROM STDIN") as copy:
        for symbol, day, close, adj in bars:
            copy.write_row((ids[symbol], day, close, adj, "sample"))


def _run(conn: psycopg.Connection, start: date, end: date,
         quality: QualityConfig) -> tuple[dict[str, int], list[tuple], list[tuple]]:
    found = history_checks.run(conn, start, end, sessions(start, end), quality)
    flags = conn.execute("""SELECT as_of, check_name, symbol, trade_date, observed, threshold,
                                   reason
                            FROM data_quality_flags ORDER BY 1, 2, 3, 4""").fetchall()
    checks = conn.execute("""SELECT as_of, check_name, rows_checked, rows_failed
                             FROM data_checks WHERE severity = 'warning' AND passed
                             ORDER BY 1, 2""").fetchall()
    return found, flags, checks


def _quiet(symbol: str, indices: Iterable[int]) -> list[Bar]:
    """Closes alternating 100, 101 (every |Δ ln p| = ln 1.01), on sessions S[i]."""
    return [(symbol, S[i], 100.0 if n % 2 == 0 else 101.0, None)
            for n, i in enumerate(indices)]


def _hand_case() -> tuple[dict[str, bool], list[Bar]]:
    bars: list[Bar] = []
    # SPK: a +10 % day on S[30] after 20 moves of ln 1.01; back down on S[31] is 6.7 x
    # the mean then (19 ln 1.01 + ln 1.1) / 20, under the limit.
    spk = _quiet("SPK", range(41))
    spk[30] = ("SPK", S[30], 101.0 * 1.1, None)
    bars += spk
    # SAT: quiet to Friday S[36] (100), +20 % on Saturday 25 Feb (Monday's session), flat
    # after; the Monday bar shares the session (-1 missing, not a gap).
    bars += _quiet("SAT", range(37))
    bars += [("SAT", SATURDAY, 120.0, None)]
    bars += [("SAT", S[i], 120.0, None) for i in (37, 38, 39, 40)]
    # GAP: flat; S[20..25] missing (6 sessions: a gap on S[26]); S[30..34] missing (5: not).
    bars += [("GAP", S[i], 50.0, None) for i in range(41)
             if not (20 <= i <= 25 or 30 <= i <= 34)]
    # NEW9 / NEW10: +50 % on S[40] after 9 / 10 moves (spike_min_moves = 10).
    bars += _quiet("NEW9", range(30, 40)) + [("NEW9", S[40], 150.0, None)]
    bars += _quiet("NEW10", range(29, 40)) + [("NEW10", S[40], 150.0, None)]
    # OLD: last bar S[30], 10 sessions before the end; EDGE: S[35], 5 (not stale);
    # GONE: inactive, never stale.
    bars += [("OLD", S[i], 20.0, None) for i in range(31)]
    bars += [("EDGE", S[i], 30.0, None) for i in range(36)]
    bars += [("GONE", S[i], 40.0, None) for i in range(11)]
    # ZERO: adj_close alternates 10, 10.1 and is used where given, so the close halving
    # on S[35] (a split) is no spike; a zero close without adj_close on S[39] is not read
    # (not counted, no move).
    for i in range(41):
        adj = 10.0 if i % 2 == 0 else 10.1
        close = adj if i < 35 else adj / 2
        bars.append(("ZERO", S[i], 0.0, None) if i == 39 else ("ZERO", S[i], close, adj))
    active = {s: s != "GONE" for s in ("SPK", "SAT", "GAP", "NEW9", "NEW10", "OLD", "EDGE",
                                       "GONE", "ZERO")}
    return active, bars


def test_hand_computed_spikes_gaps_and_stale(db_url):
    assert (S[21], S[30], S[36], S[37], S[40]) == (
        date(2012, 2, 2), date(2012, 2, 15), date(2012, 2, 24), date(2012, 2, 27),
        date(2012, 3, 1))
    active, bars = _hand_case()
    quality = QualityConfig()  # k 7, window 20, min moves 10, gap 5, stale 5
    with psycopg.connect(db_url) as conn:
        _seed(conn, active, bars)
        found, flags, checks = _run(conn, S[21], S[40], quality)
        # a rerun replaces the window's rows
        assert _run(conn, S[21], S[40], quality) == (found, flags, checks)

    assert found == {"spike": 3, "gap": 1, "stale": 1}
    keys = [row[:4] for row in flags]
    assert keys == [(S[26], "gap", "GAP", S[26]),
                    (S[30], "spike", "SPK", S[30]),
                    (S[37], "spike", "SAT", SATURDAY),
                    (S[40], "spike", "NEW10", S[40]),
                    (S[40], "stale", "OLD", S[30])]
    m = math.log(101) - math.log(100)
    observed = {row[2]: row[4] for row in flags}
    assert observed["SPK"] == pytest.approx(math.log(1.1) / m, rel=1e-12)
    assert observed["SAT"] == pytest.approx(math.log(1.2) / m, rel=1e-12)
    assert observed["NEW10"] == pytest.approx(math.log(1.5) / m, rel=1e-12)
    assert (observed["GAP"], observed["OLD"]) == (6, 10)
    assert [row[5:] for row in flags] == [
        (5, "6 sessions missing before this bar (limit 5)"),
        (7, "log move 0.095310 is 9.58 x the mean absolute move 0.009950 of the previous "
            "20 moves (limit 7 x)"),
        (7, "log move 0.182322 is 18.32 x the mean absolute move 0.009950 of the previous "
            "20 moves (limit 7 x)"),
        (7, "log move 0.405465 is 40.75 x the mean absolute move 0.009950 of the previous "
            "10 moves (limit 7 x)"),
        (5, "last bar 2012-02-15 is 10 sessions before 2012-03-01 (limit 5)")]

    # bars read per session S[21..40] (positive price, session in the window): SAT has
    # two on Monday S[37], ZERO none on S[39], GAP none in its holes.
    checked = [5, 5, 5, 5, 5, 6, 6, 6, 7, 7, 6, 6, 6, 6, 7, 6, 7, 6, 5, 6]
    failed = {(S[26], "gap"): 1, (S[30], "spike"): 1, (S[37], "spike"): 1,
              (S[40], "spike"): 1, (S[40], "stale"): 1}
    expected = sorted([(S[21 + j], name, n, failed.get((S[21 + j], name), 0))
                       for j, n in enumerate(checked) for name in ("gap", "spike")]
                      + [(S[40], "stale", 8, 1)])
    assert checks == expected


def test_no_bars_gives_zero_counts(db_url):
    with psycopg.connect(db_url) as conn:
        _seed(conn, {"A": True}, [])
        found, flags, checks = _run(conn, S[21], S[22], QualityConfig())
    assert found == {"spike": 0, "gap": 0, "stale": 0}
    assert flags == []
    assert checks == [(S[21], "gap", 0, 0), (S[21], "spike", 0, 0),
                      (S[22], "gap", 0, 0), (S[22], "spike", 0, 0), (S[22], "stale", 1, 0)]


def test_an_instrument_whose_last_bar_is_older_than_the_history_read_is_stale(db_url):
    """The warning checks read about 100 days of history; an active instrument that stopped
    a year ago is still stale, counted from its own last session."""
    last = date(2011, 3, 1)  # a Tuesday session, 253 sessions before S[40] (1 Mar 2012)
    with psycopg.connect(db_url) as conn:
        _seed(conn, {"OLD": True}, [("OLD", last, 10.0, None)])
        found, flags, _ = _run(conn, S[40], S[40], QualityConfig())
    behind = len(sessions(last, S[40])) - 1
    assert behind == 253
    assert found == {"spike": 0, "gap": 0, "stale": 1}
    assert [(f[1], f[2], f[3], f[4]) for f in flags] == [("stale", "OLD", last, behind)]


# ------------------------------------------------------------------ cross-check with pandas

def _random_bars(seed: int) -> tuple[dict[str, bool], list[Bar]]:
    """Random walks with planted spikes and gaps, a few Saturday bars, adj_close with a
    split in the close, a non-positive close; two stale instruments (one inactive)."""
    rng = np.random.default_rng(seed)
    days = sessions(date(2010, 1, 4), date(2011, 12, 30))
    active: dict[str, bool] = {}
    bars: list[Bar] = []
    for n in range(8):
        symbol = f"R{n}"
        size = len(days) - (40 if n >= 6 else 0)  # R6, R7 stop early: stale
        active[symbol] = n != 7
        moves = rng.normal(0, 0.01 * (1 + n % 3), size)
        planted = rng.choice(np.arange(15, size), 6, replace=False)
        moves[planted] += rng.choice([-1, 1], 6) * rng.uniform(0.08, 0.3, 6)
        log_price = 3 + np.cumsum(moves)
        keep = np.ones(size, dtype=bool)
        for begin in rng.choice(np.arange(5, size - 12), 3, replace=False):
            keep[begin:begin + rng.integers(2, 10)] = False
        split = n % 2 == 1
        for i in np.flatnonzero(keep):
            day = days[i]
            if rng.random() < 0.01 and day.weekday() == 4:
                day += timedelta(days=1)  # dated Saturday: Monday's session
            price = float(np.exp(log_price[i]))
            if split:  # close halves from the middle on, adj_close is continuous
                close = price / 2 if i >= size // 2 else price
                bars.append((symbol, day, close, price))
            else:
                bars.append((symbol, day, price, None))
    bars.append(("R0", days[-1] + timedelta(days=1), -1.0, None))  # not read
    return active, bars


def _reference(active: dict[str, bool], bars: list[Bar], start: date, end: date,
               q: QualityConfig) -> tuple[set[tuple], dict[tuple, float], list[tuple]]:
    """Flags and data_checks rows straight from the definitions, with pandas."""
    first = start - timedelta(days=int(q.spike_window * 4.5) + 10)
    calendar = sessions(first, end + timedelta(days=10))
    frame = pd.DataFrame(bars, columns=["symbol", "trade_date", "close", "adj_close"])
    last = frame[frame["trade_date"] <= end].groupby("symbol")["trade_date"].max()
    frame["price"] = frame["adj_close"].fillna(frame["close"])
    frame = frame[(frame["trade_date"] >= first) & (frame["trade_date"] <= end)
                  & (frame["price"] > 0)].sort_values(["symbol", "trade_date"])
    frame["ord"] = [bisect_left(calendar, d) for d in frame["trade_date"]]
    frame["session"] = [calendar[i] for i in frame["ord"]]
    keys: set[tuple] = set()
    observed: dict[tuple, float] = {}
    for symbol, g in frame.groupby("symbol"):
        move = np.log(g["price"]).diff().abs()
        previous = move.shift(1).rolling(q.spike_window, min_periods=1)
        count, mean = previous.count(), previous.mean()
        missing = g["ord"].diff() - 1
        inside = (g["session"] >= start) & (g["session"] <= end)
        spike = inside & (count >= q.spike_min_moves) & (mean > 0) & (move > q.spike_k * mean)
        gap = inside & (missing > q.gap_sessions)
        for name, hit, value in (("spike", spike, move / mean), ("gap", gap, missing)):
            for i in np.flatnonzero(hit.to_numpy()):
                key = (g["session"].iloc[i], name, symbol, g["trade_date"].iloc[i])
                keys.add(key)
                observed[key] = float(value.iloc[i])
    for symbol, day in last.items():
        behind = bisect_left(calendar, end) - bisect_left(calendar, day)
        if active[symbol] and behind > q.stale_sessions:
            keys.add((end, "stale", symbol, day))
            observed[(end, "stale", symbol, day)] = behind
    window = frame[(frame["session"] >= start) & (frame["session"] <= end)]
    per_session = window.groupby("session").size()
    flagged = Counter((k[0], k[1]) for k in keys)
    checks = [(s, name, int(per_session.get(s, 0)), flagged[(s, name)])
              for s in sessions(start, end) for name in ("gap", "spike")]
    checks.append((end, "stale", sum(active.values()), flagged[(end, "stale")]))
    return keys, observed, sorted(checks)


@pytest.mark.parametrize("quality", [
    QualityConfig(),
    QualityConfig(spike_k=4, spike_window=10, spike_min_moves=5, gap_sessions=3,
                  stale_sessions=3)], ids=["defaults", "tight"])
def test_flags_match_a_pandas_reference(db_url, quality):
    active, bars = _random_bars(seed=11)
    windows = [(date(2010, 1, 4), date(2011, 12, 30)),   # everything
               (date(2011, 6, 4), date(2011, 11, 15))]    # history before it matters
    with psycopg.connect(db_url, autocommit=True) as conn:
        _seed(conn, active, bars)
        for start, end in windows:
            with conn.transaction(force_rollback=True):
                found, flags, checks = _run(conn, start, end, quality)
            keys, observed, expected_checks = _reference(active, bars, start, end, quality)
            got = {row[:4]: row[4] for row in flags}
            assert set(got) == keys
            for key, value in observed.items():
                assert got[key] == pytest.approx(value, rel=1e-9), key
            assert checks == expected_checks
            assert found == {name: sum(1 for k in keys if k[1] == name)
                             for name in ("spike", "gap", "stale")}
            if start == windows[0][0]:  # the data exercise every check
                assert found["spike"] >= 20 and found["gap"] >= 3 and found["stale"] == 1
