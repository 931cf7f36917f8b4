"""Daily and weekly reports (HTML and PDF), the report CLI, attribution CLI and SMTP."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from aiosmtpd.controller import Controller

from macroquant.cli import main
from macroquant.errors import MissingCredentialError
from macroquant.pipeline.runner import run_pipeline
from macroquant.reports.email import build_message, send_message, smtp_config_from_env
from macroquant.reports.report_builder import (
    attribution_start,
    is_last_session_of_week,
    period_start,
    write_report,
)
from tests.local_http import free_port

START, END = date(2012, 10, 1), date(2012, 10, 12)  # two whole weeks; 10-12 is a Friday


def test_week_boundaries_follow_the_exchange_calendar():
    assert period_start("weekly", date(2012, 10, 12)) == date(2012, 10, 8)
    assert period_start("daily", date(2012, 10, 12)) == date(2012, 10, 12)
    # Thanksgiving week 2012: Monday 19th opens; Friday 23rd is the week's last session
    assert period_start("weekly", date(2012, 11, 21)) == date(2012, 11, 19)
    assert is_last_session_of_week(date(2012, 11, 23))
    assert not is_last_session_of_week(date(2012, 11, 21))
    # Good Friday 2012-04-06 is closed: Thursday ends the week
    assert is_last_session_of_week(date(2012, 4, 5))


def test_daily_attribution_covers_the_last_21_sessions():
    history = pd.Series(pd.bdate_range("2024-01-01", periods=30).date)
    # 21 sessions back from Friday 9 February: four whole weeks and Friday 12 January
    assert attribution_start("daily", date(2024, 2, 9), history) == date(2024, 1, 12)
    assert attribution_start("daily", date(2024, 1, 5), history[:5]) == date(2024, 1, 1)
    assert attribution_start("weekly", date(2024, 2, 5), history) == date(2024, 2, 5)


@pytest.fixture
def traded(loaded_settings):
    run_pipeline(START, END, "reports", loaded_settings)
    return loaded_settings


def test_stage_writes_daily_and_weekly_reports(traded):
    with psycopg.connect(traded.database_url) as conn:
        rows = conn.execute("""SELECT report_date, kind, path, summary FROM reports
                               ORDER BY kind""").fetchall()
        week_pnl = conn.execute("""SELECT sum(daily_pnl) FROM performance WHERE scope =
                                   'portfolio' AND as_of BETWEEN '2012-10-08' AND '2012-10-12'
                                """).fetchone()[0]
    assert [(r[0], r[1]) for r in rows] == [(END, "daily"), (END, "weekly")]
    weekly = rows[1][3]
    assert weekly["period_start"] == "2012-10-08"
    assert weekly["period_pnl"] == pytest.approx(week_pnl, abs=1e-6)
    contributions = weekly["contribution_by_strategy"]
    assert set(contributions) == {"ewma_trend", "zscore_reversion", "execution_and_netting"}
    assert sum(contributions.values()) == pytest.approx(week_pnl, abs=1e-6)
    html = Path(rows[1][2]).read_text(encoding="utf-8")
    assert "Contribution by strategy, 2012-10-08 to 2012-10-12" in html
    assert "By asset class" in html and "execution_and_netting" in html
    # the daily report attributes the last month of sessions (here all ten), not one day
    daily = rows[0][3]
    assert daily["period_start"] == "2012-10-12" and daily["attribution_start"] == "2012-10-01"
    with psycopg.connect(traded.database_url) as conn:
        ten_days = conn.execute("""SELECT sum(daily_pnl) FROM performance WHERE scope =
                                   'portfolio' AND as_of BETWEEN '2012-10-01' AND '2012-10-12'
                                """).fetchone()[0]
    assert sum(daily["contribution_by_strategy"].values()) == pytest.approx(ten_days, abs=1e-6)
    daily_html = Path(rows[0][2]).read_text(encoding="utf-8")
    assert "Attribution, 2012-10-01 to 2012-10-12" in daily_html
    pdf = Path(weekly["pdf"]).read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(
        b"/Type /Page ") >= 5


def test_report_files_are_reproducible(traded, tmp_path):
    with psycopg.connect(traded.database_url) as conn:
        first = write_report(conn, tmp_path, "weekly", END)
        pdf, html = first.pdf.read_bytes(), first.html.read_text()
        second = write_report(conn, tmp_path, "weekly", END)
    assert second.pdf.read_bytes() == pdf and second.html.read_text() == html


def test_report_and_attribution_cli(traded, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", traded.database_url)
    monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
    assert main(["report", "weekly", "--as-of", "2012-10-13"]) == 0  # Saturday -> Friday
    out = capsys.readouterr().out
    assert "weekly report of 2012-10-12 (from 2012-10-08)" in out
    assert (tmp_path / "reports" / "weekly" / "2012-10-12.pdf").exists()
    assert main(["attribution", "--start", "2012-10-08", "--end", "2012-10-12", "--by",
                 "asset_class", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    parts = {k: v["pnl"] for k, v in payload["asset_class"].items() if k != "total"}
    assert sum(parts.values()) == pytest.approx(payload["asset_class"]["total"]["pnl"])
    assert payload["asset_class"]["total"]["volatility_share"] == pytest.approx(1.0)
    assert main(["attribution", "--start", "1990-01-01", "--end", "1990-01-31"]) == 1
    assert "no portfolio performance" in capsys.readouterr().err
    # the summary's headers each sit over the rows they describe
    assert main(["summary", "--start", "2012-10-01", "--end", "2012-10-12"]) == 0
    out = capsys.readouterr().out
    portfolio = out.index("Portfolio (the paper account, after costs)")
    books = out.index("Strategy books (notional, before netting and costs)")
    assert portfolio < out.index("│ portfolio") < books
    assert books < out.rindex("│ ewma_trend") and books < out.rindex("│ zscore_reversion")
    assert "strategy:" not in out
    # the volatility target, told honestly: target, ex-ante, realised, what held it below
    budget = next(line for line in out.splitlines() if line.startswith("volatility target"))
    assert budget.startswith("volatility target 12.0%: ex-ante ") and "realised" in budget \
        and "over 10 sessions" in budget
    assert "held below target by: portfolio scale at its cap on" in out


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


def test_email_goes_to_a_local_smtp_server(traded, tmp_path, monkeypatch, capsys):
    inbox = _Inbox()
    port = free_port()  # aiosmtpd's start-up check needs a real port number
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        monkeypatch.setenv("MACROQUANT_DATABASE_URL", traded.database_url)
        monkeypatch.setenv("MACROQUANT_HOME", str(tmp_path))
        monkeypatch.setenv("MACROQUANT_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("MACROQUANT_SMTP_PORT", str(port))
        monkeypatch.setenv("MACROQUANT_SMTP_FROM", "mq@example.org")
        monkeypatch.setenv("MACROQUANT_SMTP_TO", "a@example.org, b@example.org")
        monkeypatch.setenv("MACROQUANT_SMTP_STARTTLS", "false")
        assert main(["report", "daily", "--as-of", "2012-10-12", "--email"]) == 0
        assert "sent to a@example.org, b@example.org" in capsys.readouterr().out
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    sender, recipients, content = inbox.messages[0]
    assert sender == "mq@example.org" and recipients == ["a@example.org", "b@example.org"]
    assert b"Subject: MacroQuant daily report 2012-10-12" in content
    assert b'filename="2012-10-12.pdf"' in content and b'filename="2012-10-12.html"' in content


def test_email_settings_and_failures_are_named():
    with pytest.raises(MissingCredentialError, match="MACROQUANT_SMTP_HOST"):
        smtp_config_from_env({"MACROQUANT_SMTP_FROM": "x@y", "MACROQUANT_SMTP_TO": "z@y"})
    config = smtp_config_from_env({"MACROQUANT_SMTP_HOST": "127.0.0.1",
                                   "MACROQUANT_SMTP_PORT": "1", "MACROQUANT_SMTP_FROM": "x@y",
                                   "MACROQUANT_SMTP_TO": "z@y", "MACROQUANT_SMTP_USER": "me"})
    message = build_message(config, "s", "b", [])
    with pytest.raises(Exception, match="127.0.0.1:1 failed"):
        send_message(config, message, lambda: "pw")
