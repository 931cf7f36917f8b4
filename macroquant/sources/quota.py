"""Daily request quotas of data sources, counted in PostgreSQL.

Free tiers cap requests per day as well as per minute (Alpha Vantage: 25 a day, reset at
midnight US/Eastern; BLS API v2: 500 a day with a key, 25 without), which a per-minute token
bucket does not enforce. A source whose ``data_sources.config`` sets ``daily_request_limit``
has every call fetch control makes to it (retries included: the vendor counts them) counted
*before* it is made, in ``source_request_counts`` (``sql/0013``): one row per source and
quota day, the calendar day in ``config.quota_timezone`` (an IANA name, default UTC), so
separate processes and runs share one count. The increment is one atomic
``INSERT ... ON CONFLICT DO UPDATE ... WHERE requests < limit RETURNING``: two processes
can never both take the last request.

When the day's count has reached the limit, or the vendor itself answered with its
daily-limit message (its adapter raises :class:`QuotaExhaustedError`, and the day is then
marked ``exhausted``), no request is made until the next quota day: the request fails with
:class:`QuotaExhaustedError` (naming the source, the limit, the day and the reset time)
through fetch control's usual failure path, and the fallback source gets it.

The time comes from fetch control's clock (``wall_time()``), never from the system directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from macroquant.db.bulk import read_frame
from macroquant.db.connection import transaction
from macroquant.errors import ConfigError, SourceError

# The data_sources.config keys read here; fetch control does not pass them to adapter hooks.
QUOTA_KEYS = frozenset({"daily_request_limit", "quota_timezone"})


class QuotaExhaustedError(SourceError):
    """A source's daily request quota is used up (permanent until the quota day ends).

    Fetch control raises it instead of making a request; an adapter raises it when the
    vendor answers with its own daily-limit message, which marks the day exhausted."""

    def __init__(self, source_id: str, message: str) -> None:
        super().__init__(source_id, message, transient=False)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError when there is none of that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not an IANA time zone name (e.g. 'UTC', "
                         "'America/New_York')") from None


class QuotaOptions(BaseModel):
    """The quota keys of a ``data_sources.config``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    daily_request_limit: int | None = Field(None, ge=1, strict=True)  # None: no daily quota
    quota_timezone: str = "UTC"  # the quota day is the calendar day in this zone

    @field_validator("quota_timezone")
    @classmethod
    def _iana(cls, value: str) -> str:
        zone(value)
        return value

    @classmethod
    def of(cls, source_id: str, config: Mapping[str, Any]) -> QuotaOptions:
        """The quota keys of ``config``; a :class:`ConfigError` naming the source and the
        field when one is invalid."""
        try:
            return cls.model_validate({k: v for k, v in config.items() if k in QUOTA_KEYS})
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"data_sources/{source_id}",
                              "config." + ".".join(map(str, first["loc"])),
                              first["msg"]) from None


@dataclass(frozen=True)
class QuotaDay:
    """One source's quota on one day."""

    source_id: str
    limit: int
    timezone: str
    day: date

    @classmethod
    def at(cls, source_id: str, limit: int, timezone: str, now: datetime) -> QuotaDay:
        if now.tzinfo is None:
            raise ValueError(f"clock time {now} has no time zone (the clock must be aware)")
        return cls(source_id, limit, timezone, now.astimezone(zone(timezone)).date())

    @property
    def resets(self) -> str:
        """When the next quota day starts, e.g. ``2026-11-24 00:00 America/New_York``."""
        at = datetime.combine(self.day + timedelta(days=1), time(), tzinfo=zone(self.timezone))
        return f"{at:%Y-%m-%d %H:%M} {self.timezone}"


@dataclass(frozen=True)
class QuotaCount:
    """A quota day's count after an attempt to take one request of it."""

    requests: int
    exhausted: bool  # the vendor said the day's quota is used up
    taken: bool  # the request may be made


class QuotaLedger(Protocol):
    """Where the counts live."""

    def take(self, quota: QuotaDay, at: datetime, units: int = 1) -> QuotaCount: ...

    def exhaust(self, quota: QuotaDay, at: datetime) -> None: ...


_TAKE = """
    INSERT INTO source_request_counts AS c (source_id, quota_day, requests, updated_at)
    SELECT %(source_id)s, %(day)s, %(units)s, %(at)s WHERE %(units)s <= %(limit)s
    ON CONFLICT (source_id, quota_day) DO UPDATE
        SET requests = c.requests + %(units)s, updated_at = EXCLUDED.updated_at
        WHERE NOT c.exhausted AND c.requests + %(units)s <= %(limit)s
    RETURNING requests"""
_EXHAUST = """
    INSERT INTO source_request_counts AS c (source_id, quota_day, requests, exhausted,
                                            updated_at)
    VALUES (%(source_id)s, %(day)s, 0, true, %(at)s)
    ON CONFLICT (source_id, quota_day) DO UPDATE
        SET exhausted = true, updated_at = EXCLUDED.updated_at"""


class PostgresQuotaLedger:
    """Counts in ``source_request_counts`` of the database at ``url`` (each call its own
    short transaction, so the count is committed before the request is made)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def take(self, quota: QuotaDay, at: datetime, units: int = 1) -> QuotaCount:
        params = {"source_id": quota.source_id, "day": quota.day, "at": at,
                  "limit": quota.limit, "units": units}
        with transaction(self.url) as conn:
            row = conn.execute(_TAKE, params).fetchone()
            if row is not None:
                return QuotaCount(row[0], False, True)
            counted = conn.execute(
                "SELECT requests, exhausted FROM source_request_counts "
                "WHERE source_id = %(source_id)s AND quota_day = %(day)s", params).fetchone()
        requests, exhausted = counted if counted is not None else (0, False)
        return QuotaCount(requests, exhausted, False)

    def exhaust(self, quota: QuotaDay, at: datetime) -> None:
        with transaction(self.url) as conn:
            conn.execute(_EXHAUST, {"source_id": quota.source_id, "day": quota.day, "at": at})


class MemoryQuotaLedger:
    """Counts in memory, for one controller only: the ledger of a source row that was not
    read from a database (a spec built in code)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, date], QuotaCount] = {}

    def take(self, quota: QuotaDay, at: datetime, units: int = 1) -> QuotaCount:
        key = (quota.source_id, quota.day)
        count = self.counts.get(key, QuotaCount(0, False, False))
        if count.exhausted or count.requests + units > quota.limit:
            return QuotaCount(count.requests, count.exhausted, False)
        self.counts[key] = QuotaCount(count.requests + units, False, True)
        return self.counts[key]

    def exhaust(self, quota: QuotaDay, at: datetime) -> None:
        key = (quota.source_id, quota.day)
        self.counts[key] = QuotaCount(self.counts.get(key, QuotaCount(0, False, False))
                                      .requests, True, False)


class QuotaGate:
    """What fetch control asks before each call to a source and after a vendor's
    daily-limit answer."""

    def __init__(self, source_id: str, options: QuotaOptions, ledger: QuotaLedger,
                 now: Callable[[], datetime]) -> None:
        if options.daily_request_limit is None:
            raise ValueError(f"source '{source_id}' has no daily_request_limit")
        self.source_id, self.ledger, self.now = source_id, ledger, now
        self.limit, self.timezone = options.daily_request_limit, options.quota_timezone

    def take(self, units: int = 1) -> QuotaDay:
        """Count ``units`` requests (the HTTP requests one call makes) of today's quota;
        :class:`QuotaExhaustedError` (and nothing counted) when they do not all fit."""
        at = self.now()
        quota = QuotaDay.at(self.source_id, self.limit, self.timezone, at)
        count = self.ledger.take(quota, at, units)
        if not count.taken:
            said = "the vendor said it is used up, " if count.exhausted else ""
            needs = f"; this call needs {units}" if units > 1 else ""
            raise QuotaExhaustedError(
                self.source_id,
                f"daily request quota used up ({said}{count.requests}/{quota.limit} requests "
                f"on {quota.day}, {quota.timezone}{needs}): no request made; "
                f"resets {quota.resets}")
        return quota

    def exhaust(self, quota: QuotaDay) -> None:
        """The vendor answered the request counted in ``quota`` with its daily limit."""
        self.ledger.exhaust(quota, self.now())


class DailyQuotas:
    """The quota gates of one fetch controller. Counts go to ``ledger`` when one is given,
    else to the database each source row was read from (``SourceSpec.database_url``), else
    (a row built in code, as in a test without a database) to this object's memory."""

    def __init__(self, now: Callable[[], datetime], ledger: QuotaLedger | None = None) -> None:
        self.now, self.ledger = now, ledger
        self.ledgers: dict[str | None, QuotaLedger] = {None: MemoryQuotaLedger()}

    def gate(self, source_id: str, config: Mapping[str, Any],
             database_url: str | None) -> QuotaGate | None:
        """The gate of a source with a ``daily_request_limit`` (None without one); a
        :class:`ConfigError` naming the source when its quota keys are invalid."""
        options = QuotaOptions.of(source_id, config)
        if options.daily_request_limit is None:
            return None
        if database_url is not None and database_url not in self.ledgers:
            self.ledgers[database_url] = PostgresQuotaLedger(database_url)
        return QuotaGate(source_id, options, self.ledger or self.ledgers[database_url],
                         self.now)


def with_quota_summary(conn: psycopg.Connection, health: pd.DataFrame) -> pd.DataFrame:
    """``health`` (a frame with ``source_id`` and ``fallback_source_id``) with each source's
    quota columns after ``fallback_source_id``: ``daily_request_limit``, ``quota_timezone``
    (as configured), the latest counted ``quota_day`` with its ``quota_requests`` and
    ``quota_exhausted`` (the vendor said so), and ``daily_quota`` (:func:`describe_quota`)."""
    quotas = read_frame(conn, """
        SELECT d.source_id, d.config, q.quota_day, q.requests AS quota_requests,
               q.exhausted AS quota_exhausted
        FROM data_sources d LEFT JOIN (
            SELECT DISTINCT ON (source_id) source_id, quota_day, requests, exhausted
            FROM source_request_counts ORDER BY source_id, quota_day DESC) q USING (source_id)
        """)
    configs = quotas.pop("config")
    for at, key in enumerate(("daily_request_limit", "quota_timezone"), start=1):
        quotas.insert(at, key, pd.Series([c.get(key) for c in configs], dtype=object))
    quotas["daily_quota"] = [
        describe_quota(*row) for row in zip(configs, quotas["quota_day"],
                                            quotas["quota_requests"],
                                            quotas["quota_exhausted"], strict=True)]
    merged = health.merge(quotas, on="source_id", how="left")
    at = list(health.columns).index("fallback_source_id") + 1
    added = list(quotas.columns[1:])
    order = [*health.columns[:at], *added, *health.columns[at:]]
    return merged[order]


def describe_quota(config: Mapping[str, Any], day: Any, requests: Any, exhausted: Any) -> str:
    """One cell of ``macroquant status`` for a source with this ``config`` whose latest
    counted quota day is ``day``: ``3/25 used 2026-11-23`` or, when used up, ``25/25 used
    2026-11-23, resets 2026-11-24 00:00 America/New_York``; ``0/25`` before its first
    counted request; empty without a ``daily_request_limit``."""
    try:
        options = QuotaOptions.of("", config)
    except ConfigError as error:
        return f"invalid: {error.field}"
    if options.daily_request_limit is None:
        return ""
    if day is None or pd.isna(day):
        return f"0/{options.daily_request_limit}"
    quota = QuotaDay("", options.daily_request_limit, options.quota_timezone,
                     pd.Timestamp(day).date())
    text = f"{int(requests)}/{quota.limit} used {quota.day}"
    if bool(exhausted):
        return f"{text} (vendor: limit reached), resets {quota.resets}"
    if int(requests) >= quota.limit:
        return f"{text}, resets {quota.resets}"
    return text
