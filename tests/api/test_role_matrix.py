"""Every (role, endpoint) pair gets the status code its role allows, and every refusal is
audited. The table below must list every operation of the OpenAPI schema."""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg

from macroquant.auth.users import create_user
from macroquant.db.connection import transaction
from tests.api.conftest import USERNAMES, Api
from tests.auth.helpers import PASSWORDS

ROLES = ("viewer", "trader", "admin")
RANK = {"anonymous": -1, "viewer": 0, "trader": 1, "admin": 2}

# (method, path as sent, path template, least role, success code, body for a role)
ENDPOINTS: list[tuple[str, str, str, str, int, Any]] = [
    ("GET", "/auth/me", "/auth/me", "viewer", 200, None),
    ("GET", "/signals", "/signals", "viewer", 200, None),
    ("GET", "/positions", "/positions", "viewer", 200, None),
    ("GET", "/performance", "/performance", "viewer", 200, None),
    ("GET", "/reports", "/reports", "viewer", 200, None),
    ("GET", "/strategies", "/strategies", "viewer", 200, None),
    ("GET", "/runs", "/runs", "viewer", 200, None),
    ("GET", "/runs/requests", "/runs/requests", "viewer", 200, None),
    ("GET", "/kill-switch", "/kill-switch", "viewer", 200, None),
    ("POST", "/strategies/ewma_trend/pause", "/strategies/{name}/pause", "trader", 200,
     {"reason": "matrix"}),
    ("POST", "/strategies/ewma_trend/unpause", "/strategies/{name}/unpause", "trader", 200,
     {}),
    ("POST", "/runs", "/runs", "trader", 202, {"start": "2012-10-01"}),
    ("POST", "/kill-switch/reduce", "/kill-switch/reduce", "trader", 200,
     {"reason": "matrix"}),
    ("POST", "/kill-switch/halt", "/kill-switch/halt", "trader", 200, {"reason": "matrix"}),
    ("POST", "/kill-switch/resume", "/kill-switch/resume", "admin", 200,
     {"reason": "matrix"}),
    ("GET", "/users", "/users", "admin", 200, None),
    ("POST", "/users", "/users", "admin", 201,
     lambda role: {"username": f"new-{role}", "password": "a-long-password-1", "role": "viewer"}),
    ("PATCH", "/users/sam", "/users/{username}", "admin", 200, {"role": "trader"}),
    ("GET", "/audit", "/audit", "admin", 200, None),
    ("GET", "/broker/credentials", "/broker/credentials", "admin", 200, None),
    ("PUT", "/broker/credentials/ALPACA_API_KEY", "/broker/credentials/{name}", "admin", 204,
     {"value": "matrix-value-1234"}),
    ("DELETE", "/broker/credentials/ALPACA_API_KEY", "/broker/credentials/{name}", "admin",
     204, None),
    ("POST", "/auth/logout", "/auth/logout", "viewer", 204, None),
]
PUBLIC = [("GET", "/health"), ("POST", "/auth/login")]


def _call(api: Api, method: str, path: str, who: str, body: Any) -> int:
    headers = {} if who == "anonymous" else api.headers(who)
    if callable(body):
        body = body(who)
    return api.client.request(method, path, headers=headers, json=body).status_code


def test_the_table_covers_every_operation(api: Api):
    spec = api.client.get("/openapi.json").json()
    operations = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    listed = {(m, template) for m, _, template, *_ in ENDPOINTS} | set(PUBLIC)
    assert operations == listed
    # and the schema declares the bearer scheme on every gated operation
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for method, _, template, *_ in ENDPOINTS:
        assert spec["paths"][template][method.lower()]["security"] == [{"HTTPBearer": []}]


def test_role_matrix(api: Api, capsys):
    with transaction(api.url) as conn:
        create_user(conn, "sam", "sam-password-01", "viewer", actor="test", at=api.clock())
    got: dict[tuple[str, str], int] = {}
    expected: dict[tuple[str, str], int] = {}
    for who in ("anonymous", *ROLES):
        for method, path, _, least, ok, body in ENDPOINTS:
            allowed = RANK[who] >= RANK[least]
            expected[(who, f"{method} {path}")] = ok if allowed else (
                401 if who == "anonymous" else 403)
            got[(who, f"{method} {path}")] = _call(api, method, path, who, body)
        for role in ROLES if who == "anonymous" else (who,):
            response = api.client.post("/auth/login", json={"username": USERNAMES[role],
                                                            "password": PASSWORDS[role]})
            got[(who, "POST /auth/login")] = expected[(who, "POST /auth/login")] = 200
            assert response.status_code == 200
        got[(who, "GET /health")] = api.client.get("/health").status_code
        expected[(who, "GET /health")] = 200

    lines = [f"{'endpoint':<45}" + "".join(f"{w:>10}" for w in ("anonymous", *ROLES))]
    for endpoint in dict.fromkeys(e for _, e in got):
        lines.append(f"{endpoint:<45}" + "".join(
            f"{got[(w, endpoint)]:>10}" for w in ("anonymous", *ROLES)))
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert got == expected
    counts = Counter(got.values())
    assert counts[403] == 13 + 8  # viewer: 13 gated operations, trader: 8 admin ones and counts[401] == len(ENDPOINTS)

    # every 403 is one audit row naming the user, the action and the refused request
    with psycopg.connect(api.url) as conn:
        denied = conn.execute(
            """SELECT actor, role, target, details->>'required_role' FROM audit_log
               WHERE outcome = 'denied' AND action NOT IN ('auth.token', 'login')""").fetchall()
        anonymous = conn.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'auth.token' AND outcome = 'denied' "
            "AND actor = '<anonymous>'").fetchone()[0]
    refused = sorted((USERNAMES[w], w, e) for (w, e), code in got.items() if code == 403)
    assert sorted((a, r, t) for a, r, t, _ in denied) == refused
    assert {(r, req) for _, r, _, req in denied} == {
        ("viewer", "trader"), ("viewer", "admin"), ("trader", "admin")}
    assert anonymous == len(ENDPOINTS)
