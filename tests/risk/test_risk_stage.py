"""Target-level limits (asset-class caps, net leverage) and the portfolio/risk stages with
stops, on real PostgreSQL and the bundled history."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import psycopg
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from macroquant.calendars import sessions
from macroquant.config.settings import INCLUDE_DIR
from macroquant.db.bulk import read_frame
from macroquant.errors import ConfigError
from macroquant.pipeline.runner import run_stage
from macroquant.risk.limits import apply_limits

CAPITAL = 1_000_000


def _targets(rows):
    return pd.DataFrame(rows, columns=["as_of", "symbol", "asset_class", "price", "lot_size",
                                       "target_quantity"])


def test_asset_class_cap_then_net_leverage_by_hand():
    targets = _targets([
        # d1: commodity gross 300k + 100k = 0.4 > cap 0.2 -> the class scaled by 0.5:
        #     A 1500 (150k), B 1000 (50k). Net 150k + 50k - 100k = 0.10 > 0.05: the long
        #     side (0.20) scaled by (0.05 + 0.10) / 0.20 = 0.75: A 1125, B 750; C kept.
        ("d1", "A", "commodity", 100.0, 1.0, 3000.0),
        ("d1", "B", "commodity", 50.0, 1.0, 2000.0),
        ("d1", "C", "fx", 1.0, 1.0, -100_000.0),
        # d2: net 0.1 - 0.4 = -0.3: the short side scaled by (0.05 + 0.1) / 0.4 = 0.375
        ("d2", "C", "fx", 1.0, 1.0, -400_000.0),
        ("d2", "D", "equity_index", 1000.0, 1.0, 100.0),
    ])
    approved, events = apply_limits(targets, capital=CAPITAL, max_position_fraction=0.5,
                                    max_gross_leverage=2.0, max_net_leverage=0.05,
                                    asset_class_max_gross={"commodity": 0.2})
    assert approved["approved_quantity"].tolist() == [1125.0, 750.0, -100_000.0, -150_000.0,
                                                      100.0]
    assert approved["risk_status"].tolist() == ["scaled", "scaled", "approved", "scaled",
                                                "approved"]
    by = events.set_index(["as_of", "check_name", "subject"])
    cap = by.loc[("d1", "asset_class_cap", "commodity")]
    assert (cap["outcome"], cap["observed_value"], cap["limit_value"]) == ("scale", 0.4, 0.2)
    assert "scaled by 0.5000" in cap["reason"]
    assert ("d1", "asset_class_cap", "fx") not in by.index  # no cap configured for fx
    net1, net2 = by.loc[("d1", "max_net_leverage", "portfolio")], \
        by.loc[("d2", "max_net_leverage", "portfolio")]
    assert (net1["outcome"], net1["observed_value"]) == ("scale", pytest.approx(0.1))
    assert (net2["outcome"], net2["observed_value"]) == ("scale", pytest.approx(0.3))
    assert "short side scaled down to a net of -0.050" in net2["reason"]
    gross = by.loc[("d1", "max_gross_leverage", "portfolio")]
    # gross is checked after the class cap and before the net limit: 150k + 50k + 100k
    assert (gross["outcome"], gross["observed_value"]) == ("pass", pytest.approx(0.3))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 1000), st.sampled_from([1.0, 10.0, 1000.0]),
                          st.floats(-1e5, 1e5),
                          st.sampled_from(["fx", "commodity", "equity_index"])),
                min_size=1, max_size=12),
       st.floats(0.05, 1.0), st.floats(0.1, 3.0), st.floats(0.05, 2.0), st.floats(0.05, 1.0))
def test_all_limits_hold_and_never_enlarge_or_flip(rows, position, gross, net, commodity_cap):
    targets = _targets([("d", f"S{i}", c, p, lot, round(q / lot) * lot)
                        for i, (p, lot, q, c) in enumerate(rows)])
    approved, _ = apply_limits(targets, capital=CAPITAL, max_position_fraction=position,
                               max_gross_leverage=gross, max_net_leverage=net,
                               asset_class_max_gross={"commodity": commodity_cap})
    q0, q1 = targets["target_quantity"].to_numpy(), approved["approved_quantity"].to_numpy()
    notional = q1 * targets["price"].to_numpy()
    assert (np.abs(q1) <= np.abs(q0) + 1e-9).all() and (q1 * q0 >= 0).all()
    assert (np.abs(notional) <= position * CAPITAL + 1e-6).all()
    assert np.abs(notional).sum() <= gross * CAPITAL + 1e-6
    assert abs(notional.sum()) <= net * CAPITAL + 1e-6
    commodity = targets["asset_class"].to_numpy() == "commodity"
    assert np.abs(notional[commodity]).sum() <= commodity_cap * CAPITAL + 1e-6
    assert np.allclose(q1 / targets["lot_size"], np.round(q1 / targets["lot_size"]))


# ------------------------------------------------------------------ stages on PostgreSQL

START, MID, END = date(2012, 10, 1), date(2012, 10, 15), date(2012, 10, 31)
STOPS = {"ewma_trend": {"stop_loss": {"kind": "trailing", "fraction": 0.02},
                        "take_profit": {"kind": "volatility", "multiple": 2}},
         "zscore_reversion": {"stop_loss": {"kind": "fixed", "fraction": 0.01}}}


def _config(tmp_path, stops):
    shipped = yaml.safe_load((INCLUDE_DIR / "macroquant.yaml").read_text())
    shipped["stops"] = stops
    path = tmp_path / "trading.yaml"
    path.write_text(yaml.safe_dump(shipped))
    return path


def _run_through_risk(start, end, run_id, settings_):
    for stage in ("ingest", "validate", "features", "signals", "portfolio", "risk"):
        run_stage(stage, start, end, run_id, settings_)


def _stop_state(url):
    with psycopg.connect(url) as conn:
        events = read_frame(conn, """SELECT as_of, check_name, subject, outcome, limit_value,
                                            observed_value, details, reason FROM risk_events
                                     WHERE check_name IN ('stop_loss', 'take_profit')
                                     ORDER BY as_of, check_name, subject""")
        targets = read_frame(conn, """SELECT t.as_of, st.name || ':' || i.symbol AS subject,
                                             t.target_quantity, t.signal_strength
                                      FROM targets t JOIN strategies st USING (strategy_id)
                                      JOIN instruments i USING (instrument_id)
                                      ORDER BY 1, 2""")
        checks = read_frame(conn, """SELECT as_of, check_name, count(*) AS n FROM risk_events
                                     WHERE subject = 'portfolio' GROUP BY 1, 2""")
    return events, targets, checks


def test_stops_flatten_targets_record_events_and_rerun_identically(loaded_settings,
                                                                   tmp_path):
    from tests.conftest import make_settings

    url = loaded_settings.database_url
    configured = make_settings(tmp_path, url, config_path=_config(tmp_path, STOPS))
    _run_through_risk(START, END, "stops", configured)
    events, targets, checks = _stop_state(url)
    assert len(events) > 0 and set(events["outcome"]) == {"block"}
    assert set(events["check_name"]) <= {"stop_loss", "take_profit"}
    # each trigger's own target is flat, and stays flat while the signal keeps its sign
    keyed = targets.set_index(["as_of", "subject"])
    for row in events.itertuples():
        assert keyed.loc[(row.as_of, row.subject), "target_quantity"] == 0.0
        side = 1.0 if row.details["side"] == "long" else -1.0
        if row.check_name == "stop_loss":  # the close moved against the side past the level
            assert side * (row.observed_value - row.limit_value) <= 0
        else:
            assert side * (row.observed_value - row.limit_value) >= 0
        assert row.reason.startswith(row.subject.split(":")[0])
    # every session has the book-level checks the orders stage relies on
    per_check = checks.pivot(index="as_of", columns="check_name", values="n")
    assert list(per_check.index) == sessions(START, END)
    assert per_check[["max_gross_leverage", "max_net_leverage"]].eq(1).all().all()

    # rerunning the whole window, then its second half alone, changes nothing
    _run_through_risk(START, END, "stops", configured)
    again = _stop_state(url)
    pd.testing.assert_frame_equal(events, again[0])
    pd.testing.assert_frame_equal(targets, again[1])
    _run_through_risk(MID, END, "stops", configured)
    half = _stop_state(url)
    pd.testing.assert_frame_equal(events, half[0])
    pd.testing.assert_frame_equal(targets, half[1])

    # with stops off the same window has no stop event and more non-zero targets
    plain = make_settings(tmp_path, url, config_path=_config(tmp_path, {}))
    _run_through_risk(START, END, "plain", plain)
    events_off, targets_off, _ = _stop_state(url)
    assert events_off.empty
    on = targets.set_index(["as_of", "subject"])["target_quantity"]
    off = targets_off.set_index(["as_of", "subject"])["target_quantity"]
    assert (on.abs() <= off.abs() + 1e-9).all() and (on.eq(off) | on.eq(0)).all()
    assert (on.ne(off)).sum() >= len(events)


def test_a_stop_for_an_unknown_strategy_is_a_config_error(loaded_settings, tmp_path):
    from macroquant.status import table_counts
    from tests.conftest import make_settings

    path = _config(tmp_path, {"ewma_trnd": {"stop_loss": {"kind": "fixed", "fraction": 0.1}}})
    configured = make_settings(tmp_path, loaded_settings.database_url, config_path=path)
    # raised by the first stage before it writes anything: only its failure is recorded
    before = table_counts(loaded_settings.database_url)
    with pytest.raises(ConfigError, match="stops.ewma_trnd.*no strategy is named") as error:
        run_stage("ingest", START, START, "bad", configured)
    assert error.value.path == str(path)
    after = table_counts(loaded_settings.database_url)
    assert {t: n - before.get(t, 0) for t, n in after.items() if n != before.get(t, 0)} == {
        "pipeline_runs": 1, "system_logs": 1}
    with psycopg.connect(loaded_settings.database_url) as conn:
        assert conn.execute("SELECT status, message FROM pipeline_runs WHERE run_id = 'bad'"
                            ).fetchone()[0] == "failed"
