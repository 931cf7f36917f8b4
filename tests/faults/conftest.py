"""The fault-injection suite's result table, printed at the end of the run.

Each test adds one row: fault, times injected, duplicate orders, lost fills, reconciled.
Set MACROQUANT_FAULT_TABLE=PATH to also write it as Markdown.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.brokers.support import fake_alpaca, universe_url  # noqa: F401

ROWS: list[dict[str, object]] = []
HEADER = ("fault", "times injected", "duplicate orders", "lost fills", "reconciled")


@pytest.fixture
def fault_table() -> list[dict[str, object]]:
    return ROWS


def markdown() -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in ROWS:
        lines.append("| " + " | ".join(str(row[h]) for h in HEADER) + " |")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter) -> None:
    if not ROWS:
        return
    terminalreporter.write_sep("=", "fault injection results")
    terminalreporter.write_line(markdown())
    target = os.environ.get("MACROQUANT_FAULT_TABLE")
    if target:
        Path(target).write_text(markdown() + "\n", encoding="utf-8")
