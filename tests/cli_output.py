"""Reading ``macroquant status`` output in tests."""

from __future__ import annotations

import pytest

from macroquant.cli import main


def status_line(url: str, marker: str, monkeypatch: pytest.MonkeyPatch,
                capsys: pytest.CaptureFixture[str], width: int = 300) -> tuple[str, str]:
    """Run ``macroquant status`` against ``url`` on a terminal ``width`` wide (rich wraps
    tables to it); return the whole output and its first line containing ``marker``."""
    monkeypatch.setenv("MACROQUANT_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    return out, next(line for line in out.splitlines() if marker in line)
