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
