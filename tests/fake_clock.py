"""Fetch control's clock in tests (``macroquant.sources.fetch.Clock``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class FakeClock:
    """Monotonic time that advances only when slept on; every sleep is kept in
    ``sleeps``. ``wall_time()`` (which dates daily quotas) is ``wall`` plus the time slept,
    or the real time when no ``wall`` is given."""

    def __init__(self, wall: datetime | None = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.wall = wall

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def wall_time(self) -> datetime:
        if self.wall is None:
            return datetime.now(UTC)
        return self.wall + timedelta(seconds=self.now)
