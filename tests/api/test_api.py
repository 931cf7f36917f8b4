"""The API's endpoints on a real database: exact rows back, operate endpoints change what
they say, login refusals and the rate limit, and the audit trail of each change."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from macroquant.api.runs import create_request, execute_request
from macroquant.auth.strategy_controls import paused_strategies
from macroquant.db.connection import transaction
from macroquant.security.secrets import get_secret, load_key
from tests.api.conftest import Api
from tests.auth.helpers import PASSWORDS, T0


def _audit(api: Api, action: str) -> list[tuple]:
    with psycopg.connect(api.url) as conn:
        return conn.execute("SELECT actor, role, target, outcome, details FROM audit_log "
                            "WHERE action = %s ORDER BY audit_id", (action,)).fetchall()


def test_read_endpoints_return_the_stored_rows(api: Api):
    h = api.headers("viewer")
    signals = api.client.get("/signals", headers=h).json()  # latest date: 2012-10-02
    assert signals == [
        {"as_of": "2012-10-02", "strategy": "ewma_trend", "symbol": "EURUSD",
         "strength": -0.125, "direction": -1, "confidence": 0.25},
        {"as_of": "2012-10-02", "strategy": "ewma_trend", "symbol": "SPX", "strength": 0.5,
         "direction": 1, "confidence": 0.75}]
    older = api.client.get("/signals", params={"as_of": "2012-10-01"}, headers=h).json()
    assert [(s["symbol"], s["strength"]) for s in older] == [("SPX", 0.25)]
    assert api.client.get("/signals", params={"strategy": "nope"}, headers=h).json() == []

    positions = api.client.get("/positions", headers=h).json()
    assert [(p["symbol"], p["quantity"], p["market_value"], p["asset_class"])
            for p in positions] == [("EURUSD", -1000.0, -1293.7, "fx"),
                                    ("SPX", 12.0, 17349.0, "equity_index")]
    performance = api.client.get("/performance", headers=h).json()
    assert [(r["as_of"], r["equity"], r["daily_pnl"]) for r in performance] == [
        ("2012-10-01", 1_000_000.0, 0.0), ("2012-10-02", 1_000_500.0, 500.0)]
    strategy = api.client.get("/performance", params={"scope": "strategy:ewma_trend"},
                              headers=h).json()
    assert len(strategy) == 1 and strategy[0]["cash"] is None and strategy[0]["drawdown"] == -0.001
    last = api.client.get("/performance", params={"limit": 1}, headers=h).json()
    assert [r["as_of"] for r in last] == ["2012-10-02"]
    reports = api.client.get("/reports", headers=h).json()
    assert reports == [{"report_date": "2012-10-02", "kind": "daily",
                        "path": "/r/daily/2012-10-02.html",
                        "summary": {"equity": 1000500.0, "daily_return": 0.0005}}]
    names = {s["name"]: s for s in api.client.get("/strategies", headers=h).json()}
    # the registered one and the shipped YAML files
    assert {"ewma_trend", "zscore_reversion"} <= set(names)
    assert names["ewma_trend"]["enabled"] is True and names["zscore_reversion"]["enabled"] is None
    assert api.client.get("/kill-switch", headers=h).json()["state"] == "ACTIVE"
    assert api.client.get("/health").json() == {"status": "ok", "database": "ok"}


def test_login_logout_and_token_refusals(api: Api):
    response = api.client.post("/auth/login", json={"username": "tom",
                                                    "password": PASSWORDS["trader"]})
    body = response.json()
    assert response.status_code == 200 and body["role"] == "trader"
    assert body["expires_at"] == "2012-10-03T02:00:00Z"  # T0 + 12 h
    h = {"Authorization": f"Bearer {body['access_token']}"}
    assert api.client.get("/auth/me", headers=h).json()["username"] == "tom"
    with psycopg.connect(api.url) as conn:  # only the digest is stored
        assert conn.execute("SELECT count(*) FROM api_sessions WHERE token_sha256 = %s",
                            (body["access_token"],)).fetchone()[0] == 0
    assert api.client.post("/auth/logout", headers=h).status_code == 204
    refused = api.client.get("/auth/me", headers=h)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"

    expired = api.headers("viewer")
    api.clock.advance(hours=12)
    assert api.client.get("/signals", headers=expired).status_code == 401
    assert api.client.get("/signals", headers={"Authorization": "Bearer forged"}).status_code \
        == 401


def test_wrong_password_is_refused_and_rate_limited(api: Api):
    def attempt(password: str, username: str = "vera") -> tuple[int, dict]:
        r = api.client.post("/auth/login", json={"username": username, "password": password})
        return r.status_code, dict(r.headers)

    assert [attempt("wrong-password-x")[0] for _ in range(3)] == [401, 401, 401]
    api.clock.advance(minutes=5)
    code, headers = attempt(PASSWORDS["viewer"])  # the right password, but locked
    assert code == 429 and headers["retry-after"] == str(10 * 60)  # 15 min window - 5 min
    api.clock.advance(minutes=10)
    assert attempt(PASSWORDS["viewer"])[0] == 200
    logins = _audit(api, "login")
    assert [(a, o, d.get("reason")) for a, _, _, o, d in logins] == [
        ("vera", "denied", "wrong_password")] * 3 + [
        ("vera", "denied", "rate_limited"), ("vera", "success", None)]
    # per client: 6 failures over several usernames lock the address for everyone
    for name in ("tom", "ada", "nobody", "tom", "ada", "nobody"):
        assert attempt("wrong-password-y", name)[0] == 401
    assert attempt(PASSWORDS["admin"], "ada")[0] == 429


def test_a_password_in_the_username_field_is_not_stored(api: Api):
    assert api.client.post("/auth/login", json={"username": "Secret Pass 123!",
                                                "password": "x"}).status_code == 401
    with psycopg.connect(api.url) as conn:
        assert conn.execute("SELECT username FROM login_attempts").fetchall() == [("<invalid>",)]
        assert conn.execute("SELECT actor FROM audit_log WHERE action = 'login'"
                            ).fetchall() == [("<invalid>",)]
        assert conn.execute("SELECT count(*) FROM audit_log WHERE strpos(actor || target || "
                            "details::text, 'Secret Pass') > 0").fetchone()[0] == 0


def test_pause_and_unpause_a_strategy(api: Api):
    h = api.headers("trader")
    out = api.client.post("/strategies/ewma_trend/pause", json={"reason": "vol spike"},
                          headers=h).json()
    assert (out["paused"], out["pause_reason"], out["changed_by"]) == (True, "vol spike", "tom")
    with psycopg.connect(api.url) as conn:
        assert paused_strategies(conn) == {"ewma_trend"}
    listed = {s["name"]: s["paused"] for s in
              api.client.get("/strategies", headers=h).json()}
    assert listed["ewma_trend"] is True and listed["zscore_reversion"] is False
    api.client.post("/strategies/ewma_trend/unpause", json={}, headers=h)
    with psycopg.connect(api.url) as conn:
        assert paused_strategies(conn) == frozenset()
    assert api.client.post("/strategies/nope/pause", json={}, headers=h).status_code == 404
    assert [(a, t, o) for a, _, t, o, _ in _audit(api, "strategy.pause")] == [
        ("tom", "strategy:ewma_trend", "success")]
    assert len(_audit(api, "strategy.unpause")) == 1


def test_kill_switch_halt_then_only_admin_resumes(api: Api):
    trader, admin = api.headers("trader"), api.headers("admin")
    halted = api.client.post("/kill-switch/halt", json={"reason": "broker outage"},
                             headers=trader).json()
    assert (halted["state"], halted["actor"], halted["reason"]) == ("HALTED", "tom",
                                                                    "broker outage")
    # reducing never lowers a halted switch
    assert api.client.post("/kill-switch/reduce", json={"reason": "x"},
                           headers=trader).json()["state"] == "HALTED"
    assert api.client.post("/kill-switch/resume", json={"reason": "ok"},
                           headers=trader).status_code == 403
    assert api.client.get("/kill-switch", headers=trader).json()["state"] == "HALTED"
    resumed = api.client.post("/kill-switch/resume", json={"reason": "outage over"},
                              headers=admin).json()
    assert (resumed["state"], resumed["actor"]) == ("ACTIVE", "ada")
    assert api.client.post("/kill-switch/halt", json={"reason": "  "},
                           headers=trader).status_code == 422
    with psycopg.connect(api.url) as conn:
        assert conn.execute("SELECT previous_state, state, actor FROM kill_switch_history "
                            "ORDER BY event_id").fetchall() == [
            ("ACTIVE", "HALTED", "tom"), ("HALTED", "ACTIVE", "ada")]
    assert [(o, d["from"], d["to"]) for _, _, _, o, d in _audit(api, "killswitch.resume")
            if o == "success"] == [("success", "HALTED", "ACTIVE")]


def test_trigger_a_run(api: Api):
    api.clock.advance(days=5)  # Sunday 2012-10-07
    h = api.headers("trader")
    response = api.client.post("/runs", json={"start": "2012-10-06"}, headers=h)  # Saturday
    body = response.json()
    assert response.status_code == 202
    assert (body["window_start"], body["window_end"], body["status"], body["requested_by"]) \
        == ("2012-10-05", "2012-10-05", "queued", "tom")
    assert body["run_id"] == f"api-{body['request_id']}" and api.executed == [body["request_id"]]
    done = api.client.get("/runs/requests", headers=h).json()
    assert [r["status"] for r in done] == ["success"]
    future = api.client.post("/runs", json={"start": "2012-10-08"}, headers=h)
    assert future.status_code == 400 and "after today" in future.json()["detail"]
    backwards = api.client.post("/runs", json={"start": "2012-10-02", "end": "2012-10-01"},
                                headers=h)
    assert backwards.status_code == 422
    with transaction(api.url) as conn:  # a queued request blocks a second one
        create_request(conn, start=date(2012, 9, 28), end=None, actor="x", at=T0)
    assert api.client.post("/runs", json={"start": "2012-10-01"}, headers=h).status_code == 409
    assert [o for _, _, _, o, _ in _audit(api, "run.trigger")] == ["success", "failed"]


def test_default_executor_records_a_refused_run(api: Api):
    # an empty database: the pre-flight refuses the run before any stage writes a row,
    # and the request says why
    with transaction(api.url) as conn:
        request_id = create_request(conn, start=date(2012, 10, 1), end=None, actor="tom",
                                    at=T0)
    execute_request(api.settings, api.url, api.clock, request_id)
    with psycopg.connect(api.url) as conn:
        status, message, run_id = conn.execute(
            "SELECT status, message, run_id FROM run_requests WHERE request_id = %s",
            (request_id,)).fetchone()
        stages = conn.execute("SELECT stage, status FROM pipeline_runs WHERE run_id = %s",
                              (run_id,)).fetchall()
    assert status == "failed"
    assert message.startswith("PreflightError: ") and "(nothing was written)" in message
    assert stages == []


def test_admin_manages_users_and_credentials(api: Api):
    admin = api.headers("admin")
    created = api.client.post("/users", json={"username": "newbie", "password":
                                              "long-enough-pw1", "role": "viewer"}, headers=admin)
    assert created.status_code == 201 and created.json()["role"] == "viewer"
    assert api.client.post("/users", json={"username": "newbie", "password": "long-enough-pw1",
                                           "role": "viewer"}, headers=admin).status_code == 409
    assert api.client.post("/users", json={"username": "short", "password": "short",
                                           "role": "viewer"}, headers=admin).status_code == 422
    changed = api.client.patch("/users/newbie", json={"role": "trader", "disabled": True},
                               headers=admin).json()
    assert (changed["role"], changed["disabled"]) == ("trader", True)
    last_admin = api.client.patch("/users/ada", json={"role": "viewer"}, headers=admin)
    assert last_admin.status_code == 400 and "last enabled admin" in last_admin.json()["detail"]
    assert api.client.patch("/users/ghost", json={}, headers=admin).status_code == 404

    value = "alpaca-secret-value-42"
    assert api.client.put("/broker/credentials/ALPACA_API_KEY", json={"value": value},
                          headers=admin).status_code == 204
    listed = api.client.get("/broker/credentials", headers=admin)
    assert [r["name"] for r in listed.json()] == ["ALPACA_API_KEY"] and value not in listed.text
    with psycopg.connect(api.url) as conn:
        assert get_secret(conn, "ALPACA_API_KEY", key=load_key(api.settings, {})) == value
    audit_rows = api.client.get("/audit", params={"actor": "ada"}, headers=admin).json()
    assert value not in str(audit_rows)
    # newest first: the credential change, then the disable and the role change of newbie
    assert [(r["action"], r["target"]) for r in audit_rows][:4] == [
        ("broker.settings", "credential/ALPACA_API_KEY"), ("user.disable", "user:newbie"),
        ("user.set_role", "user:newbie"), ("user.create", "user:newbie")]
    assert api.client.delete("/broker/credentials/ALPACA_API_KEY",
                             headers=admin).status_code == 204
    assert api.client.delete("/broker/credentials/ALPACA_API_KEY",
                             headers=admin).status_code == 404


@pytest.mark.parametrize("path", ["/signals", "/positions"])
def test_empty_tables_give_empty_lists(api: Api, path: str):
    with transaction(api.url) as conn:
        conn.execute("TRUNCATE signals, positions")
    assert api.client.get(path, headers=api.headers("viewer")).json() == []
