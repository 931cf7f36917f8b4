"""Fetch control: how MacroQuant calls a data source, driven by its ``data_sources`` row.

- **Rate limit**: one token bucket per source, refilled at ``rate_limit_per_minute`` (no row
  value: no limit). A call takes a token, waiting on the injected clock when none is left.
- **Retry**: a transient :class:`SourceError` (HTTP 429/5xx, timeouts, connection resets,
  a vendor's "slow down" message) is retried with exponential backoff and jitter, at most
  ``RetryPolicy.max_attempts`` calls; a ``Retry-After`` the vendor sent (see
  :class:`RateLimitedError`) is honoured when it is longer. A permanent error (bad request,
  unknown symbol, missing key) is not retried.
- **Daily quota**: ``config.daily_request_limit`` calls a day (retries included), counted
  in PostgreSQL before each call; then :class:`QuotaExhaustedError` and no request until
  the quota day ends (:mod:`macroquant.sources.quota`).
- **Fallback**: when ``config->>'fallback_source_id'`` names another source, the requests the
  primary failed are sent to that source (its own bucket, its own retries).
- **Graceful degradation**: a failed request becomes a :class:`FetchOutcome` with its error;
  the other symbols and sources go on. :func:`write_outcomes` appends each failure (and each
  fallback that stood in) to ``system_logs`` (logger :data:`LOGGER`) in its own
  transaction, so it stays recorded even when the stage that saw it later rolls back;
  ``macroquant status`` and ``macroquant sources list`` read them through
  :func:`source_health`.
- **Credentials**: ``credentials_ref`` is the NAME of a secret. Its value comes from the
  environment variable of the same name, else from the encrypted secrets table; when neither
  has it, :class:`MissingCredentialError` names both.

Adapter hooks keep the template's positional signature. A hook that declares the keyword
``api_key`` receives the resolved credential; one that declares ``config`` receives the
source's ``config`` object, whose ``symbols`` map gives the vendor symbol of each domain
symbol (from ``instruments.vendor_symbol`` for the instruments the source owns).
"""

from __future__ import annotations

import inspect
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

import pandas as pd
import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from macroquant.db.bulk import read_frame
from macroquant.db.connection import transaction
from macroquant.errors import ConfigError, MissingCredentialError, SourceError
from macroquant.security.masking import mask_object, mask_text
from macroquant.sources import load_adapter
from macroquant.sources.quota import (
    QUOTA_KEYS,
    DailyQuotas,
    QuotaDay,
    QuotaExhaustedError,
    QuotaLedger,
    with_quota_summary,
)
from macroquant.sources.sample.parse import BAR_COLUMNS

LOGGER = "macroquant.sources.fetch"
# What a vendor request can fail with without stopping the other requests and sources: the
# vendor's answer, a missing key, a source's invalid ``config``.
VENDOR_ERRORS = (SourceError, MissingCredentialError, ConfigError)


class RateLimitedError(SourceError):
    """A transient HTTP 429 (or the vendor's equivalent message), with the number of seconds
    the vendor asked us to wait (``Retry-After``) when it said so."""

    def __init__(self, source_id: str, message: str, *, retry_after: float | None = None,
                 status: int | None = 429) -> None:
        self.retry_after = retry_after
        super().__init__(source_id, message, transient=True, status=status)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header given in seconds (HTTP-dates are ignored)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


# ---------------------------------------------------------------------------- time
class Clock(Protocol):
    """Monotonic time and sleeping; tests inject a fake that never really sleeps. A clock
    may also tell the wall time, ``wall_time()`` (timezone-aware), which dates daily
    quotas; one without it (an older fake) leaves that to the system clock."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def wall_time(self) -> datetime:
        return datetime.now(UTC)


class TokenBucket:
    """``rate_per_minute`` tokens a minute, at most ``capacity`` saved up (default: one
    second's worth, at least 1, so a burst after a quiet spell stays small)."""

    def __init__(self, rate_per_minute: float, clock: Clock, capacity: float | None = None):
        if rate_per_minute <= 0:
            raise ValueError(f"rate_per_minute must be positive, got {rate_per_minute}")
        self.rate_per_second = rate_per_minute / 60.0
        self.capacity = capacity if capacity is not None else max(1.0, self.rate_per_second)
        self.clock = clock
        self.tokens = self.capacity
        self.updated = clock.monotonic()

    def _refill(self) -> None:
        now = self.clock.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate_per_second)
        self.updated = now

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; return the seconds waited."""
        self._refill()
        waited = 0.0
        if self.tokens < 1.0:
            waited = (1.0 - self.tokens) / self.rate_per_second
            self.clock.sleep(waited)
            self._refill()
        self.tokens -= 1.0
        return waited


class RetryPolicy(BaseModel):
    """Exponential backoff: attempt n (1-based) waits ``base_delay * 2**(n-1)`` seconds,
    capped at ``max_delay``, times a random factor in ``[1 - jitter, 1 + jitter]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(4, ge=1, le=20)
    base_delay: float = Field(2.0, ge=0)
    max_delay: float = Field(120.0, ge=0)
    jitter: float = Field(0.25, ge=0, lt=1)

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        backoff *= 1.0 + rng.uniform(-self.jitter, self.jitter)
        return max(backoff, retry_after or 0.0)


# ---------------------------------------------------------------------------- sources
class FetchOptions(BaseModel):
    """The keys of ``data_sources.config`` that fetch control and the ingest stage read.
    An adapter's own options model extends this one (unknown keys are errors)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbols: dict[str, str] = Field(default_factory=dict)  # MacroQuant symbol -> vendor's
    fallback_source_id: str | None = None
    incremental: bool = False  # fetch from each instrument's last stored bar (see ingest)
    overlap_days: int = Field(3, ge=0, le=60)  # re-fetch this many days before it
    max_catchup_days: int = Field(366, ge=1)  # never reach further back than this


class SourceSpec(BaseModel):
    """One ``data_sources`` row."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_id: str
    kind: str
    adapter: str
    credentials_ref: str | None = None
    rate_limit_per_minute: int | None = None
    priority: int = 100
    enabled: bool = True
    config: dict[str, Any] = Field(default_factory=dict)
    _database_url: str | None = PrivateAttr(default=None)

    @property
    def fallback_source_id(self) -> str | None:
        value = self.config.get("fallback_source_id")
        return str(value) if value else None

    @property
    def database_url(self) -> str | None:
        """The database this row was read from (None for a spec built in code): fetch
        control counts the source's daily requests there."""
        return self._database_url


def register_source(conn: psycopg.Connection, row: Mapping[str, Any]) -> None:
    """Insert an adapter's ``data_sources`` row; on a later call only ``kind``, ``adapter``
    and ``description`` are refreshed: the key name, rate limit, priority, schedule,
    ``enabled`` and ``config`` are the user's to tune and are left as they are."""
    conn.execute(
        """INSERT INTO data_sources (source_id, kind, adapter, description, credentials_ref,
                                     rate_limit_per_minute, priority, schedule, enabled, config)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (source_id) DO UPDATE SET kind = EXCLUDED.kind,
               adapter = EXCLUDED.adapter, description = EXCLUDED.description""",
        (row["source_id"], row["kind"], row["adapter"], row.get("description", ""),
         row.get("credentials_ref"), row.get("rate_limit_per_minute"),
         row.get("priority", 100), row.get("schedule"), row.get("enabled", False),
         Jsonb(dict(row.get("config", {})))))


def load_source_specs(conn: psycopg.Connection) -> dict[str, SourceSpec]:
    """Every ``data_sources`` row, by source id, each remembering the database it came from
    (where its daily request count lives)."""
    info = conn.info
    url = make_conninfo(info.dsn, password=info.password) if info.password else info.dsn
    rows = read_frame(conn, """SELECT source_id, kind, adapter, credentials_ref,
                                      rate_limit_per_minute, priority, enabled, config
                               FROM data_sources ORDER BY priority DESC, source_id""")
    specs = {}
    for record in rows.to_dict("records"):
        row = {k: (None if not isinstance(v, dict) and pd.isna(v) else v)
               for k, v in record.items()}
        if row["rate_limit_per_minute"] is not None:
            row["rate_limit_per_minute"] = int(row["rate_limit_per_minute"])
        specs[row["source_id"]] = SourceSpec(**row)
        specs[row["source_id"]]._database_url = url
    return specs


SecretLookup = Callable[[str], str | None]


def secret_lookup_from_db(conn: psycopg.Connection) -> SecretLookup:
    """A lookup reading the encrypted secrets table; a secret that is not there is None."""
    from macroquant.security.secrets import get_secret

    def lookup(name: str) -> str | None:
        exists = conn.execute("SELECT 1 FROM secrets WHERE name = %s", (name,)).fetchone()
        return get_secret(conn, name) if exists else None

    return lookup


def resolve_credential(spec: SourceSpec, lookup_secret: SecretLookup | None = None,
                       environ: Mapping[str, str] | None = None) -> str | None:
    """The value of the source's ``credentials_ref`` secret (None when it needs none)."""
    name = spec.credentials_ref
    if not name:
        return None
    env = os.environ if environ is None else environ
    if env.get(name):
        return env[name]
    value = lookup_secret(name) if lookup_secret is not None else None
    if value:
        return value
    raise MissingCredentialError(
        f"source '{spec.source_id}' needs the API key named {name}: store it with "
        f"'macroquant secrets set {name}' or set the environment variable {name}")


def call_hook(hook: Callable[..., Any], args: Sequence[Any], api_key: str | None,
              config: Mapping[str, Any]) -> Any:
    """Call an adapter hook, passing ``api_key`` / ``config`` only where it declares them."""
    parameters = inspect.signature(hook).parameters
    kwargs: dict[str, Any] = {}
    if "api_key" in parameters:
        kwargs["api_key"] = api_key
    if "config" in parameters:
        kwargs["config"] = dict(config)
    return hook(*args, **kwargs)


# ---------------------------------------------------------------------------- control
@dataclass(frozen=True)
class BarRequest:
    """Bars of ``symbols`` (None: every symbol the adapter serves) from ``start`` to ``end``."""

    start: date
    end: date
    symbols: tuple[str, ...] | None = None


@dataclass
class FetchOutcome:
    """What one request to one source came to."""

    source_id: str
    hook: str
    symbols: tuple[str, ...] | None
    attempts: int = 0
    rows: int = 0
    waited_seconds: float = 0.0
    error: str | None = None
    transient: bool | None = None
    fallback_for: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def fail(self, error: Exception) -> None:
        """Record ``error`` as this request's failure (transient only for a SourceError
        that says so)."""
        self.error = str(error)
        self.transient = bool(getattr(error, "transient", False))


@dataclass
class FetchResult:
    """Bars that arrived (each with the ``source_id`` that served it) and every outcome."""

    bars: pd.DataFrame
    outcomes: list[FetchOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[FetchOutcome]:
        return [o for o in self.outcomes if not o.ok]


class FetchController:
    """Calls adapter hooks under each source's rate limit, retry policy and fallback."""

    def __init__(
        self,
        specs: Mapping[str, SourceSpec],
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        retry: RetryPolicy | None = None,
        lookup_secret: SecretLookup | None = None,
        environ: Mapping[str, str] | None = None,
        adapter_loader: Callable[[str], Any] = load_adapter,
        quota_ledger: QuotaLedger | None = None,
    ) -> None:
        self.specs = dict(specs)
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.retry = retry or RetryPolicy()
        self.lookup_secret = lookup_secret
        self.environ = environ
        self.adapter_loader = adapter_loader
        self.buckets: dict[str, TokenBucket] = {}
        self.quotas = DailyQuotas(self.wall_time, quota_ledger)

    def spec(self, source_id: str) -> SourceSpec:
        if source_id not in self.specs:
            raise KeyError(f"no data_sources row '{source_id}'")
        return self.specs[source_id]

    def _bucket(self, spec: SourceSpec) -> TokenBucket | None:
        if spec.rate_limit_per_minute is None:
            return None
        if spec.source_id not in self.buckets:
            self.buckets[spec.source_id] = TokenBucket(spec.rate_limit_per_minute, self.clock)
        return self.buckets[spec.source_id]

    def wall_time(self) -> datetime:
        """The wall time (from the clock when it tells it) that dates quota days."""
        wall_time = getattr(self.clock, "wall_time", None)
        return wall_time() if callable(wall_time) else SystemClock().wall_time()

    def call(self, source_id: str, hook_name: str, *args: Any,
             config: Mapping[str, Any] | None = None,
             outcome: FetchOutcome | None = None) -> Any:
        """Call ``hook_name`` of the source's adapter with rate limiting and retries.

        Raises the last :class:`SourceError` when every attempt failed,
        :class:`MissingCredentialError` before any call when the key is missing, and
        :class:`QuotaExhaustedError` instead of a call when the daily quota is used up
        (``outcome.attempts`` counts the calls made)."""
        spec = self.spec(source_id)
        outcome = outcome or FetchOutcome(source_id, hook_name, None)
        quota = self.quotas.gate(spec.source_id, spec.config, spec.database_url)
        api_key = resolve_credential(spec, self.lookup_secret, self.environ)
        adapter = self.adapter_loader(spec.adapter)
        hook = getattr(adapter, hook_name)
        merged = {k: v for k, v in {**spec.config, **(config or {})}.items()
                  if k not in QUOTA_KEYS}
        # An adapter whose one call makes several HTTP requests says how many.
        count_requests = getattr(adapter, "quota_requests", None)
        units = int(count_requests(hook_name, args, merged)) if count_requests else 1
        bucket = self._bucket(spec)
        for attempt in range(1, self.retry.max_attempts + 1):
            day: QuotaDay | None = quota.take(units) if quota is not None else None
            outcome.attempts = attempt
            if bucket is not None:
                outcome.waited_seconds += bucket.acquire()
            try:
                return call_hook(hook, args, api_key, merged)
            except SourceError as error:
                if isinstance(error, QuotaExhaustedError) and quota and day is not None:
                    quota.exhaust(day)  # the vendor's own daily-limit answer
                if not error.transient or attempt == self.retry.max_attempts:
                    raise
                pause = self.retry.delay(attempt, self.rng, getattr(error, "retry_after", None))
                outcome.waited_seconds += pause
                self.clock.sleep(pause)
        raise AssertionError("unreachable: the loop returns or raises")

    def _fetch_one(self, source_id: str, request: BarRequest,
                   vendor_symbols: Mapping[str, str], fallback_for: str | None,
                   ) -> tuple[pd.DataFrame | None, FetchOutcome]:
        outcome = FetchOutcome(source_id, "fetch_bars", request.symbols, fallback_for=fallback_for)
        config = {"symbols": {**self.spec(source_id).config.get("symbols", {}),
                              **vendor_symbols}}
        symbols = list(request.symbols) if request.symbols is not None else None
        try:
            bars = self.call(source_id, "fetch_bars", request.start, request.end, symbols,
                             config=config, outcome=outcome)
        except VENDOR_ERRORS as error:
            outcome.fail(error)
            return None, outcome
        bars = bars.loc[:, BAR_COLUMNS].copy()
        bars.insert(0, "source_id", source_id)
        outcome.rows = len(bars)
        return bars, outcome

    def fetch_bars(self, source_id: str, requests: Sequence[BarRequest],
                   vendor_symbols: Mapping[str, str] | None = None) -> FetchResult:
        """Run every request against ``source_id``; a failed request goes to the configured
        fallback source. Never raises for a vendor failure: see ``FetchResult.failures``."""
        frames: list[pd.DataFrame] = []
        outcomes: list[FetchOutcome] = []
        fallback = self.spec(source_id).fallback_source_id
        for request in requests:
            bars, outcome = self._fetch_one(source_id, request, vendor_symbols or {}, None)
            outcomes.append(outcome)
            if bars is None and fallback is not None and fallback in self.specs:
                bars, second = self._fetch_one(fallback, request, {}, source_id)
                outcomes.append(second)
            if bars is not None:
                frames.append(bars)
        columns = ["source_id", *BAR_COLUMNS]
        result = (pd.concat(frames, ignore_index=True) if frames
                  else pd.DataFrame(columns=columns))
        return FetchResult(result, outcomes)


# ---------------------------------------------------------------------------- logs and health
def write_outcomes(url: str, outcomes: Sequence[FetchOutcome], run_id: str | None = None) -> int:
    """Append a ``system_logs`` row for each failed request (ERROR) and each request a
    fallback source served (WARNING), in a transaction of its own; return how many.

    Requests that simply worked are not logged: a rerun of a healthy window must leave every
    table as it was, and the staged rows already say what each source delivered."""
    notable = [o for o in outcomes if not o.ok or o.fallback_for is not None]
    if not notable:
        return 0
    with transaction(url) as conn:
        for o in notable:
            symbols = list(o.symbols) if o.symbols is not None else None
            if o.ok:
                message = (f"source '{o.source_id}' {o.hook} served {o.rows} rows in place "
                           f"of '{o.fallback_for}'")
            else:
                message = (f"source '{o.source_id}' {o.hook} failed after {o.attempts} "
                           f"attempt(s): {o.error}")
            context = {"source_id": o.source_id, "hook": o.hook, "symbols": symbols,
                       "attempts": o.attempts, "rows": o.rows, "ok": o.ok,
                       "transient": o.transient, "fallback_for": o.fallback_for,
                       "waited_seconds": round(o.waited_seconds, 3)}
            conn.execute("""INSERT INTO system_logs (level, logger, message, run_id, context)
                            VALUES (%s, %s, %s, %s, %s)""",
                         ("WARNING" if o.ok else "ERROR", LOGGER, mask_text(message), run_id,
                          Jsonb(mask_object(context))))
    return len(notable)


def source_health(conn: psycopg.Connection) -> pd.DataFrame:
    """Per data source: enabled, priority, rate limit, fallback, its daily quota (limit, time
    zone, latest counted day, requests, whether the vendor said it was used up, and
    ``daily_quota``, a summary such as ``25/25 used 2026-11-23, resets 2026-11-24 00:00
    America/New_York``), the latest pipeline date it delivered bars for
    (``market_data_staging``), and its last failure from ``system_logs``."""
    return with_quota_summary(conn, read_frame(conn, """
        WITH last_fail AS (
            SELECT DISTINCT ON (context->>'source_id') context->>'source_id' AS source_id,
                   logged_at AS at, message
            FROM system_logs WHERE logger = %s AND level = 'ERROR'
            ORDER BY context->>'source_id', logged_at DESC, log_id DESC),
        staged AS (SELECT source_id, max(as_of) AS as_of FROM market_data_staging
                   GROUP BY source_id)
        SELECT d.source_id, d.kind, d.adapter, d.enabled, d.priority,
               d.rate_limit_per_minute, d.credentials_ref,
               d.config->>'fallback_source_id' AS fallback_source_id,
               s.as_of AS last_delivered_as_of, f.at AS last_failure, f.message AS last_error
        FROM data_sources d LEFT JOIN staged s USING (source_id)
             LEFT JOIN last_fail f USING (source_id)
        WHERE d.kind <> 'broker'
        ORDER BY d.priority DESC, d.source_id""", (LOGGER,)))
