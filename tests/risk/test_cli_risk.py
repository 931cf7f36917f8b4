"""`macroquant risk` on real PostgreSQL: halt, status, a refused automatic resume, resume."""

from __future__ import annotations

import json

import psycopg

from macroquant.cli import main
from macroquant.risk import kill_switch
from macroquant.risk.kill_switch import KillSwitchState


def test_halt_status_resume_through_the_cli(db_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    assert main(["risk", "halt", "--by", "alice", "--reason", "broker outage"]) == 0
    assert main(["risk", "status", "--json"]) == 0
    out = capsys.readouterr().out
    status = json.loads(out[out.index("{"):])
    assert (status["state"], status["actor"], status["reason"]) == \
        ("HALTED", "alice", "broker outage")
    assert main(["risk", "resume", "--by", "system:cron", "--reason", "auto"]) == 1
    assert "only a person can resume trading" in capsys.readouterr().err
    with psycopg.connect(db_url) as conn:
        assert kill_switch.current_state(conn) is KillSwitchState.HALTED
    assert main(["risk", "resume", "--by", "bob", "--reason", "outage over"]) == 0
    assert "kill switch: ACTIVE" in capsys.readouterr().out
    with psycopg.connect(db_url) as conn:
        history = kill_switch.history(conn)
    assert [(e["state"], e["actor"]) for e in history] == [("ACTIVE", "bob"),
                                                          ("HALTED", "alice")]


def test_exposure_command_on_an_empty_book(db_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    assert main(["risk", "exposure", "--as-of", "2012-10-31", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"]["portfolio"] == {"gross": 0.0, "net": 0.0,
                                            "volatility_contribution": 0.0}


def test_once_users_exist_only_an_admin_with_a_password_may_resume(db_url, tmp_path,
                                                                   monkeypatch, capsys):
    import io
    from datetime import UTC, datetime

    from macroquant.auth.users import create_user
    from macroquant.db.connection import transaction

    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", db_url)
    at = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
    with transaction(db_url) as conn:
        create_user(conn, "alice", "correct horse battery", "admin", actor="test", at=at)
        create_user(conn, "vic", "viewer pass phrase 1", "viewer", actor="test", at=at)
    assert main(["risk", "halt", "--by", "ops", "--reason", "broker outage"]) == 0
    capsys.readouterr()

    def resume(by: str, password: str) -> tuple[int, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        code = main(["risk", "resume", "--by", by, "--reason", "checked",
                     "--password-stdin"])
        return code, capsys.readouterr().err

    for by, password, reason in (
            ("bob", "anything", "'bob' is not a MacroQuant user"),
            ("vic", "viewer pass phrase 1", "user 'vic' has the role viewer; this needs an admin"),
            ("alice", "wrong guess", "wrong password for 'alice'")):
        code, err = resume(by, password)
        assert code == 1 and reason in err and password not in err
        with psycopg.connect(db_url) as conn:
            assert kill_switch.current_state(conn) is KillSwitchState.HALTED
    assert resume("alice", "correct horse battery") == (0, "")
    with psycopg.connect(db_url) as conn:
        assert kill_switch.current_state(conn) is KillSwitchState.ACTIVE
        audit = conn.execute("""SELECT actor, outcome, role, client, details->>'os_user'
                                FROM audit_log WHERE action = 'kill_switch.resume'
                                ORDER BY audit_id""").fetchall()
    import getpass
    me = getpass.getuser()
    assert [(a[0], a[1], a[2]) for a in audit] == [
        ("bob", "denied", None), ("vic", "denied", None), ("alice", "denied", None),
        ("alice", "success", "admin")]
    assert {a[3] for a in audit} == {f"cli:{me}"} and {a[4] for a in audit} == {me}
